package durable

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// countingIDs makes the ids te_new1, te_new2, ...
type countingIDs struct{ n int }

func (c *countingIDs) execution() string {
	c.n++
	return fmt.Sprintf("te_new%d", c.n)
}

// The task definitions the decisions are tested on.
var (
	dPlain = &taskDef{id: "plain", kind: kindPlain}
	dLoop  = &taskDef{id: "loop", kind: kindLoop, loop: LoopOptions{MaxIterations: 3, Delay: time.Second}}
	dLoopF = &taskDef{id: "loopf", kind: kindLoop,
		loop: LoopOptions{MaxIterations: 10, Delay: time.Hour, DelayFunc: func(n int) time.Duration { return time.Duration(n) * time.Minute }}}
	dFin       = &taskDef{id: "fin", kind: kindPlain, defaults: runOptions{timeout: 30 * time.Second}}
	dParent    = &taskDef{id: "par", kind: kindParent}
	dParentFin = &taskDef{id: "parf", kind: kindParent, finalize: dFin}
	dSleeper   = &taskDef{id: "sleeper", kind: kindSleeping, defaults: runOptions{timeout: time.Hour}}
	dStepA     = &taskDef{id: "step_a", kind: kindPlain,
		defaults: runOptions{timeout: 2 * time.Minute, retry: &RetryPolicy{MaxRetries: 1}}}
	dStepC = &taskDef{id: "step_c", kind: kindPlain, defaults: runOptions{timeout: time.Minute}}
	dSeq   = &taskDef{id: "seq", kind: kindSequence, steps: []*taskDef{dStepA, dSleeper, dStepC}}
	// dSeqSleepFirst's first step is sleeping: the sequence's input is its key.
	dSeqSleepFirst = &taskDef{id: "seqs", kind: kindSequence, steps: []*taskDef{dSleeper, dStepC}}
)

const (
	rowID = "te_row"
	fence = 7
)

var retry2 = storage.RetryPolicy{MaxRetries: 2, BaseDelay: time.Second, Multiplier: 2, MaxDelay: 3 * time.Second}

// running is a claimed row of d: a root execution at the given attempt and
// iteration, with retry2 as its policy.
func running(d *taskDef, attempt, iteration int) storage.Execution {
	return storage.Execution{ID: rowID, TaskID: d.id, Fence: fence, Status: storage.StatusRunning,
		Input: []byte(`{"n":1}`), Retry: retry2, Timeout: time.Minute, Attempt: attempt, Iteration: iteration,
		ExecutorID: "ex-1", StartedAt: started}
}

// started and finished bound every failed run of the cases.
var (
	started  = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	finished = started.Add(1500 * time.Millisecond)
)

// tried is tr with the attempt history a failed run of row appends: the
// run's one attempt, ending in tr's status with tr's error.
func tried(row storage.Execution, tr storage.Transition) storage.Transition {
	tr.Attempts = []storage.Attempt{{Attempt: row.Attempt, Iteration: row.Iteration, ExecutorID: "ex-1",
		StartedAt: started, FinishedAt: finished, Outcome: tr.To, Error: tr.Error}}
	return tr
}

// waiting is a parent row of d claimed for its continuation.
func waiting(d *taskDef, status storage.Status, total, pending int, failFast bool) storage.Execution {
	return storage.Execution{ID: rowID, TaskID: d.id, Fence: fence, Status: status, Attempt: 1,
		RunOutput: []byte(`{"n":1}`), ChildrenTotal: total, ChildrenPending: pending, FailFast: failFast}
}

// child is a child row of the parent rowID as the store returns it.
func child(i int, status storage.Status, output string, e *storage.ErrorInfo) storage.Execution {
	c := storage.Execution{ID: fmt.Sprintf("te_c%d", i), TaskID: "plain", Status: status, ChildIndex: i,
		ParentID: rowID, Error: e}
	if output != "" {
		c.Output = []byte(output)
	}
	return c
}

func info(kind storage.ErrorKind, msg string, retryable bool) *storage.ErrorInfo {
	return &storage.ErrorInfo{Kind: kind, Message: msg, Retryable: retryable}
}

func jsonStringError(data string) string {
	var s string
	return json.Unmarshal([]byte(data), &s).Error()
}

type decideCase struct {
	name   string
	decide func(dc decider) (storage.Transition, bool)
	want   storage.Transition
	none   bool // no decision: the row is to be run, or nothing is to be done yet
}

func claim(d *taskDef, row storage.Execution) func(decider) (storage.Transition, bool) {
	return func(dc decider) (storage.Transition, bool) { return dc.claimed(d, row) }
}

func afterRun(d *taskDef, row storage.Execution, r ran) func(decider) (storage.Transition, bool) {
	return func(dc decider) (storage.Transition, bool) { return dc.afterRun(d, row, r), true }
}

