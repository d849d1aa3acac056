package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/storage"
)

// This file holds the claims of queues with a limit: a concurrency limit,
// one per key or a rate limit (storage.Controls.LimitControl, migrations
// 007 and 008). The claim statement
// leaves those queues out (open_queues in queries.sql); Claim claims them
// apart, first: claim_limit_lock locks the queue's control row, then
// claim_limited counts the queue's running rows in a
// snapshot taken after the lock (per key too) and claims within the free
// slots and the rate window, which it updates in the same statement. Which
// queues are limited is read at most every storage.LimitRefresh
// (internal/limited), so that a claim of no limited queue costs what it
// did before limits existed. When each limited queue has a concurrency
// limit or a rate (limitedBounds) and together they leave some of the
// claim's limit, their statements go in the claim's own batch, before the
// claim of the other queues, which gets the rest of the limit: one round
// trip. Otherwise (a queue limited per key only) each queue is claimed in
// a batch of its own, and the others after, within what they left.
// CompleteClaim (completeclaim.go) claims limited queues in the batch of a
// completion. A claimer that finds a queue full takes its turn at the
// slots that free up (claim_limited's waiter), and the other claimers'
// claim_limit_yield wakes it when they leave it slots.

// limitedQueues returns the limited queues a claim of queues covers.
func (s *Store) limitedQueues(ctx context.Context, queues []string) ([]limited.Queue, error) {
	qs, err := s.limits.Get(time.Now(), func() ([]limited.Queue, error) {
		var out []limited.Queue
		err := withRetry(ctx, func() error {
			rows, err := s.pool.Query(ctx, s.q.limitedQueues)
			if err != nil {
				return err
			}
			out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (limited.Queue, error) {
				var q limited.Queue
				var per int64
				err := row.Scan(&q.Name, &q.Concurrency, &q.PerKey, &q.Rate, &per)
				q.Per = time.Duration(per) * time.Microsecond
				return q, err
			})
			return err
		})
		return out, err
	})
	if err != nil {
		return nil, wrapErr("claim", err)
	}
	return limited.Of(qs, queues), nil
}

// claimLimited claims from the limited queues qs, up to p.Limit rows in
// all, and returns them with their claim keys.
func (s *Store) claimLimited(ctx context.Context, p storage.ClaimParams, qs []limited.Queue) ([]storage.Execution, []claimKey, error) {
	var rows []storage.Execution
	var keys []claimKey
	for _, q := range qs {
		left := p.Limit - len(rows)
		if left <= 0 {
			break
		}
		var got []storage.Execution
		var gotKeys []claimKey
		err := withRetry(ctx, func() error {
			batch := &pgx.Batch{}
			batch.Queue(s.q.claimSettings)
			s.queueLimitedClaim(batch, p, q.Name, left, func(r pgx.Rows) error {
				var err error
				got, gotKeys, err = scanClaims(r, left)
				return err
			})
			return s.pool.SendBatch(ctx, batch).Close()
		})
		if err != nil {
			return nil, nil, wrapErr("claim", fmt.Errorf("queue %q: %w", q.Name, err))
		}
		rows, keys = append(rows, got...), append(keys, gotKeys...)
	}
	return rows, keys, nil
}

// queueLimitedClaim adds to batch the claim of up to limit rows of the
// limited queue: claim_limit_lock, claim_limited (whose rows scan reads)
// and claim_limit_yield, which wakes the other processes when the queue's
// turn is another claimer's (see claim_limited in queries.sql). A claim
// with p.Recheck records its claimer as the one whose turn it is when it
// finds the queue full, for twice p.Recheck; one without never does.
func (s *Store) queueLimitedClaim(batch *pgx.Batch, p storage.ClaimParams, queue string, limit int, scan func(pgx.Rows) error) {
	now := s.now(p.Now)
	batch.Queue(s.q.claimLimitLock, namedArgs{"queue": queue}).QueryRow(func(r pgx.Row) error {
		var indexed bool
		switch err := r.Scan(&indexed); {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return err
		case !indexed:
			s.unindexed.add(queue) // claim_limited takes nothing from it
		}
		return nil
	})
	batch.Queue(s.q.claimLimited, namedArgs{
		"now": now, "task_ids": p.TaskIDs, "limit": limit, "queue": queue,
		"executor_id": p.ExecutorID, "lease_us": micros(p.Lease), "wait_us": 2 * micros(p.Recheck),
	}).Query(scan)
	if s.cfg.DisableNotifications {
		return
	}
	batch.Queue(s.q.claimLimitYield, namedArgs{
		"now": now, "queue": queue, "executor_id": p.ExecutorID,
		"channel": s.channel, "payload": payloads(s.tag, storage.Event{Ready: true})[0],
	})
}

