// Package durable is a durable task engine: task executions are stored
// before they run, survive process crashes, retry with backoff, time out,
// can be cancelled, fan out to children and back in through a finalize,
// run in sequence or in a loop, and sleep until something wakes them.
//
// # Overview
//
// An [Executor] runs on a [storage.Store]: storage/sqlite (an embedded
// SQLite file, the default for a single process), storage/postgres (many
// processes on one database) or storage/memory (tests and examples only:
// it is not durable). Tasks are registered on the executor with typed
// functions; inputs and outputs are Go values encoded by a [Codec] (JSON
// by default).
//
//	store, err := sqlite.Open(ctx, "app.db", sqlite.Config{})
//	ex, err := durable.New(store, durable.Config{})
//	greet := durable.Must(durable.NewTask(ex, "greet",
//		func(ctx context.Context, name string) (string, error) {
//			return "hello, " + name, nil
//		}, durable.WithTimeout(10*time.Second)))
//	err = ex.Start(ctx)
//	h, err := greet.Enqueue(ctx, "world") // stored when it returns
//	x, err := h.Wait(ctx)                 // x.Status, x.Output, x.Err
//	err = ex.Shutdown(ctx)
//
// [Task.Enqueue] returns once the execution is stored; the executor that
// claims it (this one or any other executor on the same store that has
// registered the task) runs it. An executor only claims executions of the
// task ids it has registered, so executions of a task no running executor
// knows wait for one that does. A [Handle] reads ([Handle.Get]), waits for
// ([Handle.Wait]) and cancels ([Handle.Cancel]) one execution.
//
// Each run gets a context that is cancelled on timeout, on cancellation,
// when the executor loses its claim and when a shutdown deadline passes;
// [Info] reads the run's attempt, iteration, previous error, parent and
// root from it, and [ShuttingDown] returns a channel closed when a graceful
// shutdown begins.
//
// Failed runs are retried per the task's [RetryPolicy] ([WithRetry]). A
// plain error is retryable; [NonRetryable] (or an error with a
// Retryable() bool method returning false) fails the execution at once. A
// panic is recovered, recorded with its stack and retried. Every error an
// execution ends with is an [ExecutionError] that errors.Is matches
// against its kind: [ErrTimedOut], [ErrCancelled], [ErrPanic],
// [ErrChildrenFailed], [ErrFinalizeFailed], [ErrCrashBudget] and so on.
//
// docs/semantics.md in the repository has the state machine and the full
// statement of what is and is not guaranteed.
//
// # Task kinds
//
//   - Plain task ([NewTask]): a function from I to O, run once per attempt.
//   - Parent task ([NewParentTask]): its function returns its own output and
//     children ([Spawn], [ChildOf]); the children run in parallel after it
//     returns, and its output is a [ParentOutput] with every child's result
//     in declaration order. If a child ends without completing, the parent
//     ends children_failed at once and its unfinished children are
//     cancelled. A parent may spawn executions of its own task (recursion).
//   - Parent task with finalize ([NewParentTaskWithFinalize]): once every
//     child has finished, successfully or not, the finalize task runs as an
//     execution of its own with a [FinalizeInput] holding every child's
//     result in declaration order; its output is the parent's output. A
//     failed finalize ends the parent finalize_failed.
//   - Sequence ([NewSequence]): steps run one after another, each step's
//     output being the next step's input; a failing step stops the chain
//     and the sequence ends finalize_failed, naming the step. Step types are
//     checked at registration.
//   - Looping task ([NewLoopTask]): the function runs once per iteration,
//     with the same input, until it returns [Done] or
//     [LoopOptions].MaxIterations have run. A loop is one stored execution
//     whatever its length.
//   - Sleeping task ([NewSleepingTask]): no function; an execution waits
//     under a caller-given key, unique forever, until [Wake] completes or
//     fails it (from any process on the same store) or its timeout passes
//     (timed_out).
//
// Any number of executions can be enqueued in one transaction with
// [Task.EnqueueMany] or [Executor.EnqueueMany]; [WithIdempotencyKey] makes
// an enqueue idempotent, and [Task.EnqueueTx] enqueues inside a
// transaction of the caller's (with a store that offers one).
// [Executor.Schedule] enqueues a task at every tick of a [Cron] expression
// or an interval ([Every]), one execution per tick however many executors
// run.
//
// # Guarantees
//
//   - Stored means it will run: when Enqueue returns nil the execution is in
//     the store, as durably as the store makes it, and it is run (by any
//     executor that registered its task) until it reaches a terminal status:
//     completed, failed, timed_out, children_failed, finalize_failed or
//     cancelled. Terminal statuses never change.
//   - At least once: every claim holds a lease renewed every
//     Config.LeaseDuration/3; when an executor dies its runs are taken over
//     once their leases lapse, or at once when it restarts with the same
//     Config.ExecutorID.
//   - Fencing: every claim carries a new fencing token, and every result,
//     heartbeat and release is guarded by it and by the status, so a stale
//     executor (paused, partitioned, timed out) changes nothing.
//   - Crash budget: an execution whose runs keep losing their executor (the
//     lease lapses while it runs) more than Config.CrashBudget times fails
//     with [ErrCrashBudget] instead of crashing executors forever.
//   - Bookkeeping is atomic: a child's terminal transition updates its
//     parent in the same transaction, and children are stored if and only
//     if the parent's transition is.
//   - Push, not poll: work made ready and executions finished in this
//     process wake the dispatcher and waiters directly, and those of other
//     processes through the store (PostgreSQL: LISTEN/NOTIFY; SQLite: an
//     events table the processes sharing the file read when signalled);
//     Config.PollInterval is only a fallback. A started executor with a
//     free slot runs what it enqueues itself, claimed at insert; it claims
//     in batches and may claim ahead of its capacity (Config.ClaimAhead,
//     adapted to the pace of its runs).
//   - Graceful shutdown: [Executor.Shutdown] stops claiming, signals runs
//     through [ShuttingDown], waits for them until its context is done, then
//     cancels the rest and gives their claims back so another executor takes
//     them at once.
//
// # Caveats
//
//   - A run may execute more than once: after a crash, after a lease lapse
//     (a long pause of the process), and after a timeout whose function
//     ignores its context. Task functions must be idempotent; durable
//     records results exactly once but cannot make side effects happen
//     exactly once.
//   - A timed-out attempt is recorded at once, and its retry may start while
//     a function that ignores its context is still running; that function
//     keeps its concurrency slot until it returns.
//   - There is no step memoization: a retried run starts its function from
//     the beginning. Split work into children, sequence steps or loop
//     iterations to keep progress.
//   - Cancel does not wait: the run's context is cancelled (in another
//     process, when it hears of the cancellation or at its next heartbeat)
//     and its eventual result is discarded.
//   - Limits (configurable in [Config]): encoded inputs and outputs up to
//     1 MiB, including the output of a parent and the input of a finalize,
//     which carry every child's output; 1000 children per parent run; task
//     ids match [A-Za-z0-9_]{1,255}; sleeping keys are 1 to 255 bytes of
//     valid UTF-8 without NUL; timeouts range from 1ms to 7 days.
//   - Enqueue refuses what would not come back as given: with the default
//     [JSONCodec], a string that is not valid UTF-8 (encoding/json would
//     store U+FFFD in its place; use a []byte for binary data) and nesting
//     deeper than 10,000 levels (encoding/json could not decode it), with
//     an error wrapping [ErrInvalidInput] that names the task and where the
//     bad value is. A run's output and a child's input are held to the same
//     rules. See docs/semantics.md, "What enqueue refuses".
//   - A nil or zero *Task, *SleepingTask or *Handle (kept from a call whose
//     error was ignored), or a typed nil among NewSequence's steps, gives an
//     error, not a panic (docs/semantics.md, "Nil and zero handles").
//   - storage/memory keeps everything in the process: it loses all work when
//     the process exits.
package durable