func failed(err error) ran { return ran{res: runResult{err: err}, random: 0.5, finished: finished} }

func childrenDone(d *taskDef, row storage.Execution, children ...storage.Execution) func(decider) (storage.Transition, bool) {
	return func(dc decider) (storage.Transition, bool) { return dc.childrenDone(d, row, children) }
}

func finalizeDone(d *taskDef, row, fin storage.Execution) func(decider) (storage.Transition, bool) {
	return func(dc decider) (storage.Transition, bool) { return dc.finalizeDone(d, row, fin), true }
}

func stepDone(d *taskDef, row, last storage.Execution) func(decider) (storage.Transition, bool) {
	return func(dc decider) (storage.Transition, bool) { return dc.stepDone(d, row, last), true }
}

// The statuses, short.
const (
	sReady    = storage.StatusReady
	sRunning  = storage.StatusRunning
	sWaitCh   = storage.StatusWaitingForChildren
	sWaitFin  = storage.StatusWaitingForFinalize
	sDone     = storage.StatusCompleted
	sFailed   = storage.StatusFailed
	sTimedOut = storage.StatusTimedOut
	sChFailed = storage.StatusChildrenFailed
	sFinFail  = storage.StatusFinalizeFailed
	sCanc     = storage.StatusCancelled
)

func claimCases() []decideCase {
	sleeping := running(dSleeper, 0, 0)
	sleeping.SleepKey, sleeping.Timeout, sleeping.Retry = "order-1", time.Hour, storage.RetryPolicy{}
	sleepingLapsed := sleeping
	sleepingLapsed.Crashes = 9
	lapsed := running(dPlain, 1, 0)
	lapsed.Crashes, lapsed.Error = 4, info(storage.ErrorKindLeaseExpired, "lease expired", true)
	lapsedNoErr := running(dPlain, 0, 0)
	lapsedNoErr.Crashes = 4
	atBudget := running(dPlain, 0, 0)
	atBudget.Crashes = 3
	seqRow := running(dSeq, 0, 0)
	seqLapsed := running(dSeq, 0, 0)
	seqLapsed.Crashes = 4
	nested := running(dSeq, 0, 0)
	nested.RootID, nested.RootTaskID, nested.ParentID, nested.ParentTaskID = "te_root", "top", "te_up", "par"
	seqKey := running(dSeqSleepFirst, 0, 0)
	seqKey.Input = []byte(`"order-2"`)
	seqBadKey := running(dSeqSleepFirst, 0, 0) // input {"n":1} is not a string
	seqEmptyKey := running(dSeqSleepFirst, 0, 0)
	seqEmptyKey.Input = []byte(`""`)

	firstStep := storage.Execution{ID: "te_new1", TaskID: "step_a", Status: sReady, Input: []byte(`{"n":1}`),
		Retry: storage.RetryPolicy{MaxRetries: 1}, Timeout: 2 * time.Minute,
		RootID: rowID, RootTaskID: "seq", ParentID: rowID, ParentTaskID: "seq", ChildIndex: 0}
	nestedStep := firstStep
	nestedStep.RootID, nestedStep.RootTaskID = "te_root", "top"
	sleepStep := storage.Execution{ID: "te_new1", TaskID: "sleeper", Status: sRunning, SleepKey: "order-2",
		Timeout: time.Hour, RootID: rowID, RootTaskID: "seqs", ParentID: rowID, ParentTaskID: "seqs"}

	return []decideCase{
		{name: "claim/plain/run", decide: claim(dPlain, running(dPlain, 0, 0)), none: true},
		{name: "claim/waiting parent/continue", decide: claim(dParent, waiting(dParent, sWaitCh, 1, 0, true)), none: true},
		{name: "claim/sleeping/timeout", decide: claim(dSleeper, sleeping),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sTimedOut,
				Error: info(storage.ErrorKindTimedOut, `sleeping task sleeper (key "order-1") was not woken within 1h0m0s`, false)}},
		{name: "claim/sleeping/lapses do not count", decide: claim(dSleeper, sleepingLapsed),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sTimedOut,
				Error: info(storage.ErrorKindTimedOut, `sleeping task sleeper (key "order-1") was not woken within 1h0m0s`, false)}},
		{name: "claim/crash budget/at the budget runs", decide: claim(dPlain, atBudget), none: true},
		{name: "claim/crash budget/exceeded", decide: claim(dPlain, lapsed),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed, Attempt: 1,
				Error: info(storage.ErrorKindCrashBudget, "task plain: its executor died 4 times while running it (crash budget 3); last: lease expired", false)}},
		{name: "claim/crash budget/exceeded without error", decide: claim(dPlain, lapsedNoErr),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindCrashBudget, "task plain: its executor died 4 times while running it (crash budget 3); last: no error recorded", false)}},
		{name: "claim/crash budget/none: the first lapse fails", decide: func(dc decider) (storage.Transition, bool) {
			dc.crashBudget = 0
			row := running(dPlain, 0, 0)
			row.Crashes = 1
			return dc.claimed(dPlain, row)
		},
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindCrashBudget, "task plain: its executor died once while running it (crash budget 0); last: no error recorded", false)}},
		{name: "claim/sequence/first step", decide: claim(dSeq, seqRow),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sWaitCh, FailFast: true,
				Children: []storage.Execution{firstStep}}},
		{name: "claim/sequence/first step keeps the root", decide: claim(dSeq, nested),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sWaitCh, FailFast: true,
				Children: []storage.Execution{nestedStep}}},
		{name: "claim/sequence/crash budget first", decide: claim(dSeq, seqLapsed),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindCrashBudget, "task seq: its executor died 4 times while running it (crash budget 3); last: no error recorded", false)}},
		{name: "claim/sequence/sleeping first step takes the input as key", decide: claim(dSeqSleepFirst, seqKey),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sWaitCh, FailFast: true,
				Children: []storage.Execution{sleepStep}}},
		{name: "claim/sequence/sleeping first step, input not a string", decide: claim(dSeqSleepFirst, seqBadKey),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindGeneric, "sequence seqs: step 0 (sleeper) is a sleeping task and needs a string key: "+jsonStringError(`{"n":1}`), false)}},
		{name: "claim/sequence/sleeping first step, empty key", decide: claim(dSeqSleepFirst, seqEmptyKey),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindInvalidInput, "sequence seqs: step 0 (sleeper): durable: invalid input: sleeping key must be 1..255 bytes, got 0", false)}},
	}
}

