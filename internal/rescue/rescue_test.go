package rescue

import (
	"testing"
	"time"
)

var t0 = time.Date(2030, time.January, 1, 12, 0, 0, 0, time.UTC)

func TestFirstRescueHasNoLowerBound(t *testing.T) {
	var p Pacer
	from, ok := p.Start(t0)
	if !ok || !from.IsZero() {
		t.Fatalf("first Start: got %v, %v; want zero, true", from, ok)
	}
}

func TestRescuesArePacedAndWindowed(t *testing.T) {
	var p Pacer
	if _, ok := p.Start(t0); !ok {
		t.Fatal("first Start not due")
	}
	p.Done(t0)
	if _, ok := p.Start(t0.Add(Interval - time.Millisecond)); ok {
		t.Fatal("Start within Interval of the last: due")
	}
	from, ok := p.Start(t0.Add(Interval))
	if !ok || !from.Equal(t0.Add(-Slack)) {
		t.Fatalf("Start after Interval: got %v, %v; want %v, true", from, ok, t0.Add(-Slack))
	}
	// Not yet Done: the window does not move.
	from, ok = p.Start(t0.Add(2 * Interval))
	if !ok || !from.Equal(t0.Add(-Slack)) {
		t.Fatalf("Start after a rescue not done: got %v, %v; want %v, true", from, ok, t0.Add(-Slack))
	}
}

func TestFailedFirstRescueIsRetriedWithoutBound(t *testing.T) {
	var p Pacer
	p.Start(t0)
	if _, ok := p.Start(t0.Add(time.Millisecond)); ok {
		t.Fatal("second Start within Interval: due")
	}
	from, ok := p.Start(t0.Add(Interval))
	if !ok || !from.IsZero() {
		t.Fatalf("Start after a first rescue that never completed: got %v, %v; want zero, true", from, ok)
	}
}

func TestClockBackRestartsWindows(t *testing.T) {
	var p Pacer
	p.Start(t0)
	p.Done(t0)
	if _, ok := p.Start(t0.Add(-Slack)); ok {
		t.Fatal("a clock a little behind (concurrent claims) made a rescue due")
	}
	from, ok := p.Start(t0.Add(-time.Hour))
	if !ok || !from.IsZero() {
		t.Fatalf("Start an hour back: got %v, %v; want zero, true", from, ok)
	}
}