// unindexedQueues is a set of queue names, safe for concurrent use.
type unindexedQueues struct {
	mu     sync.Mutex
	queues map[string]bool
}

func (u *unindexedQueues) add(q string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.queues == nil {
		u.queues = map[string]bool{}
	}
	u.queues[q] = true
}

// take empties the set and returns what it held.
func (u *unindexedQueues) take() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.queues) == 0 {
		return nil
	}
	qs := slices.Sorted(maps.Keys(u.queues))
	clear(u.queues)
	return qs
}

// indexPendingRuns runs the pass of each queue whose claim found its
// running rows not flagged yet (index_runs_lock and index_runs in
// queries.sql), then wakes the executors
// of every process on the schema: the claims of the queue took nothing
// until then. A pass that fails is tried again by the next claim that
// finds the queue so.
func (s *Store) indexPendingRuns(ctx context.Context) {
	for _, q := range s.unindexed.take() {
		err := withRetry(ctx, func() error {
			batch := &pgx.Batch{}
			batch.Queue(s.q.indexRunsLock, namedArgs{"queue": q})
			batch.Queue(s.q.indexRuns, namedArgs{"queue": q})
			s.queueNotify(batch, s.tag, storage.Event{Ready: true})
			return s.pool.SendBatch(ctx, batch).Close()
		})
		if err == nil {
			s.publish(storage.Event{Ready: true})
		}
	}
}

// limitedBounds returns, for each limited queue of qs, the most rows a
// claim of it can take as its copy of the limits says (its concurrency
// limit or rate, the lower; a claim of it is given that as its limit, so
// a limit raised meanwhile in another process never makes it take more),
// and their sum; ok is false when a queue has neither (only a limit per
// key) or the sum leaves no row of limit to the other queues.
func limitedBounds(qs []limited.Queue, limit int) (bounds []int, sum int, ok bool) {
	bounds = make([]int, len(qs))
	for i, q := range qs {
		b := 0
		for _, n := range []int{q.Concurrency, q.Rate} {
			if n > 0 && (b == 0 || n < b) {
				b = n
			}
		}
		if b == 0 {
			return nil, 0, false
		}
		bounds[i], sum = b, sum+b
	}
	return bounds, sum, sum < limit
}

// queueLimited adds to batch the claims of the limited queues qs, each of
// at most its bound (see limitedBounds), whose rows and claim keys the
// batch's results append to rows and keys. The batch must have sent
// claim_settings first; each queue's control row stays locked until the
// batch's transaction ends.
func (s *Store) queueLimited(batch *pgx.Batch, p storage.ClaimParams, qs []limited.Queue, bounds []int, rows *[]storage.Execution, keys *[]claimKey) {
	for i, q := range qs {
		s.queueLimitedClaim(batch, p, q.Name, bounds[i], func(r pgx.Rows) error {
			got, gotKeys, err := scanClaims(r, bounds[i])
			*rows, *keys = append(*rows, got...), append(*keys, gotKeys...)
			return err
		})
	}
}

// LimitControl sets a queue's limits and reports whether they changed. A change publishes Event.Ready to this store's subscribers and,
// through a notification sent by the same statement, to every other
// process on the schema.
func (s *Store) LimitControl(ctx context.Context, p storage.LimitControlParams) (bool, error) {
	if err := s.check("limit control"); err != nil {
		return false, err
	}
	if err := storage.ValidateLimitControl(&p); err != nil {
		return false, fmt.Errorf("postgres: limit control: %w", err)
	}
	changed, err := s.setControl(ctx, "limit control", s.q.limitControl, namedArgs{
		"now": s.now(p.Now), "kind": p.Kind, "name": p.Name, "concurrency": p.Concurrency,
		"per_key": p.PerKey, "rate": p.Rate, "rate_per_us": p.Per.Microseconds()})
	s.limits.Invalidate()
	if err != nil {
		return false, err
	}
	if changed && p.Limited() {
		// The queue's first limit leaves its claims idle until its
		// running rows are flagged: run the pass now (it does nothing
		// when they are).
		s.unindexed.add(p.Name)
		s.indexPendingRuns(ctx)
	}
	if changed {
		s.publish(storage.Event{Ready: true})
	}
	return changed, nil
}