// retryableFalse is a user's error that says it may not be retried.
type retryableFalse struct{}

func (retryableFalse) Error() string   { return "refused" }
func (retryableFalse) Retryable() bool { return false }

func plainRunCases() []decideCase {
	row0 := running(dPlain, 0, 0)
	row1 := running(dPlain, 1, 0)
	last := running(dPlain, 2, 0) // MaxRetries 2: no retry left
	noPolicy := running(dPlain, 0, 0)
	noPolicy.Retry = storage.RetryPolicy{}
	panicked := panicError(dPlain, "boom", "goroutine 1 [running]:")
	panicInfo := &storage.ErrorInfo{Kind: storage.ErrorKindPanic, Message: "task plain panicked: boom", Retryable: true, Stack: "goroutine 1 [running]:"}
	timeoutInfo := info(storage.ErrorKindTimedOut, "task plain: attempt timed out after 1m0s", true)
	tooLarge := NonRetryable(&ExecutionError{Kind: storage.ErrorKindPayloadTooLarge, Message: "payload too large: output of task plain is 400 bytes encoded, over the limit of 300"})

	return []decideCase{
		{name: "plain/success", decide: afterRun(dPlain, row1, ran{res: runResult{output: []byte(`"ok"`)}}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sDone, Output: []byte(`"ok"`), Attempt: 1}},
		{name: "plain/failure/retried", decide: afterRun(dPlain, row0, failed(errors.New("boom"))),
			want: tried(row0, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Attempt: 1, Delay: time.Second,
				Error: info(storage.ErrorKindGeneric, "boom", true)})},
		{name: "plain/failure/second retry backs off", decide: afterRun(dPlain, row1, failed(errors.New("boom"))),
			want: tried(row1, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Attempt: 2, Delay: 2 * time.Second,
				Error: info(storage.ErrorKindGeneric, "boom", true)})},
		{name: "plain/failure/retries exhausted", decide: afterRun(dPlain, last, failed(errors.New("boom"))),
			want: tried(last, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed, Attempt: 2,
				Error: info(storage.ErrorKindGeneric, "boom", true)})},
		{name: "plain/failure/no retry policy", decide: afterRun(dPlain, noPolicy, failed(errors.New("boom"))),
			want: tried(noPolicy, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindGeneric, "boom", true)})},
		{name: "plain/failure/NonRetryable", decide: afterRun(dPlain, row0, failed(NonRetryable(errors.New("bad input")))),
			want: tried(row0, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindGeneric, "bad input", false)})},
		{name: "plain/failure/Retryable() false", decide: afterRun(dPlain, row0, failed(retryableFalse{})),
			want: tried(row0, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindGeneric, "refused", false)})},
		{name: "plain/failure/sentinel kind", decide: afterRun(dPlain, row0, failed(fmt.Errorf("lookup: %w", ErrInvalidInput))),
			want: tried(row0, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindInvalidInput, "lookup: durable: invalid input", false)})},
		{name: "plain/failure/output too large", decide: afterRun(dPlain, row0, failed(tooLarge)),
			want: tried(row0, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindPayloadTooLarge, "payload too large: output of task plain is 400 bytes encoded, over the limit of 300", false)})},
		{name: "plain/cancelled/retries left do not matter", decide: afterRun(dPlain, row0, failed(fmt.Errorf("stopping: %w", ErrCancelled))),
			want: tried(row0, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sCanc,
				Error: info(storage.ErrorKindCancelled, "stopping: durable: cancelled", false)})},
		{name: "plain/panic/retried", decide: afterRun(dPlain, row0, failed(panicked)),
			want: tried(row0, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Attempt: 1, Delay: time.Second, Error: panicInfo})},
		{name: "plain/panic/retries exhausted", decide: afterRun(dPlain, last, failed(panicked)),
			want: tried(last, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed, Attempt: 2, Error: panicInfo})},
		{name: "plain/timeout/retried", decide: afterRun(dPlain, row0, failed(timeoutError(row0))),
			want: tried(row0, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Attempt: 1, Delay: time.Second, Error: timeoutInfo})},
		{name: "plain/timeout/last attempt", decide: afterRun(dPlain, last, failed(timeoutError(last))),
			want: tried(last, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sTimedOut, Attempt: 2, Error: timeoutInfo})},
		{name: "plain/timeout/no retry policy", decide: afterRun(dPlain, noPolicy, failed(timeoutError(noPolicy))),
			want: tried(noPolicy, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sTimedOut, Error: timeoutInfo})},
		{name: "plain/failure/jitter draws from random", decide: func(dc decider) (storage.Transition, bool) {
			row := running(dPlain, 0, 0)
			row.Retry.Jitter = 0.5
			return dc.afterRun(dPlain, row, ran{res: runResult{err: errors.New("boom")}, random: 0, finished: finished}), true
		},
			want: tried(running(dPlain, 0, 0), storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Attempt: 1, Delay: 500 * time.Millisecond,
				Error: info(storage.ErrorKindGeneric, "boom", true)})},
	}
}

