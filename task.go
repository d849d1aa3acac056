package durable

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
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
		return nil, fmt.Errorf("%w: task %q: nil executor", ErrInvalidTask, id)
	}
	if !validTaskID(id) {
		return nil, fmt.Errorf("%w: task id %q must match [A-Za-z0-9_]{1,255}", ErrInvalidTask, id)
	}
	o, err := buildTaskOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: task %s: %w", ErrInvalidTask, id, err)
	}
	d := &taskDef{id: id, kind: kind, defaults: o.runOptions, validate: o.validate,
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
		return in, NonRetryable(&ExecutionError{Kind: kindEncoding,
			Message: fmt.Sprintf("task %s: cannot decode stored input: %v", d.id, err)})
	}
	return in, nil
}

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
		return nil, fmt.Errorf("%w: task %q: nil finalize task", ErrInvalidTask, id)
	}
	if finalize.d.kind == kindSleeping {
		return nil, fmt.Errorf("%w: task %q: a sleeping task cannot be a finalize", ErrInvalidTask, id)
	}
	if ex != nil && ex.lookup(finalize.d.id) != finalize.d {
		return nil, fmt.Errorf("%w: task %q: finalize task %s is not registered with this executor", ErrInvalidTask, id, finalize.d.id)
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

// SleepingTask is a task with no function: an execution waits, keyed by a
// caller-given unique key, until Wake completes or fails it from anywhere
// (another process too), or until its timeout passes (status timed_out).
type SleepingTask[O any] struct {
	ex *Executor
	d  *taskDef
}

func (t *SleepingTask[O]) def() *taskDef {
	if t == nil {
		return nil
	}
	return t.d
}

// ID returns the task id ("" on a nil or zero *SleepingTask).
func (t *SleepingTask[O]) ID() string {
	if t.def() == nil {
		return ""
	}
	return t.d.id
}

// check returns the error of a method called on a nil or zero
// *SleepingTask.
func (t *SleepingTask[O]) check() error {
	if t.def() == nil || t.ex == nil {
		return unusableTask(t)
	}
	return nil
}

// NewSleepingTask registers a sleeping task. Only WithTimeout is meaningful
// among the options (the time to wait for Wake; default 1 minute).
func NewSleepingTask[O any](ex *Executor, id string, opts ...TaskOption) (*SleepingTask[O], error) {
	d, err := newDef[string, O](ex, id, kindSleeping, opts)
	if err != nil {
		return nil, err
	}
	if d.defaults.retry != nil || d.defaults.hasDelay || d.validate != nil {
		return nil, fmt.Errorf("%w: sleeping task %s takes only WithTimeout", ErrInvalidTask, id)
	}
	if err := ex.register(d); err != nil {
		return nil, err
	}
	return &SleepingTask[O]{ex: ex, d: d}, nil
}

// Child declares a sleeping child with the given key. On a nil or zero t
// it returns a Child without a task, which the enqueue or spawn that uses
// it refuses with ErrUnknownTask.
func (t *SleepingTask[O]) Child(key string, opts ...EnqueueOption) Child {
	if t.def() == nil {
		return Child{}
	}
	return Child{d: t.d, sleepKey: key, opts: opts}
}

func validSleepKey(key string) error {
	if key == "" || len(key) > 255 {
		return fmt.Errorf("%w: sleeping key must be 1..255 bytes, got %d", ErrInvalidInput, len(key))
	}
	// PostgreSQL's text columns refuse both; the other stores would keep
	// them, so every store refuses them alike.
	if !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: sleeping key %q must be valid UTF-8 without NUL bytes", ErrInvalidInput, key)
	}
	return nil
}

// LoopOptions configures a looping task.
type LoopOptions struct {
	// MaxIterations bounds the iterations; when the last one is not done,
	// the loop completes with Done false. Range 1..1,000,000.
	MaxIterations int
	// Delay is the pause before each iteration after the first.
	Delay time.Duration
	// DelayFunc, if set, gives the pause before iteration n (n >= 1)
	// instead of Delay.
	DelayFunc func(iteration int) time.Duration
}

func (lo LoopOptions) delay(iteration int) time.Duration {
	d := lo.Delay
	if lo.DelayFunc != nil {
		d = lo.DelayFunc(iteration)
	}
	return max(d, 0)
}

