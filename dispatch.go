package durable

import (
	"log/slog"
	"time"

	"github.com/durable-go/durable/storage"
)

// dispatchLoop claims due executions whenever it is woken (new work in this
// process, a store notification, freed capacity) or a timer fires (the next
// delayed execution, the fallback poll), until stop is closed or the store
// fails for good.
func (e *Executor) dispatchLoop(stop <-chan struct{}) {
	timer := e.clock.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-stop:
			return
		case <-e.wakeCh:
		case <-timer.C():
		}
		// Before the round, not between it and the timer's reset: a store
		// call there would widen the window in which a clock moved after
		// the round computed its wait is missed (a fake clock's jump).
		e.refreshPaused()
		next, err := e.dispatch()
		// Counted once the round's claims are made: a test waits for a
		// round begun after some state to know the dispatcher looked at it
		// (and maybe decided not to claim, which no store call shows).
		e.rounds.Add(1)
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
// returns how long to sleep before looking again (capacity.toClaim says how
// much to claim).
func (e *Executor) dispatch() (time.Duration, error) {
	e.shed()
	for first := true; ; first = false {
		n := e.capacity.toClaim(first)
		if n == 0 {
			return e.cfg.PollInterval, nil
		}
		claimedAt := e.now()
		rows, err := e.claim(n, claimedAt)
		if err != nil {
			return 0, err
		}
		if len(rows) > 0 {
			callAll(e.hooks.claimed, len(rows))
		}
		e.logTakeovers(rows)
		e.admit(rows)
		if len(rows) == 0 {
			return e.nextDue(claimedAt), nil
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

// behind reports whether the completer is too far behind for the
// dispatcher to claim more.
func (e *Executor) behind() bool { return e.comp.Backlog() > e.maxBacklog() }

// shed gives back the claims waiting here beyond what may wait now (runs
// became slower than when they were claimed), newest first, so that other
// executors can take them at once.
func (e *Executor) shed() {
	shed := e.capacity.shed(time.Now())
	if len(shed) == 0 {
		return
	}
	leases := make([]storage.Lease, 0, len(shed))
	for _, r := range shed {
		if e.held.startable(&r.held) {
			e.held.remove(&r.held)
			leases = append(leases, r.held.lease)
		}
	}
	if len(leases) > 0 && e.leases.giveBack(leases, "claims that would wait too long for a slot") {
		e.log.Debug("gave back claims that would wait too long for a slot", slog.Int("claims", len(leases)))
	}
}

func (e *Executor) claim(n int, now time.Time) ([]storage.Execution, error) {
	ids := e.registeredIDs()
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := e.storageCtx()
	defer cancel()
	return e.store.Claim(ctx, storage.ClaimParams{
		Now: now, ExecutorID: e.id, TaskIDs: ids, Queues: e.cfg.Queues, Limit: n, Lease: e.cfg.LeaseDuration,
		Recheck: e.cfg.PollInterval,
	})
}

// nextDue is how long until the next delayed execution, capped by the poll
// interval. claimedAt is when the claim that found nothing more ran: a
// limited queue's row or rate window that came due since then counts as
// due now (NextDueParams.Lookback), since that claim could not see it and
// no completion may come to wake the dispatcher for it.
func (e *Executor) nextDue(claimedAt time.Time) time.Duration {
	ids := e.registeredIDs()
	if len(ids) == 0 {
		return e.cfg.PollInterval
	}
	ctx, cancel := e.storageCtx()
	defer cancel()
	now := e.now()
	wait, ok, err := e.store.NextDue(ctx, storage.NextDueParams{
		Now: now, Lookback: max(now.Sub(claimedAt), 0), TaskIDs: ids, Queues: e.cfg.Queues,
	})
	if err != nil || !ok {
		return e.cfg.PollInterval
	}
	return min(max(wait, 0), e.cfg.PollInterval)
}

// admit takes claimed rows: they are held from now on (heartbeats renew
// their leases), start at once while slots are free, and queue otherwise.
func (e *Executor) admit(rows []storage.Execution) {
	if len(rows) == 0 {
		return
	}
	for _, r := range e.capacity.admit(e.holdRuns(rows)) {
		e.startOnSlot(r)
	}
}