func loopCases() []decideCase {
	first := running(dLoop, 0, 0)
	middle := running(dLoop, 0, 1)
	lastIter := running(dLoop, 0, 2) // MaxIterations 3
	retried := running(dLoop, 1, 1)
	exhausted := running(dLoop, 2, 1)
	big := `"` + strings.Repeat("x", 400) + `"`

	return []decideCase{
		{name: "loop/continue", decide: afterRun(dLoop, first, ran{}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Iteration: 1, Delay: time.Second}},
		{name: "loop/continue resets the attempt", decide: afterRun(dLoop, retried, ran{}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Iteration: 2, Delay: time.Second}},
		{name: "loop/continue/DelayFunc", decide: afterRun(dLoopF, running(dLoopF, 0, 3), ran{}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Iteration: 4, Delay: 4 * time.Minute}},
		{name: "loop/done", decide: afterRun(dLoop, middle, ran{res: runResult{output: []byte(`"found"`), done: true}}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sDone, Iteration: 1,
				Output: []byte(`{"done":true,"output":"found","iterations":2}`)}},
		{name: "loop/last iteration not done", decide: afterRun(dLoop, lastIter, ran{}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sDone, Iteration: 2,
				Output: []byte(`{"done":false,"output":null,"iterations":3}`)}},
		{name: "loop/done on the last iteration", decide: afterRun(dLoop, lastIter, ran{res: runResult{output: []byte(`1`), done: true}}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sDone, Iteration: 2,
				Output: []byte(`{"done":true,"output":1,"iterations":3}`)}},
		{name: "loop/fail/retried within the iteration", decide: afterRun(dLoop, retried, failed(errors.New("boom"))),
			want: tried(retried, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Attempt: 2, Iteration: 1, Delay: 2 * time.Second,
				Error: info(storage.ErrorKindGeneric, "looping task loop: iteration 1: boom", true)})},
		{name: "loop/fail/retries exhausted fails the loop", decide: afterRun(dLoop, exhausted, failed(errors.New("boom"))),
			want: tried(exhausted, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed, Attempt: 2, Iteration: 1,
				Error: info(storage.ErrorKindGeneric, "looping task loop: iteration 1: boom", true)})},
		{name: "loop/fail/timeout on the last attempt", decide: afterRun(dLoop, exhausted, failed(timeoutError(exhausted))),
			want: tried(exhausted, storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sTimedOut, Attempt: 2, Iteration: 1,
				Error: info(storage.ErrorKindTimedOut, "looping task loop: iteration 1: task loop: attempt timed out after 1m0s", true)})},
		{name: "loop/done/LoopOutput too large", decide: afterRun(dLoop, middle, ran{res: runResult{output: []byte(big), done: true}}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed, Iteration: 1,
				Error: info(storage.ErrorKindPayloadTooLarge, "looping task loop: iteration 1: payload too large: output of task loop is 440 bytes encoded, over the limit of 300", false)}},
	}
}

