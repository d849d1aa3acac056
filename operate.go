package durable

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// Operating an executor's store: finding, inspecting, retrying and
// deleting executions without knowing their tasks' types. Everything here
// reads and writes the store only: it works on an Executor that has not
// been started, and on executions of tasks it has not registered (the
// durable command does both).

// Record is one execution as an operator sees it: every stored field, the
// payloads as the codec encoded them.
type Record struct {
	ID     string
	TaskID string
	Status Status
	// Input is the encoded input; Output the encoded output of a completed
	// execution. List leaves both nil.
	Input, Output []byte
	// Err is the error the execution ended with; on a ready execution, the
	// previous attempt's.
	Err *ExecutionError
	// Attempts is the history of past runs that did not complete it,
	// oldest first: up to storage.MaxAttempts (past it, the first and the
	// latest). List leaves it nil.
	Attempts []Attempt
	// Tags were given at enqueue (WithTags).
	Tags []string
	// RetryOf is the execution this one retries (Executor.Retry).
	RetryOf string
	// Queue and Priority are the execution's (WithQueue, WithPriority;
	// "default" and 5 when none was given).
	Queue    string
	Priority int
	// Metadata was set at enqueue (WithMetadata, enqueue middleware; a
	// child's includes its parent's).
	Metadata map[string]string
	// ActiveKey is the idempotency key that held while the execution was
	// active (WithIdempotencyWhileActive); "" for none.
	ActiveKey string
	// ConcurrencyKey is the key a queue's limit per key counts the
	// execution under (WithConcurrencyKey, WithConcurrencyKeyFunc); "" for
	// none.
	ConcurrencyKey string

	Attempt, Iteration, Crashes int
	SleepKey                    string
	ExecutorID                  string

	RootID, RootTaskID, ParentID, ParentTaskID string
	ChildIndex                                 int
	IsFinalize                                 bool
	ChildrenTotal, ChildrenPending             int

	// DueAt is when it next needs an executor (zero: none); for a running
	// execution, its lease expiry.
	DueAt                                       time.Time
	CreatedAt, UpdatedAt, StartedAt, FinishedAt time.Time
	WaitingForChildrenAt, WaitingForFinalizeAt  time.Time
}

// Attempt is one past run of an execution that did not complete it.
type Attempt struct {
	// Attempt is the retry count during the run (0 for the first run);
	// Iteration the loop iteration.
	Attempt, Iteration int
	ExecutorID         string
	StartedAt          time.Time
	FinishedAt         time.Time
	// Outcome is the status the execution moved to: ready when it was
	// retried.
	Outcome Status
	Err     *ExecutionError
}

func recordOf(row *storage.Execution) Record {
	r := Record{
		ID: row.ID, TaskID: row.TaskID, Status: row.Status, Input: row.Input, Err: execErrorFromInfo(row.Error),
		Tags: row.Tags, RetryOf: row.RetryOf, Queue: row.Queue, Priority: row.Priority, Metadata: row.Metadata, ActiveKey: row.ActiveKey, ConcurrencyKey: row.ConcurrencyKey, Attempt: row.Attempt, Iteration: row.Iteration, Crashes: row.Crashes,
		SleepKey: row.SleepKey, ExecutorID: row.ExecutorID,
		RootID: row.RootID, RootTaskID: row.RootTaskID, ParentID: row.ParentID, ParentTaskID: row.ParentTaskID,
		ChildIndex: row.ChildIndex, IsFinalize: row.IsFinalize,
		ChildrenTotal: row.ChildrenTotal, ChildrenPending: row.ChildrenPending, DueAt: row.DueAt,
		CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt, StartedAt: row.StartedAt, FinishedAt: row.FinishedAt,
		WaitingForChildrenAt: row.WaitingForChildrenAt, WaitingForFinalizeAt: row.WaitingForFinalizeAt,
	}
	if row.Status == storage.StatusCompleted {
		r.Output = row.Output
	}
	r.Attempts = attemptsOf(row.Attempts)
	return r
}

func attemptsOf(stored []storage.Attempt) []Attempt {
	if len(stored) == 0 {
		return nil
	}
	out := make([]Attempt, len(stored))
	for i, a := range stored {
		out[i] = Attempt{Attempt: a.Attempt, Iteration: a.Iteration, ExecutorID: a.ExecutorID,
			StartedAt: a.StartedAt, FinishedAt: a.FinishedAt, Outcome: a.Outcome, Err: execErrorFromInfo(a.Error)}
	}
	return out
}

