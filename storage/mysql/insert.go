package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// insertColumns is the number of columns of the "insert" statement.
const insertColumns = 42

// maxIDLen and maxSleepKeyLen are the widths of the id and sleep_key
// columns.
const (
	maxIDLen       = 255
	maxSleepKeyLen = 1024
)

// checkLengths rejects an execution whose strings do not fit the columns.
func checkLengths(e *storage.Execution) error {
	for _, f := range []struct{ name, v string }{
		{"ID", e.ID}, {"TaskID", e.TaskID}, {"RootID", e.RootID}, {"RootTaskID", e.RootTaskID},
		{"ParentID", e.ParentID}, {"ParentTaskID", e.ParentTaskID}, {"ExecutorID", e.ExecutorID}, {"RetryOf", e.RetryOf},
	} {
		if len(f.v) > maxIDLen {
			return fmt.Errorf("execution %.40q...: %s is %d bytes long, at most %d are stored", e.ID, f.name, len(f.v), maxIDLen)
		}
	}
	if len(e.SleepKey) > maxSleepKeyLen {
		return fmt.Errorf("execution %s: SleepKey is %d bytes long, at most %d are stored", e.ID, len(e.SleepKey), maxSleepKeyLen)
	}
	return nil
}

// sinceNow is an instant given relative to the insert's now, in
// microseconds: insertRows writes it as now + the offset, now being
// known or the server's clock (see insertRows).
type sinceNow int64

// insertRow appends the values of one execution inserted at now (see
// storage.InsertParams) to args; the instants set from now are sinceNow.
func insertRow(args []any, e *storage.Execution, delay time.Duration) ([]any, error) {
	if err := storage.ValidateExecution(e); err != nil {
		return nil, err
	}
	if err := checkLengths(e); err != nil {
		return nil, err
	}
	errJSON, err := encodeError(e.Error)
	if err != nil {
		return nil, fmt.Errorf("execution %s: encode error: %w", e.ID, err)
	}
	attempts, err := encodeAttempts(e.Attempts)
	if err != nil {
		return nil, fmt.Errorf("execution %s: encode attempts: %w", e.ID, err)
	}
	metadata, err := storage.EncodeMetadata(e.Metadata)
	if err != nil {
		return nil, fmt.Errorf("execution %s: encode metadata: %w", e.ID, err)
	}
	due, started := nullTime(e.DueAt), nullTime(e.StartedAt)
	switch {
	case e.Status == storage.StatusReady:
		due = sinceNow(durMicros(delay))
	case e.Status == storage.StatusRunning && e.SleepKey != "":
		due, started = sinceNow(durMicros(e.Timeout)), sinceNow(0)
	case e.Status == storage.StatusRunning && e.ExecutorID != "":
		due, started = sinceNow(durMicros(delay)), sinceNow(0)
	case e.Status.Terminal():
		due = nil
	}
	return append(args,
		e.ID, e.TaskID, e.RootID, e.RootTaskID, nullString(e.ParentID), e.ParentTaskID, e.ChildIndex, e.IsFinalize,
		nullString(e.SleepKey), string(e.Status), e.Input, e.Output, e.RunOutput, errJSON,
		e.Retry.MaxRetries, int64(e.Retry.BaseDelay), e.Retry.Multiplier, int64(e.Retry.MaxDelay), e.Retry.Jitter,
		int64(e.Timeout), e.Attempt, e.Iteration, e.Crashes, 0, e.ExecutorID, e.FailFast,
		e.ChildrenTotal, e.ChildrenPending, due, sinceNow(0), sinceNow(0),
		started, nullTime(e.FinishedAt), nullTime(e.WaitingForChildrenAt), nullTime(e.WaitingForFinalizeAt),
		attempts, encodeTags(e.Tags), nullString(e.RetryOf), metadataArg(metadata),
		storage.NormalizeQueue(e.Queue), storage.NormalizePriority(e.Priority), nullString(e.ActiveKey)), nil
}

// metadataArg is the argument of the metadata column: NULL for none.
func metadataArg(m *string) any {
	if m == nil {
		return nil
	}
	return []byte(*m)
}

// rowSize estimates the bytes an execution adds to an insert statement.
func rowSize(e *storage.Execution) int {
	n := 512 + len(e.ID) + len(e.TaskID) + len(e.SleepKey)
	n += 2 * (len(e.Input) + len(e.Output) + len(e.RunOutput))
	for k, v := range e.Metadata {
		n += 2*(len(k)+len(v)) + 8
	}
	if e.Error != nil {
		n += 2 * (len(e.Error.Message) + len(e.Error.Stack))
	}
	for _, a := range e.Attempts {
		n += 256
		if a.Error != nil {
			n += 2 * (len(a.Error.Message) + len(a.Error.Stack))
		}
	}
	return n
}

