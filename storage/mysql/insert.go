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
		storage.NormalizeQueue(e.Queue), storage.NormalizePriority(e.Priority), nullString(e.ActiveKey),
		nullString(e.ConcurrencyKey)), nil
}

// metadataArg is the argument of the metadata column: NULL for none.
func metadataArg(m *string) any {
	if m == nil {
		return nil
	}
	return []byte(*m)
}

// rowSize estimates the bytes an execution adds to an insert statement
// (strings and bytes are written in hexadecimal: two characters a byte).
func rowSize(e *storage.Execution) int {
	n := 512 + 2*(len(e.ID)+len(e.TaskID)+len(e.RootID)+len(e.RootTaskID)+len(e.ParentID)+len(e.ParentTaskID)+len(e.SleepKey)+len(e.ActiveKey)+len(e.ConcurrencyKey))
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

// maxInsertRows bounds the rows of one insert statement: a batch of more
// is sent in several, so that the store builds the next statement while
// the server inserts the rows of the last (see insertRows).
const maxInsertRows = 500

// insertRows inserts execs (with delays, nil or one per row) at now
// through q, in statements of at most maxInsertRows rows and half of
// max_allowed_packet, and their tags. A nil now is the server's clock
// (no round trip to learn it first): on a pipe of the store's pool, a
// variable the first statement sets (nowVar), sent with it; else read by
// each statement. The rows must then have no tags, whose rows need the
// executions' created_at.
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
	clock, prefix := insertClock{at: now, expr: nowSQL}, ""
	if p, ok := q.(*pipe); ok && now == nil && p.tx == nil {
		clock.expr, prefix = nowVar, setNowSQL+";\n"
	}
	stmts := s.insertStatements(execs, delays, clock)
	for st := range stmts {
		if st.err != nil {
			return st.err
		}
		if err := exec(prefix+st.sql, nil); err != nil {
			discard(stmts)
			return err
		}
		prefix = ""
	}
	if now == nil {
		return nil
	}
	return s.insertTags(execs, *now, exec)
}

// insertStatement is one statement of an insert, or why it could not be
// built.
type insertStatement struct {
	sql string
	err error
}

// insertStatements builds the statements that insert execs, one batch of
// rows each, and sends them in order; it stops after an error. The caller
// reads them all, or discards the rest. One statement is built by the
// caller's goroutine; more are built by a goroutine, each while the one
// before runs on the server, one ahead.
func (s *Store) insertStatements(execs []storage.Execution, delays []time.Duration, now insertClock) <-chan insertStatement {
	limit := int(s.server.maxPacket / 2)
	var bounds [][2]int
	for start := 0; start < len(execs); {
		end, size := start, 0
		for end < len(execs) && end-start < maxInsertRows && (end == start || size+rowSize(&execs[end]) <= limit) {
			size += rowSize(&execs[end])
			end++
		}
		bounds = append(bounds, [2]int{start, end})
		start = end
	}
	build := func(b [2]int) insertStatement {
		stmt, err := s.insertStatement(execs[b[0]:b[1]], delays, b[0], now)
		return insertStatement{stmt, err}
	}
	out := make(chan insertStatement, 1)
	if len(bounds) == 1 {
		out <- build(bounds[0])
		close(out)
		return out
	}
	go func() {
		defer close(out)
		for _, b := range bounds {
			st := build(b)
			out <- st
			if st.err != nil {
				return
			}
		}
	}()
	return out
}

// discard reads what is left of stmts, so that their builder ends.
func discard(stmts <-chan insertStatement) {
	go func() {
		for range stmts {
		}
	}()
}

// insertStatement is the statement that inserts execs, the rows from
// offset on of an insert (delays, when given, are the insert's).
func (s *Store) insertStatement(execs []storage.Execution, delays []time.Duration, offset int, now insertClock) (string, error) {
	args := make([]any, 0, len(execs)*insertWidth)
	size := 0
	for i := range execs {
		var d time.Duration
		if len(delays) != 0 {
			d = delays[offset+i]
		}
		var err error
		if args, err = insertRow(args, &execs[i], d); err != nil {
			return "", err
		}
		size += rowSize(&execs[i])
	}
	stmt, err := insertSQL(s.q.data.T, args, now, size)
	if le, ok := err.(*literalError); ok {
		return "", fmt.Errorf("execution %s: %w", execs[le.row].ID, le)
	}
	return stmt, err
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
	// Each priority's rows together in the clustered index
	// (storage.ClaimOrdered).
	p.Executions, p.Delays = storage.ClaimOrdered(p.Executions, p.Delays)
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
	p.Executions, p.Delays = storage.ClaimOrdered(p.Executions, p.Delays)
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
