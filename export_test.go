package durable

import "time"

// SetAheadWait changes how long claimed executions may expect to wait for
// a slot (defaultAheadWait), so that tests can keep executions waiting.
func SetAheadWait(e *Executor, d time.Duration) { e.capacity.pace.wait.Store(int64(d)) }

// DispatchRounds returns how many rounds the dispatcher has finished: each
// looked at the capacity and claimed what it allowed, maybe nothing.
func DispatchRounds(e *Executor) uint64 { return e.rounds.Load() }

// WakeDispatcher wakes the dispatcher for a round, as new work does.
func WakeDispatcher(e *Executor) { e.wake() }

// DispatcherStopped is closed once the dispatch loop has returned.
func DispatcherStopped(e *Executor) <-chan struct{} { return e.dispatcher.Stopped() }

// SchedulerPassedAt returns the clock's time at the start of the
// scheduler's last pass, once the loop sleeps after it (zero before the
// first): every tick up to it has been fired.
func SchedulerPassedAt(e *Executor) time.Time {
	ns := e.sched.passedAt.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
