package startstop

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// within fails the test if ch is not closed within a generous bound (a
// hang, not a timing assumption).
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not closed", what)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestStartRunsTheLoopUntilStop(t *testing.T) {
	var b Base
	running := make(chan struct{})
	returned := false
	if !b.Start(func(stop <-chan struct{}) {
		close(running)
		<-stop
		returned = true
	}) {
		t.Fatal("Start: false on a new Base")
	}
	within(t, running, "loop running")
	if isClosed(b.Stopped()) {
		t.Fatal("Stopped closed while the loop runs")
	}
	b.Stop()
	if !returned {
		t.Fatal("Stop returned before the loop did")
	}
	if !isClosed(b.Stopped()) {
		t.Fatal("Stopped not closed after Stop")
	}
}

func TestStartTwiceRunsOnce(t *testing.T) {
	var b Base
	var runs atomic.Int32
	loop := func(stop <-chan struct{}) { runs.Add(1); <-stop }
	b.Start(loop)
	if b.Start(loop) {
		t.Fatal("second Start: true")
	}
	b.Stop()
	if n := runs.Load(); n != 1 {
		t.Fatalf("loop ran %d times, want 1", n)
	}
}

func TestStopIsIdempotentAndConcurrent(t *testing.T) {
	var b Base
	b.Start(func(stop <-chan struct{}) { <-stop })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(b.Stop)
	}
	wg.Wait()
	b.Stop()
	within(t, b.Stopped(), "Stopped")
}

func TestStopBeforeStart(t *testing.T) {
	var b Base
	b.Stop()
	within(t, b.Stopped(), "Stopped after Stop before Start")
	if b.Start(func(stop <-chan struct{}) { t.Error("the loop ran after Stop") }) {
		t.Fatal("Start after Stop: true")
	}
	b.Stop()
}

func TestStopOrFinishesAnUnstartedLoop(t *testing.T) {
	var b Base
	release := make(chan struct{})
	finishing := make(chan struct{})
	finished := false
	go b.StopOr(func() {
		close(finishing)
		<-release
		finished = true
	})
	within(t, finishing, "finish called")
	// A concurrent Stop waits for finish.
	second := make(chan struct{})
	go func() { b.Stop(); close(second) }()
	if isClosed(b.Stopped()) || isClosed(second) {
		t.Fatal("stopped before finish returned")
	}
	close(release)
	within(t, second, "the second Stop")
	if !finished {
		t.Fatal("Stopped closed before finish returned")
	}
}

func TestStopOrOfAStartedLoopDoesNotFinish(t *testing.T) {
	var b Base
	b.Start(func(stop <-chan struct{}) { <-stop })
	b.StopOr(func() { t.Error("finish called on a started loop") })
}

func TestLoopThatReturnsByItself(t *testing.T) {
	var b Base
	b.Start(func(stop <-chan struct{}) {})
	within(t, b.Stopped(), "Stopped after the loop returned")
	b.Stop() // returns at once
}
