package durable

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/durable-go/durable/storage"
)

// newRow builds the row of a new execution of d.
func (e *Executor) newRow(d *taskDef, id string, input []byte, sleepKey string, o runOptions) storage.Execution {
	row := storage.Execution{
		ID: id, TaskID: d.id, Status: storage.StatusReady,
		Input: input, Retry: o.retryPolicy(), Timeout: o.timeout,
	}
	if d.kind == kindSleeping {
		row.Status, row.SleepKey, row.Retry = storage.StatusRunning, sleepKey, storage.RetryPolicy{}
	}
	return row
}

// prepare validates and encodes one execution of d, whose id is id unless
// an idempotency key names it.
func (e *Executor) prepare(d *taskDef, id string, input any, sleepKey string, opts []EnqueueOption) (storage.Execution, time.Duration, error) {
	o, err := d.defaults.merge(opts)
	if err != nil {
		return storage.Execution{}, 0, fmt.Errorf("task %s: %w", d.id, err)
	}
	if d.kind == kindSleeping {
		if o.retry != nil || o.hasDelay {
			return storage.Execution{}, 0, fmt.Errorf("%w: sleeping task %s takes only WithTimeout", ErrInvalidOption, d.id)
		}
		if err := validSleepKey(sleepKey); err != nil {
			return storage.Execution{}, 0, fmt.Errorf("task %s: %w", d.id, err)
		}
		return e.newRow(d, id, nil, sleepKey, o), 0, nil
	}
	if d.validate != nil {
		if err := d.validate(input); err != nil {
			return storage.Execution{}, 0, fmt.Errorf("%w: task %s: %w", ErrInvalidInput, d.id, err)
		}
	}
	b, err := d.encodeInput(input)
	if err != nil {
		return storage.Execution{}, 0, fmt.Errorf("task %s: %w", d.id, unwrapNonRetryable(err))
	}
	row := e.newRow(d, id, b, "", o)
	if o.key != "" {
		row.ID = keyedID(o.key)
	}
	return row, o.delay, nil
}

// keyedID is the execution id of an enqueue with an idempotency key.
func keyedID(key string) string { return "ik_" + key }

// unwrapNonRetryable exposes the ExecutionError inside, so that errors.Is
// against ErrPayloadTooLarge works on Enqueue's error.
func unwrapNonRetryable(err error) error {
	if n, ok := err.(*nonRetryable); ok {
		return n.err
	}
	return err
}

// childRow builds child i of parent from its declaration.
func (e *Executor) childRow(parent storage.Execution, i int, c Child) (storage.Execution, time.Duration, error) {
	if c.d == nil {
		return storage.Execution{}, 0, fmt.Errorf("%w: nil task", ErrUnknownTask)
	}
	if e.lookup(c.d.id) != c.d {
		return storage.Execution{}, 0, fmt.Errorf("%w: %s is not registered with this executor", ErrUnknownTask, c.d.id)
	}
	row, delay, err := e.prepare(c.d, e.ids.execution(), c.input, c.sleepKey, c.opts)
	if err != nil {
		return row, 0, err
	}
	setParent(&row, parent, i)
	return row, delay, nil
}

func setParent(row *storage.Execution, parent storage.Execution, index int) {
	row.RootID, row.RootTaskID = parent.RootID, parent.RootTaskID
	if row.RootID == "" {
		row.RootID, row.RootTaskID = parent.ID, parent.TaskID
	}
	row.ParentID, row.ParentTaskID, row.ChildIndex = parent.ID, parent.TaskID, index
}

// afterChildren ends a parent whose children are all done (or that had
// none): it spawns the finalize, or completes with a ParentOutput.
func (e *Executor) afterChildren(d *taskDef, row storage.Execution, runOutput []byte, results []ChildResult) storage.Transition {
	if results == nil {
		results = []ChildResult{}
	}
	if d.finalize == nil {
		out, err := e.encodePayload(rawParent{Output: runOutput, Children: results}, "output of task "+d.id)
		if err != nil {
			return e.failure(d, row, nonRetryableExec(err))
		}
		return terminal(row, storage.StatusCompleted, out, nil)
	}
	in, err := e.encodePayload(rawParent{Output: runOutput, Children: results}, "finalize input of task "+d.id)
	if err != nil {
		return e.failure(d, row, nonRetryableExec(err))
	}
	fin := e.newRow(d.finalize, e.ids.execution(), in, "", d.finalize.defaults)
	setParent(&fin, row, row.ChildrenTotal)
	fin.IsFinalize = true
	return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusWaitingForFinalize,
		RunOutput: runOutput, Attempt: row.Attempt, Iteration: row.Iteration, Children: []storage.Execution{fin}}
}

func nonRetryableExec(err error) *ExecutionError {
	ee := classify(err)
	ee.Retryable = false
	return ee
}

// startSequence spawns a sequence's first step with the sequence's input.
func (e *Executor) startSequence(d *taskDef, row storage.Execution) storage.Transition {
	tr, err := e.sequenceStep(d, row, 0, row.Input)
	if err != nil {
		return e.failure(d, row, nonRetryableExec(err))
	}
	return tr
}

// sequenceStep spawns step i of a sequence with the previous output.
func (e *Executor) sequenceStep(d *taskDef, row storage.Execution, i int, input []byte) (storage.Transition, error) {
	step := d.steps[i]
	id := e.ids.execution()
	child := e.newRow(step, id, input, "", step.defaults)
	if step.kind == kindSleeping {
		var key string
		if err := e.codec.Decode(input, &key); err != nil {
			return storage.Transition{}, fmt.Errorf("sequence %s: step %d (%s) is a sleeping task and needs a string key: %w", d.id, i, step.id, err)
		}
		if err := validSleepKey(key); err != nil {
			return storage.Transition{}, fmt.Errorf("sequence %s: step %d (%s): %w", d.id, i, step.id, err)
		}
		child = e.newRow(step, id, nil, key, step.defaults)
	}
	setParent(&child, row, i)
	return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusWaitingForChildren,
		RunOutput: row.RunOutput, Attempt: row.Attempt, Iteration: row.Iteration, FailFast: true,
		Children: []storage.Execution{child}}, nil
}