func parentRunCases() []decideCase {
	row := running(dParent, 1, 0)
	rowFin := running(dParentFin, 0, 0)
	kids := spawned{
		rows:   []storage.Execution{{ID: "te_c0", TaskID: "plain", ParentID: rowID}, {ID: "te_c1", TaskID: "plain", ParentID: rowID, ChildIndex: 1}},
		delays: []time.Duration{0, time.Minute},
	}
	none := spawned{rows: []storage.Execution{}, delays: []time.Duration{}}
	out := []byte(`{"p":1}`)
	finRow := storage.Execution{ID: "te_new1", TaskID: "fin", Status: sReady, Timeout: 30 * time.Second,
		Input:  []byte(`{"output":{"p":1},"children":[]}`),
		RootID: rowID, RootTaskID: "parf", ParentID: rowID, ParentTaskID: "parf", IsFinalize: true}
	invalid := spawned{err: childError(dParent, 1, Child{d: dPlain}, fmt.Errorf("%w: task plain: no", ErrInvalidInput))}
	nilTask := spawned{err: childError(dParent, 0, Child{}, fmt.Errorf("%w: nil task", ErrUnknownTask))}

	return []decideCase{
		{name: "parent/spawn/fail fast without finalize", decide: afterRun(dParent, row, ran{res: runResult{output: out}, children: kids}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sWaitCh, RunOutput: out, Attempt: 1, FailFast: true,
				Children: kids.rows, ChildDelays: kids.delays}},
		{name: "parent/spawn/all settled with finalize", decide: afterRun(dParentFin, rowFin, ran{res: runResult{output: out}, children: kids}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sWaitCh, RunOutput: out,
				Children: kids.rows, ChildDelays: kids.delays}},
		{name: "parent/spawn/no children completes", decide: afterRun(dParent, row, ran{res: runResult{output: out}, children: none}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sDone, Attempt: 1,
				Output: []byte(`{"output":{"p":1},"children":[]}`)}},
		{name: "parent/spawn/no children spawns the finalize", decide: afterRun(dParentFin, rowFin, ran{res: runResult{output: out}}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sWaitFin, RunOutput: out,
				Children: []storage.Execution{finRow}}},
		{name: "parent/spawn/invalid child fails without retry", decide: afterRun(dParent, running(dParent, 0, 0), ran{res: runResult{output: out}, children: invalid}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindInvalidInput, "task par: child 1 (plain): durable: invalid input: task plain: no", false)}},
		{name: "parent/spawn/child without a task", decide: afterRun(dParent, running(dParent, 0, 0), ran{children: nilTask}),
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindUnknownTask, "task par: child 0 (<nil>): durable: task not registered: nil task", false)}},
		{name: "parent/spawn/too many children", decide: func(dc decider) (storage.Transition, bool) {
			return dc.afterRun(dParent, running(dParent, 0, 0), ran{children: spawned{err: dc.tooManyChildren(dParent, 3)}}), true
		},
			want: storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sFailed,
				Error: info(storage.ErrorKindTooManyChildren, "task par spawned 3 children, over the limit of 2", false)}},
		{name: "parent/run failed/retried", decide: afterRun(dParent, running(dParent, 0, 0), failed(errors.New("boom"))),
			want: tried(running(dParent, 0, 0), storage.Transition{ID: rowID, Fence: fence, From: sRunning, To: sReady, Attempt: 1, Delay: time.Second,
				Error: info(storage.ErrorKindGeneric, "boom", true)})},
	}
}

