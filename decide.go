package durable

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/durable-go/durable/storage"
)

// Decisions
//
// What happens to an execution next is decided by the methods of decider,
// at three moments:
//
//   - when a row is claimed (claimed): a sleeping row past its deadline
//     times out, a takeover over the crash budget fails, a sequence spawns
//     its first step;
//   - when a run returns (afterRun): it completes, is retried, fails, runs
//     its next loop iteration, or spawns its children (or its finalize);
//   - when a waiting parent is claimed again (childrenDone, finalizeDone,
//     stepDone): it completes, fails, spawns its finalize or its next step.
//
// Each takes the task's definition, the claimed row and what happened, and
// returns the storage.Transition to submit, guarded by the row's id, fence
// and status. None does I/O, starts a goroutine or touches the executor's
// state: the executor reads what a decision needs (a parent's children,
// its last child), makes a parent's declared children into rows
// (validators, registry, encoding: prepareChildren), draws the random
// number for a retry's jitter, and submits what the decision returns. The
// decider holds the rest: the limits, the codec, and the source of new
// execution ids (for a finalize or a sequence step). No decision needs the
// time: delays are relative, and the store sets DueAt from the write's Now.
//
// Two outcomes are decided elsewhere, with terminal: Wake's (task_sleeping.go)
// and a spawn the store refused (spawnFailed, in the completer).
type decider struct {
	crashBudget int // Config.CrashBudget, after withDefaults (-1 is 0)
	maxChildren int // Config.MaxChildren
	maxPayload  int // Config.MaxPayloadBytes
	codec       Codec
	ids         idSource
}

// idSource makes new execution ids; *idGen is the executor's.
type idSource interface{ execution() string }

// ran is what one run produced, as the decisions take it.
type ran struct {
	res runResult
	// children are a parent's declared children made into rows by the
	// executor (prepareChildren); unused for other kinds.
	children spawned
	// random is a number in [0, 1) for the retry delay's jitter; the
	// executor draws it only for a run that returned an error.
	random float64
	// finished is when the run returned (the executor's clock), for the
	// attempt history; the executor reads it only for a failed run.
	finished time.Time
}

// spawned is a parent's declared children made into rows: their rows and
// start delays, in declaration order, or why they could not be made (too
// many, or the first invalid child).
type spawned struct {
	rows   []storage.Execution
	delays []time.Duration
	err    *ExecutionError
}

// terminal builds a transition from the row's current status to a terminal
// one.
func terminal(row storage.Execution, to storage.Status, output []byte, errInfo *storage.ErrorInfo) storage.Transition {
	return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: to,
		Output: output, Error: errInfo, Attempt: row.Attempt, Iteration: row.Iteration}
}

// claimed decides what a claimed row needs before anything runs. It
// reports false when the row is to be run (or, waiting, continued).
func (dc decider) claimed(d *taskDef, row storage.Execution) (storage.Transition, bool) {
	switch {
	case row.Status != storage.StatusRunning:
		return storage.Transition{}, false
	case row.SleepKey != "":
		return sleepTimeout(row), true
	case row.Crashes > dc.crashBudget:
		return dc.crashBudgetExceeded(row), true
	case d.kind == kindSequence:
		return dc.startSequence(d, row), true
	}
	return storage.Transition{}, false
}

// sleepTimeout ends a sleeping row whose deadline passed before a Wake.
func sleepTimeout(row storage.Execution) storage.Transition {
	return terminal(row, storage.StatusTimedOut, nil, &storage.ErrorInfo{
		Kind:    storage.ErrorKindTimedOut,
		Message: fmt.Sprintf("sleeping task %s (key %q) was not woken within %s", row.TaskID, row.SleepKey, row.Timeout)})
}

func (dc decider) crashBudgetExceeded(row storage.Execution) storage.Transition {
	return terminal(row, storage.StatusFailed, nil, &storage.ErrorInfo{Kind: storage.ErrorKindCrashBudget,
		Message: fmt.Sprintf("task %s: its executor died %s while running it (crash budget %d); last: %s",
			row.TaskID, times(row.Crashes), dc.crashBudget, errMessage(row.Error))})
}

// times says how many times: "once", "twice", "3 times".
func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

func errMessage(info *storage.ErrorInfo) string {
	if info == nil {
		return "no error recorded"
	}
	return info.Message
}

