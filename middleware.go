package durable

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/durable-go/durable/storage"
)

// Middleware wraps the engine's enqueues and runs, as HTTP middleware
// wraps a handler: each function gets the context and a next function to
// call, and may change the context it passes on, and look at (or replace)
// the error that comes back. Either field may be nil. Install middleware
// with Config.Middleware; the first in the list is the outermost.
//
// With none installed, enqueues and runs cost one nil test more
// (BenchmarkHooks measures it).
type Middleware struct {
	// Enqueue wraps each enqueue: a call of Enqueue, EnqueueMany or
	// EnqueueTx (next validates and writes the rows: its error is the
	// enqueue's), and the children a run of a parent declared, the
	// finalize and steps aside (next returns nil at once: those rows are
	// written with the parent's outcome, by the completer). It may read
	// and change each execution's metadata before calling next; after
	// next returns, the rows are stored (or not, if it failed). Its ctx is
	// the enqueuer's, or for children the context the parent's run had.
	Enqueue func(ctx context.Context, call *EnqueueCall, next func(context.Context) error) error
	// Run wraps each run of a task function (not the engine's own work
	// on a parent whose children are done). Info(ctx) and Logger(ctx)
	// describe the run. The error it returns is the run's: nil when next
	// returned nil (the task's output is stored), next's error or another
	// one to fail the run. It cannot turn a failed run into a success
	// (there is no output to store): a nil returned after next failed
	// keeps next's error; a nil returned without calling next fails the
	// run with an error saying so. A panic in it is recovered as the
	// task's are.
	Run func(ctx context.Context, next func(context.Context) error) error
}

// EnqueueCall is what an enqueue middleware sees of one enqueue.
type EnqueueCall struct {
	// Executions are the executions enqueued, in order.
	Executions []Enqueued
}

// Enqueued is one execution being enqueued.
type Enqueued struct {
	// ID is the new execution's id. When the enqueue returns an execution
	// that holds the idempotency key while active
	// (WithIdempotencyWhileActive) instead of storing a new one, ID is set
	// to that execution's once next returned.
	TaskID, ID string
	// ParentID is the parent's id for a child declared by a run; empty
	// for an execution enqueued by Enqueue, EnqueueMany or EnqueueTx.
	ParentID string
	// Metadata is the execution's metadata (WithMetadata; a child's
	// includes its parent's), never nil: a middleware may add, change or
	// delete entries before it calls next, which stores them. Invalid
	// metadata (storage.ValidateMetadata) fails the enqueue with
	// ErrInvalidOption (a parent's run, for its children).
	Metadata map[string]string
}

// middlewares holds the installed middleware of each kind, outermost
// first, without the nil ones.
type middlewares struct {
	enqueue []func(ctx context.Context, call *EnqueueCall, next func(context.Context) error) error
	run     []func(ctx context.Context, next func(context.Context) error) error
}

func newMiddlewares(ms []Middleware) middlewares {
	var m middlewares
	for _, mw := range ms {
		m.enqueue = appendHook(m.enqueue, mw.Enqueue)
		m.run = appendHook(m.run, mw.Run)
	}
	return m
}

// wrapEnqueue calls the enqueue middleware from the i-th on, then last.
func (m *middlewares) wrapEnqueue(ctx context.Context, i int, call *EnqueueCall, last func(context.Context) error) error {
	if i == len(m.enqueue) {
		return last(ctx)
	}
	return m.enqueue[i](ctx, call, func(ctx context.Context) error { return m.wrapEnqueue(ctx, i+1, call, last) })
}

// wrapRun calls the run middleware from the i-th on, then last.
func (m *middlewares) wrapRun(ctx context.Context, i int, last func(context.Context) error) error {
	if i == len(m.run) {
		return last(ctx)
	}
	next := last // the innermost middleware calls last itself
	if i+1 < len(m.run) {
		next = func(ctx context.Context) error { return m.wrapRun(ctx, i+1, last) }
	}
	return m.run[i](ctx, next)
}