// continueParent runs the continuation of a parent whose children are done
// (or one of which failed, for a parent that fails fast).
func (e *Executor) continueParent(h *held, d *taskDef, row storage.Execution) {
	tr, ok, err := e.continuation(d, row)
	if err != nil {
		e.log.Warn("parent continuation failed; releasing it to be retried", slog.String("execution", row.ID), slog.Any("error", err))
		e.releaseClaim(h)
		return
	}
	if !ok {
		// Nothing to do yet: the claim lapses and the row is looked at again.
		e.log.Error("parent claimed with unfinished children and no failure", slog.String("execution", row.ID))
		e.held.remove(h)
		return
	}
	e.comp.submit(h, tr)
}

func (e *Executor) releaseClaim(h *held) {
	e.held.remove(h)
	ctx, cancel := e.storageCtx()
	defer cancel()
	if err := e.store.Release(ctx, storage.ReleaseParams{Now: e.now(), Leases: []storage.Lease{h.lease}}); err != nil {
		e.log.Warn("release failed; the claim lapses with its lease", slog.Any("error", err))
	}
}

func (e *Executor) continuation(d *taskDef, row storage.Execution) (storage.Transition, bool, error) {
	ctx, cancel := e.storageCtx()
	defer cancel()
	if row.Status == storage.StatusWaitingForFinalize {
		return e.afterFinalize(ctx, d, row)
	}
	if d.kind == kindSequence {
		return e.afterStep(ctx, d, row)
	}
	children, err := e.store.ListChildren(ctx, storage.ListChildrenParams{ParentID: row.ID})
	if err != nil {
		return storage.Transition{}, false, err
	}
	if len(children) != row.ChildrenTotal {
		return e.failure(d, row, newExecError(storage.ErrorKindNotFound, false,
			"task %s: %d of its %d children are missing from storage", d.id, row.ChildrenTotal-len(children), row.ChildrenTotal)), true, nil
	}
	results := make([]ChildResult, len(children))
	for i, c := range children {
		results[i] = childResult(c)
		if row.FailFast && c.Status.Terminal() && c.Status != storage.StatusCompleted {
			return terminal(row, storage.StatusChildrenFailed, nil, &storage.ErrorInfo{Kind: kindChildrenFailed,
				Message: fmt.Sprintf("task %s: child %d (%s %s) ended %s: %s", d.id, c.ChildIndex, c.TaskID, c.ID, c.Status, errMessage(c.Error))}), true, nil
		}
	}
	if row.ChildrenPending > 0 {
		return storage.Transition{}, false, nil
	}
	return e.afterChildren(d, row, row.RunOutput, results), true, nil
}

func childResult(c storage.Execution) ChildResult {
	r := ChildResult{TaskID: c.TaskID, ExecutionID: c.ID, Index: c.ChildIndex, Status: c.Status,
		Error: execErrorFromInfo(c.Error)}
	if c.Status == storage.StatusCompleted {
		r.Output, r.Error = c.Output, nil
	}
	return r
}

func (e *Executor) lastChild(ctx context.Context, row storage.Execution) (storage.Execution, bool, error) {
	rows, err := e.store.ListChildren(ctx, storage.ListChildrenParams{ParentID: row.ID, FromIndex: row.ChildrenTotal - 1, Limit: 1})
	if err != nil || len(rows) == 0 {
		return storage.Execution{}, false, err
	}
	return rows[0], rows[0].Status.Terminal(), nil
}

func (e *Executor) afterFinalize(ctx context.Context, d *taskDef, row storage.Execution) (storage.Transition, bool, error) {
	fin, done, err := e.lastChild(ctx, row)
	if err != nil || !done {
		return storage.Transition{}, false, err
	}
	if fin.Status == storage.StatusCompleted {
		return terminal(row, storage.StatusCompleted, fin.Output, nil), true, nil
	}
	info := &storage.ErrorInfo{Kind: kindFinalizeFailed, Retryable: fin.Error != nil && fin.Error.Retryable,
		Message: fmt.Sprintf("task %s: finalize %s (%s) ended %s: %s", d.id, fin.TaskID, fin.ID, fin.Status, errMessage(fin.Error))}
	return terminal(row, storage.StatusFinalizeFailed, nil, info), true, nil
}

func (e *Executor) afterStep(ctx context.Context, d *taskDef, row storage.Execution) (storage.Transition, bool, error) {
	last, done, err := e.lastChild(ctx, row)
	if err != nil || !done {
		return storage.Transition{}, false, err
	}
	i := last.ChildIndex
	if last.Status != storage.StatusCompleted {
		info := &storage.ErrorInfo{Kind: kindFinalizeFailed, Retryable: last.Error != nil && last.Error.Retryable,
			Message: fmt.Sprintf("sequence %s: step %d (%s %s) ended %s: %s", d.id, i, last.TaskID, last.ID, last.Status, errMessage(last.Error))}
		return terminal(row, storage.StatusFinalizeFailed, nil, info), true, nil
	}
	if i+1 >= len(d.steps) {
		return terminal(row, storage.StatusCompleted, last.Output, nil), true, nil
	}
	tr, err := e.sequenceStep(d, row, i+1, last.Output)
	if err != nil {
		return terminal(row, storage.StatusFinalizeFailed, nil, nonRetryableExec(err).info()), true, nil
	}
	return tr, true, nil
}
