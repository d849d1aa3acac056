package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/durable-go/durable/storage"
)

// Get returns one execution, or an error wrapping storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, p storage.GetParams) (storage.Execution, error) {
	if err := s.check("get"); err != nil {
		return storage.Execution{}, err
	}
	return s.getOne(ctx, "get", p.ID, s.q.get, namedArgs{"id": p.ID})
}

// GetBySleepKey returns the execution with that SleepKey, or an error
// wrapping storage.ErrNotFound.
func (s *Store) GetBySleepKey(ctx context.Context, p storage.GetBySleepKeyParams) (storage.Execution, error) {
	if err := s.check("get by sleep key"); err != nil {
		return storage.Execution{}, err
	}
	if p.SleepKey == "" {
		return storage.Execution{}, fmt.Errorf("postgres: get by sleep key: empty key: %w", storage.ErrNotFound)
	}
	return s.getOne(ctx, "get by sleep key", p.SleepKey, s.q.getBySleepKey, namedArgs{"sleep_key": p.SleepKey})
}

func (s *Store) getOne(ctx context.Context, op, key, sql string, args namedArgs) (storage.Execution, error) {
	var e storage.Execution
	err := withRetry(ctx, func() error {
		var err error
		e, err = scanExecution(s.pool.QueryRow(ctx, sql, args))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Execution{}, fmt.Errorf("postgres: %s %q: %w", op, key, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Execution{}, wrapErr(op, err)
	}
	return e, nil
}

// ListChildren returns a parent's children (finalize included), ordered by
// ChildIndex, then insertion order.
func (s *Store) ListChildren(ctx context.Context, p storage.ListChildrenParams) ([]storage.Execution, error) {
	if err := s.check("list children"); err != nil {
		return nil, err
	}
	if p.ParentID == "" {
		return nil, nil
	}
	var limit any // NULL: no limit
	if p.Limit > 0 {
		limit = p.Limit
	}
	args := namedArgs{"parent_id": p.ParentID, "from_index": p.FromIndex, "limit": limit}
	var out []storage.Execution
	err := withRetry(ctx, func() error {
		rows, err := s.pool.Query(ctx, s.q.listChildren, args)
		if err != nil {
			return err
		}
		out, err = collectExecutions(rows)
		return err
	})
	if err != nil {
		return nil, wrapErr("list children", err)
	}
	return out, nil
}

// NextDue returns how long until the earliest DueAt among rows of
// p.TaskIDs in p.Queues (every queue when empty), paused queues left out
// and of a limited queue only a DueAt after the last claim (now less the
// lookback), or until a full rate window of one of those queues ends
// after it, whichever is first, judged on the
// store's clock: zero when a row is already due; ok is false when there
// is neither.
func (s *Store) NextDue(ctx context.Context, p storage.NextDueParams) (time.Duration, bool, error) {
	if err := s.check("next due"); err != nil {
		return 0, false, err
	}
	if len(p.TaskIDs) == 0 {
		return 0, false, nil
	}
	args := namedArgs{"now": s.now(p.Now), "lookback_us": s.lookback(p).Microseconds(), "task_ids": p.TaskIDs}
	sql := s.q.nextDue
	if len(p.Queues) > 0 {
		sql, args["queues"] = s.q.nextDueListed, p.Queues
	}
	var next, now pgtype.Timestamptz
	err := withRetry(ctx, func() error {
		batch := &pgx.Batch{}
		batch.Queue(s.q.claimSettings)
		batch.Queue(sql, args).
			QueryRow(func(row pgx.Row) error { return row.Scan(&next, &now) })
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return 0, false, wrapErr("next due", err)
	}
	if !next.Valid {
		return 0, false, nil
	}
	return max(next.Time.Sub(now.Time), 0), true, nil
}

// lookback is p.Lookback, with slack when the statement reads the
// server's clock (NextDueParams.ServerLookback).
func (s *Store) lookback(p storage.NextDueParams) time.Duration {
	if s.now(p.Now) == nil {
		return p.ServerLookback()
	}
	return p.Lookback
}