// errNextNotCalled is the error of a run whose middleware returned nil
// without calling next.
var errNextNotCalled = errors.New("a run middleware returned nil without calling next: the task did not run")

// invokeWrapped runs d's function under the run middleware, and returns
// the run's result and the context the function got.
func (e *Executor) invokeWrapped(ctx context.Context, d *taskDef, input []byte) (runResult, context.Context) {
	w := &wrappedInvoke{d: d, input: input}
	err := e.mw.wrapRun(ctx, 0, w.last)
	switch {
	case err != nil:
		return runResult{err: err}, w.runCtx
	case !w.called:
		return runResult{err: fmt.Errorf("task %s: %w", d.id, errNextNotCalled)}, ctx
	}
	return w.res, w.runCtx
}

// wrappedInvoke is the innermost step of a run under the run middleware
// and what it leaves: one allocation for what would otherwise escape one
// variable at a time.
type wrappedInvoke struct {
	d      *taskDef
	input  []byte
	called bool
	runCtx context.Context
	res    runResult
}

func (w *wrappedInvoke) last(ctx context.Context) error {
	w.called, w.runCtx = true, ctx
	w.res = w.d.invoke(ctx, w.input)
	return w.res.err
}

// errEnqueueNotCalled is the error of an enqueue whose middleware
// returned nil without calling next.
var errEnqueueNotCalled = errors.New("an enqueue middleware returned nil without calling next: nothing was stored")

// wrappedEnqueue calls last, which writes rows (or, for children, does
// nothing), under the enqueue middleware. As for runs, a middleware
// cannot make a failed write succeed: a nil returned after next failed
// keeps next's error. The ids last returns, if any, are those the enqueue
// returns: when one differs from its row's (an execution held the row's
// key while active), the middleware sees it in call once next returned.
func (e *Executor) wrappedEnqueue(ctx context.Context, rows []storage.Execution, last func(context.Context) ([]string, error)) error {
	called := false
	var lastErr error
	call := enqueueCall(rows)
	err := e.mw.wrapEnqueue(ctx, 0, call, func(ctx context.Context) error {
		called = true
		if lastErr = takeMetadata(call, rows); lastErr == nil {
			var ids []string
			ids, lastErr = last(ctx)
			for i := range min(len(ids), len(call.Executions)) {
				call.Executions[i].ID = ids[i]
			}
		}
		return lastErr
	})
	switch {
	case err != nil:
		return err
	case !called:
		return fmt.Errorf("durable: enqueue: %w", errEnqueueNotCalled)
	}
	return lastErr
}

// enqueueCall is the view of rows the enqueue middleware gets.
func enqueueCall(rows []storage.Execution) *EnqueueCall {
	call := &EnqueueCall{Executions: make([]Enqueued, len(rows))}
	for i := range rows {
		r := &rows[i]
		md := maps.Clone(r.Metadata)
		if md == nil {
			md = map[string]string{}
		}
		call.Executions[i] = Enqueued{TaskID: r.TaskID, ID: r.ID, ParentID: r.ParentID, Metadata: md}
	}
	return call
}

// takeMetadata sets the rows' metadata to what the middleware left in
// call, checked.
func takeMetadata(call *EnqueueCall, rows []storage.Execution) error {
	if len(call.Executions) != len(rows) {
		return fmt.Errorf("%w: an enqueue middleware changed the number of executions from %d to %d",
			ErrInvalidOption, len(rows), len(call.Executions))
	}
	for i := range rows {
		md := call.Executions[i].Metadata
		if len(md) == 0 {
			md = nil
		}
		if err := validMetadata(md); err != nil {
			return fmt.Errorf("execution %s: metadata set by an enqueue middleware: %w", rows[i].ID, err)
		}
		rows[i].Metadata = md
	}
	return nil
}
