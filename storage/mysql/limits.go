package mysql

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/storage"
)

// This file holds the claims of queues with a concurrency limit
// (storage.Controls.LimitControl, migration 005). claim_pick leaves those
// queues out; the claim's transaction claims them first: per queue,
// control_limit_lock locks its control row (claims of the queue take
// turns), running_count counts its running rows as last committed (READ
// COMMITTED: a snapshot per statement, taken after the lock), then the
// claim takes its lapsed runs, which hold their slots, and as many of its
// other due rows as slots are free. Which queues are limited is read at
// most every storage.LimitRefresh (internal/limited).

// limitedQueues returns the limited queues a claim of queues covers.
func (s *Store) limitedQueues(ctx context.Context, queues []string) ([]limited.Queue, error) {
	qs, err := s.limits.Get(time.Now(), func() ([]limited.Queue, error) {
		rows, err := s.db.QueryContext(ctx, s.q.limitedQueues)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []limited.Queue
		for rows.Next() {
			var q limited.Queue
			if err := rows.Scan(&q.Name, &q.Concurrency); err != nil {
				return nil, err
			}
			out = append(out, q)
		}
		return out, rows.Err()
	})
	return limited.Of(qs, queues), err
}

// pickLimited reads and locks the rows a claim takes from the limited
// queues it covers, up to p.Limit, with their seqs and the latest now that
// judged them.
func (s *Store) pickLimited(ctx context.Context, tx *pipe, p storage.ClaimParams) ([]storage.Execution, []int64, int64, error) {
	qs, err := s.limitedQueues(ctx, p.Queues)
	if err != nil || len(qs) == 0 {
		return nil, nil, 0, err
	}
	var (
		picked []storage.Execution
		seqs   []int64
		now    int64
	)
	for _, q := range qs {
		left := p.Limit - len(picked)
		if left <= 0 {
			break
		}
		rows, rowSeqs, at, err := s.pickLimitedQueue(ctx, tx, p, q.Name, left)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("queue %q: %w", q.Name, err)
		}
		picked, seqs, now = append(picked, rows...), append(seqs, rowSeqs...), max(now, at)
	}
	return picked, seqs, now, nil
}

// pickLimitedQueue reads and locks queue q's rows that a claim takes, at
// most left.
func (s *Store) pickLimitedQueue(ctx context.Context, tx *pipe, p storage.ClaimParams, q string, left int) ([]storage.Execution, []int64, int64, error) {
	var (
		concurrency int
		paused      bool
		now         int64
	)
	nowArg := s.nowArg(p.Now)
	err := tx.QueryRowContext(ctx, s.q.controlLimitLock, nowArg, storage.ControlQueue, q).Scan(&concurrency, &paused, &now)
	if errors.Is(err, sql.ErrNoRows) || err == nil && paused {
		return nil, nil, 0, nil
	}
	if err != nil {
		return nil, nil, 0, err
	}
	args := append(append([]any{nowArg, q, nowArg}, stringArgs(p.TaskIDs)...), left)
	var picked []storage.Execution
	var seqs []int64
	scan := func(rows *sql.Rows) error {
		var err error
		picked, seqs, err = scanExecutions(rows, &now)
		return err
	}
	if err := tx.query(ctx, expand(s.q.claimPickLapsed, len(p.TaskIDs)), args, scan); err != nil {
		return nil, nil, 0, err
	}
	free := left - len(picked)
	if concurrency > 0 {
		var running int
		if err := tx.QueryRowContext(ctx, s.q.runningCount, q).Scan(&running); err != nil {
			return nil, nil, 0, err
		}
		free = min(free, concurrency-running)
	}
	if free <= 0 {
		return picked, seqs, now, nil
	}
	lapsed, lapsedSeqs := picked, seqs
	args[len(args)-1] = free
	if err := tx.query(ctx, expand(s.q.claimPickLimited, len(p.TaskIDs)), args, scan); err != nil {
		return nil, nil, 0, err
	}
	return append(lapsed, picked...), append(lapsedSeqs, seqs...), now, nil
}

// inClaimOrder sorts rows and their seqs together in claim order: Priority,
// DueAt (before the claim), seq.
func inClaimOrder(rows []storage.Execution, seqs []int64) ([]storage.Execution, []int64) {
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		if c := cmp.Compare(rows[i].Priority, rows[j].Priority); c != 0 {
			return c
		}
		if c := rows[i].DueAt.Compare(rows[j].DueAt); c != 0 {
			return c
		}
		return cmp.Compare(seqs[i], seqs[j])
	})
	outRows, outSeqs := make([]storage.Execution, len(rows)), make([]int64, len(rows))
	for k, i := range order {
		outRows[k], outSeqs[k] = rows[i], seqs[i]
	}
	return outRows, outSeqs
}

// LimitControl sets a queue's concurrency limit in one transaction that
// locks its row, and reports whether it changed. A change writes
// Event.Ready in the transaction (every store on the tables hears of it)
// and publishes it after commit.
func (s *Store) LimitControl(ctx context.Context, p storage.LimitControlParams) (bool, error) {
	if err := s.check("limit control"); err != nil {
		return false, err
	}
	if err := storage.ValidateLimitControl(&p); err != nil {
		return false, fmt.Errorf("mysql: limit control: %w", err)
	}
	var changed, found bool
	ev := storage.Event{Ready: true}
	err := s.withTx(ctx, func(tx *pipe) error {
		changed, found = false, false
		var (
			concurrency int
			paused      bool
			now         int64
		)
		err := tx.QueryRowContext(ctx, s.q.controlLimitLock, s.nowArg(p.Now), p.Kind, p.Name).Scan(&concurrency, &paused, &now)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		found, changed = true, concurrency != p.Concurrency
		if !changed {
			return nil
		}
		if err := tx.Defer(ctx, s.q.controlLimit, p.Concurrency, now, p.Kind, p.Name); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, ev)
	})
	s.limits.Invalidate()
	if err != nil {
		return false, s.wrapErr("limit control", err)
	}
	if !found {
		return false, fmt.Errorf("mysql: limit control: %s %q: %w", p.Kind, p.Name, storage.ErrNotFound)
	}
	if changed {
		s.publish(ev)
	}
	return changed, nil
}