// afterRun decides what follows a run of d's function.
func (dc decider) afterRun(d *taskDef, row storage.Execution, r ran) storage.Transition {
	if r.res.err != nil {
		tr := dc.failure(d, row, classify(r.res.err), r.random)
		tr.Attempts = appendAttempt(row.Attempts, storage.Attempt{
			Attempt: row.Attempt, Iteration: row.Iteration, ExecutorID: row.ExecutorID,
			StartedAt: row.StartedAt, FinishedAt: r.finished, Outcome: tr.To, Error: tr.Error})
		return tr
	}
	switch d.kind {
	case kindParent:
		return dc.spawn(d, row, r.res.output, r.children)
	case kindLoop:
		return dc.loopStep(d, row, r.res)
	default:
		return terminal(row, storage.StatusCompleted, r.res.output, nil)
	}
}

// failure retries a failed attempt if its policy allows, else ends it;
// random (in [0, 1)) sets the retry delay's jitter.
func (dc decider) failure(d *taskDef, row storage.Execution, ee *ExecutionError, random float64) storage.Transition {
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
			Delay: max(retryDelay(row.Retry, row.Attempt, random), ee.retryAfter)}
	case ee.Kind == storage.ErrorKindTimedOut:
		return terminal(row, storage.StatusTimedOut, nil, info)
	default:
		return terminal(row, storage.StatusFailed, nil, info)
	}
}

// appendAttempt returns history with a appended, bounded by
// storage.MaxAttempts: past the bound, the first attempt is kept (how it
// began) and the oldest of the others dropped. It never modifies history.
func appendAttempt(history []storage.Attempt, a storage.Attempt) []storage.Attempt {
	if len(history) < storage.MaxAttempts {
		return append(history[:len(history):len(history)], a)
	}
	out := make([]storage.Attempt, 0, storage.MaxAttempts)
	out = append(out, history[0])
	out = append(out, history[len(history)-storage.MaxAttempts+2:]...)
	return append(out, a)
}

// fail ends the execution with an error that is never retried (so it needs
// no random number).
func (dc decider) fail(d *taskDef, row storage.Execution, ee *ExecutionError) storage.Transition {
	ee.Retryable = false
	return dc.failure(d, row, ee, 0)
}

// retryDelay computes the delay before retry number k+1 (k = retries done);
// random, in [0, 1), places it in the jitter's range.
func retryDelay(p storage.RetryPolicy, k int, random float64) time.Duration {
	mult := p.Multiplier
	if mult == 0 {
		mult = 1
	}
	d := float64(p.BaseDelay) * math.Pow(mult, float64(k))
	if p.MaxDelay > 0 && d > float64(p.MaxDelay) {
		d = float64(p.MaxDelay)
	}
	if p.Jitter > 0 {
		d += d * p.Jitter * (2*random - 1)
	}
	if d > float64(48*time.Hour) {
		d = float64(48 * time.Hour)
	}
	return time.Duration(max(d, 0))
}

// loopStep runs a loop's next iteration, or completes it with a LoopOutput
// when it is done or ran its last iteration.
func (dc decider) loopStep(d *taskDef, row storage.Execution, res runResult) storage.Transition {
	done := res.done
	if !done && row.Iteration+1 < d.loop.MaxIterations {
		return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusReady,
			Iteration: row.Iteration + 1, Delay: d.loop.delay(row.Iteration + 1)}
	}
	out, err := dc.encode(rawLoopOutput{Done: done, Output: res.output, Iterations: row.Iteration + 1}, "output of task "+d.id)
	if err != nil {
		return dc.fail(d, row, classify(err))
	}
	return terminal(row, storage.StatusCompleted, out, nil)
}

// spawn records a parent's run: its children (or, with none, its finalize
// or its completion).
func (dc decider) spawn(d *taskDef, row storage.Execution, output []byte, kids spawned) storage.Transition {
	if kids.err != nil {
		return dc.fail(d, row, kids.err)
	}
	if len(kids.rows) == 0 {
		return dc.afterChildren(d, row, output, nil)
	}
	return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusWaitingForChildren,
		RunOutput: output, Attempt: row.Attempt, Iteration: row.Iteration, FailFast: d.finalize == nil,
		Children: kids.rows, ChildDelays: kids.delays}
}

// tooManyChildren is the error of a parent's run that declared n children,
// over the limit; nil within it.
func (dc decider) tooManyChildren(d *taskDef, n int) *ExecutionError {
	if n <= dc.maxChildren {
		return nil
	}
	return &ExecutionError{Kind: storage.ErrorKindTooManyChildren,
		Message: fmt.Sprintf("task %s spawned %d children, over the limit of %d", d.id, n, dc.maxChildren)}
}

