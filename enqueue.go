package durable

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// Enqueue stores a new execution of t with input in and returns its handle.
// When Enqueue returns nil the execution is stored (as durably as the store
// promises) and will run; Enqueue works before Start. The input is checked
// by the task's validator and the payload limit first.
func (t *Task[I, O]) Enqueue(ctx context.Context, in I, opts ...EnqueueOption) (*Handle[O], error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	ids, err := t.ex.enqueue(ctx, []Child{{d: t.d, input: in, opts: opts}})
	if err != nil {
		return nil, err
	}
	return &Handle[O]{ex: t.ex, d: t.d, id: ids[0]}, nil
}

// EnqueueTx stores a new execution through ins, typically an inserter bound
// to the caller's own database transaction, so the execution exists if and
// only if that transaction commits, together with the caller's own writes:
//
//   - PostgreSQL: store.Tx(tx), on any pgx.Tx of the store's database; its
//     NOTIFY is sent with the commit.
//   - SQLite: store.Tx(tx) on the tx that store.WithTx passes to its
//     function, a transaction on the store's own write connection (SQLite
//     has one writer at a time); the store wakes its executor, and those
//     of other processes on the file, after the commit only.
//
// Nothing is retried: the caller owns the transaction. The execution is
// stored, and will run, once the transaction commits; a rolled-back one
// wakes no executor. With WithIdempotencyKey, a key already used (in the
// store, or earlier in the transaction) fails with ErrDuplicate and stores
// nothing, and the transaction stays usable; unlike Enqueue, EnqueueTx
// does not return the existing execution.
func (t *Task[I, O]) EnqueueTx(ctx context.Context, ins storage.Inserter, in I, opts ...EnqueueOption) (*Handle[O], error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	if isNil(ins) {
		return nil, fmt.Errorf("%w: nil inserter (%T)", ErrInvalidOption, ins)
	}
	p, err := t.ex.prepareAll([]Child{{d: t.d, input: in, opts: opts}})
	if err != nil {
		return nil, err
	}
	insert := func(ctx context.Context) error { return insertTx(ctx, ins, t.ex.now(), p) }
	if len(t.ex.mw.enqueue) > 0 {
		err = t.ex.wrappedEnqueue(ctx, p.Executions, func(ctx context.Context) ([]string, error) { return nil, insert(ctx) })
	} else {
		err = insert(ctx)
	}
	if err != nil {
		return nil, err
	}
	return &Handle[O]{ex: t.ex, d: t.d, id: p.Executions[0].ID}, nil
}

// insertTx is EnqueueTx's insert through ins, without retries.
func insertTx(ctx context.Context, ins storage.Inserter, now time.Time, p storage.InsertParams) error {
	p.Now = now
	if err := ins.Insert(ctx, p); err != nil {
		if errors.Is(err, storage.ErrDuplicate) {
			return fmt.Errorf("%w: %w", ErrDuplicate, err)
		}
		return fmt.Errorf("durable: enqueue: %w", err)
	}
	return nil
}

// EnqueueMany stores one execution per input, all in one transaction: all
// are stored or none.
func (t *Task[I, O]) EnqueueMany(ctx context.Context, ins []I, opts ...EnqueueOption) ([]*Handle[O], error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	items := make([]Child, len(ins))
	for i, in := range ins {
		items[i] = Child{d: t.d, input: in, opts: opts}
	}
	ids, err := t.ex.enqueue(ctx, items)
	if err != nil {
		return nil, err
	}
	hs := make([]*Handle[O], len(ids))
	for i, id := range ids {
		hs[i] = &Handle[O]{ex: t.ex, d: t.d, id: id}
	}
	return hs, nil
}

// EnqueueMany stores executions of possibly different tasks (declared with
// ChildOf or SleepingTask.Child) in one transaction, all or none, and
// returns their execution ids in order.
func (e *Executor) EnqueueMany(ctx context.Context, items ...Child) ([]string, error) {
	if e == nil {
		return nil, errNilExecutor
	}
	return e.enqueue(ctx, items)
}

// Enqueue stores a new sleeping execution waiting under key, which must be
// unique among all sleeping executions ever (ErrDuplicate otherwise).
func (t *SleepingTask[O]) Enqueue(ctx context.Context, key string, opts ...EnqueueOption) (*Handle[O], error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	ids, err := t.ex.enqueue(ctx, []Child{{d: t.d, sleepKey: key, opts: opts}})
	if err != nil {
		return nil, err
	}
	return &Handle[O]{ex: t.ex, d: t.d, id: ids[0]}, nil
}

