package durabletest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// Filter selects executions for Env.Executions. Its zero fields match
// anything.
type Filter struct {
	// TaskID matches the execution's task.
	TaskID string
	// Status matches the execution's status now.
	Status durable.Status
	// ParentID matches the children of one execution (a finalize and a
	// sequence's steps are its children too).
	ParentID string
	// RootID matches every execution of one tree but its root.
	RootID string
}

func (f Filter) match(r *storage.Execution) bool {
	return (f.TaskID == "" || r.TaskID == f.TaskID) && (f.Status == "" || r.Status == f.Status) &&
		(f.ParentID == "" || r.ParentID == f.ParentID) && (f.RootID == "" || r.RootID == f.RootID)
}

// Executions returns the executions stored since the env was made (by
// Enqueue, and as children, finalizes and sequence steps) that match f,
// in the order they were stored, as they are now. Their Input and Output
// are encoded by the executor's codec (JSON unless Config.Codec says
// otherwise); EnqueuedOf decodes them.
func (e *Env) Executions(f Filter) []storage.Execution {
	var out []storage.Execution
	for _, r := range e.rows() {
		if f.match(&r) {
			out = append(out, r)
		}
	}
	return out
}

// Describe returns a table of every execution stored since the env was
// made: id, task, status, attempt (from 1), iteration, when it is next
// due and its parent (times as offsets from the env's start), and its
// error. The env logs it at the end of a failed test.
func (e *Env) Describe() string { return e.describe(e.rows(), 0) }

// Enqueued is one stored execution of a task, as EnqueuedOf and
// RequireEnqueued return it.
type Enqueued[I, O any] struct {
	// Input is the execution's input, decoded.
	Input I
	// Execution is the execution as it is now: its status, output (once
	// completed), error, attempt and so on.
	Execution durable.Execution[O]
	// Handle refers to the execution: for RequireOutcome, Wait, Cancel.
	Handle *durable.Handle[O]
}

// EnqueuedOf returns every stored execution of task (enqueued by the test
// or by a task, spawned as a child), in the order stored, with its input
// decoded. It fails the test if an input cannot be decoded.
func EnqueuedOf[I, O any](tb TB, env *Env, task *durable.Task[I, O]) []Enqueued[I, O] {
	tb.Helper()
	out, err := enqueuedOf(env, task)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return out
}

func enqueuedOf[I, O any](env *Env, task *durable.Task[I, O]) ([]Enqueued[I, O], error) {
	if task == nil || task.ID() == "" {
		return nil, fmt.Errorf("durabletest: a nil or zero task")
	}
	ctx := context.Background()
	var out []Enqueued[I, O]
	for _, r := range env.Executions(Filter{TaskID: task.ID()}) {
		var x Enqueued[I, O]
		if err := env.codec.Decode(r.Input, &x.Input); err != nil {
			return nil, fmt.Errorf("durabletest: decoding the input of execution %s of %s as %T: %w", r.ID, task.ID(), x.Input, err)
		}
		h, err := task.Handle(ctx, r.ID)
		if err != nil {
			return nil, fmt.Errorf("durabletest: %w", err)
		}
		if x.Execution, err = h.Get(ctx); err != nil {
			return nil, fmt.Errorf("durabletest: %w", err)
		}
		x.Handle = h
		out = append(out, x)
	}
	return out, nil
}

// RequireEnqueued asserts that exactly one stored execution of task has
// the input want, compared with reflect.DeepEqual after both went through
// the executor's codec (so that what the codec does not keep, such as a
// time's monotonic reading, does not count), and returns it. The failure
// lists the inputs of the task's executions.
func RequireEnqueued[I, O any](tb TB, env *Env, task *durable.Task[I, O], want I) Enqueued[I, O] {
	tb.Helper()
	all, err := enqueuedOf(env, task)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	norm, err := roundTrip(env.codec, want)
	if err != nil {
		tb.Fatalf("durabletest: RequireEnqueued: encoding the input wanted: %v", err)
	}
	var match []Enqueued[I, O]
	for _, x := range all {
		if reflect.DeepEqual(x.Input, norm) {
			match = append(match, x)
		}
	}
	if len(match) != 1 {
		tb.Fatalf("durabletest: RequireEnqueued: %d executions of %s with input %+v, want 1; the task's executions:\n%s",
			len(match), task.ID(), want, listInputs(all))
	}
	return match[0]
}

// RequireEnqueuedN asserts that task has exactly n stored executions and
// returns them, in the order stored.
func RequireEnqueuedN[I, O any](tb TB, env *Env, task *durable.Task[I, O], n int) []Enqueued[I, O] {
	tb.Helper()
	all, err := enqueuedOf(env, task)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	if len(all) != n {
		tb.Fatalf("durabletest: RequireEnqueuedN: %d executions of %s, want %d:\n%s", len(all), task.ID(), n, listInputs(all))
	}
	return all
}

