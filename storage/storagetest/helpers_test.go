package storagetest

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/durable-go/durable/storage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestDiff(t *testing.T) {
	t.Parallel()
	base := NewExecution("a", "task")
	base.DueAt = Base
	base.Error = &storage.ErrorInfo{Kind: "generic", Message: "m"}
	base.Tags = []string{"a", "b"}
	base.Attempts = []storage.Attempt{{Attempt: 1, StartedAt: Base, FinishedAt: Base.Add(time.Second),
		Outcome: storage.StatusReady, Error: &storage.ErrorInfo{Kind: "generic", Message: "n"}}}

	equal := []struct {
		name   string
		change func(e *storage.Execution)
	}{
		{"Identical", func(*storage.Execution) {}},
		{"EmptyAndNilBytes", func(e *storage.Execution) { e.Output = []byte{} }},
		{"TimeWithinAMicrosecond", func(e *storage.Execution) { e.DueAt = Base.Add(900 * time.Nanosecond) }},
		{"TimeInAnotherZone", func(e *storage.Execution) { e.DueAt = Base.In(time.FixedZone("X", 3600)) }},
		{"ErrorCopy", func(e *storage.Execution) { c := *e.Error; e.Error = &c }},
		{"AttemptTimeWithinAMicrosecondInAnotherZone", func(e *storage.Execution) {
			e.Attempts = []storage.Attempt{e.Attempts[0]}
			e.Attempts[0].StartedAt = Base.Add(900 * time.Nanosecond).In(time.FixedZone("X", 3600))
		}},
		{"AttemptErrorCopy", func(e *storage.Execution) {
			e.Attempts = []storage.Attempt{e.Attempts[0]}
			c := *e.Attempts[0].Error
			e.Attempts[0].Error = &c
		}},
	}
	for _, c := range equal {
		got := base
		c.change(&got)
		if d := Diff(base, got); len(d) != 0 {
			t.Errorf("%s: want no difference, got %v", c.name, d)
		}
	}

	differ := []struct {
		name, field string
		change      func(e *storage.Execution)
	}{
		{"Bytes", "Input", func(e *storage.Execution) { e.Input = []byte("x") }},
		{"TimeTwoMicroseconds", "DueAt", func(e *storage.Execution) { e.DueAt = Base.Add(2 * time.Microsecond) }},
		{"TimeUnset", "DueAt", func(e *storage.Execution) { e.DueAt = time.Time{} }},
		{"ErrorNil", "Error", func(e *storage.Execution) { e.Error = nil }},
		{"ErrorMessage", "Error", func(e *storage.Execution) { e.Error = &storage.ErrorInfo{Kind: "generic"} }},
		{"Retry", "Retry", func(e *storage.Execution) { e.Retry.Jitter = 0.5 }},
		{"Status", "Status", func(e *storage.Execution) { e.Status = storage.StatusRunning }},
		{"TagsNil", "Tags", func(e *storage.Execution) { e.Tags = nil }},
		{"TagsEmptyAndNil", "Tags", func(e *storage.Execution) { e.Tags = []string{} }},
		{"TagsOrder", "Tags", func(e *storage.Execution) { e.Tags = []string{"b", "a"} }},
		{"AttemptsEmptyAndNil", "Attempts", func(e *storage.Execution) { e.Attempts = []storage.Attempt{} }},
		{"AttemptTime", "Attempts", func(e *storage.Execution) {
			e.Attempts = []storage.Attempt{e.Attempts[0]}
			e.Attempts[0].FinishedAt = Base.Add(2 * time.Microsecond)
		}},
		{"AttemptError", "Attempts", func(e *storage.Execution) {
			e.Attempts = []storage.Attempt{e.Attempts[0]}
			e.Attempts[0].Error = &storage.ErrorInfo{Kind: "generic", Message: "other"}
		}},
		{"RetryOf", "RetryOf", func(e *storage.Execution) { e.RetryOf = "x" }},
	}
	for _, c := range differ {
		got := base
		c.change(&got)
		if d := Diff(base, got); len(d) != 1 {
			t.Errorf("%s: want one difference, got %v", c.name, d)
		}
		if d := Diff(base, got, c.field); len(d) != 0 {
			t.Errorf("%s: ignoring %s, want no difference, got %v", c.name, c.field, d)
		}
	}
}
