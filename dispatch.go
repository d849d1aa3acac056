package durable

import (
	"log/slog"
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
		for i := range rows {
			e.handleClaimed(&rows[i])
		}
		if len(rows) < n {
			return e.nextDue(), nil
		}
	}
}

func (e *Executor) freeSlots() int {
	if e.comp.backlog.Load() > e.maxBacklog() {
		return 0
	}
	return e.cfg.Concurrency - int(e.active.Load())
}

func (e *Executor) claim(n int) ([]storage.Execution, error) {
	ids := e.registeredIDs()
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := e.storageCtx()
	defer cancel()
	rows, err := e.store.Claim(ctx, storage.ClaimParams{
		Now: e.now(), ExecutorID: e.id, TaskIDs: ids, Limit: n, Lease: e.cfg.LeaseDuration,
	})
	if err != nil {
		return nil, err
	}
	e.active.Add(int64(len(rows)))
	return rows, nil
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

// releaseSlot frees one unit of capacity and wakes the dispatcher if it is
// waiting for capacity and enough has freed up to claim a useful batch.
func (e *Executor) releaseSlot() {
	e.active.Add(-1)
	e.wakeIfStarved()
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
// the claim batch, or any when nothing runs here (so a lone slot is not
// left idle).
func (e *Executor) worthClaiming(free int) bool {
	threshold := max(1, min(e.cfg.ClaimBatch, e.cfg.Concurrency)/2)
	return free >= threshold || (free > 0 && e.active.Load() == 0)
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
	if err != nil {
		e.log.Warn("heartbeat failed", slog.Any("error", err))
		return
	}
	if len(lost) > 0 {
		e.log.Warn("leases lost: cancelling their runs", slog.Int("count", len(lost)))
		e.held.lose(lost, ErrLeaseLost)
	}
}
