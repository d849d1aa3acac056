package durable

import (
	"errors"
	"fmt"

	"github.com/durable-go/durable/storage"
)

// Sentinel errors. Every error the engine returns wraps one of them (or a
// context error), so callers branch with errors.Is.
var (
	// ErrNotFound: no execution (or sleeping key) with that id, or it
	// belongs to another task.
	ErrNotFound = errors.New("durable: not found")
	// ErrShutdown: the executor has been shut down.
	ErrShutdown = errors.New("durable: executor shut down")
	// ErrInvalidTask: a task definition is invalid (id, options).
	ErrInvalidTask = errors.New("durable: invalid task definition")
	// ErrDuplicateTask: a task with that id is already registered.
	ErrDuplicateTask = errors.New("durable: task already registered")
	// ErrUnknownTask: the task is not registered with this executor.
	ErrUnknownTask = errors.New("durable: task not registered")
	// ErrInvalidOption: an enqueue option or Config field is out of range.
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

// Error kinds recorded on executions, beyond the ones in package storage.
const (
	kindPayloadTooLarge = "payload_too_large"
	kindTooManyChildren = "too_many_children"
	kindChildrenFailed  = "children_failed"
	kindFinalizeFailed  = "finalize_failed"
	kindCrashBudget     = "crash_budget"
	kindUnknownTask     = "unknown_task"
	kindDuplicate       = "duplicate"
	kindEncoding        = "encoding"
)

var kindSentinels = map[string]error{
	storage.ErrorKindTimedOut:     ErrTimedOut,
	storage.ErrorKindCancelled:    ErrCancelled,
	storage.ErrorKindPanic:        ErrPanic,
	storage.ErrorKindNotFound:     ErrNotFound,
	storage.ErrorKindLeaseExpired: ErrLeaseLost,
	storage.ErrorKindInvalidInput: ErrInvalidInput,
	kindPayloadTooLarge:           ErrPayloadTooLarge,
	kindTooManyChildren:           ErrTooManyChildren,
	kindChildrenFailed:            ErrChildrenFailed,
	kindFinalizeFailed:            ErrFinalizeFailed,
	kindCrashBudget:               ErrCrashBudget,
	kindUnknownTask:               ErrUnknownTask,
	kindDuplicate:                 ErrDuplicate,
}

// ExecutionError is the error an execution ended with (or its previous
// attempt failed with). It survives storage, so it keeps only a kind, a
// message, whether it was retryable and, for panics, the stack.
//
// errors.Is(err, ErrTimedOut) (and ErrCancelled, ErrPanic, ErrChildrenFailed,
// ErrFinalizeFailed, ErrCrashBudget, ErrInvalidInput, ...) tests the kind.
type ExecutionError struct {
	Kind      string
	Message   string
	Retryable bool
	// Stack is the goroutine stack of a panic.
	Stack string
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
	s, ok := kindSentinels[e.Kind]
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
		return &out
	}
	kind, retryable := kindOf(err)
	if r, ok := asRetryabler(err); ok {
		retryable = r
	}
	return &ExecutionError{Kind: kind, Message: err.Error(), Retryable: retryable}
}

// sentinelKinds maps the engine's sentinels, first match wins, to the kind
// recorded for an error wrapping one, and whether it may be retried.
var sentinelKinds = []struct {
	sentinel  error
	kind      string
	retryable bool
}{
	{ErrCancelled, storage.ErrorKindCancelled, false},
	{ErrTimedOut, storage.ErrorKindTimedOut, true},
	{ErrInvalidInput, storage.ErrorKindInvalidInput, false},
	{ErrUnknownTask, kindUnknownTask, false},
	{ErrPayloadTooLarge, kindPayloadTooLarge, false},
	{ErrTooManyChildren, kindTooManyChildren, false},
	{ErrDuplicate, kindDuplicate, false},
	{ErrInvalidOption, storage.ErrorKindInvalidInput, false},
}

func kindOf(err error) (string, bool) {
	for _, sk := range sentinelKinds {
		if errors.Is(err, sk.sentinel) {
			return sk.kind, sk.retryable
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

func newExecError(kind string, retryable bool, format string, args ...any) *ExecutionError {
	return &ExecutionError{Kind: kind, Message: fmt.Sprintf(format, args...), Retryable: retryable}
}