// LoopResult is what one iteration of a looping task returns: Done with an
// output, or not done yet (Continue).
type LoopResult[O any] struct {
	Done   bool
	Output O
}

// Done ends a loop with out.
func Done[O any](out O) LoopResult[O] { return LoopResult[O]{Done: true, Output: out} }

// Continue asks for another iteration.
func Continue[O any]() LoopResult[O] { return LoopResult[O]{} }

// LoopOutput is a looping task's output.
type LoopOutput[O any] struct {
	Done       bool `json:"done"`
	Output     O    `json:"output"`
	Iterations int  `json:"iterations"`
}

type rawLoopOutput struct {
	Done       bool `json:"done"`
	Output     Raw  `json:"output"`
	Iterations int  `json:"iterations"`
}

// NewLoopTask registers a looping task: fn runs once per iteration with the
// same input until it returns Done or MaxIterations have run. Each
// iteration is an attempt of the same execution (its timeout and retry
// policy apply per iteration), so a loop costs one row however long it
// runs. RunInfo.Iteration tells fn which iteration it is. An iteration that
// fails after its retries fails the loop.
func NewLoopTask[I, O any](ex *Executor, id string, fn func(ctx context.Context, in I) (LoopResult[O], error), lo LoopOptions, opts ...TaskOption) (*Task[I, LoopOutput[O]], error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: task %q: nil function", ErrInvalidTask, id)
	}
	if lo.MaxIterations < 1 || lo.MaxIterations > 1_000_000 {
		return nil, fmt.Errorf("%w: looping task %q: MaxIterations %d out of range 1..1000000", ErrInvalidTask, id, lo.MaxIterations)
	}
	if lo.Delay < 0 {
		return nil, fmt.Errorf("%w: looping task %q: negative Delay %s", ErrInvalidTask, id, lo.Delay)
	}
	d, err := newDef[I, LoopOutput[O]](ex, id, kindLoop, opts)
	if err != nil {
		return nil, err
	}
	d.loop = lo
	d.invoke = invoker(ex, d, fn, func(res LoopResult[O]) runResult {
		if !res.Done {
			return runResult{}
		}
		b, err := ex.encodePayload(res.Output, d.outputWhat)
		return runResult{output: b, done: true, err: err}
	})
	return register[I, LoopOutput[O]](ex, d)
}

// NewSequence registers a sequence: the steps run one after another, each
// step's output is the next step's input, and the last step's output is
// the sequence's output. A failing step stops the chain and the sequence
// ends finalize_failed, naming the step. Steps may be plain, parent,
// looping or sleeping tasks (a sleeping step's key is the previous output,
// which must be a string). Types are checked at registration: the first
// step takes an I, the last produces an O, and each output type is the
// next input type.
func NewSequence[I, O any](ex *Executor, id string, steps ...TaskRef) (*Task[I, O], error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w: sequence %q: no steps", ErrInvalidTask, id)
	}
	d, err := newDef[I, O](ex, id, kindSequence, nil)
	if err != nil {
		return nil, err
	}
	prev := typeOf[I]()
	for i, s := range steps {
		if s == nil || s.def() == nil { // nil, or a nil or zero *Task inside the interface
			return nil, fmt.Errorf("%w: sequence %q: step %d is nil or not a registered task", ErrInvalidTask, id, i)
		}
		sd := s.def()
		if ex.lookup(sd.id) != sd {
			return nil, fmt.Errorf("%w: sequence %q: step %d (%s) is not registered with this executor", ErrInvalidTask, id, i, sd.id)
		}
		if sd.inType != prev {
			return nil, fmt.Errorf("%w: sequence %q: step %d (%s) takes %v but receives %v", ErrInvalidTask, id, i, sd.id, sd.inType, prev)
		}
		prev = sd.outType
		d.steps = append(d.steps, sd)
	}
	if prev != typeOf[O]() {
		return nil, fmt.Errorf("%w: sequence %q: last step produces %v, not %v", ErrInvalidTask, id, prev, typeOf[O]())
	}
	d.validate = steps[0].def().validate
	return register[I, O](ex, d)
}
