package durable

import (
	"sync"
	"sync/atomic"
	"time"
)

// capacity is the executor's run slots: Config.Concurrency of them, and a
// queue of claimed executions waiting for one. It alone owns its mutex.
//
//   - The dispatcher asks how many executions to claim (toClaim): the free
//     slots plus what may wait ahead of them at the recent pace of runs
//     (pace.go, Config.ClaimAhead), none while the completer is behind. It
//     gives the claimed runs to admit, which takes a slot for each while
//     some are free and queues the rest, and asks shed which queued runs to
//     give back once runs have become slower.
//   - A worker gives its slot back through next: the slot goes to the next
//     queued run, or is freed. A dispatcher starved of capacity is woken
//     once a useful batch can be claimed.
//   - Direct start (direct.go) reserves slots for rows before inserting
//     them (reserve), then starts them on those slots (startReserved), or
//     frees them (unreserve).
//
// Its life follows the executor's: closed until open (Start), open until
// close (Shutdown). Once closed it reserves nothing, refuses to start
// reserved slots, and starts no queued run; idle then says when every slot
// in use (reserved ones aside) has been given back, which is when the runs
// have returned.
type capacity struct {
	concurrency, claimAhead, claimBatch int

	// wake wakes the dispatcher; behind reports whether the completer is
	// too far behind to claim more; startable says whether a queued run
	// may still start (its claim is held and its execution did not end
	// elsewhere meanwhile). They are called without mu held, except
	// startable.
	wake      func()
	behind    func() bool
	startable func(*activeRun) bool

	pace    pace        // how long runs take, for claiming ahead
	starved atomic.Bool // the dispatcher waits for capacity

	mu       sync.Mutex
	state    capacityState
	running  int           // slots in use, reserved ones included
	reserved int           // slots reserved for direct starts not started yet
	queue    []*activeRun  // claimed, waiting for a slot, in claim order
	idleCh   chan struct{} // made by idle; closed when no slot is in use
}

type capacityState int

const (
	capacityNew capacityState = iota
	capacityOpen
	capacityClosed
)

func newCapacity(concurrency, claimAhead, claimBatch int, wake func(), behind func() bool, startable func(*activeRun) bool) *capacity {
	c := &capacity{concurrency: concurrency, claimAhead: claimAhead, claimBatch: claimBatch,
		wake: wake, behind: behind, startable: startable}
	c.pace.wait.Store(int64(defaultAheadWait))
	return c
}

// open lets direct starts reserve slots (Start). It does nothing once
// closed.
func (c *capacity) open() {
	c.mu.Lock()
	if c.state == capacityNew {
		c.state = capacityOpen
	}
	c.mu.Unlock()
}

// close ends reservations and the start of queued and reserved runs
// (Shutdown): queued runs stay queued (their claims are given back).
func (c *capacity) close() {
	c.mu.Lock()
	c.state = capacityClosed
	c.mu.Unlock()
}

// idle returns a channel closed once no slot is in use but reserved ones.
// Call it once closed and once nothing admits runs any more (the
// dispatcher stopped): then nothing takes a slot again.
func (c *capacity) idle() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idleCh == nil {
		c.idleCh = make(chan struct{})
		c.signalIdleLocked()
	}
	return c.idleCh
}

// signalIdleLocked closes the idle channel if idle waits and no slot is in
// use. c.mu must be held.
func (c *capacity) signalIdleLocked() {
	if c.idleCh != nil && c.running == c.reserved {
		select {
		case <-c.idleCh:
		default:
			close(c.idleCh)
		}
	}
}

// toClaim is how many executions the dispatcher should claim now, 0 when
// it should wait for capacity. The first claim of a round takes whatever
// is free; later ones wait until enough has freed up for a useful batch,
// so that a busy executor does not claim one row at a time. Waiting, the
// dispatcher is marked starved, so that a slot freed meanwhile wakes it.
func (c *capacity) toClaim(first bool) int {
	for {
		free := c.free()
		if (first && free > 0) || c.worthClaiming(free) {
			c.starved.Store(false)
			return min(free, c.claimBatch)
		}
		// Say we are starved before re-checking, so a slot freed in
		// between wakes us.
		c.starved.Store(true)
		if !c.worthClaiming(c.free()) {
			return 0
		}
		first = false
	}
}

