// Package sim is a deterministic simulation of the engine: several
// executors, a simulated store and a workload of every task kind run one
// step at a time under one seeded random source and a simulated clock, with
// faults drawn from the same seed, and invariants checked after every step.
// The same seed gives the same history, byte for byte; a broken invariant
// reports its seed, its step and the trace that led to it.
//
// The executors are the engine's own (*durable.Executor, driven step by
// step through internal/simhook): a claim and its admission to run slots,
// the decisions at claim, the run of the task function with its timeout and
// the decision on its result, a parent's continuation, the completer's
// batched writes with their retries and the forgiveness of ambiguous
// replays, the heartbeat and the loss of leases, enqueue (direct start
// included), Cancel, Wake and Wait. What the simulation replaces is what
// follows the wall clock or the Go scheduler: the loops that call those
// steps (the scheduler calls them instead), the pace of claim-ahead, and the
// worker goroutines (a run is a coroutine the scheduler resumes: runs.go).
// docs/testing.md says what is checked and what is not.
//
// The pieces: sim.go (Run, the loop, the trace), sched.go (the event
// queue), clock.go (the executors' clocks), store.go (the simulated store:
// the memory store with a write log, durability classes, crashes, faults
// and late or lost events), node.go (an executor process and its
// incarnations), runs.go (runs as coroutines), workload.go (the tasks),
// kinds.go and actions.go (the top-level executions; enqueues, cancels,
// wakes), faults.go (the seed's fault profile), check.go (the invariants),
// regressions.go (the regression seeds); simrun runs many seeds in
// parallel.
package sim
