// Package clock is the time source of the durable engine. The engine never
// calls time.Now or time.Sleep directly: it asks a Clock, so tests can drive
// retries, delays, timeouts and leases with a Fake clock instead of sleeping.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that sends on C() after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is the part of *time.Timer the engine uses.
type Timer interface {
	// C is nil for timers made by AfterFunc.
	C() <-chan time.Time
	Stop() bool
	Reset(d time.Duration) bool
}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{time.AfterFunc(d, f)}
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// Fake is a manual clock for tests: time moves only when Advance or Set is
// called, and timers fire then, in deadline order. It is safe for
// concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

// NewFake returns a Fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d and fires every timer that is due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.Set(target)
}

// Set moves the clock to t (never backwards) and fires due timers.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		sort.Slice(f.timers, func(i, j int) bool { return f.timers[i].when.Before(f.timers[j].when) })
		if len(f.timers) == 0 || f.timers[0].when.After(t) {
			if t.After(f.now) {
				f.now = t
			}
			f.mu.Unlock()
			return
		}
		ft := f.timers[0]
		f.timers = f.timers[1:]
		if ft.when.After(f.now) {
			f.now = ft.when
		}
		ft.active = false
		now := f.now
		f.mu.Unlock()
		ft.fire(now)
	}
}

// Jump moves the clock to t at once (never backwards), then fires every
// timer due by t, each reading t: time passed while nothing ran, as when
// a machine sleeps or every process was down. Set, instead, walks through
// the timers' deadlines, so each fires at its own time.
func (f *Fake) Jump(t time.Time) {
	f.mu.Lock()
	if t.After(f.now) {
		f.now = t
	}
	f.mu.Unlock()
	f.Set(t)
}

// Timers returns how many timers are waiting; tests use it to know that the
// engine has armed a timer before advancing.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// NewTimer returns a fake timer.
func (f *Fake) NewTimer(d time.Duration) Timer {
	ft := &fakeTimer{clock: f, ch: make(chan time.Time, 1)}
	f.add(ft, d)
	return ft
}

// AfterFunc returns a fake timer that calls fn in its own goroutine.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	ft := &fakeTimer{clock: f, fn: fn}
	f.add(ft, d)
	return ft
}

func (f *Fake) add(ft *fakeTimer, d time.Duration) {
	f.mu.Lock()
	ft.when = f.now.Add(d)
	ft.active = true
	f.timers = append(f.timers, ft)
	f.mu.Unlock()
	if d <= 0 {
		f.Set(f.Now())
	}
}

func (f *Fake) remove(ft *fakeTimer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, t := range f.timers {
		if t == ft {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			ft.active = false
			return true
		}
	}
	return false
}

type fakeTimer struct {
	clock  *Fake
	when   time.Time
	active bool
	ch     chan time.Time
	fn     func()
}

func (t *fakeTimer) fire(now time.Time) {
	if t.fn != nil {
		go t.fn()
		return
	}
	select {
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool { return t.clock.remove(t) }

func (t *fakeTimer) Reset(d time.Duration) bool {
	was := t.clock.remove(t)
	if t.ch != nil {
		select { // drain a stale tick, like time.Timer since Go 1.23
		case <-t.ch:
		default:
		}
	}
	t.clock.add(t, d)
	return was
}
