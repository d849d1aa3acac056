package durable

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/durable-go/durable/storage"
)

// TestErrorKinds checks the one table of error kinds: it holds every kind,
// the stored strings never change, an ExecutionError of a kind Is its
// sentinel (and no other), and an error a run returns is recorded with the
// kind of the sentinel it wraps.
func TestErrorKinds(t *testing.T) {
	t.Run("StoredStrings", func(t *testing.T) {
		// These strings are in databases: this list only ever grows.
		want := map[storage.ErrorKind]string{
			storage.ErrorKindGeneric: "generic", storage.ErrorKindTimedOut: "timed_out",
			storage.ErrorKindCancelled: "cancelled", storage.ErrorKindNotFound: "not_found",
			storage.ErrorKindPanic: "panic", storage.ErrorKindLeaseExpired: "lease_expired",
			storage.ErrorKindInvalidInput: "invalid_input", storage.ErrorKindPayloadTooLarge: "payload_too_large",
			storage.ErrorKindTooManyChildren: "too_many_children", storage.ErrorKindChildrenFailed: "children_failed",
			storage.ErrorKindFinalizeFailed: "finalize_failed", storage.ErrorKindCrashBudget: "crash_budget",
			storage.ErrorKindUnknownTask: "unknown_task", storage.ErrorKindDuplicate: "duplicate",
			storage.ErrorKindEncoding: "encoding",
		}
		if len(storage.AllErrorKinds) != len(want) {
			t.Errorf("storage.AllErrorKinds has %d kinds, want %d", len(storage.AllErrorKinds), len(want))
		}
		for _, k := range storage.AllErrorKinds {
			if string(k) != want[k] {
				t.Errorf("kind %q: stored as %q, want %q", k, string(k), want[k])
			}
		}
	})

	t.Run("TableHoldsEveryKind", func(t *testing.T) {
		for _, k := range storage.AllErrorKinds {
			if !slices.ContainsFunc(errorKinds, func(r kindRow) bool { return r.kind == k }) {
				t.Errorf("kind %q has no row in errorKinds", k)
			}
		}
		for _, r := range errorKinds {
			if !slices.Contains(storage.AllErrorKinds, r.kind) {
				t.Errorf("errorKinds row %q is not in storage.AllErrorKinds", r.kind)
			}
		}
	})

	sentinels := []error{ErrNotFound, ErrShutdown, ErrInvalidTask, ErrDuplicateTask, ErrUnknownTask,
		ErrInvalidOption, ErrInvalidInput, ErrPayloadTooLarge, ErrTooManyChildren, ErrDuplicate, ErrWakeRace,
		ErrStoreFailed, ErrTimedOut, ErrCancelled, ErrPanic, ErrChildrenFailed, ErrFinalizeFailed,
		ErrCrashBudget, ErrLeaseLost}
	isWant := map[storage.ErrorKind]error{
		storage.ErrorKindTimedOut:        ErrTimedOut,
		storage.ErrorKindCancelled:       ErrCancelled,
		storage.ErrorKindPanic:           ErrPanic,
		storage.ErrorKindNotFound:        ErrNotFound,
		storage.ErrorKindLeaseExpired:    ErrLeaseLost,
		storage.ErrorKindInvalidInput:    ErrInvalidInput,
		storage.ErrorKindPayloadTooLarge: ErrPayloadTooLarge,
		storage.ErrorKindTooManyChildren: ErrTooManyChildren,
		storage.ErrorKindChildrenFailed:  ErrChildrenFailed,
		storage.ErrorKindFinalizeFailed:  ErrFinalizeFailed,
		storage.ErrorKindCrashBudget:     ErrCrashBudget,
		storage.ErrorKindUnknownTask:     ErrUnknownTask,
		storage.ErrorKindDuplicate:       ErrDuplicate,
		// generic, encoding and a task's own kinds are no sentinel
	}
	t.Run("Is", func(t *testing.T) {
		for _, k := range append(slices.Clone(storage.AllErrorKinds), "a_kind_of_mine") {
			ee := &ExecutionError{Kind: k, Message: "m"}
			for _, s := range sentinels {
				if got, want := errors.Is(ee, s), s == isWant[k]; got != want {
					t.Errorf("errors.Is(ExecutionError{Kind: %q}, %v) = %v, want %v", k, s, got, want)
				}
			}
			if got, want := errors.Is(fmt.Errorf("wrapped: %w", ee), isWant[k]), isWant[k] != nil; got != want {
				t.Errorf("errors.Is(wrapped ExecutionError{Kind: %q}, %v) = %v, want %v", k, isWant[k], got, want)
			}
		}
		if errors.Is((*ExecutionError)(nil), ErrTimedOut) {
			t.Error("a nil *ExecutionError Is ErrTimedOut")
		}
	})

	t.Run("Classify", func(t *testing.T) {
		cases := []struct {
			err       error
			kind      storage.ErrorKind
			retryable bool
		}{
			{errors.New("boom"), storage.ErrorKindGeneric, true},
			{NonRetryable(errors.New("boom")), storage.ErrorKindGeneric, false},
			{ErrCancelled, storage.ErrorKindCancelled, false},
			{ErrTimedOut, storage.ErrorKindTimedOut, true},
			{ErrInvalidInput, storage.ErrorKindInvalidInput, false},
			{ErrInvalidOption, storage.ErrorKindInvalidInput, false},
			{ErrUnknownTask, storage.ErrorKindUnknownTask, false},
			{ErrPayloadTooLarge, storage.ErrorKindPayloadTooLarge, false},
			{ErrTooManyChildren, storage.ErrorKindTooManyChildren, false},
			{ErrDuplicate, storage.ErrorKindDuplicate, false},
			// sentinels only the engine records: a run's error wrapping
			// one is the task's own
			{ErrPanic, storage.ErrorKindGeneric, true},
			{ErrNotFound, storage.ErrorKindGeneric, true},
			{ErrLeaseLost, storage.ErrorKindGeneric, true},
			{ErrChildrenFailed, storage.ErrorKindGeneric, true},
			{ErrFinalizeFailed, storage.ErrorKindGeneric, true},
			{ErrCrashBudget, storage.ErrorKindGeneric, true},
			// first row wins
			{errors.Join(ErrTimedOut, ErrCancelled), storage.ErrorKindCancelled, false},
			{errors.Join(ErrInvalidOption, ErrDuplicate), storage.ErrorKindDuplicate, false},
			// an ExecutionError keeps its kind; the error's own say on retry wins
			{&ExecutionError{Kind: storage.ErrorKindPanic, Retryable: true}, storage.ErrorKindPanic, true},
			{NonRetryable(&ExecutionError{Kind: "a_kind_of_mine", Retryable: true}), "a_kind_of_mine", false},
		}
		for _, c := range cases {
			err := fmt.Errorf("run: %w", c.err)
			ee := classify(err)
			if ee.Kind != c.kind || ee.Retryable != c.retryable || ee.Message != err.Error() {
				t.Errorf("classify(%v) = {%q, retryable %v, %q}, want {%q, retryable %v, %q}",
					err, ee.Kind, ee.Retryable, ee.Message, c.kind, c.retryable, err.Error())
			}
		}
	})
}
