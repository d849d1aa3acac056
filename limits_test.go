package durable_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

func TestQueueLimitHoldsAcrossExecutors(t *testing.T) {
	const limit, n = 2, 8
	store := memory.New()
	g := newGatedRuns(nil)
	cfg := durable.Config{Concurrency: 5}
	a := setupOn(t, store, cfg, true)
	b := setupOn(t, store, cfg, true)
	tasks := map[*durable.Executor]*durable.Task[string, string]{}
	for _, x := range []*bundle{a, b} {
		tasks[x.ex] = durable.Must(durable.NewTask(x.ex, "gated", g.run, durable.WithQueue("lim")))
	}
	if changed, err := a.ex.SetQueueLimit(a.ctx, "lim", durable.QueueLimit{Concurrency: limit}); err != nil || !changed {
		t.Fatalf("SetQueueLimit: %v, %v", changed, err)
	}
	qs, err := b.ex.Queues(b.ctx)
	if err != nil || !slices.ContainsFunc(qs, func(q durable.QueueInfo) bool { return q.Name == "lim" && q.Concurrency == limit }) {
		t.Fatalf("Queues: want lim with concurrency %d, got %+v, %v", limit, qs, err)
	}
	// b learns of the limit when it next reads the queues; a knows it.
	// Enqueues from a, which has free slots: no direct start.
	var hs []*durable.Handle[string]
	for i := range n {
		h, err := tasks[a.ex].Enqueue(a.ctx, fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for seen, ended := 0, 0; ended < n; ended++ {
		for seen-ended < min(limit, n-ended) {
			<-g.started
			seen++
		}
		afterDispatchRound(t, a.ex)
		afterDispatchRound(t, b.ex)
		select {
		case in := <-g.started:
			t.Fatalf("%s started beyond the limit of %d", in, limit)
		default:
		}
		g.gate <- struct{}{} // one run ends; its slot goes to the next
	}
	for _, h := range hs {
		waitFor(t, a, h)
	}
	if most := g.most[""]; most > limit {
		t.Fatalf("%d runs at once, over the limit of %d", most, limit)
	}
}

func TestQueueLimitBadInput(t *testing.T) {
	b := setup(t, durable.Config{})
	for _, bad := range []struct {
		name  string
		queue string
		limit durable.QueueLimit
		want  error
	}{
		{"negative", storage.DefaultQueue, durable.QueueLimit{Concurrency: -1}, durable.ErrInvalidOption},
		{"too large", storage.DefaultQueue, durable.QueueLimit{Concurrency: storage.MaxConcurrencyLimit + 1}, durable.ErrInvalidOption},
		{"bad queue name", "has space", durable.QueueLimit{Concurrency: 1}, durable.ErrInvalidOption},
		{"unknown queue", "nobody-serves-it", durable.QueueLimit{Concurrency: 1}, durable.ErrNotFound},
	} {
		if _, err := b.ex.SetQueueLimit(b.ctx, bad.queue, bad.limit); !errors.Is(err, bad.want) {
			t.Errorf("SetQueueLimit, %s: want %v, got %v", bad.name, bad.want, err)
		}
	}
	qs, err := b.ex.Queues(b.ctx)
	if err != nil || len(qs) != 1 || qs[0].Concurrency != 0 {
		t.Fatalf("Queues after refused limits: want the default queue unlimited, got %+v, %v", qs, err)
	}
}
