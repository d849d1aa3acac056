// Package startstop is the life cycle shared by the engine's background
// loops (the dispatcher, the completer, the lease keeper): a loop runs on its
// own goroutine from Start until Stop.
//
// The rules, the same for every loop:
//
//   - Start starts the loop once; starting again, or after Stop, does
//     nothing.
//   - Stop asks the loop to stop and returns once it has returned. It is
//     idempotent, safe to call concurrently, and works before Start (the
//     loop then never runs).
//   - Stopped is closed once the loop has returned, or once Stop was called
//     before Start: whoever needs to know waits on it instead of on a
//     WaitGroup of its own.
//
// A loop may also return by itself (after a fatal error, say): Stopped is
// then closed at once, and a later Stop returns at once.
package startstop

import "sync"

type state int

const (
	stateNew state = iota
	stateStarted
	stateStopped
)

// Base runs one background loop. The zero value is ready to use; a Base
// must not be copied after first use.
type Base struct {
	mu      sync.Mutex
	state   state
	stop    chan struct{} // closed by Stop
	stopped chan struct{} // closed when the loop has returned
}

// init makes the channels; b.mu must be held.
func (b *Base) init() {
	if b.stop == nil {
		b.stop = make(chan struct{})
		b.stopped = make(chan struct{})
	}
}

// Start runs loop on a new goroutine with a channel that Stop closes; the
// loop must return soon after it is closed. Start reports whether it
// started the loop: false when it was started before, or stopped.
func (b *Base) Start(loop func(stop <-chan struct{})) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	if b.state != stateNew {
		return false
	}
	b.state = stateStarted
	go func() {
		defer close(b.stopped)
		loop(b.stop)
	}()
	return true
}

// Stop closes the loop's stop channel and returns once the loop has
// returned. Before Start it marks the Base stopped: Start then does
// nothing.
func (b *Base) Stop() { b.StopOr(nil) }

// StopOr is Stop for a loop that has work to finish even if it never ran
// (the completer writes what was queued): when Start was not called, it
// calls finish (if not nil) on the caller's goroutine, and Stopped is
// closed once finish has returned. Concurrent calls all return after that.
func (b *Base) StopOr(finish func()) {
	b.mu.Lock()
	b.init()
	prev := b.state
	b.state = stateStopped
	b.mu.Unlock()
	switch prev {
	case stateNew:
		close(b.stop)
		if finish != nil {
			finish()
		}
		close(b.stopped)
	case stateStarted:
		close(b.stop)
	}
	<-b.stopped
}

// Stopping returns a channel closed once Stop was called (the loop's stop
// channel): the loop may still be running.
func (b *Base) Stopping() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	return b.stop
}

// Stopped returns a channel closed once the loop has returned, or once
// Stop was called before Start.
func (b *Base) Stopped() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	return b.stopped
}