// childError is the error of a parent's run whose child i could not be
// made into a row; it is never retried.
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

// childrenDone decides what follows a parent's children, read back in
// declaration order: children_failed at the first child of a fail-fast
// parent that ended without completing, else, once none is pending, its
// finalize or its completion. It reports false when there is nothing to
// do yet.
func (dc decider) childrenDone(d *taskDef, row storage.Execution, children []storage.Execution) (storage.Transition, bool) {
	if len(children) != row.ChildrenTotal {
		return dc.fail(d, row, newExecError(storage.ErrorKindNotFound, false,
			"task %s: %d of its %d children are missing from storage", d.id, row.ChildrenTotal-len(children), row.ChildrenTotal)), true
	}
	results := make([]ChildResult, len(children))
	for i, c := range children {
		results[i] = childResult(c)
		if row.FailFast && c.Status.Terminal() && c.Status != storage.StatusCompleted {
			return terminal(row, storage.StatusChildrenFailed, nil, &storage.ErrorInfo{Kind: storage.ErrorKindChildrenFailed,
				Message: fmt.Sprintf("task %s: child %d (%s %s) ended %s: %s", d.id, c.ChildIndex, c.TaskID, c.ID, c.Status, errMessage(c.Error))}), true
		}
	}
	if row.ChildrenPending > 0 {
		return storage.Transition{}, false
	}
	return dc.afterChildren(d, row, row.RunOutput, results), true
}

func childResult(c storage.Execution) ChildResult {
	r := ChildResult{TaskID: c.TaskID, ExecutionID: c.ID, Index: c.ChildIndex, Status: c.Status,
		Error: execErrorFromInfo(c.Error)}
	if c.Status == storage.StatusCompleted {
		r.Output, r.Error = c.Output, nil
	}
	return r
}

// afterChildren ends a parent whose children are all done (or that had
// none): it spawns the finalize, or completes with a ParentOutput.
func (dc decider) afterChildren(d *taskDef, row storage.Execution, runOutput []byte, results []ChildResult) storage.Transition {
	if results == nil {
		results = []ChildResult{}
	}
	if d.finalize == nil {
		out, err := dc.encode(rawParent{Output: runOutput, Children: results}, "output of task "+d.id)
		if err != nil {
			return dc.fail(d, row, classify(err))
		}
		return terminal(row, storage.StatusCompleted, out, nil)
	}
	in, err := dc.encode(rawParent{Output: runOutput, Children: results}, "finalize input of task "+d.id)
	if err != nil {
		return dc.fail(d, row, classify(err))
	}
	fin := newRow(d.finalize, dc.ids.execution(), in, "", d.finalize.defaults)
	if fin.ConcurrencyKey == "" {
		if fin.ConcurrencyKey, err = dc.concurrencyKey(d.finalize, in); err != nil {
			return dc.fail(d, row, nonRetryableExec(err))
		}
	}
	setParent(&fin, row, row.ChildrenTotal)
	fin.IsFinalize = true
	return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusWaitingForFinalize,
		RunOutput: runOutput, Attempt: row.Attempt, Iteration: row.Iteration, Children: []storage.Execution{fin}}
}

// finalizeDone ends a parent whose finalize (fin, read back) finished: its
// output becomes the parent's, or the parent ends finalize_failed.
func (dc decider) finalizeDone(d *taskDef, row storage.Execution, fin storage.Execution) storage.Transition {
	if fin.Status == storage.StatusCompleted {
		return terminal(row, storage.StatusCompleted, fin.Output, nil)
	}
	info := &storage.ErrorInfo{Kind: storage.ErrorKindFinalizeFailed, Retryable: fin.Error != nil && fin.Error.Retryable,
		Message: fmt.Sprintf("task %s: finalize %s (%s) ended %s: %s", d.id, fin.TaskID, fin.ID, fin.Status, errMessage(fin.Error))}
	return terminal(row, storage.StatusFinalizeFailed, nil, info)
}

// startSequence spawns a sequence's first step with the sequence's input.
func (dc decider) startSequence(d *taskDef, row storage.Execution) storage.Transition {
	tr, err := dc.sequenceStep(d, row, 0, row.Input)
	if err != nil {
		return dc.fail(d, row, classify(err))
	}
	return tr
}

