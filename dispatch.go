package durable

import (
	"log/slog"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// dispatchLoop claims due executions whenever it is woken (new work in this
// process, a store notification, freed capacity) or a timer fires (the next
// delayed execution, the fallback poll).
func (e *Executor) dispatchLoop() {
	defer e.dispatcher.Done()
	timer := e.clock.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-e.stopCh:
			return
		case <-e.wakeCh:
		case <-timer.C():
		}
		next, err := e.dispatch()
		if e.fatal(err) {
			return
		}
		if err != nil {
			failures++
			next = backoff(failures, e.cfg.PollInterval)
			e.log.Warn("claim failed", slog.Any("error", err), slog.Duration("retry_in", next))
		} else {
			failures = 0
		}
		timer.Reset(next)
	}
}

// recheckAfterClaim is how soon the dispatcher looks again after a claim
// that took some rows but fewer than it asked for. A delayed execution
// that comes due within it starts up to that much late.
const recheckAfterClaim = 5 * time.Millisecond

// backoff grows from 10ms, doubling per failure, up to limit.
func backoff(failures int, limit time.Duration) time.Duration {
	d := 10 * time.Millisecond << min(failures-1, 16)
	return min(d, max(limit, 10*time.Millisecond))
}

// maxBacklog is how many results may wait for the completer before the
// dispatcher stops claiming.
func (e *Executor) maxBacklog() int64 {
	return int64(2*e.cfg.Concurrency + e.cfg.CompletionBatch)
}

// dispatch claims until capacity is used up or nothing more is due, and
// returns how long to sleep before looking again. The first claim takes
// whatever capacity is free; later ones in the same round wait until enough
// has freed up for a useful batch, so that a busy executor does not claim
// one row at a time.
func (e *Executor) dispatch() (time.Duration, error) {
	e.shed()
	for first := true; ; first = false {
		free := e.freeSlots()
		if !(first && free > 0) && !e.worthClaiming(free) {
			// Say we are starved before re-checking, so a slot freed in
			// between wakes us.
			e.starved.Store(true)
			if !e.worthClaiming(e.freeSlots()) {
				return e.cfg.PollInterval, nil
			}
			continue
		}
		e.starved.Store(false)
		n := min(free, e.cfg.ClaimBatch)
		rows, err := e.claim(n)
		if err != nil {
			return 0, err
		}
		e.admit(rows)
		if len(rows) == 0 {
			return e.nextDue(), nil
		}
		if len(rows) < n {
			// Nothing more is due now. Look again shortly instead of
			// asking the store at once when the next row is due: that
			// query would compete for the store and the CPU with the runs
			// just started, on their latency's path. The next look
			// claims what came due meanwhile, or, finding nothing, asks.
			return min(recheckAfterClaim, e.cfg.PollInterval), nil
		}
	}
}

// freeSlots is how many executions the dispatcher may claim now: the
// capacity plus ClaimAhead, less what runs or waits here; none while the
// completer is behind.
func (e *Executor) freeSlots() int {
	if e.comp.Backlog() > e.maxBacklog() {
		return 0
	}
	e.slots.mu.Lock()
	defer e.slots.mu.Unlock()
	return e.capacityLocked() - e.slots.running - len(e.slots.queue)
}

// capacityLocked is how many executions may run or wait here now:
// Concurrency, plus what may wait ahead at the recent pace of runs.
// e.slots.mu must be held.
func (e *Executor) capacityLocked() int {
	return e.cfg.Concurrency + e.pace.ahead(e.cfg.ClaimAhead, e.cfg.Concurrency)
}

// shed gives back the claims waiting here beyond what may wait now (runs
// became slower than when they were claimed), newest first, so that other
// executors can take them at once.
func (e *Executor) shed() {
	e.slots.mu.Lock()
	excess := len(e.slots.queue) - e.pace.keep(e.cfg.ClaimAhead, e.cfg.Concurrency, e.slots.running, time.Now())
	if excess <= 0 {
		e.slots.mu.Unlock()
		return
	}
	keep := len(e.slots.queue) - excess
	shed := append([]*activeRun(nil), e.slots.queue[keep:]...)
	clear(e.slots.queue[keep:])
	e.slots.queue = e.slots.queue[:keep]
	e.slots.mu.Unlock()
	leases := make([]storage.Lease, 0, len(shed))
	for _, r := range shed {
		if e.held.startable(&r.held) {
			e.held.remove(&r.held)
			leases = append(leases, r.held.lease)
		}
	}
	if len(leases) > 0 && e.giveBack(leases, "claims that would wait too long for a slot") {
		e.log.Debug("gave back claims that would wait too long for a slot", slog.Int("claims", len(leases)))
	}
}

func (e *Executor) claim(n int) ([]storage.Execution, error) {
	ids := e.registeredIDs()
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := e.storageCtx()
	defer cancel()
	return e.store.Claim(ctx, storage.ClaimParams{
		Now: e.now(), ExecutorID: e.id, TaskIDs: ids, Limit: n, Lease: e.cfg.LeaseDuration,
	})
}

