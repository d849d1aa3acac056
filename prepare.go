package durable

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// prepareAll validates and encodes a batch of new executions.
func (e *Executor) prepareAll(items []Child) (storage.InsertParams, error) {
	if err := e.checkOpen(); err != nil {
		return storage.InsertParams{}, err
	}
	p := storage.InsertParams{Executions: make([]storage.Execution, len(items)), Delays: make([]time.Duration, len(items))}
	parts := 1
	if len(items) >= parallelPrepareMin {
		parts = min(runtime.GOMAXPROCS(0), 4)
	}
	// The ids are made first, in item order, so that they increase with
	// it (see idGen) whichever goroutine encodes an item; claimOrderIDs
	// then hands them out in claim order.
	ids := e.ids.executions(len(items))
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for k := range parts {
		from, to := k*len(items)/parts, (k+1)*len(items)/parts
		prep := func() { errs[k] = e.prepareRange(items, ids, p, from, to) }
		if k == parts-1 {
			prep()
			continue
		}
		wg.Go(prep)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return p, err // the first error in item order, as one goroutine would find it
		}
	}
	claimOrderIDs(p, ids)
	return p, nil
}

// claimOrderIDs gives the rows of p that took their id from ids (all but
// those with an idempotency key) the same ids in the order claims take
// the rows (storage.ClaimOrder), which is the order the SQL stores lay a
// batch out in: a batch of one priority and delay (the common one) keeps
// them in item order, one of mixed priorities or delays gets them by
// priority, then delay, then item order. Its ids then increase along the
// table as its rows do, so that the rows that a claim takes together, and
// that end together, have neighbouring entries in the primary key's index
// (by id): with ids in item order, a batch of nine priorities given in
// turn put the ids of each claim's rows on every ninth entry of that index,
// and each claim and completion of the batch touched nine times as many of
// its pages.
func claimOrderIDs(p storage.InsertParams, ids []string) {
	order := storage.ClaimOrder(p.Executions, p.Delays)
	if order == nil {
		return
	}
	free := make([]string, 0, len(ids)) // increasing, as ids
	for i, id := range ids {
		if p.Executions[i].ID == id {
			free = append(free, id)
		}
	}
	next := 0
	for _, i := range order {
		if p.Executions[i].ID == ids[i] {
			p.Executions[i].ID = free[next]
			next++
		}
	}
}

// parallelPrepareMin is the batch size from which EnqueueMany encodes its
// items on several goroutines.
const parallelPrepareMin = 1024

// prepareRange prepares items[from:to], with ids[from:to], into p,
// stopping at the first error.
func (e *Executor) prepareRange(items []Child, ids []string, p storage.InsertParams, from, to int) error {
	for i := from; i < to; i++ {
		it := items[i]
		if it.d == nil {
			return fmt.Errorf("%w: item %d has no task", ErrUnknownTask, i)
		}
		if e.lookup(it.d.id) != it.d {
			return fmt.Errorf("%w: task %s is not registered with this executor", ErrUnknownTask, it.d.id)
		}
		row, delay, err := e.prepare(it.d, ids[i], it.input, it.sleepKey, it.opts)
		if err != nil {
			return err
		}
		p.Executions[i], p.Delays[i] = row, delay
	}
	return nil
}

// newRow builds the row of a new execution of d.
func newRow(d *taskDef, id string, input []byte, sleepKey string, o runOptions) storage.Execution {
	row := storage.Execution{
		ID: id, TaskID: d.id, Status: storage.StatusReady,
		Input: input, Retry: o.retryPolicy(), Timeout: o.timeout, Tags: o.tags, Metadata: o.metadata,
		Queue: o.queue, Priority: o.priority, ConcurrencyKey: o.concurrencyKey,
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
	if err == nil {
		err = validMetadata(o.metadata)
	}
	if err != nil {
		return storage.Execution{}, 0, fmt.Errorf("task %s: %w", d.id, err)
	}
	if d.kind == kindSleeping {
		if o.key != "" {
			return storage.Execution{}, 0, fmt.Errorf("%w: sleeping task %s: WithIdempotencyKey: its sleeping key is unique already", ErrInvalidOption, d.id)
		}
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
		return storage.Execution{}, 0, unwrapNonRetryable(err) // names the task
	}
	row := newRow(d, id, b, "", o)
	if row.ConcurrencyKey == "" && d.keyOf != nil {
		if row.ConcurrencyKey, err = concurrencyKeyOf(d, input); err != nil {
			return storage.Execution{}, 0, err
		}
	}
	switch {
	case o.keyWhileActive:
		row.ActiveKey = o.key // the id stays new: one per execution holding the key
	case o.key != "":
		key := o.key
		if o.keyWindow > 0 {
			key = windowedKey(key, o.keyWindow, e.clock.Now())
			if len(key) > 200 {
				return storage.Execution{}, 0, fmt.Errorf("%w: task %s: idempotency key %q with its window is over 200 characters", ErrInvalidOption, d.id, key)
			}
		}
		row.ID = keyedID(key)
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
func (e *Executor) prepareChildren(ctx context.Context, dc decider, d *taskDef, parent storage.Execution, declared []Child) spawned {
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
	if len(e.mw.enqueue) > 0 && len(kids.rows) > 0 {
		if err := e.wrappedEnqueue(ctx, kids.rows, func(context.Context) ([]string, error) { return nil, nil }); err != nil {
			ee := classify(err)
			ee.Message = fmt.Sprintf("task %s: the enqueue middleware failed its children: %s", d.id, ee.Message)
			return spawned{err: ee}
		}
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
	if row.ActiveKey != "" {
		return row, 0, fmt.Errorf("%w: WithIdempotencyWhileActive on a child: a child belongs to its parent, and cannot be another tree's execution", ErrInvalidOption)
	}
	setParent(&row, parent, i)
	if err := validMetadata(row.Metadata); err != nil {
		return row, 0, fmt.Errorf("with its parent's metadata: %w", err)
	}
	return row, delay, nil
}

// validMetadata checks metadata as a store would, wrapping its error in
// ErrInvalidOption.
func validMetadata(m map[string]string) error {
	if err := storage.ValidateMetadata(m); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	return nil
}

// setParent links row to its parent; it inherits the parent's metadata,
// its own entries winning, and its queue and priority unless it has its
// own.
func setParent(row *storage.Execution, parent storage.Execution, index int) {
	if len(parent.Metadata) > 0 {
		row.Metadata = withEntries(parent.Metadata, row.Metadata)
	}
	if row.Queue == "" {
		row.Queue = parent.Queue
	}
	if row.Priority == 0 {
		row.Priority = parent.Priority
	}
	row.RootID, row.RootTaskID = parent.RootID, parent.RootTaskID
	if row.RootID == "" {
		row.RootID, row.RootTaskID = parent.ID, parent.TaskID
	}
	row.ParentID, row.ParentTaskID, row.ChildIndex = parent.ID, parent.TaskID, index
}

// concurrencyKeyOf computes the concurrency key of an execution of d with
// input (WithConcurrencyKeyFunc): "" for none, an error wrapping
// ErrInvalidOption for a key no store keeps.
func concurrencyKeyOf(d *taskDef, input any) (string, error) {
	key := d.keyOf(input)
	if key == "" {
		return "", nil
	}
	if err := storage.ValidateConcurrencyKey(key); err != nil {
		return "", fmt.Errorf("%w: task %s: WithConcurrencyKeyFunc: %w", ErrInvalidOption, d.id, err)
	}
	return key, nil
}
