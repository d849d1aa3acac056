package sim

import (
	"time"

	"github.com/durable-go/durable/clock"
)

// execClock is one executor's clock: the simulated time plus the
// executor's skew. Nothing waits on it: a timer fires at once (the
// simulation runs on one goroutine, and a pause the engine takes, such as
// a retry's backoff, is a step that takes no simulated time). AfterFunc is
// used by the engine only for a run's timeout: it fires at once when the
// run being stepped overruns its timeout, and never otherwise.
type execClock struct {
	s       *sim
	skew    time.Duration
	overrun bool // the run being stepped took longer than its timeout
}

var _ clock.Clock = (*execClock)(nil)

func (c *execClock) Now() time.Time { return c.s.now.Add(c.skew) }

func (c *execClock) NewTimer(time.Duration) clock.Timer {
	t := &firedTimer{ch: make(chan time.Time, 1)}
	t.ch <- c.Now()
	return t
}

func (c *execClock) AfterFunc(_ time.Duration, f func()) clock.Timer {
	if c.overrun {
		c.overrun = false
		f()
	}
	return &firedTimer{}
}

// firedTimer has fired (or, from AfterFunc, never will).
type firedTimer struct{ ch chan time.Time }

func (t *firedTimer) C() <-chan time.Time { return t.ch }
func (t *firedTimer) Stop() bool          { return false }
func (t *firedTimer) Reset(time.Duration) bool {
	if t.ch != nil {
		select {
		case t.ch <- time.Time{}:
		default:
		}
	}
	return false
}
