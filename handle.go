package durable

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// Execution is the typed view of one execution.
type Execution[O any] struct {
	ID     string
	TaskID string
	Status Status
	// Output is set when Status is completed.
	Output O
	// Err is set when the execution ended without completing; on a ready
	// execution it is the previous attempt's error.
	Err *ExecutionError

	Attempt, Iteration, Crashes int
	// SleepKey is the key of a sleeping execution.
	SleepKey string
	// Input is the input as the codec encoded it.
	Input []byte
	// Attempts is the history of past runs that did not complete it (see
	// Record.Attempts).
	Attempts []Attempt
	// Tags were given at enqueue (WithTags); RetryOf names the execution
	// this one retries (Executor.Retry).
	Tags    []string
	RetryOf string
	// Queue and Priority are the execution's (WithQueue, WithPriority;
	// "default" and 5 when none was given).
	Queue    string
	Priority int

	RootID, RootTaskID, ParentID, ParentTaskID string
	ChildIndex                                 int
	IsFinalize                                 bool

	CreatedAt, UpdatedAt, StartedAt, FinishedAt time.Time
	WaitingForChildrenAt, WaitingForFinalizeAt  time.Time
}

// Result returns the output of a completed execution, or the error it ended
// with (ErrNotFinished wrapped if it has not finished).
func (x Execution[O]) Result() (O, error) {
	switch {
	case x.Status == StatusCompleted:
		return x.Output, nil
	case x.Status.Terminal() && x.Err != nil:
		return x.Output, x.Err
	case x.Status.Terminal():
		return x.Output, fmt.Errorf("durable: execution %s ended %s", x.ID, x.Status)
	}
	return x.Output, fmt.Errorf("%w: execution %s is %s", ErrNotFinished, x.ID, x.Status)
}

// ErrNotFinished is returned by Execution.Result for an execution that has
// not finished.
var ErrNotFinished = errors.New("durable: not finished")

// Handle refers to one execution of a task with output O.
type Handle[O any] struct {
	ex *Executor
	d  *taskDef
	id string
}

// ID returns the execution id ("" on a nil or zero *Handle).
func (h *Handle[O]) ID() string {
	if h == nil {
		return ""
	}
	return h.id
}

// TaskID returns the task id ("" on a nil or zero *Handle).
func (h *Handle[O]) TaskID() string {
	if h == nil || h.d == nil {
		return ""
	}
	return h.d.id
}

// check returns the error of a method called on a nil or zero *Handle
// (one not returned by Enqueue or Handle, or kept from a call that failed).
func (h *Handle[O]) check() error {
	if h == nil || h.ex == nil || h.d == nil {
		state := "zero"
		if h == nil {
			state = "nil"
		}
		return fmt.Errorf("%w: %s %T: a handle is returned by Enqueue or Handle (was an error ignored?)", ErrNotFound, state, h)
	}
	return nil
}

// Handle returns a handle for an existing execution of t. It fails with
// ErrNotFound if there is no such execution or it belongs to another task.
// Like Get, Wait and Cancel, it works after Shutdown.
func (t *Task[I, O]) Handle(ctx context.Context, executionID string) (*Handle[O], error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return handleFor[O](ctx, t.ex, t.d, executionID)
}

// Handle returns a handle for an existing execution of t.
func (t *SleepingTask[O]) Handle(ctx context.Context, executionID string) (*Handle[O], error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	return handleFor[O](ctx, t.ex, t.d, executionID)
}

func handleFor[O any](ctx context.Context, ex *Executor, d *taskDef, id string) (*Handle[O], error) {
	row, err := ex.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if row.TaskID != d.id {
		return nil, fmt.Errorf("%w: execution %s belongs to task %s, not %s", ErrNotFound, id, row.TaskID, d.id)
	}
	return &Handle[O]{ex: ex, d: d, id: id}, nil
}

