package durable

import (
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// Sentinel errors. Every error the engine returns wraps one of them (or a
// context error), so callers branch with errors.Is.
//
// The same mistake gets the same sentinel wherever it is made (at
// registration, at enqueue, in a child at spawn, in a Config):
//
//   - ErrInvalidOption: a bad option value (an option or a Config field out
//     of range, an option the task kind does not take, an idempotency key),
//     or a nil store, inserter or executor;
//   - ErrInvalidInput: bad data given to run: an input the validator or the
//     codec refuses, a sleeping key;
//   - ErrUnknownTask: a task this executor has not registered, as a child,
//     an enqueued item, a finalize or a sequence step;
//   - ErrInvalidTask: a registration failed. When an option or a task is
//     at fault it wraps ErrInvalidOption or ErrUnknownTask as well, so that
//     a zero timeout is ErrInvalidOption in NewTask as in Enqueue.
//
// docs/semantics.md ("Which sentinel for which mistake") lists the cases.
var (
	// ErrNotFound: no execution (or sleeping key) with that id, or it
	// belongs to another task.
	ErrNotFound = errors.New("durable: not found")
	// ErrShutdown: the executor has been shut down.
	ErrShutdown = errors.New("durable: executor shut down")
	// ErrInvalidTask: a task definition is invalid (id, function,
	// finalize, steps, options); every failed registration wraps it but
	// a duplicate (ErrDuplicateTask) and one after Shutdown (ErrShutdown).
	ErrInvalidTask = errors.New("durable: invalid task definition")
	// ErrDuplicateTask: a task with that id is already registered.
	ErrDuplicateTask = errors.New("durable: task already registered")
	// ErrUnknownTask: the task is not registered with this executor.
	ErrUnknownTask = errors.New("durable: task not registered")
	// ErrInvalidOption: an option (at registration or enqueue) or a Config
	// field is out of range or does not apply, or a required argument is
	// nil.
	ErrInvalidOption = errors.New("durable: invalid option")
	// ErrInvalidInput: the task's validator rejected an input, or the
	// codec refused a value it would not store exactly (JSONCodec: a
	// string that is not valid UTF-8, nesting deeper than 10,000 levels),
	// or a sleeping key is out of range.
	ErrInvalidInput = errors.New("durable: invalid input")
	// ErrPayloadTooLarge: an encoded input or output exceeds the limit.
	ErrPayloadTooLarge = errors.New("durable: payload too large")
	// ErrTooManyChildren: a parent spawned more children than the limit.
	ErrTooManyChildren = errors.New("durable: too many children")
	// ErrNotDeletable: Delete was asked for an execution that has not
	// finished, or for a child (trees are deleted whole, from their root).
	ErrNotDeletable = errors.New("durable: not deletable")
	// ErrDuplicate: a sleeping task's key is already taken.
	ErrDuplicate = errors.New("durable: duplicate")
	// ErrWakeRace: a sleeping execution finished another way while Wake
	// was writing (it timed out or was cancelled); Wake returns the finished
	// execution alongside this error only when it cannot tell what happened.
	ErrWakeRace = errors.New("durable: wake lost a race")
	// ErrStoreFailed: the store met an error after which it cannot be
	// used safely and retrying cannot help (a corrupt SQLite file, say).
	// It is storage.ErrFatal; the executor stops on it (see Executor.Err).
	ErrStoreFailed = storage.ErrFatal

	// The kinds of execution errors (see ExecutionError).
	ErrTimedOut       = errors.New("durable: timed out")
	ErrCancelled      = errors.New("durable: cancelled")
	ErrPanic          = errors.New("durable: task panicked")
	ErrChildrenFailed = errors.New("durable: a child failed")
	ErrFinalizeFailed = errors.New("durable: finalize failed")
	ErrCrashBudget    = errors.New("durable: crash budget exhausted")
	ErrLeaseLost      = errors.New("durable: lease lost")
)

// ExecutionError is the error an execution ended with (or its previous
// attempt failed with). It survives storage, so it keeps only a kind, a
// message, whether it was retryable and, for panics, the stack.
//
// Kind is one of storage.AllErrorKinds, or a kind of the task's own (a
// task may return an ExecutionError). errors.Is(err, ErrTimedOut) (and
// ErrCancelled, ErrPanic, ErrChildrenFailed, ErrFinalizeFailed,
// ErrCrashBudget, ErrInvalidInput, ...) tests the kind: errorKinds, below,
// gives each kind its sentinel (generic and encoding have none).
type ExecutionError struct {
	Kind      storage.ErrorKind
	Message   string
	Retryable bool
	// Stack is the goroutine stack of a panic.
	Stack string

	// retryAfter is the least delay before a retry the run's error asked
	// for (RetryAfter); it is not stored.
	retryAfter time.Duration
}

func (e *ExecutionError) Error() string {
	if e == nil {
		return "<nil>"
	}
	return e.Message
}

// Is reports whether target is the sentinel of e's kind. It is safe on a nil
// *ExecutionError (Execution.Err of a completed execution), which matches
// nothing.
func (e *ExecutionError) Is(target error) bool {
	if e == nil {
		return false
	}
	s, ok := kindSentinel[e.Kind]
	return ok && s == target
}

func execErrorFromInfo(info *storage.ErrorInfo) *ExecutionError {
	if info == nil {
		return nil
	}
	return &ExecutionError{Kind: info.Kind, Message: info.Message, Retryable: info.Retryable, Stack: info.Stack}
}

func (e *ExecutionError) info() *storage.ErrorInfo {
	if e == nil {
		return nil
	}
	return &storage.ErrorInfo{Kind: e.Kind, Message: e.Message, Retryable: e.Retryable, Stack: e.Stack}
}

// alsoIs makes err wrap sentinel as well, without changing its message:
// for a mistake two sentinels name (a bad option given at registration is
// both ErrInvalidTask and ErrInvalidOption).
func alsoIs(err, sentinel error) error { return &also{err, sentinel} }

type also struct{ err, sentinel error }

func (a *also) Error() string   { return a.err.Error() }
func (a *also) Unwrap() []error { return []error{a.err, a.sentinel} }

// NonRetryable marks err so that the execution fails at once instead of
// being retried. errors.Is/As still see err through it.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &nonRetryable{err}
}

