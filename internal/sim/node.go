package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/internal/simhook"
)

// node is one executor process: its incarnations follow one another, each
// a new *durable.Executor on the store (after a crash, with the same
// ExecutorID, which takes its claims back at start, or a new one).
type node struct {
	s     *sim
	index int
	name  string // the ExecutorID of the current incarnation
	inc   int
	alive bool
	// stalledUntil puts off the node's steps (a process paused: its
	// heartbeats stop and its leases lapse).
	stalledUntil time.Time
	// crashMidStep crashes the node right after the next store call one
	// of its steps makes.
	crashMidStep bool
	// fatalNext makes the next claim, heartbeat or completion of the node
	// fail with a fatal store error; stopping is set once the stop that
	// follows began (it claims nothing more).
	fatalNext, stopping bool
	concurrency         int

	clk   *execClock
	ex    *durable.Executor
	steps simhook.Steps
	tasks *tasks
	// soon marks a one-shot dispatch or flush already scheduled.
	dispatchPending, flushPending bool
	// runs are the runs in progress (runs.go).
	runs []*runCo
}

func (n *node) String() string { return fmt.Sprintf("%s#%d", n.name, n.inc) }

// owner names the node's current incarnation to the store's subscribers.
func (n *node) owner() string { return n.String() }

func (s *sim) nodeOf(owner string) *node {
	for _, n := range s.nodes {
		if n.alive && n.owner() == owner {
			return n
		}
	}
	return nil
}

// newExecutor makes an executor on the store with the workload's tasks,
// prepared for the simulation.
func (s *sim) newExecutor(id, owner string, clk *execClock, concurrency int, hooks simhook.Hooks) (*durable.Executor, *tasks, simhook.Steps, error) {
	s.store.owner = owner
	ex, err := durable.New(s.store, durable.Config{
		ExecutorID: id, Clock: clk, Logger: s.logger, Concurrency: concurrency, CompletionBatch: s.prof.batch,
		LeaseDuration: leaseDuration, PollInterval: pollInterval, CrashBudget: crashBudget,
	})
	s.store.owner = ""
	if err != nil {
		return nil, nil, simhook.Steps{}, err
	}
	queue := ""
	if s.prof.limited() {
		queue = limitedQueue
	}
	t, err := register(ex, queue, s.recordRun, s.work)
	if err != nil {
		return nil, nil, simhook.Steps{}, err
	}
	steps, err := simhook.Install(ex, s.rng.Uint64(), hooks)
	return ex, t, steps, err
}

// start starts an incarnation: a new executor, its takeover of the
// previous incarnation's claims (same identity), and its loops. A start
// whose takeover fails is tried again later.
func (n *node) start() {
	s := n.s
	n.alive, n.stalledUntil, n.crashMidStep = true, time.Time{}, false
	n.stopping, n.fatalNext = false, false
	n.dispatchPending, n.flushPending, n.runs = false, false, nil
	ex, t, steps, err := s.newExecutor(n.name, n.owner(), n.clk, n.concurrency, simhook.Hooks{Run: n.run, Fatal: n.fatalStop})
	if err != nil {
		s.fail("making executor %s: %v", n, err)
		return
	}
	n.ex, n.tasks, n.steps = ex, t, steps
	s.tracef("%s starts (concurrency %d)", n, n.concurrency)
	if err := steps.Begin(ctx()); err != nil {
		s.tracef("%s: start failed: %v", n, err)
		s.kill(n)
		return
	}
	n.poll()
	n.beat()
	n.flushLoop()
}

// kill ends the current incarnation: its steps are dropped, its
// subscriptions gone, and its claims lapse with their leases. It starts
// again later, with the same identity or a new one.
func (s *sim) kill(n *node) {
	if !n.alive {
		return
	}
	n.alive = false
	s.store.dropSubscribers(n.owner())
	s.stopRuns(n)
	s.at(s.between(20*time.Millisecond, 400*time.Millisecond), nil, "restart "+n.String(), func() { s.restart(n) })
}

func (s *sim) restart(n *node) {
	n.inc++
	if s.rng.IntN(2) == 0 {
		n.name = fmt.Sprintf("ex%d-%d", n.index, n.inc)
	}
	n.start()
}

