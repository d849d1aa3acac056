package durable

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/durable-go/durable/storage"
)

// newRow builds the row of a new execution of d.
func newRow(d *taskDef, id string, input []byte, sleepKey string, o runOptions) storage.Execution {
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
		return newRow(d, id, nil, sleepKey, o), 0, nil
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
	row := newRow(d, id, b, "", o)
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

// prepareChildren makes the children a parent's run declared into rows,
// for decider.spawn: it stops at the limit (decider.tooManyChildren) and
// at the first child that cannot be made (unregistered task, validator,
// encoding, sleeping key).
func (e *Executor) prepareChildren(dc decider, d *taskDef, parent storage.Execution, declared []Child) spawned {
	if err := dc.tooManyChildren(d, len(declared)); err != nil {
		return spawned{err: err}
	}
	kids := spawned{rows: make([]storage.Execution, len(declared)), delays: make([]time.Duration, len(declared))}
	for i, c := range declared {
		row, delay, err := e.childRow(parent, i, c)
		if err != nil {
			return spawned{err: childError(d, i, c, err)}
		}
		kids.rows[i], kids.delays[i] = row, delay
	}
	return kids
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

// continuation reads what the decision on a waiting parent needs (its last
// child, or all its children) and takes it. It reports false when there is
// nothing to do yet.
func (e *Executor) continuation(d *taskDef, row storage.Execution) (storage.Transition, bool, error) {
	ctx, cancel := e.storageCtx()
	defer cancel()
	dc := e.decider()
	if row.Status == storage.StatusWaitingForFinalize || d.kind == kindSequence {
		last, done, err := e.lastChild(ctx, row)
		if err != nil || !done {
			return storage.Transition{}, false, err
		}
		if row.Status == storage.StatusWaitingForFinalize {
			return dc.finalizeDone(d, row, last), true, nil
		}
		return dc.stepDone(d, row, last), true, nil
	}
	children, err := e.store.ListChildren(ctx, storage.ListChildrenParams{ParentID: row.ID})
	if err != nil {
		return storage.Transition{}, false, err
	}
	tr, ok := dc.childrenDone(d, row, children)
	return tr, ok, nil
}

// lastChild reads a waiting parent's last child (its finalize, or a
// sequence's current step) and reports whether it finished.
func (e *Executor) lastChild(ctx context.Context, row storage.Execution) (storage.Execution, bool, error) {
	rows, err := e.store.ListChildren(ctx, storage.ListChildrenParams{ParentID: row.ID, FromIndex: row.ChildrenTotal - 1, Limit: 1})
	if err != nil || len(rows) == 0 {
		return storage.Execution{}, false, err
	}
	return rows[0], rows[0].Status.Terminal(), nil
}