func (e *Executor) get(ctx context.Context, id string) (storage.Execution, error) {
	var row storage.Execution
	err := e.retryStorage(ctx, func() error {
		var err error
		row, err = e.store.Get(ctx, storage.GetParams{ID: id})
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return row, fmt.Errorf("%w: execution %s", ErrNotFound, id)
	}
	return row, err
}

// Get reads the execution now.
func (h *Handle[O]) Get(ctx context.Context) (Execution[O], error) {
	if err := h.check(); err != nil {
		return Execution[O]{}, err
	}
	row, err := h.ex.get(ctx, h.id)
	if err != nil {
		return Execution[O]{}, err
	}
	return view[O](h.ex, row)
}

// Wait blocks until the execution has finished and returns it. In this
// process it is woken by the completion itself; for executions finished
// elsewhere, by the store's notifications or, failing those, by re-reading
// every PollInterval. Transient storage errors are ridden out; it returns
// early only with ctx's error, or ErrNotFound if the execution is gone.
func (h *Handle[O]) Wait(ctx context.Context) (Execution[O], error) {
	if err := h.check(); err != nil {
		return Execution[O]{}, err
	}
	row, err := h.ex.wait(ctx, h.id)
	if err != nil {
		return Execution[O]{}, err
	}
	return view[O](h.ex, row)
}

func (e *Executor) wait(ctx context.Context, id string) (storage.Execution, error) {
	for {
		ch := e.waiters.add(id)
		row, err := e.get(ctx, id)
		if err != nil && (errors.Is(err, ErrNotFound) || ctx.Err() != nil) {
			e.waiters.remove(id, ch)
			return row, err
		}
		if err == nil && row.Status.Terminal() {
			e.waiters.remove(id, ch)
			return row, nil
		}
		if err != nil {
			e.log.Warn("wait: reading the execution failed; retrying", "execution", id, "error", err)
		}
		t := e.clock.NewTimer(e.cfg.PollInterval)
		select {
		case <-ch:
		case <-t.C():
		case <-ctx.Done():
		}
		t.Stop()
		e.waiters.remove(id, ch)
		if ctx.Err() != nil {
			return row, fmt.Errorf("durable: waiting for execution %s: %w", id, ctx.Err())
		}
	}
}

// Cancel cancels the execution if it has not finished: a ready one never
// runs, a running one has its context cancelled (in whichever executor runs
// it), and a parent's unfinished children are cancelled with it. Cancelling a
// finished execution does nothing. Cancel does not wait for running code
// to return.
func (h *Handle[O]) Cancel(ctx context.Context) error {
	if err := h.check(); err != nil {
		return err
	}
	return h.ex.cancel(ctx, h.id)
}

func (e *Executor) cancel(ctx context.Context, id string) error {
	err := e.retryStorage(ctx, func() error {
		_, err := e.store.Cancel(ctx, storage.CancelParams{Now: e.now(), ID: id,
			Error: storage.ErrorInfo{Kind: storage.ErrorKindCancelled, Message: "execution " + id + " was cancelled"}})
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: execution %s", ErrNotFound, id)
	}
	return err
}

// view decodes a stored row into the typed view.
func view[O any](e *Executor, row storage.Execution) (Execution[O], error) {
	x := Execution[O]{
		ID: row.ID, TaskID: row.TaskID, Status: row.Status, Err: execErrorFromInfo(row.Error),
		Attempt: row.Attempt, Iteration: row.Iteration, Crashes: row.Crashes, SleepKey: row.SleepKey,
		Input: row.Input, Attempts: attemptsOf(row.Attempts), Tags: row.Tags, RetryOf: row.RetryOf,
		Queue: row.Queue, Priority: row.Priority,
		RootID: row.RootID, RootTaskID: row.RootTaskID, ParentID: row.ParentID, ParentTaskID: row.ParentTaskID,
		ChildIndex: row.ChildIndex, IsFinalize: row.IsFinalize,
		CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt, StartedAt: row.StartedAt, FinishedAt: row.FinishedAt,
		WaitingForChildrenAt: row.WaitingForChildrenAt, WaitingForFinalizeAt: row.WaitingForFinalizeAt,
	}
	if row.Status == storage.StatusCompleted {
		if err := e.decode(row.Output, &x.Output); err != nil {
			return x, fmt.Errorf("durable: execution %s: decoding output as %T: %w", row.ID, x.Output, err)
		}
	}
	return x, nil
}