func childrenCases() []decideCase {
	boom := info(storage.ErrorKindGeneric, "boom", true)
	ok0 := child(0, sDone, `"a"`, nil)
	ok1 := child(1, sDone, `"b"`, nil)
	failed1 := child(1, sFailed, "", boom)
	cancelled0 := child(0, sCanc, "", nil)
	running1 := child(1, sRunning, "", nil)
	big := child(1, sDone, `"`+strings.Repeat("x", 400)+`"`, nil)
	nested := waiting(dParentFin, sWaitCh, 2, 0, false)
	nested.RootID, nested.RootTaskID = "te_root", "top"
	finInput := `{"output":{"n":1},"children":[{"task_id":"plain","execution_id":"te_c0","index":0,"status":"completed","output":"a"},` +
		`{"task_id":"plain","execution_id":"te_c1","index":1,"status":"failed","error":{"Kind":"generic","Message":"boom","Retryable":true,"Stack":""}}]}`
	finRow := storage.Execution{ID: "te_new1", TaskID: "fin", Status: sReady, Timeout: 30 * time.Second, Input: []byte(finInput),
		RootID: rowID, RootTaskID: "parf", ParentID: rowID, ParentTaskID: "parf", ChildIndex: 2, IsFinalize: true}
	nestedFin := finRow
	nestedFin.RootID, nestedFin.RootTaskID = "te_root", "top"

	return []decideCase{
		{name: "children/all completed", decide: childrenDone(dParent, waiting(dParent, sWaitCh, 2, 0, true), ok0, ok1),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sDone, Attempt: 1,
				Output: []byte(`{"output":{"n":1},"children":[{"task_id":"plain","execution_id":"te_c0","index":0,"status":"completed","output":"a"},` +
					`{"task_id":"plain","execution_id":"te_c1","index":1,"status":"completed","output":"b"}]}`)}},
		{name: "children/one failed, fail fast", decide: childrenDone(dParent, waiting(dParent, sWaitCh, 2, 0, true), ok0, failed1),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sChFailed, Attempt: 1,
				Error: info(storage.ErrorKindChildrenFailed, "task par: child 1 (plain te_c1) ended failed: boom", false)}},
		{name: "children/one cancelled, others pending, fail fast", decide: childrenDone(dParent, waiting(dParent, sWaitCh, 2, 1, true), cancelled0, running1),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sChFailed, Attempt: 1,
				Error: info(storage.ErrorKindChildrenFailed, "task par: child 0 (plain te_c0) ended cancelled: no error recorded", false)}},
		{name: "children/pending, no failure: nothing yet", decide: childrenDone(dParent, waiting(dParent, sWaitCh, 2, 1, true), ok0, running1), none: true},
		{name: "children/one failed with finalize, pending: nothing yet", decide: childrenDone(dParentFin, waiting(dParentFin, sWaitCh, 2, 1, false), cancelled0, running1), none: true},
		{name: "children/one failed with finalize spawns it", decide: childrenDone(dParentFin, waiting(dParentFin, sWaitCh, 2, 0, false), ok0, failed1),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sWaitFin, Attempt: 1, RunOutput: []byte(`{"n":1}`),
				Children: []storage.Execution{finRow}}},
		{name: "children/finalize keeps the root", decide: childrenDone(dParentFin, nested, ok0, failed1),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sWaitFin, Attempt: 1, RunOutput: []byte(`{"n":1}`),
				Children: []storage.Execution{nestedFin}}},
		{name: "children/missing from storage", decide: childrenDone(dParent, waiting(dParent, sWaitCh, 3, 0, true), ok0, ok1),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sFailed, Attempt: 1,
				Error: info(storage.ErrorKindNotFound, "task par: 1 of its 3 children are missing from storage", false)}},
		{name: "children/ParentOutput too large", decide: childrenDone(dParent, waiting(dParent, sWaitCh, 2, 0, true), ok0, big),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sFailed, Attempt: 1,
				Error: info(storage.ErrorKindPayloadTooLarge, "payload too large: output of task par is 604 bytes encoded, over the limit of 300", false)}},
		{name: "children/finalize input too large", decide: childrenDone(dParentFin, waiting(dParentFin, sWaitCh, 2, 0, false), ok0, big),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sFailed, Attempt: 1,
				Error: info(storage.ErrorKindPayloadTooLarge, "payload too large: finalize input of task parf is 604 bytes encoded, over the limit of 300", false)}},
	}
}

func finalizeCases() []decideCase {
	row := waiting(dParentFin, sWaitFin, 3, 0, false)
	fin := storage.Execution{ID: "te_new1", TaskID: "fin", Status: sDone, Output: []byte(`{"sum":3}`), ChildIndex: 2, IsFinalize: true}
	finFailed := fin
	finFailed.Status, finFailed.Output, finFailed.Error = sFailed, nil, info(storage.ErrorKindGeneric, "no sum", true)
	finTimedOut := fin
	finTimedOut.Status, finTimedOut.Output, finTimedOut.Error = sTimedOut, nil, info(storage.ErrorKindTimedOut, "task fin: attempt timed out after 30s", true)
	finCancelled := fin
	finCancelled.Status, finCancelled.Output = sCanc, nil

	return []decideCase{
		{name: "finalize/completed", decide: finalizeDone(dParentFin, row, fin),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitFin, To: sDone, Attempt: 1, Output: []byte(`{"sum":3}`)}},
		{name: "finalize/failed", decide: finalizeDone(dParentFin, row, finFailed),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitFin, To: sFinFail, Attempt: 1,
				Error: info(storage.ErrorKindFinalizeFailed, "task parf: finalize fin (te_new1) ended failed: no sum", true)}},
		{name: "finalize/timed out", decide: finalizeDone(dParentFin, row, finTimedOut),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitFin, To: sFinFail, Attempt: 1,
				Error: info(storage.ErrorKindFinalizeFailed, "task parf: finalize fin (te_new1) ended timed_out: task fin: attempt timed out after 30s", true)}},
		{name: "finalize/cancelled", decide: finalizeDone(dParentFin, row, finCancelled),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitFin, To: sFinFail, Attempt: 1,
				Error: info(storage.ErrorKindFinalizeFailed, "task parf: finalize fin (te_new1) ended cancelled: no error recorded", false)}},
	}
}

