package durable

import (
	"sync/atomic"
	"testing"
	"time"
)

// capHarness is a capacity with its dependencies recorded: wake signals a
// channel, behind and startable are switches.
type capHarness struct {
	*capacity
	woken      chan struct{}
	isBehind   atomic.Bool
	unstarting map[*activeRun]bool // runs that may no longer start
}

func newCapHarness(concurrency, claimAhead, claimBatch int) *capHarness {
	h := &capHarness{woken: make(chan struct{}, 100), unstarting: map[*activeRun]bool{}}
	h.capacity = newCapacity(concurrency, claimAhead, claimBatch,
		func() { h.woken <- struct{}{} },
		h.isBehind.Load,
		func(r *activeRun) bool { return !h.unstarting[r] })
	return h
}

func (h *capHarness) wakes() int { return len(h.woken) }

func (h *capHarness) counts() (running, reserved, queued int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running, h.reserved, len(h.queue)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestCapacityAdmitStartsUpToConcurrencyAndQueuesTheRest(t *testing.T) {
	h := newCapHarness(2, 10, 10)
	runs := make([]activeRun, 5)
	start := h.admit(runs)
	if len(start) != 2 || start[0] != &runs[0] || start[1] != &runs[1] {
		t.Fatalf("admit started %d runs, want the first 2", len(start))
	}
	if running, _, queued := h.counts(); running != 2 || queued != 3 {
		t.Fatalf("running %d, queued %d; want 2, 3", running, queued)
	}
	// The slots go to the queued runs in claim order, skipping one that
	// may no longer start.
	h.unstarting[&runs[3]] = true
	if r := h.next(); r != &runs[2] {
		t.Fatal("next: not the first queued run")
	}
	if r := h.next(); r != &runs[4] {
		t.Fatal("next: did not skip a run that may no longer start")
	}
	if running, _, queued := h.counts(); running != 2 || queued != 0 {
		t.Fatalf("running %d, queued %d; want 2, 0", running, queued)
	}
	for range 2 {
		if h.next() != nil {
			t.Fatal("next with nothing queued: a run")
		}
	}
	if running, _, _ := h.counts(); running != 0 {
		t.Fatalf("running %d after both slots were freed", running)
	}
}

func TestCapacityToClaim(t *testing.T) {
	h := newCapHarness(10, 0, 8)
	if n := h.toClaim(true); n != 8 {
		t.Fatalf("idle: toClaim %d, want the claim batch 8", n)
	}
	h.admit(make([]activeRun, 7)) // 3 free
	if n := h.toClaim(true); n != 3 {
		t.Fatalf("first claim of a round: %d, want whatever is free (3)", n)
	}
	h.admit(make([]activeRun, 2)) // 1 free, less than half a batch
	if n := h.toClaim(false); n != 0 {
		t.Fatalf("later claim with 1 free: %d, want 0 (wait for half a batch)", n)
	}
	if !h.starved.Load() {
		t.Fatal("not marked starved")
	}
	// Freeing slots wakes the starved dispatcher once half a batch is free.
	h.next()
	h.next()
	if h.wakes() != 0 {
		t.Fatal("woken with 3 free, less than half a batch")
	}
	h.next()
	if h.wakes() != 1 {
		t.Fatalf("%d wakes with 4 free, want 1", h.wakes())
	}
	if n := h.toClaim(false); n != 4 {
		t.Fatalf("toClaim %d, want 4", n)
	}
	if h.starved.Load() {
		t.Fatal("still starved after a claim")
	}
	h.isBehind.Store(true)
	if n := h.toClaim(true); n != 0 {
		t.Fatalf("completer behind: toClaim %d, want 0", n)
	}
}

func TestCapacityClaimsAheadAtThePaceOfRuns(t *testing.T) {
	h := newCapHarness(4, 12, 100)
	if n := h.free(); n != 4 {
		t.Fatalf("before any run finished: %d free, want Concurrency (4)", n)
	}
	// Runs of 1 ms: 4 slots start 40 in the 10 ms bound, capped at 12.
	h.observe(time.Millisecond, time.Now())
	if n := h.free(); n != 16 {
		t.Fatalf("short runs: %d free, want Concurrency + ClaimAhead (16)", n)
	}
	// Runs of 50 ms: none may wait ahead.
	h.pace.avg.Store(int64(50 * time.Millisecond))
	if n := h.free(); n != 4 {
		t.Fatalf("long runs: %d free, want 4", n)
	}
}

func TestCapacityShedsWhatWouldWaitTooLong(t *testing.T) {
	h := newCapHarness(1, 10, 100)
	runs := make([]activeRun, 6)
	h.admit(runs) // 1 running, 5 queued
	now := time.Now()
	h.observe(time.Millisecond, now)
	if shed := h.shed(now); shed != nil {
		t.Fatalf("runs of 1 ms: shed %d, want none", len(shed))
	}
	// The last run finished 400 ms ago while one runs: one slot starts
	// 100 x 10 ms / 400 ms = 2 runs within the bound.
	h.observe(time.Millisecond, now.Add(-400*time.Millisecond))
	shed := h.shed(now)
	if len(shed) != 3 || shed[0] != &runs[3] || shed[2] != &runs[5] {
		t.Fatalf("shed %d runs, want the newest 3", len(shed))
	}
	if _, _, queued := h.counts(); queued != 2 {
		t.Fatalf("%d queued after shedding, want 2", queued)
	}
}

func TestCapacityReservesOnlyWhenOpenAndFree(t *testing.T) {
	h := newCapHarness(3, 10, 10)
	if h.reserve(1) {
		t.Fatal("reserved before open")
	}
	h.open()
	if !h.reserve(2) {
		t.Fatal("open with 3 free: reserve(2) refused")
	}
	if h.reserve(2) {
		t.Fatal("reserve(2) with 1 free")
	}
	h.unreserve(2)
	h.admit(make([]activeRun, 4)) // 3 running, 1 queued
	h.next()                      // the queued run takes the slot
	h.next()                      // 1 free, nothing queued
	if !h.reserve(1) {
		t.Fatal("1 free, nothing queued: reserve(1) refused")
	}
	h.unreserve(1)
	h.admit(make([]activeRun, 2)) // 3 running, 1 queued
	h.next()
	h.admit(make([]activeRun, 1)) // a run waits
	if h.reserve(1) {
		t.Fatal("reserved while a claimed run waits for a slot")
	}
}

func TestCapacityUnreserveWakesAStarvedDispatcher(t *testing.T) {
	h := newCapHarness(4, 0, 2)
	h.open()
	if !h.reserve(4) {
		t.Fatal("reserve refused")
	}
	if n := h.toClaim(false); n != 0 {
		t.Fatalf("toClaim %d with every slot reserved", n)
	}
	h.unreserve(4)
	if h.wakes() != 1 {
		t.Fatalf("%d wakes after unreserve, want 1", h.wakes())
	}
}

func TestCapacityClosed(t *testing.T) {
	h := newCapHarness(2, 10, 10)
	h.open()
	if !h.reserve(1) {
		t.Fatal("reserve refused")
	}
	runs := make([]activeRun, 3)
	h.admit(runs) // 1 more running, 2 queued
	h.close()
	h.open() // does nothing once closed
	if h.reserve(1) {
		t.Fatal("reserved once closed")
	}
	if h.startReserved(1) {
		t.Fatal("started reserved slots once closed")
	}
	if r := h.next(); r != nil {
		t.Fatal("a queued run started once closed")
	}
	if running, reserved, queued := h.counts(); running != 1 || reserved != 1 || queued != 2 {
		t.Fatalf("running %d reserved %d queued %d; want 1 1 2 (queued runs stay queued)", running, reserved, queued)
	}
}

func TestCapacityIdleWaitsForTheRunsOnly(t *testing.T) {
	h := newCapHarness(4, 10, 10)
	h.open()
	h.reserve(1) // a direct start whose insert is in flight
	h.reserve(1) // one inserted and started
	if !h.startReserved(1) {
		t.Fatal("startReserved refused while open")
	}
	h.admit(make([]activeRun, 1))
	h.close()
	idle := h.idle()
	if isClosed(idle) {
		t.Fatal("idle with two runs going")
	}
	h.next()
	if isClosed(idle) {
		t.Fatal("idle with a run going")
	}
	h.next()
	if !isClosed(idle) {
		t.Fatal("not idle once the runs returned (the reserved slot is no run)")
	}
	if h.idle() != idle {
		t.Fatal("idle: another channel on a second call")
	}
	h.unreserve(1)
	if running, reserved, _ := h.counts(); running != 0 || reserved != 0 {
		t.Fatalf("running %d reserved %d at the end", running, reserved)
	}
}

func TestCapacityIdleAtOnceWhenNothingRuns(t *testing.T) {
	h := newCapHarness(4, 10, 10)
	h.close()
	if !isClosed(h.idle()) {
		t.Fatal("not idle with nothing running")
	}
}
