package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// insertWidth is the number of parameters of one row of the insert query:
// every column of the columns section but seq.
const insertWidth = 43

// The indexes in insertColumns of the columns whose default is not a zero
// value (migration 007).
const (
	queueColumn    = 39
	priorityColumn = 40
)

// insertValues returns the column values of e, in the order of
// insertColumns. A zero field gives its column's default: nil (NULL) or a
// zero number.
func insertValues(e *storage.Execution) ([insertWidth]any, error) {
	errJSON, err := encodeError(e.Error)
	if err != nil {
		return [insertWidth]any{}, err
	}
	attempts, err := encodeAttempts(e.Attempts)
	if err != nil {
		return [insertWidth]any{}, err
	}
	metadata, err := storage.EncodeMetadata(e.Metadata)
	if err != nil {
		return [insertWidth]any{}, err
	}
	return [insertWidth]any{
		e.ID, e.TaskID,
		nullString(e.RootID), nullString(e.RootTaskID),
		nullString(e.ParentID), nullString(e.ParentTaskID),
		int64(e.ChildIndex), e.IsFinalize, nullString(e.SleepKey), string(e.Status),
		nullBytes(e.Input), nullBytes(e.Output), nullBytes(e.RunOutput), errJSON,
		int64(e.Retry.MaxRetries), int64(e.Retry.BaseDelay), e.Retry.Multiplier,
		int64(e.Retry.MaxDelay), e.Retry.Jitter, int64(e.Timeout),
		int64(e.Attempt), int64(e.Iteration), int64(e.Crashes), e.Fence,
		nullString(e.ExecutorID), e.FailFast,
		int64(e.ChildrenTotal), int64(e.ChildrenPending),
		nullTime(e.DueAt), nullTime(e.CreatedAt), nullTime(e.UpdatedAt),
		nullTime(e.StartedAt), nullTime(e.FinishedAt),
		nullTime(e.WaitingForChildrenAt), nullTime(e.WaitingForFinalizeAt),
		attempts, encodeTags(e.Tags), nullString(e.RetryOf), nullStringPtr(metadata),
		storage.NormalizeQueue(e.Queue), int64(storage.NormalizePriority(e.Priority)),
		nullString(e.ActiveKey), nullString(e.ConcurrencyKey),
	}, nil
}

