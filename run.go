package durable

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// activeRun is the state of one claimed execution processed here: its
// claim, its definition and its row, in one allocation.
type activeRun struct {
	held
	e    *Executor
	d    *taskDef
	row  *storage.Execution
	once sync.Once // the outcome is recorded once: by the run or its timeout
}

// begin starts what a claimed execution needs on the slot it holds: the
// decision taken at claim (decider.claimed), else its run or its
// continuation. It reports whether the slot stays taken until the work ends
// (slotDone then passes it on); false when the work was done at once.
func (e *Executor) begin(r *activeRun) bool {
	h, row := &r.held, r.row
	switch d := r.d; {
	case d == nil: // cannot happen: claims name registered tasks only
		e.held.remove(h)
	case row.Status != storage.StatusRunning && !row.Status.Waiting():
		e.log.Error("claimed an execution in an unexpected status", "execution", row.ID, "status", row.Status)
		e.held.remove(h)
	default:
		if tr, ok := e.decider().claimed(d, *row); ok {
			e.comp.submit(h, tr)
			return false
		}
		e.goWork(r)
		return true
	}
	return false
}

// decider gathers what the decisions need from the executor; none of it
// does I/O.
func (e *Executor) decider() decider {
	return decider{crashBudget: e.cfg.CrashBudget, maxChildren: e.cfg.MaxChildren,
		maxPayload: e.cfg.MaxPayloadBytes, codec: e.codec, ids: e.ids}
}

// work runs on a worker goroutine: the task's function, or a parent's
// continuation.
func (r *activeRun) work() {
	e := r.e
	defer e.slotDone()
	start := time.Now() // real time: the pace of runs is a performance matter
	defer func() {
		now := time.Now()
		e.capacity.observe(now.Sub(start), now)
	}()
	if r.row.Status.Waiting() {
		e.continueParent(&r.held, r.d, *r.row)
		return
	}
	// Runs do not derive from one shared parent context (its child list
	// would be a point of contention); a hard shutdown cancels each held
	// run instead.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	e.held.setCancel(&r.held, cancel)
	r.execute(ctx, cancel)
}

var errTimeoutCause = fmt.Errorf("%w: attempt deadline passed", ErrTimedOut)

// goWork runs r on an idle worker goroutine, or on a new one. Workers are
// kept until shutdown so their grown stacks are reused: a fresh goroutine
// per run would pay for stack growth on every run.
func (e *Executor) goWork(r *activeRun) {
	select {
	case e.work <- r:
	default:
		go e.worker(r)
	}
}

func (e *Executor) worker(r *activeRun) {
	for {
		r.work()
		select {
		case r = <-e.work:
		case <-e.workersStop:
			return
		}
	}
}

func (e *Executor) runInfo(row storage.Execution) RunInfo {
	return RunInfo{
		TaskID: row.TaskID, ExecutionID: row.ID, Attempt: row.Attempt, Iteration: row.Iteration,
		PrevError: execErrorFromInfo(row.Error), Crashes: row.Crashes,
		RootID: row.RootID, RootTaskID: row.RootTaskID, ParentID: row.ParentID, ParentTaskID: row.ParentTaskID,
		ChildIndex: row.ChildIndex, IsFinalize: row.IsFinalize, ExecutorID: e.id, Fence: row.Fence,
	}
}

// execute runs one attempt under its timeout and records its outcome. On
// timeout the outcome (timed out) is recorded at once, without waiting for
// a function that ignores its context; the capacity slot stays taken until
// it returns.
func (r *activeRun) execute(ctx context.Context, cancel context.CancelCauseFunc) {
	e, row := r.e, r.row
	ctx = context.WithValue(ctx, runInfoKey{}, r)
	timer := e.clock.AfterFunc(row.Timeout, func() {
		cancel(errTimeoutCause)
		r.once.Do(func() { e.finishRun(&r.held, r.d, *row, runResult{err: timeoutError(*row)}) })
	})
	res := e.invoke(ctx, r.d, *row)
	timer.Stop()
	r.once.Do(func() {
		if context.Cause(ctx) == errTimeoutCause {
			res = runResult{err: timeoutError(*row)}
		}
		e.finishRun(&r.held, r.d, *row, res)
	})
}

// timeoutError is the result of an attempt whose timeout passed.
func timeoutError(row storage.Execution) error {
	return &ExecutionError{Kind: storage.ErrorKindTimedOut, Retryable: true,
		Message: fmt.Sprintf("task %s: attempt timed out after %s", row.TaskID, row.Timeout)}
}

// invoke calls the task function, turning a panic into a retryable error
// with its stack.
func (e *Executor) invoke(ctx context.Context, d *taskDef, row storage.Execution) (res runResult) {
	defer func() {
		if r := recover(); r != nil {
			res = runResult{err: panicError(d, r, string(debug.Stack()))}
		}
	}()
	return d.invoke(ctx, row.Input)
}

// panicError is the result of a run whose function panicked with v.
func panicError(d *taskDef, v any, stack string) error {
	return &ExecutionError{Kind: storage.ErrorKindPanic, Retryable: true,
		Message: fmt.Sprintf("task %s panicked: %v", d.id, v), Stack: stack}
}

// finishRun turns a run's result into a transition (decider.afterRun) and
// queues it. For a parent it first makes the declared children into rows;
// for a failed run it draws the random number of a retry's jitter.
func (e *Executor) finishRun(h *held, d *taskDef, row storage.Execution, res runResult) {
	if e.held.isAbandoned(h) {
		return // released at shutdown; another executor runs it again
	}
	dc := e.decider()
	r := ran{res: res}
	switch {
	case res.err != nil:
		r.random = e.random()
	case d.kind == kindParent:
		r.children = e.prepareChildren(dc, d, row, res.children)
	}
	e.comp.submit(h, dc.afterRun(d, row, r))
}
