package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
)

// copyThreshold is the batch size from which Insert uses COPY for a batch
// of plain new executions (the bulk-enqueue path): below it the one-round-
// trip INSERT is faster.
const copyThreshold = 256

// copyColumns are the columns COPY writes; the others take their defaults,
// which are the stored form of a new ready execution. A batch with a row
// outside the default queue or priority also writes queuedColumns.
var (
	copyColumns = []string{
		"id", "task_id", "status", "input",
		"retry_max_retries", "retry_base_delay_ns", "retry_multiplier", "retry_max_delay_ns", "retry_jitter",
		"timeout_ns", "due_at", "created_at", "updated_at", "tags", "retry_of", "metadata",
	}
	queuedColumns = append(slices.Clone(copyColumns), "queue", "priority")
)

// queuedRow reports whether e is outside the default queue or priority.
func queuedRow(e storage.Execution) bool {
	return storage.NormalizeQueue(e.Queue) != storage.DefaultQueue ||
		storage.NormalizePriority(e.Priority) != storage.DefaultPriority
}

// tagColumns are the columns of the tags table.
var tagColumns = []string{"tag", "created_at", "id"}

// copyable reports whether Insert should use COPY: a bulk batch of plain
// new ready executions.
func copyable(p storage.InsertParams) bool {
	if len(p.Executions) < copyThreshold {
		return false
	}
	claimedBy, ok := plainRows(p)
	return ok && claimedBy == ""
}

// plainRows reports whether every row is a plain new execution (no parent,
// no sleep key, nothing but what a top-level enqueue sets), which COPY or
// insert_plain can write without the insert statement's per-row logic:
// all ready, or all claimed at insert by one executor, claimedBy.
func plainRows(p storage.InsertParams) (claimedBy string, ok bool) {
	if len(p.Delays) != 0 && len(p.Delays) != len(p.Executions) {
		return "", false
	}
	for i := range p.Executions {
		e := &p.Executions[i]
		if i == 0 && e.Status == storage.StatusRunning {
			claimedBy = e.ExecutorID
		}
		switch {
		case claimedBy == "" && (e.Status != storage.StatusReady || e.ExecutorID != ""),
			claimedBy != "" && (e.Status != storage.StatusRunning || e.ExecutorID != claimedBy):
			return "", false
		}
		if storage.ValidateExecution(e) != nil || e.SleepKey != "" || e.ParentID != "" || e.RootID != "" ||
			e.Output != nil || e.RunOutput != nil || e.Error != nil || e.Attempt != 0 || e.Iteration != 0 ||
			e.Crashes != 0 || e.IsFinalize || e.ChildIndex != 0 || e.FailFast ||
			e.ChildrenTotal != 0 || e.ChildrenPending != 0 || len(e.Attempts) != 0 || e.ActiveKey != "" ||
			e.ConcurrencyKey != "" {
			return "", false
		}
	}
	return claimedBy, true
}

// insertCopy inserts plain new executions with COPY in one transaction,
// all or nothing, with the NOTIFY of the new work; their tags, if any, go
// to the tags table by a second COPY. Times are taken from the database's
// clock (or params' Now with ClockParams), read in the same transaction.
func (s *Store) insertCopy(ctx context.Context, p storage.InsertParams) error {
	return withRetry(ctx, func() error {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		now, err := s.txNow(ctx, tx, p.Now)
		if err != nil {
			return err
		}
		src := newCopySource(p, now)
		columns := copyColumns
		if src.queued {
			columns = queuedColumns
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.cfg.Schema, "executions"}, columns, src); err != nil {
			return err
		}
		if tags := tagRows(p.Executions, now); len(tags) > 0 {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.cfg.Schema, "execution_tags"}, tagColumns, pgx.CopyFromRows(tags)); err != nil {
				return err
			}
		}
		batch := &pgx.Batch{}
		s.queueNotify(batch, s.tag, storage.Event{Ready: true})
		if batch.Len() > 0 {
			if err := tx.SendBatch(ctx, batch).Close(); err != nil {
				return err
			}
		}
		return tx.Commit(ctx)
	})
}

// txNow is the insert's "now": params' Now with ClockParams, else the
// database's clock.
func (s *Store) txNow(ctx context.Context, tx pgx.Tx, now time.Time) (time.Time, error) {
	if t, ok := s.now(now).(time.Time); ok {
		return t, nil
	}
	var db time.Time
	if err := tx.QueryRow(ctx, "SELECT statement_timestamp()").Scan(&db); err != nil {
		return time.Time{}, fmt.Errorf("reading the database clock: %w", err)
	}
	return db, nil
}

// tagRows returns the rows of the tags table for execs, created at now.
func tagRows(execs []storage.Execution, now time.Time) [][]any {
	var rows [][]any
	for i := range execs {
		for _, tag := range execs[i].Tags {
			rows = append(rows, []any{tag, now, execs[i].ID})
		}
	}
	return rows
}

// copySource streams p's executions to COPY, converting each row when
// pgx asks for it: the conversion then runs in pgx's encoding goroutine,
// beside the database's work on the rows already sent, instead of before
// the COPY starts.
type copySource struct {
	p   storage.InsertParams
	now time.Time
	i   int
	// queued: the rows carry their queue and priority (queuedColumns).
	queued bool
	values [18]any
}

func newCopySource(p storage.InsertParams, now time.Time) *copySource {
	return &copySource{p: p, now: now, i: -1, queued: slices.ContainsFunc(p.Executions, queuedRow)}
}

func (c *copySource) Next() bool {
	c.i++
	return c.i < len(c.p.Executions)
}

// Values returns the current row; pgx encodes it before the next call to
// Next, so the slice is reused.
func (c *copySource) Values() ([]any, error) {
	e := &c.p.Executions[c.i]
	var delay time.Duration
	if len(c.p.Delays) != 0 {
		delay = c.p.Delays[c.i]
	}
	var tags []string // NULL for none
	if len(e.Tags) > 0 {
		tags = e.Tags
	}
	var retryOf *string // NULL for none
	if e.RetryOf != "" {
		retryOf = &e.RetryOf
	}
	metadata, err := storage.EncodeMetadata(e.Metadata)
	if err != nil {
		return nil, fmt.Errorf("execution %s: encode metadata: %w", e.ID, err)
	}
	c.values = [18]any{
		e.ID, e.TaskID, string(e.Status), e.Input,
		int64(e.Retry.MaxRetries), int64(e.Retry.BaseDelay), e.Retry.Multiplier, int64(e.Retry.MaxDelay), e.Retry.Jitter,
		int64(e.Timeout), c.now.Add(delay).Truncate(time.Microsecond), c.now, c.now, tags, retryOf, metadata,
	}
	if !c.queued {
		return c.values[:16], nil
	}
	c.values[16], c.values[17] = storage.NormalizeQueue(e.Queue), int16(storage.NormalizePriority(e.Priority))
	return c.values[:], nil
}

func (c *copySource) Err() error { return nil }