// isDefault reports whether v is the default of column c (see
// insertValues), so that an insert may leave the column out.
func isDefault(c int, v any) bool {
	switch c {
	case queueColumn:
		return v == any(storage.DefaultQueue)
	case priorityColumn:
		return v == any(int64(storage.DefaultPriority))
	}
	return v == nil || v == any(int64(0)) || v == any(false) || v == any(float64(0))
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanExecution reads one row of the columns section of queries.sql (see
// execScanner).
func scanExecution(sc scanner) (storage.Execution, int64, error) {
	return newExecScanner().scan(sc)
}

// execScanner reads rows of the columns section of queries.sql. Its
// fields are the scan's destinations and dest their addresses, taken once:
// a query reads all its rows with one scanner, so that a row costs the
// allocations of its values only, not one per destination (each address
// passed to Scan would move a local variable to the heap). The mutable
// columns are read into a mutableRow, which converts them as for a claim.
type execScanner struct {
	e                                          storage.Execution // the columns scanned straight into it
	m                                          mutableRow
	rootID, rootTaskID, parentID, parentTaskID sql.NullString
	sleepKey                                   sql.NullString
	childIndex, maxRetries, priority           int64
	baseDelay, maxDelay, timeout               int64
	createdAt                                  sql.NullInt64
	attempts, tags, retryOf, metadata          sql.NullString
	activeKey, concurrencyKey                  sql.NullString
	dest                                       []any
	md                                         storage.MetadataDecoder // the rows of one read share equal metadata
}

func newExecScanner() *execScanner {
	r := new(execScanner)
	e, m := &r.e, &r.m
	r.dest = []any{&m.seq, &e.ID, &e.TaskID, &r.rootID, &r.rootTaskID, &r.parentID, &r.parentTaskID,
		&r.childIndex, &e.IsFinalize, &r.sleepKey, &m.status, &e.Input, &m.output, &m.runOutput, &m.errJSON,
		&r.maxRetries, &r.baseDelay, &e.Retry.Multiplier, &r.maxDelay, &e.Retry.Jitter, &r.timeout,
		&m.attempt, &m.iteration, &m.crashes, &m.fence, &m.executorID, &m.failFast,
		&m.childrenTotal, &m.childrenPending, &m.dueAt, &r.createdAt, &m.updatedAt,
		&m.startedAt, &m.finishedAt, &m.waitingChildrenAt, &m.waitingFinalizeAt,
		&r.attempts, &r.tags, &r.retryOf, &r.metadata, &e.Queue, &r.priority, &r.activeKey, &r.concurrencyKey}
	return r
}

// scan reads the current row and returns its execution and seq. Every
// destination is written by each Scan (NULL as the zero value), so
// nothing of the previous row is left in the execution returned.
func (r *execScanner) scan(sc scanner) (storage.Execution, int64, error) {
	if err := sc.Scan(r.dest...); err != nil {
		return storage.Execution{}, 0, err
	}
	e := storage.Execution{ID: r.e.ID, TaskID: r.e.TaskID, IsFinalize: r.e.IsFinalize, Input: r.e.Input,
		Retry: r.e.Retry, Queue: r.e.Queue}
	e.Priority = int(r.priority)
	e.RootID, e.RootTaskID = r.rootID.String, r.rootTaskID.String
	e.ParentID, e.ParentTaskID = r.parentID.String, r.parentTaskID.String
	e.SleepKey = r.sleepKey.String
	e.ChildIndex = int(r.childIndex)
	e.Retry.MaxRetries = int(r.maxRetries)
	e.Retry.BaseDelay, e.Retry.MaxDelay = time.Duration(r.baseDelay), time.Duration(r.maxDelay)
	e.Timeout = time.Duration(r.timeout)
	e.CreatedAt = timeOf(r.createdAt)
	e.RetryOf, e.ActiveKey, e.ConcurrencyKey = r.retryOf.String, r.activeKey.String, r.concurrencyKey.String
	if err := r.m.apply(&e); err != nil {
		return e, 0, err
	}
	var err error
	if e.Attempts, err = decodeAttempts(e.ID, r.attempts); err != nil {
		return e, 0, err
	}
	if e.Tags, err = decodeTags(e.ID, r.tags); err != nil {
		return e, 0, err
	}
	if r.metadata.Valid {
		if e.Metadata, err = r.md.Decode(&r.metadata.String); err != nil {
			return e, 0, fmt.Errorf("execution %s: %w", e.ID, err)
		}
	}
	return e, r.m.seq, nil
}

// mutableRow is one row of the mutable_columns section of queries.sql.
type mutableRow struct {
	seq                                     int64
	status                                  string
	output, runOutput                       []byte
	errJSON, executorID                     sql.NullString
	attempt, iteration, crashes, fence      int64
	failFast                                bool
	childrenTotal, childrenPending          int64
	dueAt, updatedAt, startedAt, finishedAt sql.NullInt64
	waitingChildrenAt, waitingFinalizeAt    sql.NullInt64
}

// dest returns the addresses of m's fields, the destinations of a Scan of
// one row of the mutable_columns section. Scanning every row of a query
// through one slice (m's fields overwritten by each Scan, NULL as the
// zero value) costs no allocation per destination.
func (m *mutableRow) dest() []any {
	return []any{&m.seq, &m.status, &m.output, &m.runOutput, &m.errJSON, &m.attempt, &m.iteration,
		&m.crashes, &m.fence, &m.executorID, &m.failFast, &m.childrenTotal, &m.childrenPending,
		&m.dueAt, &m.updatedAt, &m.startedAt, &m.finishedAt, &m.waitingChildrenAt, &m.waitingFinalizeAt}
}

// apply sets the mutable fields of e to m's.
func (m *mutableRow) apply(e *storage.Execution) error {
	e.Status = storage.Status(m.status)
	e.Output, e.RunOutput = m.output, m.runOutput
	e.Attempt, e.Iteration, e.Crashes, e.Fence = int(m.attempt), int(m.iteration), int(m.crashes), m.fence
	e.ExecutorID, e.FailFast = m.executorID.String, m.failFast
	e.ChildrenTotal, e.ChildrenPending = int(m.childrenTotal), int(m.childrenPending)
	e.DueAt, e.UpdatedAt = timeOf(m.dueAt), timeOf(m.updatedAt)
	e.StartedAt, e.FinishedAt = timeOf(m.startedAt), timeOf(m.finishedAt)
	e.WaitingForChildrenAt, e.WaitingForFinalizeAt = timeOf(m.waitingChildrenAt), timeOf(m.waitingFinalizeAt)
	e.Error = nil
	if m.errJSON.Valid {
		e.Error = new(storage.ErrorInfo)
		if err := json.Unmarshal([]byte(m.errJSON.String), e.Error); err != nil {
			return fmt.Errorf("decode error of execution %s: %w", e.ID, err)
		}
	}
	return nil
}

// encodeError returns the JSON text of info, or nil for a nil info.
func encodeError(info *storage.ErrorInfo) (any, error) {
	if info == nil {
		return nil, nil
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("encode error info: %w", err)
	}
	return string(b), nil
}

// encodeAttempts returns the JSON text of an attempt history, or nil
// (NULL) for an empty one.
func encodeAttempts(as []storage.Attempt) (any, error) {
	if len(as) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(as)
	if err != nil {
		return nil, fmt.Errorf("encode attempts: %w", err)
	}
	return string(b), nil
}

// decodeAttempts is the inverse of encodeAttempts; times come back in UTC.
func decodeAttempts(id string, v sql.NullString) ([]storage.Attempt, error) {
	if !v.Valid {
		return nil, nil
	}
	var as []storage.Attempt
	if err := json.Unmarshal([]byte(v.String), &as); err != nil {
		return nil, fmt.Errorf("decode attempts of execution %s: %w", id, err)
	}
	for i := range as {
		as[i].StartedAt, as[i].FinishedAt = as[i].StartedAt.UTC(), as[i].FinishedAt.UTC()
	}
	return as, nil
}

// encodeTags returns tags as a JSON array of strings (jsonStrings: the
// bytes of each tag as they are), or nil (NULL) for none.
func encodeTags(tags []string) any {
	if len(tags) == 0 {
		return nil
	}
	return jsonStrings(tags)
}

// decodeTags is the inverse of encodeTags: it reads what jsonStrings
// writes.
func decodeTags(id string, v sql.NullString) ([]string, error) {
	if !v.Valid {
		return nil, nil
	}
	bad := fmt.Errorf("decode tags of execution %s: malformed %q", id, v.String)
	s, ok := strings.CutPrefix(v.String, "[")
	if !ok {
		return nil, bad
	}
	var tags []string
	for {
		if s, ok = strings.CutPrefix(s, `"`); !ok {
			return nil, bad
		}
		var tag []byte
		for len(s) > 0 && s[0] != '"' {
			c := s[0]
			switch {
			case c != '\\':
				s = s[1:]
			case len(s) >= 6 && s[1] == 'u':
				n, err := strconv.ParseUint(s[2:6], 16, 8)
				if err != nil {
					return nil, bad
				}
				c, s = byte(n), s[6:]
			case len(s) >= 2:
				c, s = s[1], s[2:]
			default:
				return nil, bad
			}
			tag = append(tag, c)
		}
		if s, ok = strings.CutPrefix(s, `"`); !ok {
			return nil, bad
		}
		tags = append(tags, string(tag))
		if s == "]" {
			return tags, nil
		}
		if s, ok = strings.CutPrefix(s, ","); !ok {
			return nil, bad
		}
	}
}

// micros returns t as microseconds since the Unix epoch.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullTime returns t in microseconds, or nil (NULL) for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// timeOf is the inverse of nullTime; times come back in UTC.
func timeOf(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// nullString returns s, or nil (NULL) for the empty string.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullStringPtr returns *s, or nil (NULL) for a nil s.
func nullStringPtr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// nullBytes returns b, or nil (NULL) for a nil slice. An empty non-nil slice
// is stored as an empty BLOB.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
