package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/internal/simhook"
	"github.com/durable-go/durable/storage"
)

// The workload's outside actions: enqueues, cancels and wakes, made by
// the client (an executor that never runs anything) or by one of the
// executors (which may then start what it enqueues directly).

// root is one top-level execution whose Enqueue returned nil.
type root struct {
	id   string
	kind *rootKind
}

// setUp makes the executors and the client, and schedules the workload
// and the faults.
func (s *sim) setUp() error {
	if s.prof.limited() {
		if err := s.store.limitQueue(limitedQueue, s.prof.limit, s.prof.perKey); err != nil {
			return err
		}
	}
	for i := range s.prof.nodes {
		n := &node{s: s, index: i, name: fmt.Sprintf("ex%d", i), concurrency: 1 + s.rng.IntN(3)}
		n.clk = &execClock{s: s, n: n}
		if s.prof.executorClocks { // the clock of the executor's machine, off from the start
			n.clk.skew = s.between(-s.maxSkew(), s.maxSkew())
		}
		s.nodes = append(s.nodes, n)
		n.start()
	}
	c := &client{clk: &execClock{s: s}}
	var err error
	c.ex, c.tasks, _, err = s.newExecutor("client", "client", c.clk, 1, simhook.Hooks{
		Run:   func(func(), storage.Execution) { s.fail("the client was given a run") },
		Fatal: func() { s.fail("the client met a fatal store error") },
	})
	if err != nil {
		return err
	}
	s.client = c
	for i := range 3 + s.rng.IntN(8) {
		s.planRoot(fmt.Sprintf("r%d", i))
	}
	if !s.cfg.NoFaults {
		s.scheduleFaults()
	}
	return nil
}

// client is the workload's outside caller.
type client struct {
	ex    *durable.Executor
	tasks *tasks
	clk   *execClock
}

// caller picks who makes an action: the client, or an executor (whose
// step it then is: a crash may strike in its middle).
func (s *sim) caller() (*durable.Executor, *tasks) {
	if s.rng.IntN(2) == 0 {
		if n := s.pickAlive(); n != nil {
			s.cur = n
			return n.ex, n.tasks
		}
	}
	return s.client.ex, s.client.tasks
}

// job draws a plain job's input.
func (s *sim) job(name string) Job {
	j := Job{Name: name, Fail: s.rng.IntN(jobRetries + 2), Iterations: 1 + s.rng.IntN(loopMaxIter+1)}
	j.Fatal = s.rng.IntN(10) == 0
	j.Panic = s.rng.IntN(5) == 0
	return j
}

// planRoot draws one top-level execution and schedules its enqueue (and
// the cancel and wakes that may follow).
func (s *sim) planRoot(name string) {
	kind := &rootKinds[s.rng.IntN(len(rootKinds))]
	p := plan{name: name, job: s.job(name), key: name + ".key"}
	p.fan = Fan{Name: name, Depth: s.rng.IntN(3), Reuse: s.rng.IntN(5) == 0, FailFinalize: s.rng.IntN(5) == 0}
	for i := range s.rng.IntN(4) {
		p.fan.Jobs = append(p.fan.Jobs, s.job(fmt.Sprintf("%s.%d", name, i)))
	}
	if s.rng.IntN(2) == 0 {
		p.fan.Naps = []string{name + ".nap"}
	}
	s.at(s.between(0, workWindow), nil, fmt.Sprintf("enqueue %s (%s)", name, kind.name), func() {
		ex, t := s.caller()
		id, err := kind.enqueue(t, p)
		if err != nil {
			s.tracef("enqueue %s by %s failed: %v", name, ex.ID(), err)
			return
		}
		s.roots = append(s.roots, root{id: id, kind: kind})
		s.tracef("enqueued %s as %s by %s", name, short(id), ex.ID())
		s.planAfterEnqueue(id, kind.naps(p))
	})
}

// planAfterEnqueue schedules the outside actions on an enqueued root: a
// cancel now and then, and the wakes of its sleeping executions (some are
// never woken, and time out).
func (s *sim) planAfterEnqueue(id string, naps []string) {
	if s.rng.IntN(7) == 0 {
		s.at(s.between(0, 300*time.Millisecond), nil, "cancel "+short(id), func() {
			ex, _ := s.caller()
			err := ex.Cancel(ctx(), id)
			s.tracef("cancel %s by %s: %v", short(id), ex.ID(), err)
		})
	}
	for _, k := range naps {
		if s.rng.IntN(4) == 0 {
			continue
		}
		fail := s.rng.IntN(5) == 0
		s.at(s.between(0, 2*napTimeout), nil, "wake "+k, func() {
			_, t := s.caller()
			w := durable.Completed("woken:" + k)
			if fail {
				w = durable.Failed[string](errors.New("woken to fail"))
			}
			x, err := t.nap.Wake(ctx(), k, w)
			s.tracef("wake %s: %s %v", k, x.Status, err)
		})
	}
}