// maxInsertRows bounds the rows of one insert statement (its
// placeholders, when the server prepares it, must stay under 65,535).
const maxInsertRows = 1000

// insertRows inserts execs (with delays, nil or one per row) at now
// through q, in statements of at most half of max_allowed_packet, and
// their tags. A nil now is the server's clock, read by each statement (no
// round trip to learn it first); the rows must then have no tags, whose
// rows need the executions' created_at.
//
// With deferred, the statements are deferred when q is a pipe: their
// errors (a duplicate) then come with a later statement.
func (s *Store) insertRows(ctx context.Context, q querier, execs []storage.Execution, delays []time.Duration, now *int64, deferred bool) error {
	exec := func(stmt string, args []any) error {
		if deferred {
			return execOrDefer(ctx, q, stmt, args...)
		}
		_, err := q.ExecContext(ctx, stmt, args...)
		return err
	}
	if len(delays) != 0 && len(delays) != len(execs) {
		return fmt.Errorf("%d delays for %d executions", len(delays), len(execs))
	}
	limit := int(s.server.maxPacket / 2)
	for start := 0; start < len(execs); {
		end, size := start, 0
		for end < len(execs) && end-start < maxInsertRows && (end == start || size+rowSize(&execs[end]) <= limit) {
			size += rowSize(&execs[end])
			end++
		}
		args := make([]any, 0, (end-start)*insertColumns)
		for i := start; i < end; i++ {
			var d time.Duration
			if len(delays) != 0 {
				d = delays[i]
			}
			var err error
			if args, err = insertRow(args, &execs[i], d); err != nil {
				return err
			}
		}
		if err := exec(s.q.insert+valuesSQL(args, now), args); err != nil {
			return err
		}
		start = end
	}
	if now == nil {
		return nil
	}
	return s.insertTags(execs, *now, exec)
}

// valuesSQL is the VALUES list of rows of insertColumns args each. It
// resolves the sinceNow args in place: to now plus the offset, or, when
// now is nil, to the offset, added in SQL to the server's clock.
func valuesSQL(args []any, now *int64) string {
	var b strings.Builder
	for i, a := range args {
		switch {
		case i%insertColumns == 0 && i > 0:
			b.WriteString("), (?")
		case i == 0:
			b.WriteString("(?")
		default:
			rel, ok := a.(sinceNow)
			switch {
			case !ok:
				b.WriteString(", ?")
			case now == nil:
				b.WriteString(", " + nowSQL + " + ?")
				args[i] = int64(rel)
			default:
				b.WriteString(", ?")
				args[i] = *now + int64(rel)
			}
			continue
		}
	}
	b.WriteString(")")
	return b.String()
}

// insertTags inserts the tag rows of execs, inserted at now.
func (s *Store) insertTags(execs []storage.Execution, now int64, exec func(string, []any) error) error {
	var args []any
	n := 0
	for i := range execs {
		for _, tag := range execs[i].Tags {
			args = append(args, tag, now, execs[i].ID)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	stmt := s.q.insertTags + strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", ")
	return exec(stmt, args)
}

// Insert inserts p.Executions all or nothing in one transaction (with the
// event of the new work). A duplicate ID or SleepKey fails the call with
// an error wrapping storage.ErrDuplicate.
func (s *Store) Insert(ctx context.Context, p storage.InsertParams) error {
	if err := s.check("insert"); err != nil {
		return err
	}
	if len(p.Executions) == 0 {
		return nil
	}
	if err := validateInsert(p); err != nil {
		return fmt.Errorf("mysql: insert: %w", err)
	}
	ev := storage.Event{Ready: storage.AnyReady(p.Executions)}
	err := s.withTx(ctx, func(tx *pipe) error {
		now, err := s.insertNow(ctx, tx, p)
		if err != nil {
			return err
		}
		if err := s.insertRows(ctx, tx, p.Executions, p.Delays, now, true); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, ev)
	})
	if err != nil {
		return s.insertError(ctx, p.Executions, err)
	}
	s.publish(ev)
	return nil
}

// activeKeyIndex is the name of the unique index of the active rows' keys
// (migration 004), without the table prefix.
const activeKeyIndex = "executions_active_key"

