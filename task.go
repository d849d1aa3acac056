package durable

import (
	"context"
	"fmt"
	"reflect"

	"github.com/durable-go/durable/storage"
)

type taskKind int

const (
	kindPlain taskKind = iota
	kindParent
	kindSequence
	kindLoop
	kindSleeping
)

func (k taskKind) String() string {
	return [...]string{"task", "parent task", "sequence", "looping task", "sleeping task"}[k]
}

// runResult is what invoking a task's function produced, still encoded.
type runResult struct {
	output   []byte  // plain: output; parent: its own output; loop: output when done
	children []Child // parent
	done     bool    // loop
	err      error
}

// taskDef is the untyped registered definition behind every task handle.
type taskDef struct {
	id       string
	kind     taskKind
	defaults runOptions
	validate func(any) error
	keyOf    func(any) string
	inType   reflect.Type
	outType  reflect.Type

	// invoke decodes the input and calls the user's function.
	invoke func(ctx context.Context, input []byte) runResult
	// encodeInput encodes an input value of inType (after validation).
	encodeInput func(v any) ([]byte, error)

	// outputWhat names the output in errors ("output of task x").
	outputWhat string

	finalize *taskDef   // parent with finalize
	steps    []*taskDef // sequence
	loop     LoopOptions
}

// TaskRef is implemented by every task handle (*Task, *SleepingTask); it
// lets sequences list members of different types.
type TaskRef interface {
	def() *taskDef
}

// Task is a registered task whose runs take an I and produce an O.
type Task[I, O any] struct {
	ex *Executor
	d  *taskDef
}

func (t *Task[I, O]) def() *taskDef {
	if t == nil {
		return nil
	}
	return t.d
}

// ID returns the task id ("" on a nil or zero *Task).
func (t *Task[I, O]) ID() string {
	if t.def() == nil {
		return ""
	}
	return t.d.id
}

// check returns the error of a method called on a nil or zero *Task (one
// not made by a constructor, or kept from a constructor that failed).
func (t *Task[I, O]) check() error {
	if t.def() == nil || t.ex == nil {
		return unusableTask(t)
	}
	return nil
}

// unusableTask is the error of using a nil or zero task handle t.
func unusableTask(t any) error {
	state := "zero"
	if reflect.ValueOf(t).IsNil() {
		state = "nil"
	}
	return fmt.Errorf("%w: %s %T: a task is made by NewTask, NewParentTask, NewLoopTask, NewSequence or NewSleepingTask (was an error ignored?)",
		ErrUnknownTask, state, t)
}

// Must panics if err is not nil and returns v otherwise. It is for task
// registration at program start, where an error is a programming mistake:
//
//	task := durable.Must(durable.NewTask(ex, "send_email", send))
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// NewTask registers a plain task: fn runs once per attempt and its return
// value is the execution's output. A returned error fails the attempt; it is
// retried per the retry policy unless wrapped with NonRetryable.
func NewTask[I, O any](ex *Executor, id string, fn func(ctx context.Context, in I) (O, error), opts ...TaskOption) (*Task[I, O], error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: task %q: nil function", ErrInvalidTask, id)
	}
	d, err := newDef[I, O](ex, id, kindPlain, opts)
	if err != nil {
		return nil, err
	}
	d.invoke = invoker(ex, d, fn, func(out O) runResult {
		b, err := ex.encodePayload(out, d.outputWhat)
		return runResult{output: b, err: err}
	})
	return register[I, O](ex, d)
}

func newDef[I, O any](ex *Executor, id string, kind taskKind, opts []TaskOption) (*taskDef, error) {
	if ex == nil {
		return nil, alsoIs(fmt.Errorf("%w: task %q: nil executor", ErrInvalidTask, id), ErrInvalidOption)
	}
	if !validTaskID(id) {
		return nil, fmt.Errorf("%w: task id %q must match [A-Za-z0-9_]{1,255}", ErrInvalidTask, id)
	}
	o, err := buildTaskOptions(opts)
	if err != nil {
		return nil, alsoIs(fmt.Errorf("%w: task %s: %w", ErrInvalidTask, id, err), ErrInvalidOption)
	}
	d := &taskDef{id: id, kind: kind, defaults: o.runOptions, validate: o.validate, keyOf: o.keyOf,
		inType: typeOf[I](), outType: typeOf[O]()}
	d.outputWhat = "output of task " + id
	inputWhat := "input of task " + id
	d.encodeInput = func(v any) ([]byte, error) {
		return ex.encodePayload(v, inputWhat)
	}
	return d, nil
}

func register[I, O any](ex *Executor, d *taskDef) (*Task[I, O], error) {
	if err := ex.register(d); err != nil {
		return nil, err
	}
	return &Task[I, O]{ex: ex, d: d}, nil
}

func validTaskID(id string) bool {
	if len(id) == 0 || len(id) > 255 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// invoker builds a definition's invoke: decode the stored input, call fn,
// and let finish encode what it returned.
func invoker[I, R any](ex *Executor, d *taskDef, fn func(context.Context, I) (R, error), finish func(R) runResult) func(context.Context, []byte) runResult {
	return func(ctx context.Context, input []byte) runResult {
		in, err := decodeInput[I](ex, d, input)
		if err != nil {
			return runResult{err: err}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return runResult{err: err}
		}
		return finish(out)
	}
}

func decodeInput[I any](ex *Executor, d *taskDef, input []byte) (I, error) {
	var in I
	if err := ex.decode(input, &in); err != nil {
		return in, NonRetryable(&ExecutionError{Kind: storage.ErrorKindEncoding,
			Message: fmt.Sprintf("task %s: cannot decode stored input: %v", d.id, err)})
	}
	return in, nil
}
