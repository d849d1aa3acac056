// Package durabletest tests code built on durable: it runs an executor on
// a memory store with a fake clock until nothing is left to do, so that a
// test of a workflow that retries with hours of backoff, waits days for a
// delayed start, sleeps until a timeout or loops with pauses finishes in
// milliseconds, without a real sleep and without guessing steps of time;
// and it asserts what was enqueued and how each execution ended.
//
//	func TestCharge(t *testing.T) {
//		env := durabletest.New(t) // shut down at the end of the test
//		charge := durable.Must(durable.NewTask(env.Executor(), "charge", chargeCard,
//			durable.WithRetry(durable.RetryPolicy{MaxRetries: 5, BaseDelay: time.Hour})))
//		h := durable.Must(charge.Enqueue(t.Context(), Order{ID: "B-18"}))
//		if err := env.RunUntilIdle(t.Context()); err != nil {
//			t.Fatal(err)
//		}
//		receipt := durabletest.RequireCompleted(t, h)
//		...
//	}
//
// # Running
//
// [New] makes an [Env]: a memory store, a clock.Fake and an executor on
// them (Config.LeaseDuration an hour and no retention unless set, the
// engine's logs going to the test's log at Warn), shut down at the end of
// the test. Tasks are
// registered on [Env.Executor] as in production code. The executor starts
// at the first [Env.RunUntilIdle], [Env.RunFor] or [Env.Start]: until
// then an enqueue only stores its execution, which [RequireEnqueued] can
// check without running it.
//
// [Env.RunUntilIdle] lets the executor run what is due, and when nothing
// runs and nothing is due it moves the fake clock straight to the next
// time an execution comes due (a delay, a retry's backoff, a loop's pause,
// a sleeping timeout, a dead executor's lease), until no execution is
// running or due and none will come due. [Env.RunFor] does the same
// without moving the clock past a given span, and [Env.Advance] moves the
// clock by hand.
//
// # Asserting
//
// [RequireEnqueued], [RequireEnqueuedN], [RequireNotEnqueued] and
// [EnqueuedOf] check what was stored (by the test, by tasks, as children),
// with typed inputs; [RequireCompleted] and [RequireOutcome] check how an
// execution ended (status, error kind or message, attempts);
// [Env.Executions] lists the stored rows with a [Filter]; [Env.Describe]
// prints them all as a table, which the env also logs when a test fails.
//
// # What is guaranteed
//
//   - Idleness is read, not guessed: the env reads the store (the
//     executions its executor claimed, and the next due time) when no
//     store write is going on, and waits for the store's next write, never
//     for a span of time. Every execution the executor claims stays held
//     by it in the store (running, or waiting while its continuation
//     runs) until its result is written, so "nothing held, nothing due"
//     means nothing runs. The kit needs no hook in the engine: it watches
//     the store the executor writes to.
//   - The clock moves only when nothing runs and nothing is due, and
//     straight to the earliest due time: runs see the time they would see
//     in production (a retry runs exactly its backoff after the failure),
//     and no lease of a running task lapses.
//   - The engine's own timers run on the fake clock: retry backoffs,
//     delays, loop pauses, sleeping timeouts, attempt timeouts, leases,
//     polls. Task functions run on real goroutines, concurrently as
//     Config.Concurrency allows: the kit is race-free, tests must be too.
//   - A run that makes no progress fails with [ErrStuck] after
//     [WithStuckAfter] of real time (10s by default), naming the
//     executions held; a workflow that never ends fails with
//     [ErrTooManyRuns] after [WithMaxRuns] claims.
//
// # What is not
//
//   - Time in task bodies: a task that calls time.Sleep, or waits on
//     time.After, waits in real time; one that reads time.Now reads the
//     wall clock. Give the code under test a clock.Clock (the env's
//     [Env.Clock] in the test) to have it see the fake time.
//   - A task that waits for its own timeout (blocks until its context is
//     done) holds RunUntilIdle until [ErrStuck]: the env does not move the
//     clock while a task runs. Move it with [Env.Advance] from the test
//     once the task has started, or end such tests otherwise.
//   - The order of concurrent runs, as in production: executions due at
//     once run in parallel, up to Config.Concurrency (set it to 1 for a
//     sequential order, oldest due first).
//   - Executions stored by another executor on the env's store are
//     treated as those of a dead executor: their leases lapse and the
//     env's executor takes them over. The env drives one executor.
//   - A function still running after its execution ended (cancelled, but
//     ignoring its context) is not waited for.
//   - The memory store, not SQLite or PostgreSQL: storage behaviour is
//     tested by storage/storagetest; the env tests the code built on it.
package durabletest
