package sim

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/durable-go/durable/storage"
)

// A run (or a continuation) the executor hands to a worker runs here as a
// coroutine (iter.Pull): the simulation starts it as a step, and the task
// function, when it works (sim.work), hands control back until its
// simulated duration is over or its context is done (a cancel, a lost
// lease, its timeout), each a later step. Only one coroutine runs at a
// time, when the scheduler resumes it: the Go scheduler decides nothing.

// runCo is one run in progress.
type runCo struct {
	n     *node
	lease storage.Lease // the claim it runs under
	what  string
	dur   time.Duration
	next  func() (struct{}, bool)
	stop  func()
	yield func(struct{}) bool
	ctx   context.Context // the run's, once its function works
	// over is set when its duration is over; woken when a step to resume
	// it because its context is done is scheduled; finished when its
	// coroutine returned.
	over, woken, finished bool
}

// errCrashed is what work returns in a run whose executor crashed: the
// coroutine is stopped, and the run must end without doing anything more.
var errCrashed = errors.New("sim: the executor crashed")

// run takes a run or continuation from the executor and starts it as a
// step, at once.
func (n *node) run(step func(), row storage.Execution) {
	if !n.alive { // handed over while the executor was being stopped
		return
	}
	s := n.s
	co := &runCo{n: n, lease: storage.Lease{ID: row.ID, Fence: row.Fence}, dur: s.runDuration(),
		what: fmt.Sprintf("%s(%s f%d a%d i%d)", short(row.ID), row.TaskID, row.Fence, row.Attempt, row.Iteration)}
	co.next, co.stop = iter.Pull(func(yield func(struct{}) bool) {
		co.yield = yield
		step()
	})
	n.runs = append(n.runs, co)
	s.at(0, n, "start run "+co.what, func() { s.resume(co) })
}

// resume runs co until it works (or ends).
func (s *sim) resume(co *runCo) {
	if co.finished {
		return
	}
	prev := s.running
	s.running = co
	defer func() { s.running = prev }()
	if _, more := co.next(); more {
		return
	}
	co.finished = true
	co.n.runs = slices.DeleteFunc(co.n.runs, func(x *runCo) bool { return x == co })
	co.n.flushSoon()
	co.n.dispatchSoon()
}

// work is the body of a task function: it takes the run's simulated
// duration, and ends early with the context's cause when the context is
// done first.
func (s *sim) work(ctx context.Context) error {
	co := s.running
	if co == nil {
		s.fail("a task function ran outside a simulated run")
		return errCrashed
	}
	co.ctx = ctx
	s.at(co.dur, co.n, fmt.Sprintf("run %s: its %s are over", co.what, co.dur), func() {
		co.over = true
		s.resume(co)
	})
	for {
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case co.over:
			return nil
		case !co.yield(struct{}{}):
			return errCrashed
		}
	}
}

// wakeDone schedules the resumption of the runs whose contexts are done
// (cancelled by an event, a lost lease or a timeout during the last step).
func (s *sim) wakeDone() {
	for _, n := range s.nodes {
		for _, co := range n.runs {
			if co.ctx == nil || co.woken || co.finished || co.ctx.Err() == nil {
				continue
			}
			co.woken = true
			s.at(0, n, fmt.Sprintf("run %s: its context is done (%v)", co.what, context.Cause(co.ctx)), func() { s.resume(co) })
		}
	}
}

// stopRuns stops the coroutines of n's runs (n crashed, or the simulation
// is over): each returns without doing anything more.
func (s *sim) stopRuns(n *node) {
	runs := n.runs
	n.runs = nil
	for _, co := range runs {
		prev := s.running
		s.running = co
		co.stop()
		s.running = prev
	}
}