// nextDue is how long until the next delayed execution, capped by the poll
// interval.
func (e *Executor) nextDue() time.Duration {
	ids := e.registeredIDs()
	if len(ids) == 0 {
		return e.cfg.PollInterval
	}
	ctx, cancel := e.storageCtx()
	defer cancel()
	wait, ok, err := e.store.NextDue(ctx, storage.NextDueParams{Now: e.now(), TaskIDs: ids})
	if err != nil || !ok {
		return e.cfg.PollInterval
	}
	return min(max(wait, 0), e.cfg.PollInterval)
}

// slots hands claimed executions to the Concurrency capacity slots. Claims
// may run ahead of capacity by Config.ClaimAhead: the extra executions
// wait in queue, in claim order, and start as slots free up.
type slots struct {
	mu      sync.Mutex
	running int          // slots in use
	queue   []*activeRun // claimed, waiting for a slot
}

// admit takes claimed rows: they are held from now on (heartbeats renew
// their leases), start at once while slots are free, and queue otherwise.
func (e *Executor) admit(rows []storage.Execution) {
	if len(rows) == 0 {
		return
	}
	runs := e.holdRuns(rows)
	start := make([]*activeRun, 0, len(rows))
	e.slots.mu.Lock()
	for i := range runs {
		r := &runs[i]
		if e.slots.running < e.cfg.Concurrency {
			e.slots.running++
			start = append(start, r)
		} else {
			e.slots.queue = append(e.slots.queue, r)
		}
	}
	e.slots.mu.Unlock()
	for _, r := range start {
		e.startOn(r)
	}
}

// holdRuns makes the run state of claimed rows and holds their claims
// from now on (heartbeats renew their leases).
func (e *Executor) holdRuns(rows []storage.Execution) []activeRun {
	runs := make([]activeRun, len(rows))
	for i := range rows {
		r := &runs[i]
		*r = activeRun{held: held{lease: storage.Lease{ID: rows[i].ID, Fence: rows[i].Fence}}, e: e, d: e.lookup(rows[i].TaskID), row: &rows[i]}
		e.held.put(&r.held)
	}
	return runs
}

// startOn starts r on a slot it holds. Work done without a worker (a
// sleeping task's timeout, say) passes the slot on to the next queued run.
func (e *Executor) startOn(r *activeRun) {
	for r != nil {
		if e.begin(r) {
			return
		}
		r = e.nextOrRelease()
	}
}

// slotDone is called when the work on a slot ends: the slot goes to the
// next queued run, or is freed.
func (e *Executor) slotDone() {
	e.startOn(e.nextOrRelease())
}

// nextOrRelease returns the next queued run, keeping the caller's slot for
// it, or frees the slot and returns nil. Once shutdown begins, queued runs
// stay queued: their claims are given back.
func (e *Executor) nextOrRelease() *activeRun {
	e.slots.mu.Lock()
	for len(e.slots.queue) > 0 && !e.stopping.Load() {
		r := e.slots.queue[0]
		e.slots.queue[0] = nil
		e.slots.queue = e.slots.queue[1:]
		if !e.held.startable(&r.held) {
			continue // its lease was lost, or it ended elsewhere, while it waited
		}
		e.slots.mu.Unlock()
		return r
	}
	e.slots.running--
	e.slots.mu.Unlock()
	e.wakeIfStarved()
	return nil
}

// wakeIfStarved wakes a dispatcher waiting for capacity once a useful batch
// can be claimed: half the claim batch, or everything is idle.
func (e *Executor) wakeIfStarved() {
	if !e.starved.Load() {
		return
	}
	if e.worthClaiming(e.freeSlots()) {
		e.wake()
	}
}

// worthClaiming says whether free slots make a useful claim: half of
// the claim batch, or any when nothing runs or waits here (so a lone slot
// is not left idle).
func (e *Executor) worthClaiming(free int) bool {
	e.slots.mu.Lock()
	defer e.slots.mu.Unlock()
	threshold := max(1, min(e.cfg.ClaimBatch, e.capacityLocked())/2)
	return free >= threshold || (free > 0 && e.slots.running == 0 && len(e.slots.queue) == 0)
}

// heartbeatLoop renews the leases of every claim held, every third of the
// lease duration.
func (e *Executor) heartbeatLoop() {
	defer e.loops.Done()
	interval := e.cfg.LeaseDuration / 3
	timer := e.clock.NewTimer(interval)
	defer timer.Stop()
	for {
		select {
		case <-e.bgStop:
			return
		case <-timer.C():
		}
		e.heartbeat()
		timer.Reset(interval)
	}
}

func (e *Executor) heartbeat() {
	leases := e.held.leases()
	if len(leases) == 0 {
		return
	}
	ctx, cancel := e.storageCtx()
	defer cancel()
	lost, err := e.store.Heartbeat(ctx, storage.HeartbeatParams{Now: e.now(), Lease: e.cfg.LeaseDuration, Leases: leases})
	if e.fatal(err) {
		return
	}
	if err != nil {
		e.log.Warn("heartbeat failed", slog.Any("error", err))
		return
	}
	if len(lost) == 0 {
		return
	}
	// A lease also reads as lost when its completion was written after
	// the heartbeat read the leases: that is no news.
	if live := e.held.lose(lost, ErrLeaseLost); live > 0 {
		e.log.Warn("leases lost: cancelling their runs", slog.Int("count", live))
	}
}
