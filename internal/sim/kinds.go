package sim

import "github.com/durable-go/durable"

// rootKind is one kind of top-level execution the workload enqueues: how
// it is enqueued, which sleeping keys it may wait on, and how the client
// waits on it.
type rootKind struct {
	name    string
	enqueue func(t *tasks, p plan) (id string, err error)
	wait    func(t *tasks, id string, stored []byte) (waitedRow, error)
}

// plan is the inputs of one top-level execution, drawn when it is planned.
type plan struct {
	name string
	job  Job
	fan  Fan
	key  string // a sleeping task's key
}

// rootKinds are the kinds of top-level executions.
var rootKinds = []rootKind{
	{"job", func(t *tasks, p plan) (string, error) { return enqueue(t.job, p.job) },
		func(t *tasks, id string, b []byte) (waitedRow, error) { return waitAs(t.job, id, b) }},
	{"fan", func(t *tasks, p plan) (string, error) { return enqueue(t.fan, p.fan) },
		func(t *tasks, id string, b []byte) (waitedRow, error) { return waitAs(t.fan, id, b) }},
	{"fan_fin", func(t *tasks, p plan) (string, error) { return enqueue(t.fanFin, p.fan) },
		func(t *tasks, id string, b []byte) (waitedRow, error) { return waitAs(t.fanFin, id, b) }},
	{"seq", func(t *tasks, p plan) (string, error) { return enqueue(t.seq, p.job) },
		func(t *tasks, id string, b []byte) (waitedRow, error) { return waitAs(t.seq, id, b) }},
	{"seq_nap", func(t *tasks, p plan) (string, error) { return enqueue(t.seqNap, p.job) },
		func(t *tasks, id string, b []byte) (waitedRow, error) { return waitAs(t.seqNap, id, b) }},
	{"loop", func(t *tasks, p plan) (string, error) { return enqueue(t.loop, p.job) },
		func(t *tasks, id string, b []byte) (waitedRow, error) { return waitAs(t.loop, id, b) }},
	{"nap", enqueueNap, waitNap},
}

// naps are the keys of the sleeping executions p's execution of kind k
// may wait on: the workload wakes them (or lets them time out).
func (k *rootKind) naps(p plan) []string {
	switch k.name {
	case "nap":
		return []string{p.key}
	case "seq_nap":
		return []string{doneKey(p.job.Name)}
	case "fan", "fan_fin":
		return p.fan.Naps
	}
	return nil
}

func enqueue[I, O any](t *durable.Task[I, O], in I) (string, error) {
	h, err := t.Enqueue(ctx(), in)
	if err != nil {
		return "", err
	}
	return h.ID(), nil
}

func enqueueNap(t *tasks, p plan) (string, error) {
	h, err := t.nap.Enqueue(ctx(), p.key)
	if err != nil {
		return "", err
	}
	return h.ID(), nil
}

func waitNap(t *tasks, id string, stored []byte) (waitedRow, error) {
	h, err := t.nap.Handle(ctx(), id)
	if err != nil {
		return waitedRow{}, err
	}
	return waited(h, stored)
}
