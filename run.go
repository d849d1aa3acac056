package durable

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durable-go/durable/storage"
)

// The path of a claimed execution, from its claim (dispatch.go) or its
// direct start (direct.go) to its result queued for the completer:
//
//	holdRuns → startOnSlot → startRun ─┬─ decided at claim → submit
//	                                   └─ runOnWorker → workerLoop → runOrContinue
//	runOrContinue ─┬─ runAttempt → callTask → recordResult → submit
//	               └─ continueParent (continuation.go) → submit
//
// slotDone passes the slot on when the work ends.

// activeRun is the state of one claimed execution processed here: its
// claim (with its row), its definition, in one allocation.
type activeRun struct {
	held
	e    *Executor
	d    *taskDef
	once sync.Once                   // the outcome is recorded once: by the run or its timeout
	log  atomic.Pointer[slog.Logger] // Logger(ctx), made when first asked for
}

// holdRuns makes the run state of claimed rows and holds their claims
// from now on (heartbeats renew their leases).
func (e *Executor) holdRuns(rows []storage.Execution) []activeRun {
	runs := make([]activeRun, len(rows))
	for i := range rows {
		r := &runs[i]
		r.held.lease, r.held.row = storage.Lease{ID: rows[i].ID, Fence: rows[i].Fence}, &rows[i]
		r.e, r.d = e, e.lookup(rows[i].TaskID)
	}
	e.held.putRuns(runs)
	return runs
}

// startOnSlot starts r on a slot it holds. Work done without a worker (a
// sleeping task's timeout, say) passes the slot on to the next queued run.
func (e *Executor) startOnSlot(r *activeRun) {
	for r != nil {
		if e.startRun(r) {
			return
		}
		r = e.capacity.next()
	}
}

// slotDone is called when the work on a slot ends: the slot goes to the
// next queued run, or is freed.
func (e *Executor) slotDone() {
	e.startOnSlot(e.capacity.next())
}

// startRun starts what a claimed execution needs on the slot it holds: the
// decision taken at claim (decider.claimed), else its run or its
// continuation. It reports whether the slot stays taken until the work ends
// (slotDone then passes it on); false when the work was done at once.
func (e *Executor) startRun(r *activeRun) bool {
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
		e.runOnWorker(r)
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

// runOrContinue runs on a worker goroutine: an attempt of the task's
// function (runAttempt), or a parent's continuation (continueParent). The
// slot is passed on when it returns.
func (r *activeRun) runOrContinue() {
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
	r.runAttempt(ctx, cancel)
}

var errTimeoutCause = fmt.Errorf("%w: attempt deadline passed", ErrTimedOut)

// runOnWorker runs r on an idle worker goroutine, or on a new one. Workers
// are kept until shutdown so their grown stacks are reused: a fresh
// goroutine per run would pay for stack growth on every run.
func (e *Executor) runOnWorker(r *activeRun) {
	if e.onWorker != nil {
		e.onWorker(r)
		return
	}
	select {
	case e.work <- r:
	default:
		go e.workerLoop(r)
	}
}

// workerStackKeep is how much stack a worker's own frame holds. The
// garbage collector halves the stack of a goroutine that uses less than a
// quarter of it: an idle worker's stack, grown by its runs, would shrink at
// every collection and grow again, by copying, in its next run (2-3 % of
// the CPU of a drain in a profile, more with tracing on). With this much
// held below every run, a worker's stack of up to four times as much is
// kept between runs.
const workerStackKeep = 8 << 10

// holdStack takes the address of a worker's stack reserve, so that the
// compiler keeps it in the worker's frame.
//
//go:noinline
func holdStack(*[workerStackKeep]byte) {}

// workerLoop is a worker goroutine: it runs r, then each run runOnWorker
// hands it, until shutdown.
func (e *Executor) workerLoop(r *activeRun) {
	var keep [workerStackKeep]byte
	holdStack(&keep)
	for {
		r.runOrContinue()
		select {
		case r = <-e.work:
		case <-e.workersStop:
			return
		}
	}
}

// runAttempt runs one attempt under its timeout and records its outcome. On
// timeout the outcome (timed out) is recorded at once, without waiting for
// a function that ignores its context; the capacity slot stays taken until
// it returns.
func (r *activeRun) runAttempt(ctx context.Context, cancel context.CancelCauseFunc) {
	e, row := r.e, r.row
	ctx = context.WithValue(ctx, runInfoKey{}, r)
	timer := e.clock.AfterFunc(row.Timeout, func() {
		cancel(errTimeoutCause)
		r.once.Do(func() { e.recordResult(ctx, &r.held, r.d, *row, runResult{err: timeoutError(*row)}) })
	})
	res, runCtx := e.callTask(ctx, r.d, *row)
	timer.Stop()
	r.once.Do(func() {
		if context.Cause(ctx) == errTimeoutCause {
			res = runResult{err: timeoutError(*row)}
		}
		e.recordResult(runCtx, &r.held, r.d, *row, res)
	})
}

// timeoutError is the result of an attempt whose timeout passed.
func timeoutError(row storage.Execution) error {
	return &ExecutionError{Kind: storage.ErrorKindTimedOut, Retryable: true,
		Message: fmt.Sprintf("task %s: attempt timed out after %s", row.TaskID, row.Timeout)}
}

// callTask calls the task function, under the run middleware if there is
// any, turning a panic into a retryable error with its stack. It returns
// the context the function got (the middleware may have changed it): the
// enqueue middleware of the children it declared gets it.
func (e *Executor) callTask(ctx context.Context, d *taskDef, row storage.Execution) (res runResult, runCtx context.Context) {
	runCtx = ctx
	defer func() {
		if r := recover(); r != nil {
			res = runResult{err: panicError(d, r, string(debug.Stack()))}
		}
	}()
	if len(e.mw.run) > 0 {
		return e.invokeWrapped(ctx, d, row.Input)
	}
	return d.invoke(ctx, row.Input), ctx
}

// panicError is the result of a run whose function panicked with v.
func panicError(d *taskDef, v any, stack string) error {
	return &ExecutionError{Kind: storage.ErrorKindPanic, Retryable: true,
		Message: fmt.Sprintf("task %s panicked: %v", d.id, v), Stack: stack}
}

// recordResult turns a run's result into a transition (decider.afterRun) and
// queues it. For a parent it first makes the declared children into rows;
// for a failed run it draws the random number of a retry's jitter.
func (e *Executor) recordResult(ctx context.Context, h *held, d *taskDef, row storage.Execution, res runResult) {
	if e.held.isAbandoned(h) {
		return // released at shutdown; another executor runs it again
	}
	dc := e.decider()
	r := ran{res: res}
	switch {
	case res.err != nil:
		r.random, r.finished = e.random(), e.clock.Now()
	case d.kind == kindParent:
		r.children = e.prepareChildren(ctx, dc, d, row, res.children)
	}
	e.comp.submit(h, dc.afterRun(d, row, r))
}