type nonRetryable struct{ err error }

func (n *nonRetryable) Error() string   { return n.err.Error() }
func (n *nonRetryable) Unwrap() error   { return n.err }
func (n *nonRetryable) Retryable() bool { return false }

// retryabler is implemented by errors that say whether they may be retried.
// A user's own error type may implement it.
type retryabler interface{ Retryable() bool }

// classify turns what a run returned into the stored error.
func classify(err error) *ExecutionError {
	var ee *ExecutionError
	if errors.As(err, &ee) {
		out := *ee
		out.Message = err.Error()
		if r, ok := asRetryabler(err); ok {
			out.Retryable = r
		}
		out.retryAfter = retryAfterOf(err)
		return &out
	}
	kind, retryable := kindOf(err)
	if r, ok := asRetryabler(err); ok {
		retryable = r
	}
	return &ExecutionError{Kind: kind, Message: err.Error(), Retryable: retryable, retryAfter: retryAfterOf(err)}
}

// kindRow ties an error kind to a sentinel, and says how an error a run
// returned that wraps the sentinel is recorded.
type kindRow struct {
	kind     storage.ErrorKind
	sentinel error
	rec      recording
}

// recording says how an error a run returned that wraps a sentinel of
// errorKinds is recorded.
type recording int

const (
	notRecorded     recording = iota // only the engine makes this kind: the error is recorded as generic
	recordFinal                      // recorded with the kind, never retried
	recordRetryable                  // recorded with the kind, retried per the task's policy
)

// errorKinds is the one table of error kinds (storage.AllErrorKinds, in
// the order classification tries them). It serves both directions:
//
//   - errors.Is: an ExecutionError of a kind Is the sentinel of the kind's
//     first row (kindSentinel); a kind without a sentinel Is nothing;
//   - classification (kindOf): an error a run returns is recorded with
//     the kind of the first row, in this order, whose sentinel it wraps
//     and whose rec is not notRecorded; with none, it is generic and
//     retryable.
//
// A sentinel may have a second row: ErrInvalidOption (an option a task
// gave when it enqueued) is recorded as invalid_input, whose sentinel
// stays ErrInvalidInput.
var errorKinds = []kindRow{
	{storage.ErrorKindCancelled, ErrCancelled, recordFinal},
	{storage.ErrorKindTimedOut, ErrTimedOut, recordRetryable},
	{storage.ErrorKindInvalidInput, ErrInvalidInput, recordFinal},
	{storage.ErrorKindUnknownTask, ErrUnknownTask, recordFinal},
	{storage.ErrorKindPayloadTooLarge, ErrPayloadTooLarge, recordFinal},
	{storage.ErrorKindTooManyChildren, ErrTooManyChildren, recordFinal},
	{storage.ErrorKindDuplicate, ErrDuplicate, recordFinal},
	{storage.ErrorKindInvalidInput, ErrInvalidOption, recordFinal},
	{storage.ErrorKindPanic, ErrPanic, notRecorded},
	{storage.ErrorKindNotFound, ErrNotFound, notRecorded},
	{storage.ErrorKindLeaseExpired, ErrLeaseLost, notRecorded},
	{storage.ErrorKindChildrenFailed, ErrChildrenFailed, notRecorded},
	{storage.ErrorKindFinalizeFailed, ErrFinalizeFailed, notRecorded},
	{storage.ErrorKindCrashBudget, ErrCrashBudget, notRecorded},
	{storage.ErrorKindGeneric, nil, notRecorded},
	{storage.ErrorKindEncoding, nil, notRecorded},
}

// kindSentinel maps each kind to its sentinel: the first of its rows in
// errorKinds.
var kindSentinel = func() map[storage.ErrorKind]error {
	m := make(map[storage.ErrorKind]error, len(errorKinds))
	for _, k := range errorKinds {
		if _, ok := m[k.kind]; !ok && k.sentinel != nil {
			m[k.kind] = k.sentinel
		}
	}
	return m
}()

// kindOf is the kind an error a run returned is recorded with, and whether
// it may be retried (before the error's own say, see classify).
func kindOf(err error) (storage.ErrorKind, bool) {
	for _, k := range errorKinds {
		if k.rec != notRecorded && errors.Is(err, k.sentinel) {
			return k.kind, k.rec == recordRetryable
		}
	}
	return storage.ErrorKindGeneric, true
}

func asRetryabler(err error) (bool, bool) {
	var r retryabler
	if errors.As(err, &r) {
		return r.Retryable(), true
	}
	return false, false
}

func newExecError(kind storage.ErrorKind, retryable bool, format string, args ...any) *ExecutionError {
	return &ExecutionError{Kind: kind, Message: fmt.Sprintf(format, args...), Retryable: retryable}
}
