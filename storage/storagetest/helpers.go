package storagetest

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// Base is the fixed instant the suite uses as "now", give or take offsets.
// It lies in the future so that no check depends on the wall clock.
var Base = time.Date(2030, time.January, 1, 12, 0, 0, 0, time.UTC)

// At returns Base + d.
func At(d time.Duration) time.Time { return Base.Add(d) }

// Lease is the lease every claim of the suite takes.
const Lease = 30 * time.Second

// NewExecution returns what an enqueue inserts: a ready, top-level
// execution of taskID with an input, a retry policy and a timeout.
func NewExecution(id, taskID string) storage.Execution {
	return storage.Execution{
		ID:      id,
		TaskID:  taskID,
		Status:  storage.StatusReady,
		Input:   []byte(`{"id":"` + id + `"}`),
		Retry:   storage.RetryPolicy{MaxRetries: 3, BaseDelay: time.Second, Multiplier: 2, MaxDelay: time.Minute},
		Timeout: time.Minute,
	}
}

// NewChild returns a ready child of parent at index, with its parent and
// root fields filled in as the engine does.
func NewChild(parent storage.Execution, id, taskID string, index int) storage.Execution {
	c := NewExecution(id, taskID)
	c.ParentID, c.ParentTaskID = parent.ID, parent.TaskID
	c.RootID, c.RootTaskID = parent.RootID, parent.RootTaskID
	if c.RootID == "" {
		c.RootID, c.RootTaskID = parent.ID, parent.TaskID
	}
	c.ChildIndex = index
	return c
}

// NewSleeping returns a top-level sleeping execution: status running, with
// a sleep key, waiting to be woken or to time out after timeout.
func NewSleeping(id, taskID, key string, timeout time.Duration) storage.Execution {
	e := NewExecution(id, taskID)
	e.Status = storage.StatusRunning
	e.SleepKey = key
	e.Timeout = timeout
	return e
}

// Diff lists the fields in which got differs from want, one line each; it
// is empty when they are equal. Nil and empty byte slices are equal; times
// are equal when both are zero or both are set and within a microsecond of
// each other; errors compare by value; attempts compare field by field,
// their times and errors as the row's. Nil and empty Tags or Attempts
// differ (a store returns nil for none). Fields named in ignore are
// skipped.
func Diff(want, got storage.Execution, ignore ...string) []string {
	var diffs []string
	// An empty Queue and a zero Priority stand for the defaults a store
	// keeps; the queue checks test that stores return those.
	want.Queue, got.Queue = storage.NormalizeQueue(want.Queue), storage.NormalizeQueue(got.Queue)
	want.Priority, got.Priority = storage.NormalizePriority(want.Priority), storage.NormalizePriority(got.Priority)
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := range wv.NumField() {
		name := wv.Type().Field(i).Name
		if slices.Contains(ignore, name) {
			continue
		}
		w, g := wv.Field(i).Interface(), gv.Field(i).Interface()
		if !fieldEqual(w, g) {
			diffs = append(diffs, fmt.Sprintf("%s: want %s, got %s", name, show(w), show(g)))
		}
	}
	return diffs
}

func fieldEqual(w, g any) bool {
	switch w := w.(type) {
	case []byte:
		return bytes.Equal(w, g.([]byte))
	case time.Time:
		return timeEqual(w, g.(time.Time))
	case *storage.ErrorInfo:
		return errorEqual(w, g.(*storage.ErrorInfo))
	case []storage.Attempt:
		g := g.([]storage.Attempt)
		if (w == nil) != (g == nil) || len(w) != len(g) {
			return false
		}
		for i := range w {
			if !attemptEqual(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(w, g)
}

func errorEqual(w, g *storage.ErrorInfo) bool {
	return (w == nil) == (g == nil) && (w == nil || *w == *g)
}

func attemptEqual(w, g storage.Attempt) bool {
	return w.Attempt == g.Attempt && w.Iteration == g.Iteration && w.ExecutorID == g.ExecutorID &&
		timeEqual(w.StartedAt, g.StartedAt) && timeEqual(w.FinishedAt, g.FinishedAt) &&
		w.Outcome == g.Outcome && errorEqual(w.Error, g.Error)
}

func timeEqual(w, g time.Time) bool {
	if w.IsZero() || g.IsZero() {
		return w.IsZero() == g.IsZero()
	}
	d := w.Sub(g)
	return d <= time.Microsecond && d >= -time.Microsecond
}

func show(v any) string {
	switch v := v.(type) {
	case []byte:
		if v == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", v)
	case time.Time:
		if v.IsZero() {
			return "zero time"
		}
		return v.UTC().Format(time.RFC3339Nano)
	case *storage.ErrorInfo:
		if v == nil {
			return "nil"
		}
		return fmt.Sprintf("%+v", *v)
	case []storage.Attempt:
		if v == nil {
			return "nil"
		}
		parts := make([]string, len(v))
		for i, a := range v {
			parts[i] = fmt.Sprintf("{Attempt:%d Iteration:%d ExecutorID:%q StartedAt:%s FinishedAt:%s Outcome:%s Error:%s}",
				a.Attempt, a.Iteration, a.ExecutorID, show(a.StartedAt), show(a.FinishedAt), a.Outcome, show(a.Error))
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprintf("%#v", v)
}

// RequireExecution fails t at once if got differs from want (see [Diff]).
func RequireExecution(t testing.TB, want, got storage.Execution, ignore ...string) {
	t.Helper()
	if d := Diff(want, got, ignore...); len(d) > 0 {
		t.Fatalf("execution %q differs from what was expected:\n  %s", want.ID, joinLines(d))
	}
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(l)
	}
	return b.String()
}