func sequenceCases() []decideCase {
	row := func(total int) storage.Execution { return waiting(dSeq, sWaitCh, total, 0, true) }
	step := func(i int, status storage.Status, output string, e *storage.ErrorInfo) storage.Execution {
		s := child(i, status, output, e)
		s.TaskID = dSeq.steps[i].id
		return s
	}
	sleepStep := storage.Execution{ID: "te_new1", TaskID: "sleeper", Status: sRunning, SleepKey: "order-3", Timeout: time.Hour,
		RootID: rowID, RootTaskID: "seq", ParentID: rowID, ParentTaskID: "seq", ChildIndex: 1}
	lastStep := storage.Execution{ID: "te_new1", TaskID: "step_c", Status: sReady, Input: []byte(`{"x":1}`), Timeout: time.Minute,
		RootID: rowID, RootTaskID: "seq", ParentID: rowID, ParentTaskID: "seq", ChildIndex: 2}

	return []decideCase{
		{name: "sequence/next step (sleeping: the output is its key)", decide: stepDone(dSeq, row(1), step(0, sDone, `"order-3"`, nil)),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sWaitCh, Attempt: 1, RunOutput: []byte(`{"n":1}`), FailFast: true,
				Children: []storage.Execution{sleepStep}}},
		{name: "sequence/next step takes the output", decide: stepDone(dSeq, row(2), step(1, sDone, `{"x":1}`, nil)),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sWaitCh, Attempt: 1, RunOutput: []byte(`{"n":1}`), FailFast: true,
				Children: []storage.Execution{lastStep}}},
		{name: "sequence/last step completes it", decide: stepDone(dSeq, row(3), step(2, sDone, `"end"`, nil)),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sDone, Attempt: 1, Output: []byte(`"end"`)}},
		{name: "sequence/step failed", decide: stepDone(dSeq, row(1), step(0, sFailed, "", info(storage.ErrorKindGeneric, "boom", true))),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sFinFail, Attempt: 1,
				Error: info(storage.ErrorKindFinalizeFailed, "sequence seq: step 0 (step_a te_c0) ended failed: boom", true)}},
		{name: "sequence/step cancelled", decide: stepDone(dSeq, row(2), step(1, sCanc, "", nil)),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sFinFail, Attempt: 1,
				Error: info(storage.ErrorKindFinalizeFailed, "sequence seq: step 1 (sleeper te_c1) ended cancelled: no error recorded", false)}},
		{name: "sequence/next step's key is not a string", decide: stepDone(dSeq, row(1), step(0, sDone, `42`, nil)),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sFinFail, Attempt: 1,
				Error: info(storage.ErrorKindGeneric, "sequence seq: step 1 (sleeper) is a sleeping task and needs a string key: "+jsonStringError(`42`), false)}},
		{name: "sequence/next step's key is too long", decide: stepDone(dSeq, row(1), step(0, sDone, `"`+strings.Repeat("k", 256)+`"`, nil)),
			want: storage.Transition{ID: rowID, Fence: fence, From: sWaitCh, To: sFinFail, Attempt: 1,
				Error: info(storage.ErrorKindInvalidInput, "sequence seq: step 1 (sleeper): durable: invalid input: sleeping key must be 1..255 bytes, got 256", false)}},
	}
}

// TestDecisions checks the whole transition each decision returns, for
// every kind of task and every outcome.
func TestDecisions(t *testing.T) {
	var cases []decideCase
	for _, group := range [][]decideCase{claimCases(), plainRunCases(), loopCases(), parentRunCases(),
		childrenCases(), finalizeCases(), sequenceCases()} {
		cases = append(cases, group...)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dc := decider{crashBudget: 3, maxChildren: 2, maxPayload: 300, codec: JSONCodec{}, ids: &countingIDs{}}
			got, ok := c.decide(dc)
			if ok == c.none {
				t.Fatalf("decided %v, want %v (transition %s)", ok, !c.none, show(got))
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("transition\n got %s\nwant %s", show(got), show(c.want))
			}
		})
	}
}

// show prints a transition with its pointers followed and its bytes as text.
func show(tr storage.Transition) string {
	type row struct {
		storage.Execution
		Input, Output, RunOutput string
	}
	v := struct {
		storage.Transition
		Output, RunOutput string
		Error             any
		Children          []row
	}{Transition: tr, Output: string(tr.Output), RunOutput: string(tr.RunOutput), Error: tr.Error}
	if tr.Error != nil {
		v.Error = *tr.Error
	}
	for _, c := range tr.Children {
		r := row{Input: string(c.Input), Output: string(c.Output), RunOutput: string(c.RunOutput)}
		r.Execution, r.Execution.Input, r.Execution.Output, r.Execution.RunOutput = c, nil, nil, nil
		v.Children = append(v.Children, r)
	}
	v.Transition.Output, v.Transition.RunOutput, v.Transition.Error, v.Transition.Children = nil, nil, nil, nil
	return fmt.Sprintf("%+v", v)
}

