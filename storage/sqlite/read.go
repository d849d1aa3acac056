package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// readStmt returns a prepared read statement, or ErrClosed.
func (s *Store) readStmt(op, name string) (*sql.Stmt, error) {
	if s.isClosed() {
		return nil, errClosed(op)
	}
	return s.reads[name], nil
}

// Get returns one execution, or an error wrapping storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, p storage.GetParams) (storage.Execution, error) {
	return s.getOne(ctx, "get", "get", p.ID)
}

// GetBySleepKey returns the execution with that sleep key, or an error
// wrapping storage.ErrNotFound.
func (s *Store) GetBySleepKey(ctx context.Context, p storage.GetBySleepKeyParams) (storage.Execution, error) {
	return s.getOne(ctx, "get by sleep key", "get_by_sleep_key", p.SleepKey)
}

func (s *Store) getOne(ctx context.Context, op, name, key string) (storage.Execution, error) {
	st, err := s.readStmt(op, name)
	if err != nil {
		return storage.Execution{}, err
	}
	e, _, err := scanExecution(st.QueryRowContext(ctx, key))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.Execution{}, fmt.Errorf("sqlite: %s %q: %w", op, key, storage.ErrNotFound)
	case err != nil:
		return storage.Execution{}, s.readError(op, err)
	}
	return e, nil
}

// ListChildren returns a parent's children ordered by ChildIndex.
func (s *Store) ListChildren(ctx context.Context, p storage.ListChildrenParams) ([]storage.Execution, error) {
	const op = "list children"
	st, err := s.readStmt(op, "list_children")
	if err != nil {
		return nil, err
	}
	limit := int64(p.Limit)
	if limit <= 0 {
		limit = -1
	}
	rows, err := st.QueryContext(ctx, p.ParentID, int64(p.FromIndex), limit)
	if err != nil {
		return nil, s.readError(op, err)
	}
	defer rows.Close()
	var out []storage.Execution
	sc := newExecScanner()
	for rows.Next() {
		e, _, err := sc.scan(rows)
		if err != nil {
			return nil, s.readError(op, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(op, err)
	}
	return out, nil
}

// NextDue returns how long until the earliest DueAt among rows of the given
// tasks and queues (every queue when there is none), not of a paused queue,
// and of a limited queue only a DueAt after the last claim (p.Now less
// p.Lookback), or until a full rate window of one of those queues ends
// after the last claim, whichever is first (zero when a row is due
// already); ok is false when there is neither.
func (s *Store) NextDue(ctx context.Context, p storage.NextDueParams) (time.Duration, bool, error) {
	const op = "next due"
	if len(p.TaskIDs) == 0 {
		if s.isClosed() {
			return 0, false, errClosed(op)
		}
		return 0, false, nil
	}
	name, args := "next_due", []any{jsonStrings(p.TaskIDs), micros(p.SinceClaim())}
	if len(p.Queues) > 0 {
		name, args = "next_due_in", append(args, jsonStrings(distinct(p.Queues)))
	}
	st, err := s.readStmt(op, name)
	if err != nil {
		return 0, false, err
	}
	var due sql.NullInt64
	if err := st.QueryRowContext(ctx, args...).Scan(&due); err != nil {
		return 0, false, s.readError(op, err)
	}
	if !due.Valid {
		return 0, false, nil
	}
	return max(0, time.UnixMicro(due.Int64).Sub(p.Now)), true, nil
}

// readError wraps an error of a read, reporting a store closed meanwhile as
// ErrClosed.
func (s *Store) readError(op string, err error) error {
	if s.isClosed() {
		return errClosed(op)
	}
	return s.fatal(fmt.Errorf("sqlite: %s: %w", op, err))
}
