package durable

import "time"

// SetAheadWait changes how long claimed executions may expect to wait for
// a slot (defaultAheadWait), so that tests can keep executions waiting.
func SetAheadWait(e *Executor, d time.Duration) { e.capacity.pace.wait.Store(int64(d)) }
