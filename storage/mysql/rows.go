package mysql

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// execRow receives the columns of the "cols" template of queries.sql.
type execRow struct {
	seq                                        int64
	parentID, sleepKey, retryOf, activeKey     sql.NullString
	concurrencyKey                             sql.NullString
	status                                     string
	errJSON, attemptsJSON, tags, metadata      []byte
	retryBase, retryMaxDelay, timeout          int64
	dueAt, createdAt, updatedAt                sql.NullInt64
	startedAt, finishedAt, wfcAt, wffAt        sql.NullInt64
	input, output, runOutput                   []byte
	childIndex, attempt, iteration, crashes    int64
	retryMax, childrenTotal, childrenPending   int64
	isFinalize, failFast                       bool
	id, taskID, rootID, rootTaskID, parentTask string
	executorID, queue                          string
	retryMultiplier, retryJitter               float64
	fence, priority                            int64
}

// dests returns the scan destinations, in the order of the "cols" template.
func (r *execRow) dests() []any {
	return []any{
		&r.seq, &r.id, &r.taskID, &r.rootID, &r.rootTaskID, &r.parentID,
		&r.parentTask, &r.childIndex, &r.isFinalize, &r.sleepKey, &r.status,
		&r.input, &r.output, &r.runOutput, &r.errJSON,
		&r.retryMax, &r.retryBase, &r.retryMultiplier, &r.retryMaxDelay, &r.retryJitter,
		&r.timeout, &r.attempt, &r.iteration, &r.crashes, &r.fence, &r.executorID, &r.failFast,
		&r.childrenTotal, &r.childrenPending, &r.dueAt, &r.createdAt, &r.updatedAt,
		&r.startedAt, &r.finishedAt, &r.wfcAt, &r.wffAt,
		&r.attemptsJSON, &r.tags, &r.retryOf, &r.metadata, &r.queue, &r.priority, &r.activeKey,
		&r.concurrencyKey,
	}
}

// execution converts the scanned columns.
func (r *execRow) execution(md *storage.MetadataDecoder) (storage.Execution, error) {
	e := storage.Execution{
		ID: r.id, TaskID: r.taskID, RootID: r.rootID, RootTaskID: r.rootTaskID,
		ParentID: r.parentID.String, ParentTaskID: r.parentTask, ChildIndex: int(r.childIndex),
		IsFinalize: r.isFinalize, SleepKey: r.sleepKey.String, Status: storage.Status(r.status),
		Input: r.input, Output: r.output, RunOutput: r.runOutput,
		Retry: storage.RetryPolicy{
			MaxRetries: int(r.retryMax), BaseDelay: time.Duration(r.retryBase), Multiplier: r.retryMultiplier,
			MaxDelay: time.Duration(r.retryMaxDelay), Jitter: r.retryJitter,
		},
		Timeout: time.Duration(r.timeout), Attempt: int(r.attempt), Iteration: int(r.iteration),
		Crashes: int(r.crashes), Fence: r.fence, ExecutorID: r.executorID, FailFast: r.failFast,
		ChildrenTotal: int(r.childrenTotal), ChildrenPending: int(r.childrenPending),
		DueAt: fromMicros(r.dueAt), CreatedAt: fromMicros(r.createdAt), UpdatedAt: fromMicros(r.updatedAt),
		StartedAt: fromMicros(r.startedAt), FinishedAt: fromMicros(r.finishedAt),
		WaitingForChildrenAt: fromMicros(r.wfcAt), WaitingForFinalizeAt: fromMicros(r.wffAt),
		Tags: decodeTags(r.tags), RetryOf: r.retryOf.String,
		Queue: r.queue, Priority: int(r.priority), ActiveKey: r.activeKey.String,
		ConcurrencyKey: r.concurrencyKey.String,
	}
	var err error
	if e.Error, err = decodeError(r.errJSON); err != nil {
		return storage.Execution{}, fmt.Errorf("decode error of execution %s: %w", e.ID, err)
	}
	if e.Attempts, err = decodeAttempts(r.attemptsJSON); err != nil {
		return storage.Execution{}, fmt.Errorf("decode attempts of execution %s: %w", e.ID, err)
	}
	if r.metadata != nil {
		m := string(r.metadata)
		if e.Metadata, err = md.Decode(&m); err != nil {
			return storage.Execution{}, fmt.Errorf("execution %s: %w", e.ID, err)
		}
	}
	return e, nil
}

// scanExecutions scans every row of rows (the "cols" columns, and extra
// destinations after them). Every row is scanned into the same execRow
// through the same destinations: Scan assigns every column of each row
// (the payloads as copies), and execution copies nothing that the next
// row's Scan overwrites in place.
func scanExecutions(rows *sql.Rows, extra ...any) ([]storage.Execution, []int64, error) {
	defer rows.Close()
	var out []storage.Execution
	var seqs []int64
	var md storage.MetadataDecoder // the rows of one read share equal metadata
	var r execRow
	dests := append(r.dests(), extra...)
	for rows.Next() {
		if err := rows.Scan(dests...); err != nil {
			return nil, nil, err
		}
		e, err := r.execution(&md)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
		seqs = append(seqs, r.seq)
	}
	return out, seqs, rows.Err()
}

// encodeError is the JSON of info, nil (NULL) for nil. Bytes that are not
// valid UTF-8 become U+FFFD through encoding/json.
func encodeError(info *storage.ErrorInfo) ([]byte, error) {
	if info == nil {
		return nil, nil
	}
	return json.Marshal(info)
}

func decodeError(b []byte) (*storage.ErrorInfo, error) {
	if b == nil {
		return nil, nil
	}
	var info storage.ErrorInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// encodeAttempts is the JSON of an attempt history, nil (NULL) when it is
// empty.
func encodeAttempts(as []storage.Attempt) ([]byte, error) {
	if len(as) == 0 {
		return nil, nil
	}
	return json.Marshal(as)
}

// decodeAttempts reads an attempt history stored by encodeAttempts; its
// times come back in UTC, as the row's.
func decodeAttempts(b []byte) ([]storage.Attempt, error) {
	if b == nil {
		return nil, nil
	}
	var as []storage.Attempt
	if err := json.Unmarshal(b, &as); err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, nil
	}
	for i := range as {
		a := &as[i]
		if !a.StartedAt.IsZero() {
			a.StartedAt = a.StartedAt.UTC()
		}
		if !a.FinishedAt.IsZero() {
			a.FinishedAt = a.FinishedAt.UTC()
		}
	}
	return as, nil
}

// encodeTags is the stored form of tags: joined by commas
// (storage.ValidateTags refuses a tag with one), nil (NULL) for none.
func encodeTags(tags []string) any {
	if len(tags) == 0 {
		return nil
	}
	return []byte(strings.Join(tags, ","))
}

func decodeTags(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), ",")
}

// nullString is s, or nil (NULL) when it is empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullTime is t in microseconds, or nil (NULL) when it is zero.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return micros(t)
}

// nullMicros is v, or nil (NULL) when it is not valid.
func nullMicros(v sql.NullInt64) any {
	if !v.Valid {
		return nil
	}
	return v.Int64
}
