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

// begin decides what a claimed execution needs and starts it on the slot
// it holds. It reports whether the slot stays taken until the work ends
// (slotDone then passes it on); false when the work was done at once.
func (e *Executor) begin(r *activeRun) bool {
	h, row := &r.held, r.row
	switch d := r.d; {
	case d == nil: // cannot happen: claims name registered tasks only
		e.held.remove(h)
	case row.Status == storage.StatusRunning && row.SleepKey != "":
		e.comp.submit(h, e.sleepTimeout(*row))
	case row.Status == storage.StatusRunning && row.Crashes > e.cfg.CrashBudget:
		e.comp.submit(h, e.crashBudgetExceeded(*row))
	case row.Status == storage.StatusRunning && d.kind == kindSequence:
		e.comp.submit(h, e.startSequence(d, *row))
	case row.Status == storage.StatusRunning || row.Status.Waiting():
		e.runs.Add(1)
		e.goWork(r)
		return true
	default:
		e.log.Error("claimed an execution in an unexpected status", "execution", row.ID, "status", row.Status)
		e.held.remove(h)
	}
	return false
}

// work runs on a worker goroutine: the task's function, or a parent's
// continuation.
func (r *activeRun) work() {
	e := r.e
	defer e.runs.Done()
	defer e.slotDone()
	start := time.Now() // real time: the pace of runs is a performance matter
	defer func() {
		now := time.Now()
		e.pace.observe(now.Sub(start), now)
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

func (e *Executor) sleepTimeout(row storage.Execution) storage.Transition {
	return terminal(row, storage.StatusTimedOut, nil, &storage.ErrorInfo{
		Kind:    storage.ErrorKindTimedOut,
		Message: fmt.Sprintf("sleeping task %s (key %q) was not woken within %s", row.TaskID, row.SleepKey, row.Timeout)})
}

func (e *Executor) crashBudgetExceeded(row storage.Execution) storage.Transition {
	return terminal(row, storage.StatusFailed, nil, &storage.ErrorInfo{Kind: kindCrashBudget,
		Message: fmt.Sprintf("task %s: its executor died %d times while running it (crash budget %d); last: %s",
			row.TaskID, row.Crashes, e.cfg.CrashBudget, errMessage(row.Error))})
}

func errMessage(info *storage.ErrorInfo) string {
	if info == nil {
		return "no error recorded"
	}
	return info.Message
}

// terminal builds a transition from the row's current status to a terminal
// one.
func terminal(row storage.Execution, to storage.Status, output []byte, errInfo *storage.ErrorInfo) storage.Transition {
	return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: to,
		Output: output, Error: errInfo, Attempt: row.Attempt, Iteration: row.Iteration}
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
		r.once.Do(func() { e.finishRun(&r.held, r.d, *row, runResult{err: e.timeoutError(*row)}) })
	})
	res := e.invoke(ctx, r.d, *row)
	timer.Stop()
	r.once.Do(func() {
		if context.Cause(ctx) == errTimeoutCause {
			res = runResult{err: e.timeoutError(*row)}
		}
		e.finishRun(&r.held, r.d, *row, res)
	})
}

func (e *Executor) timeoutError(row storage.Execution) error {
	return &ExecutionError{Kind: storage.ErrorKindTimedOut, Retryable: true,
		Message: fmt.Sprintf("task %s: attempt timed out after %s", row.TaskID, row.Timeout)}
}

// invoke calls the task function, turning a panic into a retryable error
// with its stack.
func (e *Executor) invoke(ctx context.Context, d *taskDef, row storage.Execution) (res runResult) {
	defer func() {
		if r := recover(); r != nil {
			res = runResult{err: &ExecutionError{Kind: storage.ErrorKindPanic, Retryable: true,
				Message: fmt.Sprintf("task %s panicked: %v", d.id, r), Stack: string(debug.Stack())}}
		}
	}()
	return d.invoke(ctx, row.Input)
}

// finishRun turns a run's result into a transition and queues it.
func (e *Executor) finishRun(h *held, d *taskDef, row storage.Execution, res runResult) {
	if e.held.isAbandoned(h) {
		return // released at shutdown; another executor runs it again
	}
	e.comp.submit(h, e.outcome(d, row, res))
}

func (e *Executor) outcome(d *taskDef, row storage.Execution, res runResult) storage.Transition {
	if res.err != nil {
		return e.failure(d, row, classify(res.err))
	}
	switch d.kind {
	case kindParent:
		return e.spawn(d, row, res)
	case kindLoop:
		return e.loopStep(d, row, res)
	default:
		return terminal(row, storage.StatusCompleted, res.output, nil)
	}
}

// failure retries a failed attempt if its policy allows, else ends it.
func (e *Executor) failure(d *taskDef, row storage.Execution, ee *ExecutionError) storage.Transition {
	if d.kind == kindLoop {
		ee.Message = fmt.Sprintf("looping task %s: iteration %d: %s", d.id, row.Iteration, ee.Message)
	}
	info := ee.info()
	switch {
	case ee.Kind == storage.ErrorKindCancelled:
		return terminal(row, storage.StatusCancelled, nil, info)
	case ee.Retryable && row.Attempt < row.Retry.MaxRetries:
		return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusReady,
			Error: info, Attempt: row.Attempt + 1, Iteration: row.Iteration,
			Delay: retryDelay(row.Retry, row.Attempt, e.random)}
	case ee.Kind == storage.ErrorKindTimedOut:
		return terminal(row, storage.StatusTimedOut, nil, info)
	default:
		return terminal(row, storage.StatusFailed, nil, info)
	}
}

func (e *Executor) loopStep(d *taskDef, row storage.Execution, res runResult) storage.Transition {
	done := res.done
	if !done && row.Iteration+1 < d.loop.MaxIterations {
		return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusReady,
			Iteration: row.Iteration + 1, Delay: d.loop.delay(row.Iteration + 1)}
	}
	out, err := e.encodePayload(rawLoopOutput{Done: done, Output: res.output, Iterations: row.Iteration + 1}, "output of task "+d.id)
	if err != nil {
		return e.failure(d, row, classify(err))
	}
	return terminal(row, storage.StatusCompleted, out, nil)
}

// spawn records a parent's run: its children (or, with none, its finalize
// or its completion).
func (e *Executor) spawn(d *taskDef, row storage.Execution, res runResult) storage.Transition {
	if len(res.children) > e.cfg.MaxChildren {
		return e.failure(d, row, &ExecutionError{Kind: kindTooManyChildren,
			Message: fmt.Sprintf("task %s spawned %d children, over the limit of %d", d.id, len(res.children), e.cfg.MaxChildren)})
	}
	children := make([]storage.Execution, len(res.children))
	delays := make([]time.Duration, len(res.children))
	for i, c := range res.children {
		child, delay, err := e.childRow(row, i, c)
		if err != nil {
			return e.failure(d, row, childError(d, i, c, err))
		}
		children[i], delays[i] = child, delay
	}
	if len(children) == 0 {
		return e.afterChildren(d, row, res.output, nil)
	}
	return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusWaitingForChildren,
		RunOutput: res.output, Attempt: row.Attempt, Iteration: row.Iteration, FailFast: d.finalize == nil,
		Children: children, ChildDelays: delays}
}

func childError(d *taskDef, i int, c Child, err error) *ExecutionError {
	ee := classify(err)
	ee.Retryable = false
	name := "<nil>"
	if c.d != nil {
		name = c.d.id
	}
	ee.Message = fmt.Sprintf("task %s: child %d (%s): %s", d.id, i, name, ee.Message)
	return ee
}
