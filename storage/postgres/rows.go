package postgres

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/durable-go/durable/storage"
)

// execRow receives the columns of the "cols" template of queries.sql.
type execRow struct {
	e                                   storage.Execution
	status                              string
	errJSON                             []byte
	retryBase, retryMaxDelay, timeout   int64
	dueAt, createdAt, updatedAt         pgtype.Timestamptz
	startedAt, finishedAt, wfcAt, wffAt pgtype.Timestamptz
	attemptsJSON                        []byte
	// metadata is a pgtype.Text, not a *string: pgx scans a *string
	// through reflection, three allocations per row that has metadata
	// (every row when tracing is on) where a Text takes one.
	metadata pgtype.Text
	priority int16
}

// dests returns the scan destinations, in the order of the "cols" template.
func (r *execRow) dests() []any {
	e := &r.e
	return []any{
		&e.ID, &e.TaskID, &e.RootID, &e.RootTaskID, &e.ParentID,
		&e.ParentTaskID, &e.ChildIndex, &e.IsFinalize, &e.SleepKey, &r.status,
		&e.Input, &e.Output, &e.RunOutput, &r.errJSON,
		&e.Retry.MaxRetries, &r.retryBase, &e.Retry.Multiplier, &r.retryMaxDelay, &e.Retry.Jitter,
		&r.timeout, &e.Attempt, &e.Iteration, &e.Crashes, &e.Fence, &e.ExecutorID, &e.FailFast,
		&e.ChildrenTotal, &e.ChildrenPending, &r.dueAt, &r.createdAt, &r.updatedAt,
		&r.startedAt, &r.finishedAt, &r.wfcAt, &r.wffAt,
		&r.attemptsJSON, &e.Tags, &e.RetryOf, &r.metadata, &e.Queue, &r.priority,
		&e.ActiveKey, &e.ConcurrencyKey,
	}
}

// execution converts the scanned columns.
func (r *execRow) execution() (storage.Execution, error) {
	var md storage.MetadataDecoder
	return r.executionWith(&md)
}

// executionWith converts the scanned columns, decoding the metadata with
// md (the rows of one read share it).
func (r *execRow) executionWith(md *storage.MetadataDecoder) (storage.Execution, error) {
	e := r.e
	e.Status = storage.Status(r.status)
	e.Retry.BaseDelay = time.Duration(r.retryBase)
	e.Retry.MaxDelay = time.Duration(r.retryMaxDelay)
	e.Timeout = time.Duration(r.timeout)
	e.Priority = int(r.priority)
	e.DueAt = fromTS(r.dueAt)
	e.CreatedAt = fromTS(r.createdAt)
	e.UpdatedAt = fromTS(r.updatedAt)
	e.StartedAt = fromTS(r.startedAt)
	e.FinishedAt = fromTS(r.finishedAt)
	e.WaitingForChildrenAt = fromTS(r.wfcAt)
	e.WaitingForFinalizeAt = fromTS(r.wffAt)
	if r.errJSON != nil {
		var info storage.ErrorInfo
		if err := json.Unmarshal(r.errJSON, &info); err != nil {
			return storage.Execution{}, fmt.Errorf("decode error of execution %s: %w", e.ID, err)
		}
		e.Error = &info
	}
	if r.attemptsJSON != nil {
		var err error
		if e.Attempts, err = decodeAttempts(r.attemptsJSON); err != nil {
			return storage.Execution{}, fmt.Errorf("decode attempts of execution %s: %w", e.ID, err)
		}
	}
	if len(e.Tags) == 0 {
		e.Tags = nil
	}
	var err error
	var metadata *string
	if r.metadata.Valid {
		metadata = &r.metadata.String
	}
	if e.Metadata, err = md.Decode(metadata); err != nil {
		return storage.Execution{}, fmt.Errorf("execution %s: %w", e.ID, err)
	}
	return e, nil
}

// scanExecution scans one row that holds exactly the "cols" columns.
func scanExecution(row pgx.Row) (storage.Execution, error) {
	var r execRow
	if err := row.Scan(r.dests()...); err != nil {
		return storage.Execution{}, err
	}
	return r.execution()
}

// collectExecutions scans every row of rows.
func collectExecutions(rows pgx.Rows) ([]storage.Execution, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Execution, error) {
		return scanExecution(row)
	})
}

