package sim

import (
	"time"

	"github.com/durable-go/durable/clock"
)

// execClock is one executor's clock: the simulated time plus the
// executor's skew. Nothing waits on it: a timer fires at once (the
// simulation runs one step at a time, and a pause the engine takes, such
// as a retry's backoff, is a step that takes no simulated time).
// AfterFunc, which the engine uses for a run's timeout, schedules its
// function as a step of the executor.
type execClock struct {
	s    *sim
	n    *node // nil for the client, which runs nothing
	skew time.Duration
}

var _ clock.Clock = (*execClock)(nil)

func (c *execClock) Now() time.Time { return c.s.now.Add(c.skew) }

func (c *execClock) NewTimer(time.Duration) clock.Timer {
	t := &simTimer{ch: make(chan time.Time, 1)}
	t.ch <- c.Now()
	return t
}

func (c *execClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	t := &simTimer{}
	if c.n != nil {
		c.s.schedule(d, c.n, "a run's timeout passes", func() {
			t.stopped = true
			f()
		}, func() bool { return t.stopped })
	}
	return t
}

// simTimer is a timer of execClock: NewTimer's has fired; AfterFunc's
// fires unless stopped first.
type simTimer struct {
	ch      chan time.Time
	stopped bool
}

func (t *simTimer) C() <-chan time.Time { return t.ch }

func (t *simTimer) Stop() bool {
	was := !t.stopped && t.ch == nil
	t.stopped = true
	return was
}

func (t *simTimer) Reset(time.Duration) bool {
	if t.ch != nil {
		select {
		case t.ch <- time.Time{}:
		default:
		}
	}
	return false
}