// insertError is the error of a failed insert of execs: for a duplicate
// in the index of active keys, an *storage.ActiveKeyError naming the key
// and, when it is still active, its holder (read after the insert rolled
// back: a holder that finished meanwhile is not named).
func (s *Store) insertError(ctx context.Context, execs []storage.Execution, err error) error {
	if !isDuplicate(err) || !strings.Contains(err.Error(), s.cfg.TablePrefix+activeKeyIndex) {
		return s.wrapErr("insert", err)
	}
	first := ""
	inBatch := make(map[string]*storage.Execution)
	for i := range execs {
		e := &execs[i]
		if e.ActiveKey == "" {
			continue
		}
		if h := inBatch[e.ActiveKey]; h != nil {
			return &storage.ActiveKeyError{Key: e.ActiveKey, ID: h.ID, TaskID: h.TaskID}
		}
		inBatch[e.ActiveKey] = e
		if first == "" {
			first = e.ActiveKey
		}
	}
	for key := range inBatch {
		var id, task string
		if s.db.QueryRowContext(context.WithoutCancel(ctx), s.q.activeKeyHolder, key).Scan(&id, &task) == nil {
			return &storage.ActiveKeyError{Key: key, ID: id, TaskID: task}
		}
	}
	return &storage.ActiveKeyError{Key: first}
}

// insertNow is the now of an insert (see insertRows): params' Now with
// ClockParams; else nil (the server's clock, in the statement), unless a
// row has tags: then the server's clock, read first.
func (s *Store) insertNow(ctx context.Context, tx querier, p storage.InsertParams) (*int64, error) {
	tagged := slices.ContainsFunc(p.Executions, func(e storage.Execution) bool { return len(e.Tags) > 0 })
	if !tagged && s.nowArg(p.Now) == nil {
		return nil, nil
	}
	now, err := s.now(ctx, tx, p.Now)
	return &now, err
}

// validateInsert rejects params no store can insert, before any write.
func validateInsert(p storage.InsertParams) error {
	if len(p.Delays) != 0 && len(p.Delays) != len(p.Executions) {
		return fmt.Errorf("%d delays for %d executions", len(p.Delays), len(p.Executions))
	}
	for i := range p.Executions {
		if err := storage.ValidateExecution(&p.Executions[i]); err != nil {
			return err
		}
		if err := checkLengths(&p.Executions[i]); err != nil {
			return err
		}
	}
	return nil
}

// insertSavepoint is the savepoint InsertTx puts around its writes.
const insertSavepoint = "durable_insert"

// InsertTx inserts executions like Insert, but through tx, a transaction
// of the caller on the store's database: the executions exist if and only
// if tx commits (transactional enqueue). The event of the new work is
// written through tx as well, so every store on the tables (this one
// included, through its event reader) hears of it when tx commits; with
// events off, executors find the rows by polling.
//
// The writes run under a savepoint: when InsertTx fails (a duplicate ID or
// SleepKey: an error wrapping storage.ErrDuplicate), it rolls back to it
// and tx remains usable. p.Now is interpreted as by Insert.
func (s *Store) InsertTx(ctx context.Context, tx *sql.Tx, p storage.InsertParams) error {
	if err := s.check("insert"); err != nil {
		return err
	}
	if tx == nil {
		return errors.New("mysql: insert: nil transaction")
	}
	if len(p.Executions) == 0 {
		return nil
	}
	if err := validateInsert(p); err != nil {
		return fmt.Errorf("mysql: insert: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+insertSavepoint); err != nil {
		return s.wrapErr("insert", err)
	}
	err := func() error {
		now, err := s.insertNow(ctx, tx, p)
		if err != nil {
			return err
		}
		if err := s.insertRows(ctx, tx, p.Executions, p.Delays, now, false); err != nil {
			return err
		}
		return s.writeEvent(ctx, tx, "", storage.Event{Ready: storage.AnyReady(p.Executions)})
	}()
	if err != nil {
		if _, rerr := tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+insertSavepoint); rerr != nil {
			return s.wrapErr("insert", errors.Join(err, fmt.Errorf("rollback to savepoint: %w", rerr)))
		}
		return s.insertError(ctx, p.Executions, err)
	}
	return nil
}

// Tx returns an inserter bound to tx, for durable's Task.EnqueueTx: the
// executions it inserts exist if and only if tx commits.
//
//	tx, _ := db.BeginTx(ctx, nil)
//	// ... the caller's own writes ...
//	h, err := sendEmail.EnqueueTx(ctx, store.Tx(tx), Email{To: "a@b.c"})
//	// ...
//	err = tx.Commit()
func (s *Store) Tx(tx *sql.Tx) storage.Inserter {
	return txInserter{s: s, tx: tx}
}

type txInserter struct {
	s  *Store
	tx *sql.Tx
}

func (t txInserter) Insert(ctx context.Context, p storage.InsertParams) error {
	return t.s.InsertTx(ctx, t.tx, p)
}