// RequireNotEnqueued asserts that no execution of the task with that id
// (a *durable.Task or a *durable.SleepingTask) has been stored.
func RequireNotEnqueued(tb TB, env *Env, task interface{ ID() string }) {
	tb.Helper()
	if rows := env.Executions(Filter{TaskID: task.ID()}); len(rows) > 0 {
		tb.Fatalf("durabletest: RequireNotEnqueued: %d executions of %s:\n%s", len(rows), task.ID(), env.describe(rows, describeLimit))
	}
}

func listInputs[I, O any](all []Enqueued[I, O]) string {
	if len(all) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for i, x := range all {
		if i > 0 {
			b.WriteByte('\n')
		}
		if i == describeLimit {
			fmt.Fprintf(&b, "  ... and %d more", len(all)-i)
			break
		}
		fmt.Fprintf(&b, "  %s (%s): %+v", x.Execution.ID, x.Execution.Status, x.Input)
	}
	return b.String()
}

// roundTrip returns v as the codec gives it back.
func roundTrip[T any](c durable.Codec, v T) (T, error) {
	var out T
	b, err := c.Encode(v)
	if err != nil {
		return out, err
	}
	err = c.Decode(b, &out)
	return out, err
}

// Outcome is how an execution ended, for RequireOutcome. Its zero fields
// are not checked.
type Outcome struct {
	// Status is the status wanted; empty means any terminal status.
	Status durable.Status
	// Err is a sentinel the execution's error must match with errors.Is:
	// the sentinel of its kind (durable.ErrTimedOut, ErrCancelled,
	// ErrChildrenFailed, ...).
	Err error
	// ErrKind is the kind the execution's error must have (for a kind
	// without a sentinel, such as storage.ErrorKindGeneric: an error the
	// task returned).
	ErrKind storage.ErrorKind
	// ErrContains must be in the error's message.
	ErrContains string
	// Attempts is the attempt the execution ended on, counted from 1
	// (Execution.Attempt + 1): 3 means it ran three times, two of them
	// retries. For a looping task, the attempts of its last iteration.
	Attempts int
}

// RequireOutcome asserts that h's execution is as want says, without
// waiting (run the env first), and returns it. The failure says what the
// execution is instead: its status, attempt and error.
func RequireOutcome[O any](tb TB, h *durable.Handle[O], want Outcome) durable.Execution[O] {
	tb.Helper()
	x, err := h.Get(context.Background())
	if err != nil {
		tb.Fatalf("durabletest: RequireOutcome: %v", err)
	}
	if problem := want.check(x.Status, x.Err, x.Attempt); problem != "" {
		tb.Fatalf("durabletest: execution %s of %s: %s; it is %s", x.ID, x.TaskID, problem, summary(x))
	}
	return x
}

// RequireCompleted asserts that h's execution has completed, without
// waiting (run the env first), and returns its output.
func RequireCompleted[O any](tb TB, h *durable.Handle[O]) O {
	tb.Helper()
	return RequireOutcome(tb, h, Outcome{Status: durable.StatusCompleted}).Output
}

func (want Outcome) check(status durable.Status, xerr *durable.ExecutionError, attempt int) string {
	var problems []string
	switch {
	case want.Status == "" && !status.Terminal():
		problems = append(problems, "want it finished (did the env run? RunUntilIdle)")
	case want.Status != "" && status != want.Status:
		problems = append(problems, fmt.Sprintf("want status %s", want.Status))
	}
	if want.Err != nil && !errors.Is(xerr, want.Err) {
		problems = append(problems, fmt.Sprintf("want an error matching %q", want.Err))
	}
	if want.ErrKind != "" && (xerr == nil || xerr.Kind != want.ErrKind) {
		problems = append(problems, fmt.Sprintf("want an error of kind %s", want.ErrKind))
	}
	if want.ErrContains != "" && (xerr == nil || !strings.Contains(xerr.Message, want.ErrContains)) {
		problems = append(problems, fmt.Sprintf("want an error containing %q", want.ErrContains))
	}
	if want.Attempts != 0 && attempt+1 != want.Attempts {
		problems = append(problems, fmt.Sprintf("want it ended on attempt %d", want.Attempts))
	}
	return strings.Join(problems, ", ")
}

func summary[O any](x durable.Execution[O]) string {
	s := fmt.Sprintf("%s on attempt %d", x.Status, x.Attempt+1)
	if x.Iteration > 0 {
		s += fmt.Sprintf(", iteration %d", x.Iteration)
	}
	if x.Err != nil {
		s += fmt.Sprintf(", error %s: %q", x.Err.Kind, x.Err.Message)
	}
	if x.Status == durable.StatusCompleted {
		s += fmt.Sprintf(", output %+v", x.Output)
	}
	return s
}