func (e *Executor) enqueue(ctx context.Context, items []Child) ([]string, error) {
	if len(items) == 0 {
		return nil, e.checkOpen()
	}
	p, err := e.prepareAll(items)
	if err != nil {
		return nil, err
	}
	if len(e.mw.enqueue) == 0 {
		return e.storeNew(ctx, items, p)
	}
	var ids []string
	err = e.wrappedEnqueue(ctx, p.Executions, func(ctx context.Context) (_ []string, err error) {
		ids, err = e.storeNew(ctx, items, p)
		return ids, err
	})
	return ids, err
}

// storeNew writes the prepared rows p of items (inserted claimed by this
// executor and started here when it can: direct start) and returns their
// ids.
func (e *Executor) storeNew(ctx context.Context, items []Child, p storage.InsertParams) ([]string, error) {
	direct := e.reserveDirect(items, p)
	err := e.insert(ctx, p)
	if err != nil && len(items) == 1 && p.Executions[0].ActiveKey != "" {
		var id string
		if id, err = e.insertWhileActive(ctx, p, err); err == nil && id != p.Executions[0].ID {
			if direct {
				e.unreserveDirect(1)
			}
			return []string{id}, nil // the key's active execution
		}
	}
	if err != nil {
		if direct {
			e.unreserveDirect(len(p.Executions))
		}
		if len(items) == 1 && errors.Is(err, ErrDuplicate) && e.committed(ctx, p.Executions[0]) {
			return []string{p.Executions[0].ID}, nil // idempotent: the keyed execution exists
		}
		return nil, err
	}
	if direct {
		e.startDirect(p.Executions)
	}
	ids := make([]string, len(items))
	for i := range p.Executions {
		ids[i] = p.Executions[i].ID
	}
	return ids, nil
}

// activeKeyTries bounds the inserts of one execution with an active key
// whose holder finished before the store could name it.
const activeKeyTries = 5

// insertWhileActive follows up the failed insert of p's one row, which
// has an active key: when err says an execution of the same task holds
// the key, it returns that execution's id; when the holder finished before
// the store could name it, it inserts again, and returns p's row's id if
// that succeeds. Any other error is returned as it is.
func (e *Executor) insertWhileActive(ctx context.Context, p storage.InsertParams, err error) (string, error) {
	row := &p.Executions[0]
	for range activeKeyTries {
		var ak *storage.ActiveKeyError
		switch {
		case !errors.As(err, &ak):
			return "", err
		case ak.ID != "" && ak.TaskID != row.TaskID:
			return "", fmt.Errorf("%w: idempotency key %q is held by active execution %s of task %s, not %s",
				ErrDuplicate, ak.Key, ak.ID, ak.TaskID, row.TaskID)
		case ak.ID != "":
			return ak.ID, nil
		}
		if err = e.insert(ctx, p); err == nil {
			return row.ID, nil
		}
	}
	return "", err
}

// insert writes new rows, retrying transient failures. A retry that finds
// its first row already stored knows the earlier try committed (ids are
// random and new), so an ambiguous failure does not duplicate work; so
// does one refused for an active key that one of its own rows holds.
func (e *Executor) insert(ctx context.Context, p storage.InsertParams) error {
	tries := 0
	err := e.retryStorage(ctx, func() error {
		tries++
		p.Now = e.now()
		err := e.store.Insert(ctx, p)
		if tries > 1 && errors.Is(err, storage.ErrDuplicate) && e.committed(ctx, ownRow(p, err)) {
			return nil
		}
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrDuplicate):
		return fmt.Errorf("%w: %w", ErrDuplicate, err)
	default:
		return fmt.Errorf("durable: enqueue: %w", err)
	}
}

// ownRow is the row of p that a duplicate error err names: the holder of
// an active key when it is one of p's rows, else p's first row.
func ownRow(p storage.InsertParams, err error) storage.Execution {
	var ak *storage.ActiveKeyError
	if errors.As(err, &ak) && ak.ID != "" {
		for i := range p.Executions {
			if p.Executions[i].ID == ak.ID {
				return p.Executions[i]
			}
		}
	}
	return p.Executions[0]
}

// committed reports whether first is stored (as first's task), retrying
// transient read failures.
func (e *Executor) committed(ctx context.Context, first storage.Execution) bool {
	var got storage.Execution
	err := e.retryStorage(ctx, func() error {
		var err error
		got, err = e.store.Get(ctx, storage.GetParams{ID: first.ID})
		return err
	})
	return err == nil && got.TaskID == first.TaskID
}
