package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/storage"
)

// Get returns one execution, or an error wrapping storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, p storage.GetParams) (storage.Execution, error) {
	if err := s.check("get"); err != nil {
		return storage.Execution{}, err
	}
	return s.getOne(ctx, "get", p.ID, s.q.get)
}

// GetBySleepKey returns the execution with that SleepKey, or an error
// wrapping storage.ErrNotFound.
func (s *Store) GetBySleepKey(ctx context.Context, p storage.GetBySleepKeyParams) (storage.Execution, error) {
	if err := s.check("get by sleep key"); err != nil {
		return storage.Execution{}, err
	}
	if p.SleepKey == "" {
		return storage.Execution{}, fmt.Errorf("mysql: get by sleep key: empty key: %w", storage.ErrNotFound)
	}
	return s.getOne(ctx, "get by sleep key", p.SleepKey, s.q.getBySleepKey)
}

func (s *Store) getOne(ctx context.Context, op, key, query string) (storage.Execution, error) {
	var out []storage.Execution
	err := s.withRetry(ctx, func() error {
		rows, err := s.db.QueryContext(ctx, query, key)
		if err != nil {
			return err
		}
		out, _, err = scanExecutions(rows)
		return err
	})
	if err != nil {
		return storage.Execution{}, s.wrapErr(op, err)
	}
	if len(out) == 0 {
		return storage.Execution{}, fmt.Errorf("mysql: %s %q: %w", op, key, storage.ErrNotFound)
	}
	return out[0], nil
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
	limit := uint64(1<<64 - 1) // no limit
	if p.Limit > 0 {
		limit = uint64(p.Limit)
	}
	var out []storage.Execution
	err := s.withRetry(ctx, func() error {
		rows, err := s.db.QueryContext(ctx, s.q.listChildren, p.ParentID, p.FromIndex, limit)
		if err != nil {
			return err
		}
		out, _, err = scanExecutions(rows)
		return err
	})
	if err != nil {
		return nil, s.wrapErr("list children", err)
	}
	return out, nil
}

// NextDue returns how long until the earliest DueAt among rows of
// p.TaskIDs and p.Queues (every queue when empty), not of a paused queue,
// and of a limited queue only a DueAt after the last claim (now less the
// lookback), or until a full rate window of one of those queues ends
// after it, whichever is first, judged on the
// store's clock: zero when a row is already due; ok is false when there
// is neither. It reads which (queue, priority) levels hold rows with a DueAt
// (claim_queues), then the first row of the tasks in each (next_due, or
// next_due_limited for the queues the store's copy of the limited queues
// names) and the end of those queues' full rate windows
// (next_due_windows).
func (s *Store) NextDue(ctx context.Context, p storage.NextDueParams) (time.Duration, bool, error) {
	if err := s.check("next due"); err != nil {
		return 0, false, err
	}
	if len(p.TaskIDs) == 0 {
		return 0, false, nil
	}
	var next sql.NullInt64
	var now int64
	err := s.withRetry(ctx, func() error {
		levels, err := s.levels(ctx, p.Queues)
		if err != nil || len(levels) == 0 {
			next = sql.NullInt64{}
			return err
		}
		lim, err := s.limitedQueues(ctx, p.Queues)
		if err != nil {
			return err
		}
		for i := range levels {
			levels[i].limited = slices.ContainsFunc(lim, func(q limited.Queue) bool { return q.Name == levels[i].queue })
		}
		stmt, args := s.nextDueSQL(p, levels)
		return s.db.QueryRowContext(ctx, stmt, args...).Scan(&next, &now)
	})
	if err != nil {
		return 0, false, s.wrapErr("next due", err)
	}
	if !next.Valid {
		return 0, false, nil
	}
	return max(time.Duration(next.Int64-now)*time.Microsecond, 0), true, nil
}

// level is a (queue, priority) level of the claim index; limited says
// its queue has a limit.
type level struct {
	queue    string
	priority int
	limited  bool
}

// levels returns the levels that hold rows with a due_at, of queues
// (every queue when empty).
func (s *Store) levels(ctx context.Context, queues []string) ([]level, error) {
	rows, err := s.db.QueryContext(ctx, s.q.claimQueues)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []level
	for rows.Next() {
		var l level
		var first sql.NullInt64
		if err := rows.Scan(&l.queue, &l.priority, &first); err != nil {
			return nil, err
		}
		if len(queues) == 0 || slices.Contains(queues, l.queue) {
			out = append(out, l)
		}
	}
	return out, rows.Err()
}

// nextDueSQL is the statement of NextDue over levels, with its arguments:
// the least due_at of the levels' next_due, and the now that judges it.
func (s *Store) nextDueSQL(p storage.NextDueParams, levels []level) (string, []any) {
	branch := expand(s.q.nextDue, len(p.TaskIDs))
	limitedBranch := expand(s.q.nextDueLimited, len(p.TaskIDs))
	var b strings.Builder
	args := []any{s.nowArg(p.Now)}
	b.WriteString("SELECT min(u.due), " + s.q.data.Now + " FROM (")
	var queues []string // the limited ones, for next_due_windows
	lookback := p.Lookback
	if s.nowArg(p.Now) == nil {
		lookback = p.ServerLookback() // the server's clock
	}
	for i, l := range levels {
		if i > 0 {
			b.WriteString("\nUNION ALL\n")
		}
		args = append(args, l.queue, l.priority)
		if l.limited {
			b.WriteString(limitedBranch)
			args = append(args, s.nowArg(p.Now), lookback.Microseconds())
			if !slices.Contains(queues, l.queue) {
				queues = append(queues, l.queue)
			}
		} else {
			b.WriteString(branch)
		}
		args = append(args, stringArgs(p.TaskIDs)...)
		args = append(args, l.queue)
	}
	if len(queues) > 0 {
		b.WriteString("\nUNION ALL\n" + expand(s.q.nextDueWindows, len(queues)))
		args = append(append(args, stringArgs(queues)...), s.nowArg(p.Now), lookback.Microseconds())
	}
	b.WriteString(") AS u")
	return b.String(), args
}

// nowArg is the argument of .Now in queries.sql: params' Now in
// microseconds with ClockParams, NULL (the server's clock) with
// ClockDatabase or when now is zero.
func (s *Store) nowArg(now time.Time) any {
	if s.cfg.Clock != ClockParams || now.IsZero() {
		return nil
	}
	return micros(now)
}