// Get returns the execution with that id, of any task (ErrNotFound if
// there is none).
func (e *Executor) Get(ctx context.Context, id string) (Record, error) {
	if err := e.checkRead(); err != nil {
		return Record{}, err
	}
	row, err := e.get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	return recordOf(&row), nil
}

// GetByKey returns the execution enqueued with that idempotency key
// (WithIdempotencyKey), of any task (ErrNotFound if there is none).
func (e *Executor) GetByKey(ctx context.Context, key string) (Record, error) {
	if len(key) > 200 || !validID(key) {
		return Record{}, fmt.Errorf("%w: idempotency key %q must be 1..200 characters of [A-Za-z0-9_.:-]", ErrInvalidInput, key)
	}
	return e.Get(ctx, keyedID(key))
}

// Children returns an execution's children (its finalize included), in
// order.
func (e *Executor) Children(ctx context.Context, id string) ([]Record, error) {
	if _, err := e.Get(ctx, id); err != nil {
		return nil, err
	}
	var rows []storage.Execution
	err := e.retryStorage(ctx, func() error {
		var err error
		rows, err = e.store.ListChildren(ctx, storage.ListChildrenParams{ParentID: id})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(rows))
	for i := range rows {
		out[i] = recordOf(&rows[i])
	}
	return out, nil
}

// Retry enqueues a new execution of a finished top-level execution's task
// with the same input, tags, retry policy and timeout, and returns it. The
// new execution's RetryOf names the original, which is left as it was:
// both stay visible. Retry refuses an execution that has not finished, a
// child (retry its root: a child belongs to its parent's run), and a
// sleeping execution (it waits for a wake; enqueue a new one with a new
// key). The task need not be registered with this executor; an executor
// that has it registered runs the retry. An execution enqueued with
// WithIdempotencyWhileActive gives its key to the retry, which holds it
// while active; Retry fails with ErrDuplicate, storing nothing, while
// another execution holds it.
func (e *Executor) Retry(ctx context.Context, id string) (Record, error) {
	if err := e.checkRead(); err != nil {
		return Record{}, err
	}
	row, err := e.get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	if err := e.checkOpen(); err != nil {
		return Record{}, err
	}
	if err := retryable(&row); err != nil {
		return Record{}, err
	}
	retry := storage.Execution{ID: e.ids.execution(), TaskID: row.TaskID, Status: storage.StatusReady,
		Input: row.Input, Retry: row.Retry, Timeout: row.Timeout, Tags: row.Tags, Metadata: row.Metadata, RetryOf: row.ID,
		Queue: row.Queue, Priority: row.Priority, ActiveKey: row.ActiveKey, ConcurrencyKey: row.ConcurrencyKey}
	if err := e.insert(ctx, storage.InsertParams{Executions: []storage.Execution{retry}}); err != nil {
		var ak *storage.ActiveKeyError
		if errors.As(err, &ak) && ak.ID != "" {
			return Record{}, fmt.Errorf("%w: retry of %s: its idempotency key %q is held by active execution %s",
				ErrDuplicate, row.ID, ak.Key, ak.ID)
		}
		return Record{}, err
	}
	return e.Get(ctx, retry.ID)
}

// retryable says why orig cannot be retried, if it cannot.
func retryable(orig *storage.Execution) error {
	switch {
	case !orig.Status.Terminal():
		return fmt.Errorf("%w: execution %s is %s: only a finished execution can be retried", ErrNotFinished, orig.ID, orig.Status)
	case orig.ParentID != "":
		return fmt.Errorf("%w: execution %s is a child of %s: retry its root, %s", ErrInvalidInput, orig.ID, orig.ParentID, orig.RootID)
	case orig.SleepKey != "":
		return fmt.Errorf("%w: execution %s is a sleeping task's: enqueue it again with a new key", ErrInvalidInput, orig.ID)
	}
	return nil
}

// Delete deletes finished top-level executions, each with its whole tree,
// all or nothing, and returns how many rows went (descendants included).
// It refuses, deleting nothing, an unknown id (ErrNotFound), an execution
// that has not finished or a child (ErrNotDeletable).
func (e *Executor) Delete(ctx context.Context, ids ...string) (int, error) {
	if err := e.checkRead(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	p := storage.DeleteParams{IDs: ids}
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	var n int
	err := e.retryStorage(ctx, func() error {
		var err error
		n, err = e.store.Delete(ctx, p)
		return err
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return 0, fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, storage.ErrNotDeletable):
		return 0, fmt.Errorf("%w: %w", ErrNotDeletable, err)
	}
	return n, err
}

// checkRead fails on a nil executor; reads work on an executor in any
// state, as long as its store is open.
func (e *Executor) checkRead() error {
	if e == nil {
		return errNilExecutor
	}
	return nil
}
