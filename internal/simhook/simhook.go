// Package simhook lets the deterministic simulator (internal/sim) drive an
// executor of the root package step by step, one step at a time, without
// making any of it public API: the root package fills in Install when it is
// initialised, and only packages of this module can import this one.
//
// An executor prepared by Install runs none of its own loops (dispatcher,
// lease keeper, completer, cleaner): the simulator calls each step when its
// seeded scheduler says so. The steps are the executor's own code (the
// claim, the admission to run slots, the run's path through the decisions,
// the heartbeat, the completer's write), not copies of it.
package simhook

import (
	"context"

	"github.com/durable-go/durable/storage"
)

// Steps are the steps of one prepared executor.
type Steps struct {
	// Begin does what Executor.Start does before it starts the loops: it
	// takes back the work of a previous incarnation with the same stable
	// ExecutorID (Store.Recover) and opens the run slots, so that the
	// executor claims, starts directly what it enqueues, and runs.
	Begin func(ctx context.Context) error
	// Dispatch claims up to limit due rows (as one dispatcher round's
	// claim does), and admits them: each starts on a free slot (its
	// decision at claim, or its run, handed to the simulator's run
	// function) or queues for one. It returns how many it claimed.
	Dispatch func(limit int) (int, error)
	// Heartbeat renews the leases of the claims held (one beat of the
	// lease keeper); leases found lost interrupt their runs.
	Heartbeat func()
	// Flush writes every outcome queued for the completer, retrying a
	// failed write as the completer's loop does.
	Flush func()
	// Held lists the leases of the claims held, sorted by execution id.
	Held func() []storage.Lease

	// The steps of a stop (Shutdown's, and that of a fatal store error),
	// in order: BeginStop, then EndStop once Idle. (A Shutdown whose
	// deadline passes first cancels the runs still going; the simulator
	// does not let it come to that.)

	// BeginStop begins the stop: the executor takes no new work (Enqueue
	// and Wake fail with ErrShutdown), no queued run starts, and nothing
	// more is claimed. It reports false if a stop had begun.
	BeginStop func() bool
	// Idle reports whether no run is in progress any more: what a stop
	// waits for.
	Idle func() bool
	// EndStop ends the stop: the heartbeats end, the completer writes
	// what is queued, the claims given up on are given back, the
	// subscription ends, Done is closed. It returns Err.
	EndStop func() error
}

// Hooks are what the simulator takes from an executor instead of the
// goroutines the executor would start.
type Hooks struct {
	// Run receives each run or continuation the executor would hand to a
	// worker goroutine: the simulator calls step later, when its
	// scheduler says; row is the claimed row.
	Run func(step func(), row storage.Execution)
	// Fatal is told that a store error wrapping storage.ErrFatal began the
	// executor's stop (its runs are cancelled already): the executor
	// would stop on a goroutine of its own; the simulator calls
	// Steps.BeginStop and what follows instead.
	Fatal func()
}

// Install prepares executor (a *durable.Executor that was never started)
// for the simulator and returns its steps. seed replaces the executor's
// random sources (execution ids, retry jitter). Set by the root package.
var Install func(executor any, seed uint64, hooks Hooks) (Steps, error)

// KeepDescendants switches a deliberate bug on in a memory store (a
// *memory.Store): an execution that ends unsuccessfully (cancelled,
// failed, timed out) leaves its descendants as they are instead of
// cancelling them. The simulator switches it on (sim.Bugs) only to show
// that its invariants catch it. Set by storage/memory.
var KeepDescendants func(store any) error