// TestRetryDelay checks the retry delay's backoff, cap and jitter bounds.
func TestRetryDelay(t *testing.T) {
	doubling := storage.RetryPolicy{BaseDelay: time.Second, Multiplier: 2, MaxDelay: 30 * time.Second}
	jittered := storage.RetryPolicy{BaseDelay: 10 * time.Second, Jitter: 0.2}
	for _, c := range []struct {
		name   string
		p      storage.RetryPolicy
		k      int
		random float64
		want   time.Duration
	}{
		{"backoff/first", doubling, 0, 0.5, time.Second},
		{"backoff/second", doubling, 1, 0.5, 2 * time.Second},
		{"backoff/fifth", doubling, 4, 0.5, 16 * time.Second},
		{"backoff/capped by MaxDelay", doubling, 5, 0.5, 30 * time.Second},
		{"backoff/stays at MaxDelay", doubling, 50, 0.5, 30 * time.Second},
		{"multiplier 0 means 1", storage.RetryPolicy{BaseDelay: time.Second}, 7, 0.5, time.Second},
		{"multiplier 10", storage.RetryPolicy{BaseDelay: time.Millisecond, Multiplier: 10}, 3, 0.5, time.Second},
		{"no MaxDelay: capped at 48h", storage.RetryPolicy{BaseDelay: time.Hour, Multiplier: 10}, 3, 0.5, 48 * time.Hour},
		{"zero BaseDelay", storage.RetryPolicy{Multiplier: 2, Jitter: 1}, 3, 0.9, 0},
		{"jitter/lowest", jittered, 0, 0, 8 * time.Second},
		{"jitter/middle", jittered, 0, 0.5, 10 * time.Second},
		{"jitter/three quarters", jittered, 0, 0.75, 11 * time.Second},
		{"jitter/below the highest", jittered, 0, 0.999999, 11999996000 * time.Nanosecond},
		{"jitter 1/lowest is 0", storage.RetryPolicy{BaseDelay: time.Second, Jitter: 1}, 0, 0, 0},
		{"jitter after the cap", storage.RetryPolicy{BaseDelay: time.Second, Multiplier: 2, MaxDelay: 4 * time.Second, Jitter: 0.5}, 9, 0, 2 * time.Second},
		{"jitter cannot pass 48h", storage.RetryPolicy{BaseDelay: time.Hour, Multiplier: 10, Jitter: 1}, 4, 0.999, 48 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := retryDelay(c.p, c.k, c.random); got != c.want {
				t.Errorf("retryDelay(%+v, %d, %v) = %s, want %s", c.p, c.k, c.random, got, c.want)
			}
		})
	}
}

// TestPlainSuccessAllocatesNothing guards the hot path: deciding a plain
// task's success allocates nothing.
func TestPlainSuccessAllocatesNothing(t *testing.T) {
	dc := decider{crashBudget: 3, maxChildren: 2, maxPayload: 300, codec: JSONCodec{}, ids: &countingIDs{}}
	row := running(dPlain, 0, 0)
	r := ran{res: runResult{output: []byte(`"ok"`)}}
	var tr storage.Transition
	if n := testing.AllocsPerRun(100, func() {
		if _, ok := dc.claimed(dPlain, row); ok {
			t.Fatal("a plain running row was decided at claim")
		}
		tr = dc.afterRun(dPlain, row, r)
	}); n != 0 {
		t.Errorf("claimed + afterRun of a plain success: %v allocations, want 0", n)
	}
	if tr.To != storage.StatusCompleted {
		t.Errorf("To = %s, want completed", tr.To)
	}
}

// TestAppendAttemptBounded checks the attempt history's bound: past
// storage.MaxAttempts it keeps the first attempt and the latest others,
// and it never writes into the history it was given.
func TestAppendAttemptBounded(t *testing.T) {
	var history []storage.Attempt
	for i := range 3 * storage.MaxAttempts {
		before := slices.Clone(history)
		next := appendAttempt(history, storage.Attempt{Attempt: i})
		if !reflect.DeepEqual(history, before) {
			t.Fatalf("attempt %d: the given history changed", i)
		}
		want := min(i+1, storage.MaxAttempts)
		if len(next) != want {
			t.Fatalf("attempt %d: history of %d, want %d", i, len(next), want)
		}
		if next[0].Attempt != 0 || next[len(next)-1].Attempt != i {
			t.Fatalf("attempt %d: history runs from %d to %d, want 0 to %d", i, next[0].Attempt, next[len(next)-1].Attempt, i)
		}
		if i >= storage.MaxAttempts && next[1].Attempt != i-storage.MaxAttempts+2 {
			t.Fatalf("attempt %d: second entry is attempt %d, want %d", i, next[1].Attempt, i-storage.MaxAttempts+2)
		}
		history = next
	}
}
