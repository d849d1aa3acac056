package durable

import (
	"context"
	"fmt"
)

// Spawn is what a parent task's function returns: its own output and the
// children to run, in parallel, after it returns.
type Spawn[O any] struct {
	Output   O
	Children []Child
}

// Child is one child to spawn (or one item of a mixed batch enqueue). Build
// it with ChildOf or SleepingTask.Child.
type Child struct {
	d        *taskDef
	input    any
	sleepKey string
	opts     []EnqueueOption
}

// ChildOf declares a child execution of task t with input in. With a nil
// or zero t it returns a Child without a task, which the enqueue or spawn
// that uses it refuses with ErrUnknownTask.
func ChildOf[I, O any](t *Task[I, O], in I, opts ...EnqueueOption) Child {
	if t.def() == nil {
		return Child{}
	}
	return Child{d: t.d, input: in, opts: opts}
}

// ChildResult is one child's outcome, as a finalize or a parent's output
// sees it, in declaration order.
type ChildResult struct {
	TaskID      string          `json:"task_id"`
	ExecutionID string          `json:"execution_id"`
	Index       int             `json:"index"`
	Status      Status          `json:"status"`
	Output      Raw             `json:"output,omitempty"`
	Error       *ExecutionError `json:"error,omitempty"`
	codec       Codec
}

// Decode decodes a completed child's output into v.
func (r ChildResult) Decode(v any) error {
	if r.Status != StatusCompleted {
		return fmt.Errorf("child %s (%s) did not complete: %s", r.ExecutionID, r.TaskID, r.Status)
	}
	c := r.codec
	if c == nil {
		c = JSONCodec{}
	}
	return c.Decode(r.Output, v)
}

// ChildOutput decodes a completed child's output as a T.
func ChildOutput[T any](r ChildResult) (T, error) {
	var v T
	err := r.Decode(&v)
	return v, err
}

// ParentOutput is the output of a parent task without a finalize: its own
// output and every child's result, in declaration order. (Without a
// finalize a parent fails as soon as a child fails, so every child here
// completed.)
type ParentOutput[O any] struct {
	Output   O             `json:"output"`
	Children []ChildResult `json:"children"`
}

func (p *ParentOutput[O]) setCodec(c Codec) { setChildCodec(p.Children, c) }

// FinalizeInput is the input of a finalize task: the parent's own output and
// every child's result, success or failure, in declaration order.
type FinalizeInput[O any] struct {
	Output   O             `json:"output"`
	Children []ChildResult `json:"children"`
}

func (f *FinalizeInput[O]) setCodec(c Codec) { setChildCodec(f.Children, c) }

func setChildCodec(children []ChildResult, c Codec) {
	for i := range children {
		children[i].codec = c
	}
}

// rawParent is how the engine writes ParentOutput and FinalizeInput: the
// parent's own output is already encoded.
type rawParent struct {
	Output   Raw           `json:"output"`
	Children []ChildResult `json:"children"`
}

// NewParentTask registers a parent task without a finalize. fn returns its
// own output and children; they run in parallel, and the execution's output
// is a ParentOutput. If a child fails, the parent fails at once with
// status children_failed and its unfinished children are cancelled.
func NewParentTask[I, O any](ex *Executor, id string, fn func(ctx context.Context, in I) (Spawn[O], error), opts ...TaskOption) (*Task[I, ParentOutput[O]], error) {
	d, err := newParentDef[I, O](ex, id, fn, opts)
	if err != nil {
		return nil, err
	}
	return register[I, ParentOutput[O]](ex, d)
}

// NewParentTaskWithFinalize registers a parent task whose children are
// followed by finalize: once every child has finished, successfully or not,
// finalize runs as its own durable execution (timeout, retries, crash
// recovery) with a FinalizeInput, and its output is the parent's output. If
// finalize fails, the parent ends finalize_failed.
func NewParentTaskWithFinalize[I, O, F any](ex *Executor, id string, fn func(ctx context.Context, in I) (Spawn[O], error), finalize *Task[FinalizeInput[O], F], opts ...TaskOption) (*Task[I, F], error) {
	if finalize.def() == nil {
		return nil, alsoIs(fmt.Errorf("%w: task %q: nil finalize task", ErrInvalidTask, id), ErrUnknownTask)
	}
	if finalize.d.kind == kindSleeping {
		return nil, fmt.Errorf("%w: task %q: a sleeping task cannot be a finalize", ErrInvalidTask, id)
	}
	if ex != nil && ex.lookup(finalize.d.id) != finalize.d {
		return nil, alsoIs(fmt.Errorf("%w: task %q: finalize task %s is not registered with this executor", ErrInvalidTask, id, finalize.d.id), ErrUnknownTask)
	}
	d, err := newParentDef[I, O](ex, id, fn, opts)
	if err != nil {
		return nil, err
	}
	d.outType = typeOf[F]()
	d.finalize = finalize.d
	return register[I, F](ex, d)
}

func newParentDef[I, O any](ex *Executor, id string, fn func(context.Context, I) (Spawn[O], error), opts []TaskOption) (*taskDef, error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: task %q: nil function", ErrInvalidTask, id)
	}
	d, err := newDef[I, ParentOutput[O]](ex, id, kindParent, opts)
	if err != nil {
		return nil, err
	}
	d.invoke = invoker(ex, d, fn, func(sp Spawn[O]) runResult {
		b, err := ex.encodePayload(sp.Output, d.outputWhat)
		return runResult{output: b, children: sp.Children, err: err}
	})
	return d, nil
}