// poll is the dispatcher's fallback poll: a claim every PollInterval.
func (n *node) poll() {
	n.s.at(n.s.between(pollInterval*3/4, pollInterval*5/4), n, "poll", func() {
		if n.stopping {
			return
		}
		n.dispatch()
		n.poll()
	})
}

// dispatchSoon is the dispatcher woken (an event, a freed slot).
func (n *node) dispatchSoon() {
	if !n.stopping {
		n.soon(&n.dispatchPending, 2*time.Millisecond, "dispatch", n.dispatch)
	}
}

// soon schedules step within d unless *pending says it is scheduled.
func (n *node) soon(pending *bool, d time.Duration, what string, step func()) {
	if *pending {
		return
	}
	*pending = true
	n.s.at(n.s.between(0, d), n, what, func() {
		*pending = false
		step()
	})
}

// dispatch claims a few rows (as many as one claim of the dispatcher
// might: the simulation does not follow the pace of claim-ahead).
func (n *node) dispatch() {
	if n.stopping { // its dispatcher returned
		return
	}
	limit := 1 + n.s.rng.IntN(3)
	got, err := n.steps.Dispatch(limit)
	if err != nil {
		n.s.tracef("%s: claim failed: %v", n, err)
		return
	}
	if got == limit {
		n.dispatchSoon()
	}
	n.flushSoon()
}

// beat is the lease keeper: a heartbeat every LeaseDuration/3.
func (n *node) beat() {
	n.s.at(leaseDuration/3, n, "heartbeat", func() {
		n.s.tracef("%s heartbeat of %s", n, leasesString(n.steps.Held()))
		n.steps.Heartbeat()
		n.beat()
	})
}

// flushLoop writes the completer's queue now and then (what a decision
// queued outside a run, a resubmission); flushSoon writes it after a run.
func (n *node) flushLoop() {
	n.s.at(20*time.Millisecond, n, "flush (periodic)", func() {
		n.steps.Flush()
		n.flushLoop()
	})
}

func (n *node) flushSoon() { n.soon(&n.flushPending, 3*time.Millisecond, "flush", n.flush) }

func (n *node) flush() { n.steps.Flush() }

// runDuration draws how long a run's function works: mostly short, now
// and then longer than the task's timeout or than a lease.
func (s *sim) runDuration() time.Duration {
	switch r := s.rng.IntN(100); {
	case r < 5:
		return s.between(jobTimeout, 2*leaseDuration)
	case r < 25:
		return s.between(10*time.Millisecond, jobTimeout)
	}
	return s.between(0, 10*time.Millisecond)
}

// stopWaitSteps is how many of its steps a stopping executor may wait for
// its runs: their contexts are done when the stop begins, and each returns
// at its next step.
const stopWaitSteps = 20

// fatalStop takes the stop a fatal store error began (its runs are
// cancelled already), as a step of the node right after the current one.
func (n *node) fatalStop() {
	s := n.s
	s.tracef("%s: a fatal store error stops it", n)
	s.at(0, n, "stop (fatal store error)", func() {
		if !n.steps.BeginStop() {
			return
		}
		n.stopping = true
		n.waitStop(0)
	})
}

// waitStop is the stop's wait for the runs, one look a step: once none is
// in progress the stop ends and the node is down (it starts again later,
// as after a crash: the store repaired). A stop that waits longer than
// stopWaitSteps waits for a run nothing cancelled: it would wait until
// its deadline.
func (n *node) waitStop(looks int) {
	s := n.s
	if !n.steps.Idle() {
		if looks == stopWaitSteps {
			s.fail("%s stopping on a fatal store error still waits for its runs after %d steps: %s", n, looks, n.runsString())
			return
		}
		s.at(time.Millisecond, n, "stop: wait for the runs", func() { n.waitStop(looks + 1) })
		return
	}
	err := n.steps.EndStop()
	s.tracef("%s stopped: %v", n, err)
	s.kill(n)
}

// runsString lists the runs in progress, for a violation.
func (n *node) runsString() string {
	parts := make([]string, len(n.runs))
	for i, co := range n.runs {
		state := "working"
		switch {
		case co.ctx == nil:
			state = "not started"
		case co.ctx.Err() != nil:
			state = "context done"
		}
		parts[i] = co.what + " " + state
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