// free is how many executions the dispatcher may claim now: the capacity
// plus what may wait ahead, less what runs or waits here; none while the
// completer is behind.
func (c *capacity) free() int {
	if c.behind() {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.capacityLocked() - c.running - len(c.queue)
}

// capacityLocked is how many executions may run or wait here now:
// Concurrency, plus what may wait ahead at the recent pace of runs. c.mu
// must be held.
func (c *capacity) capacityLocked() int {
	return c.concurrency + c.pace.ahead(c.claimAhead, c.concurrency)
}

// worthClaiming says whether free slots make a useful claim: half of the
// claim batch, or any when nothing runs or waits here (so a lone slot is
// not left idle).
func (c *capacity) worthClaiming(free int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	threshold := max(1, min(c.claimBatch, c.capacityLocked())/2)
	return free >= threshold || (free > 0 && c.running == 0 && len(c.queue) == 0)
}

// wakeIfStarved wakes a dispatcher waiting for capacity once a useful
// batch can be claimed.
func (c *capacity) wakeIfStarved() {
	if !c.starved.Load() {
		return
	}
	if c.worthClaiming(c.free()) {
		c.wake()
	}
}

// claimable is how many executions may be claimed now beside the
// dispatcher (free, capped by the claim batch): none unless open.
func (c *capacity) claimable() int {
	if c.behind() {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != capacityOpen {
		return 0
	}
	return max(0, min(c.capacityLocked()-c.running-len(c.queue), c.claimBatch))
}

// admitIfOpen is admit while open; closed, it takes nothing and reports
// false.
func (c *capacity) admitIfOpen(runs []activeRun) ([]*activeRun, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != capacityOpen {
		return nil, false
	}
	return c.admitLocked(runs), true
}

// admit takes claimed runs: each takes a slot while some are free, the
// rest queue. It returns those that took a slot, to be started.
func (c *capacity) admit(runs []activeRun) []*activeRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.admitLocked(runs)
}

// admitLocked is admit with c.mu held.
func (c *capacity) admitLocked(runs []activeRun) []*activeRun {
	start := make([]*activeRun, 0, len(runs))
	for i := range runs {
		r := &runs[i]
		if c.running < c.concurrency {
			c.running++
			start = append(start, r)
		} else {
			c.queue = append(c.queue, r)
		}
	}
	return start
}

// next gives back a slot whose work ended: it returns the next queued run
// that may start, keeping the slot for it, or frees the slot and returns
// nil. Once closed, queued runs stay queued.
func (c *capacity) next() *activeRun {
	c.mu.Lock()
	for len(c.queue) > 0 && c.state != capacityClosed {
		r := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if !c.startable(r) {
			continue // its lease was lost, or it ended elsewhere, while it waited
		}
		c.mu.Unlock()
		return r
	}
	c.running--
	c.signalIdleLocked()
	c.mu.Unlock()
	c.wakeIfStarved()
	return nil
}

// shed takes out of the queue the runs waiting beyond what may wait now
// (runs became slower than when they were claimed), newest first, and
// returns them: their claims are to be given back.
func (c *capacity) shed(now time.Time) []*activeRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	excess := len(c.queue) - c.pace.keep(c.claimAhead, c.concurrency, c.running, now)
	if excess <= 0 {
		return nil
	}
	keep := len(c.queue) - excess
	shed := append([]*activeRun(nil), c.queue[keep:]...)
	clear(c.queue[keep:])
	c.queue = c.queue[:keep]
	return shed
}

// reserve takes n slots for a direct start, if open, nothing is queued
// and n slots are free.
func (c *capacity) reserve(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok := c.state == capacityOpen && len(c.queue) == 0 && c.running+n <= c.concurrency
	if ok {
		c.running += n
		c.reserved += n
	}
	return ok
}

// startReserved turns n reserved slots into slots in use, to start their
// runs on, unless closed meanwhile: then the caller gives the rows back
// and calls unreserve. Once it has returned true, idle waits for those
// runs.
func (c *capacity) startReserved(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == capacityClosed {
		return false
	}
	c.reserved -= n
	return true
}

// unreserve frees n slots reserved (and not started).
func (c *capacity) unreserve(n int) {
	c.mu.Lock()
	c.running -= n
	c.reserved -= n
	c.signalIdleLocked()
	c.mu.Unlock()
	c.wakeIfStarved()
}

// observe records a run that took d and ended at now.
func (c *capacity) observe(d time.Duration, now time.Time) { c.pace.observe(d, now) }