// stepDone decides what follows a sequence's step (last, read back, which
// finished): the next step with its output, the sequence's completion
// after the last step, or finalize_failed.
func (dc decider) stepDone(d *taskDef, row storage.Execution, last storage.Execution) storage.Transition {
	i := last.ChildIndex
	if last.Status != storage.StatusCompleted {
		info := &storage.ErrorInfo{Kind: storage.ErrorKindFinalizeFailed, Retryable: last.Error != nil && last.Error.Retryable,
			Message: fmt.Sprintf("sequence %s: step %d (%s %s) ended %s: %s", d.id, i, last.TaskID, last.ID, last.Status, errMessage(last.Error))}
		return terminal(row, storage.StatusFinalizeFailed, nil, info)
	}
	if i+1 >= len(d.steps) {
		return terminal(row, storage.StatusCompleted, last.Output, nil)
	}
	tr, err := dc.sequenceStep(d, row, i+1, last.Output)
	if err != nil {
		return terminal(row, storage.StatusFinalizeFailed, nil, nonRetryableExec(err).info())
	}
	return tr
}

// sequenceStep spawns step i of a sequence with the previous output.
func (dc decider) sequenceStep(d *taskDef, row storage.Execution, i int, input []byte) (storage.Transition, error) {
	step := d.steps[i]
	id := dc.ids.execution()
	child := newRow(step, id, input, "", step.defaults)
	if step.kind == kindSleeping {
		var key string
		if err := dc.codec.Decode(input, &key); err != nil {
			return storage.Transition{}, fmt.Errorf("sequence %s: step %d (%s) is a sleeping task and needs a string key: %w", d.id, i, step.id, err)
		}
		if err := validSleepKey(key); err != nil {
			return storage.Transition{}, fmt.Errorf("sequence %s: step %d (%s): %w", d.id, i, step.id, err)
		}
		child = newRow(step, id, nil, key, step.defaults)
	} else if child.ConcurrencyKey == "" {
		key, err := dc.concurrencyKey(step, input)
		if err != nil {
			return storage.Transition{}, fmt.Errorf("sequence %s: step %d: %w", d.id, i, err)
		}
		child.ConcurrencyKey = key
	}
	setParent(&child, row, i)
	tr := storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusWaitingForChildren,
		RunOutput: row.RunOutput, Attempt: row.Attempt, Iteration: row.Iteration, FailFast: true,
		Children: []storage.Execution{child}}
	if step.defaults.hasDelay {
		// The step keeps its task's WithDelay, as it does when enqueued
		// or spawned as a child (a sleeping task takes none).
		tr.ChildDelays = []time.Duration{step.defaults.delay}
	}
	return tr, nil
}

func nonRetryableExec(err error) *ExecutionError {
	ee := classify(err)
	ee.Retryable = false
	return ee
}

// concurrencyKey computes the concurrency key (WithConcurrencyKeyFunc) of
// an execution of d that the engine makes itself from an encoded input (a
// sequence's next step, a parent's finalize), as an enqueue or a spawn
// computes it from the typed input: "" when d has no key function.
func (dc decider) concurrencyKey(d *taskDef, input []byte) (string, error) {
	if d.keyOf == nil || d.inType == nil {
		return "", nil
	}
	v := reflect.New(d.inType)
	if err := dc.codec.Decode(input, v.Interface()); err != nil {
		return "", fmt.Errorf("task %s: decoding the input for WithConcurrencyKeyFunc: %w", d.id, err)
	}
	return concurrencyKeyOf(d, v.Elem().Interface())
}

// encode encodes v with the codec and enforces the payload limit.
func (dc decider) encode(v any, what string) ([]byte, error) {
	return encodePayload(dc.codec, dc.maxPayload, v, what)
}

// encodePayload encodes v with codec and enforces the size limit.
func encodePayload(codec Codec, limit int, v any, what string) ([]byte, error) {
	b, err := codec.Encode(v)
	if err != nil {
		kind := storage.ErrorKindEncoding
		if errors.Is(err, ErrInvalidInput) { // a value the codec refuses to store (JSONCodec)
			kind = storage.ErrorKindInvalidInput
		}
		return nil, NonRetryable(&ExecutionError{Kind: kind, Message: fmt.Sprintf("encoding %s: %v", what, err)})
	}
	if len(b) > limit {
		return nil, NonRetryable(&ExecutionError{Kind: storage.ErrorKindPayloadTooLarge,
			Message: fmt.Sprintf("payload too large: %s is %d bytes encoded, over the limit of %d", what, len(b), limit)})
	}
	return b, nil
}