func fromTS(ts pgtype.Timestamptz) time.Time {
	if !ts.Valid {
		return time.Time{}
	}
	return ts.Time.UTC()
}

func toTS(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// encodeError is the JSON text of info, or nil (SQL NULL) for nil. The
// error column is jsonb, which cannot hold the character NUL (\u0000):
// a NUL in the kind, message or stack is stored as U+FFFD, so that the
// write does not fail (it would fail at every retry, and the execution
// would be run again and again). Bytes that are not valid UTF-8 become
// U+FFFD through encoding/json.
func encodeError(info *storage.ErrorInfo) (*string, error) {
	if info == nil {
		return nil, nil
	}
	if strings.ContainsRune(string(info.Kind), 0) || strings.ContainsRune(info.Message, 0) || strings.ContainsRune(info.Stack, 0) {
		clean := *info
		clean.Kind = storage.ErrorKind(strings.ReplaceAll(string(clean.Kind), "\x00", "\uFFFD"))
		clean.Message = strings.ReplaceAll(clean.Message, "\x00", "\uFFFD")
		clean.Stack = strings.ReplaceAll(clean.Stack, "\x00", "\uFFFD")
		info = &clean
	}
	b, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// noNUL returns s with every NUL replaced by U+FFFD: jsonb cannot hold
// the character NUL (see encodeError).
func noNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// encodeAttempts is the JSON text of an attempt history, or nil (SQL NULL)
// when it is empty. Its strings are stored as encodeError stores an
// error's: a NUL becomes U+FFFD.
func encodeAttempts(as []storage.Attempt) (*string, error) {
	if len(as) == 0 {
		return nil, nil
	}
	if slices.ContainsFunc(as, hasNUL) {
		as = slices.Clone(as)
		for i := range as {
			a := &as[i]
			a.ExecutorID, a.Outcome = noNUL(a.ExecutorID), storage.Status(noNUL(string(a.Outcome)))
			if a.Error != nil {
				info := *a.Error
				info.Kind = storage.ErrorKind(noNUL(string(info.Kind)))
				info.Message, info.Stack = noNUL(info.Message), noNUL(info.Stack)
				a.Error = &info
			}
		}
	}
	b, err := json.Marshal(as)
	if err != nil {
		return nil, err
	}
	text := string(b)
	return &text, nil
}

// hasNUL reports whether a string of a holds a NUL.
func hasNUL(a storage.Attempt) bool {
	has := func(s string) bool { return strings.IndexByte(s, 0) >= 0 }
	return has(a.ExecutorID) || has(string(a.Outcome)) ||
		(a.Error != nil && (has(string(a.Error.Kind)) || has(a.Error.Message) || has(a.Error.Stack)))
}

// decodeAttempts reads an attempt history stored by encodeAttempts; its
// times come back in UTC, as the row's.
func decodeAttempts(b []byte) ([]storage.Attempt, error) {
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

// encodeTags is the stored form of tags as an insert statement takes it:
// joined by commas (storage.ValidateTags refuses a tag with one), or nil
// (SQL NULL) when there is none.
func encodeTags(tags []string) *string {
	if len(tags) == 0 {
		return nil
	}
	s := strings.Join(tags, ",")
	return &s
}

// micros converts d to whole microseconds, the precision of timestamptz.
func micros(d time.Duration) int64 { return int64(d / time.Microsecond) }

// execArrays holds executions as the parallel arrays @e_* of the
// "insert_rows" template. Slices of types pgx has no fast path for are
// pgtype.FlatArray, which pgx encodes without reflection.
type execArrays struct {
	id, taskID, rootID, rootTaskID, parentID, parentTaskID []string
	childIndex                                             []int64
	isFinalize                                             []bool
	sleepKey, status                                       []string
	input, output, runOutput                               pgtype.FlatArray[[]byte]
	errors                                                 pgtype.FlatArray[*string]
	retryMax                                               []int64
	retryBase                                              []int64
	retryMult                                              []float64
	retryMaxDelay                                          []int64
	retryJitter                                            []float64
	timeout                                                []int64
	attempt, iteration, crashes                            []int64
	executorID                                             []string
	failFast                                               []bool
	childrenTotal, childrenPending                         []int64
	dueAt, startedAt, finishedAt, wfcAt, wffAt             pgtype.FlatArray[pgtype.Timestamptz]
	delay                                                  []int64
	attempts, tags                                         pgtype.FlatArray[*string]
	retryOf                                                []string
	metadata                                               []*string
	queue                                                  []string
	priority                                               []int16
	activeKey                                              []string
	concurrencyKey                                         []string
}

// newExecArrays encodes execs; delays may be nil (no delay) or as long as
// execs.
func newExecArrays(execs []storage.Execution, delays []time.Duration) (*execArrays, error) {
	if len(delays) != 0 && len(delays) != len(execs) {
		return nil, fmt.Errorf("%d delays for %d executions", len(delays), len(execs))
	}
	a := &execArrays{}
	for i := range execs {
		var d time.Duration
		if len(delays) != 0 {
			d = delays[i]
		}
		if err := a.add(&execs[i], d); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *execArrays) add(e *storage.Execution, delay time.Duration) error {
	if err := storage.ValidateExecution(e); err != nil {
		return err
	}
	errText, err := encodeError(e.Error)
	if err != nil {
		return fmt.Errorf("execution %s: encode error: %w", e.ID, err)
	}
	attempts, err := encodeAttempts(e.Attempts)
	if err != nil {
		return fmt.Errorf("execution %s: encode attempts: %w", e.ID, err)
	}
	metadata, err := storage.EncodeMetadata(e.Metadata)
	if err != nil {
		return fmt.Errorf("execution %s: encode metadata: %w", e.ID, err)
	}
	a.id = append(a.id, e.ID)
	a.taskID = append(a.taskID, e.TaskID)
	a.rootID = append(a.rootID, e.RootID)
	a.rootTaskID = append(a.rootTaskID, e.RootTaskID)
	a.parentID = append(a.parentID, e.ParentID)
	a.parentTaskID = append(a.parentTaskID, e.ParentTaskID)
	a.childIndex = append(a.childIndex, int64(e.ChildIndex))
	a.isFinalize = append(a.isFinalize, e.IsFinalize)
	a.sleepKey = append(a.sleepKey, e.SleepKey)
	a.status = append(a.status, string(e.Status))
	a.input = append(a.input, e.Input)
	a.output = append(a.output, e.Output)
	a.runOutput = append(a.runOutput, e.RunOutput)
	a.errors = append(a.errors, errText)
	a.retryMax = append(a.retryMax, int64(e.Retry.MaxRetries))
	a.retryBase = append(a.retryBase, int64(e.Retry.BaseDelay))
	a.retryMult = append(a.retryMult, e.Retry.Multiplier)
	a.retryMaxDelay = append(a.retryMaxDelay, int64(e.Retry.MaxDelay))
	a.retryJitter = append(a.retryJitter, e.Retry.Jitter)
	a.timeout = append(a.timeout, int64(e.Timeout))
	a.attempt = append(a.attempt, int64(e.Attempt))
	a.iteration = append(a.iteration, int64(e.Iteration))
	a.crashes = append(a.crashes, int64(e.Crashes))
	a.executorID = append(a.executorID, e.ExecutorID)
	a.failFast = append(a.failFast, e.FailFast)
	a.childrenTotal = append(a.childrenTotal, int64(e.ChildrenTotal))
	a.childrenPending = append(a.childrenPending, int64(e.ChildrenPending))
	a.dueAt = append(a.dueAt, toTS(e.DueAt))
	a.startedAt = append(a.startedAt, toTS(e.StartedAt))
	a.finishedAt = append(a.finishedAt, toTS(e.FinishedAt))
	a.wfcAt = append(a.wfcAt, toTS(e.WaitingForChildrenAt))
	a.wffAt = append(a.wffAt, toTS(e.WaitingForFinalizeAt))
	a.delay = append(a.delay, micros(delay))
	a.attempts = append(a.attempts, attempts)
	a.tags = append(a.tags, encodeTags(e.Tags))
	a.retryOf = append(a.retryOf, e.RetryOf)
	a.metadata = append(a.metadata, metadata)
	a.queue = append(a.queue, storage.NormalizeQueue(e.Queue))
	a.priority = append(a.priority, int16(storage.NormalizePriority(e.Priority)))
	a.activeKey = append(a.activeKey, e.ActiveKey)
	a.concurrencyKey = append(a.concurrencyKey, e.ConcurrencyKey)
	return nil
}

// addTo adds the @e_* arguments to args.
func (a *execArrays) addTo(args namedArgs) {
	args["e_id"] = a.id
	args["e_task_id"] = a.taskID
	args["e_root_id"] = a.rootID
	args["e_root_task_id"] = a.rootTaskID
	args["e_parent_id"] = a.parentID
	args["e_parent_task_id"] = a.parentTaskID
	args["e_child_index"] = a.childIndex
	args["e_is_finalize"] = a.isFinalize
	args["e_sleep_key"] = a.sleepKey
	args["e_status"] = a.status
	args["e_input"] = a.input
	args["e_output"] = a.output
	args["e_run_output"] = a.runOutput
	args["e_error"] = a.errors
	args["e_retry_max_retries"] = a.retryMax
	args["e_retry_base_delay_ns"] = a.retryBase
	args["e_retry_multiplier"] = a.retryMult
	args["e_retry_max_delay_ns"] = a.retryMaxDelay
	args["e_retry_jitter"] = a.retryJitter
	args["e_timeout_ns"] = a.timeout
	args["e_attempt"] = a.attempt
	args["e_iteration"] = a.iteration
	args["e_crashes"] = a.crashes
	args["e_executor_id"] = a.executorID
	args["e_fail_fast"] = a.failFast
	args["e_children_total"] = a.childrenTotal
	args["e_children_pending"] = a.childrenPending
	args["e_due_at"] = a.dueAt
	args["e_started_at"] = a.startedAt
	args["e_finished_at"] = a.finishedAt
	args["e_waiting_for_children_at"] = a.wfcAt
	args["e_waiting_for_finalize_at"] = a.wffAt
	args["e_delay_us"] = a.delay
	args["e_attempts"] = a.attempts
	args["e_tags"] = a.tags
	args["e_retry_of"] = a.retryOf
	args["e_metadata"] = a.metadata
	args["e_queue"] = a.queue
	args["e_priority"] = a.priority
	args["e_active_key"] = a.activeKey
	args["e_concurrency_key"] = a.concurrencyKey
}

// transitionArrays holds transitions as the parallel arrays @t_* of the
// "transition_update" template.
type transitionArrays struct {
	id                 []string
	fence              []int64
	from, to           []string
	output, runOutput  [][]byte
	errors             []*string
	attempt, iteration []int64
	delay              []int64
	failFast           []bool
	children           []int64
	// attempts: NULL keeps the row's history, "[]" clears it.
	attempts []*string
}

func (a *transitionArrays) add(t *storage.Transition) error {
	errText, err := encodeError(t.Error)
	if err != nil {
		return fmt.Errorf("transition of %s: encode error: %w", t.ID, err)
	}
	attempts, err := encodeAttempts(t.Attempts)
	if err != nil {
		return fmt.Errorf("transition of %s: encode attempts: %w", t.ID, err)
	}
	if t.Attempts != nil && attempts == nil {
		empty := "[]"
		attempts = &empty
	}
	a.id = append(a.id, t.ID)
	a.fence = append(a.fence, t.Fence)
	a.from = append(a.from, string(t.From))
	a.to = append(a.to, string(t.To))
	a.output = append(a.output, t.Output)
	a.runOutput = append(a.runOutput, t.RunOutput)
	a.errors = append(a.errors, errText)
	a.attempt = append(a.attempt, int64(t.Attempt))
	a.iteration = append(a.iteration, int64(t.Iteration))
	a.delay = append(a.delay, micros(t.Delay))
	a.failFast = append(a.failFast, t.FailFast)
	a.children = append(a.children, int64(len(t.Children)))
	a.attempts = append(a.attempts, attempts)
	return nil
}

func (a *transitionArrays) addTo(args namedArgs) {
	args["t_id"] = a.id
	args["t_fence"] = a.fence
	args["t_from"] = a.from
	args["t_to"] = a.to
	args["t_output"] = a.output
	args["t_run_output"] = a.runOutput
	args["t_error"] = a.errors
	args["t_attempt"] = a.attempt
	args["t_iteration"] = a.iteration
	args["t_delay_us"] = a.delay
	args["t_fail_fast"] = a.failFast
	args["t_children"] = a.children
	args["t_attempts"] = a.attempts
}
