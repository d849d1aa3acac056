package durable_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// logRecorder keeps the records of a slog JSON handler (one Write per
// record) and signals each new one.
type logRecorder struct {
	mu      sync.Mutex
	recs    []map[string]any
	changed chan struct{} // closed and replaced at each record
}

func newLogRecorder() *logRecorder { return &logRecorder{changed: make(chan struct{})} }

// logger logs every level to the recorder, as JSON.
func (l *logRecorder) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logRecorder) Write(p []byte) (int, error) {
	var rec map[string]any
	d := json.NewDecoder(bytes.NewReader(p))
	d.UseNumber()
	if err := d.Decode(&rec); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	return len(p), nil
}

// with returns the records with message msg.
func (l *logRecorder) with(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, r := range l.recs {
		if r[slog.MessageKey] == msg {
			out = append(out, r)
		}
	}
	return out
}

// atLeast returns the records at level Info or above.
func (l *logRecorder) atLeastInfo() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, r := range l.recs {
		if r[slog.LevelKey] != slog.LevelDebug.String() {
			out = append(out, r)
		}
	}
	return out
}

// await waits until n records with message msg were logged, and returns
// them.
func (l *logRecorder) await(t *testing.T, ctx context.Context, msg string, n int) []map[string]any {
	t.Helper()
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		if got := l.with(msg); len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("waiting for %d records %q: %v; got %v", n, msg, ctx.Err(), l.with(msg))
		}
	}
}

// requireRecord checks a record's level and attributes: exactly the keys
// of want (besides time, level, msg and the logger's component and
// executor), with want's values; a value "*" only needs to be there.
func requireRecord(t *testing.T, rec map[string]any, level slog.Level, want map[string]any) {
	t.Helper()
	if rec[slog.LevelKey] != level.String() {
		t.Errorf("%q: level %v, want %v", rec[slog.MessageKey], rec[slog.LevelKey], level)
	}
	if rec["component"] != "durable" || rec["executor"] == nil {
		t.Errorf("%q: component %v executor %v", rec[slog.MessageKey], rec["component"], rec["executor"])
	}
	got := maps.Clone(rec)
	for _, k := range []string{slog.TimeKey, slog.LevelKey, slog.MessageKey, "component", "executor"} {
		delete(got, k)
	}
	gotKeys, wantKeys := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("%q: keys %v, want %v", rec[slog.MessageKey], gotKeys, wantKeys)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || w == "*" {
			continue
		}
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%q: %s = %v, want %v", rec[slog.MessageKey], k, g, w)
		}
	}
}

// recordTime parses a time attribute.
func recordTime(t *testing.T, rec map[string]any, key string) time.Time {
	t.Helper()
	s, _ := rec[key].(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return at
}

// nanos is how slog's JSON handler writes a duration.
func nanos(d time.Duration) string { return fmt.Sprint(int64(d)) }

const (
	msgAttemptFailed   = "attempt failed; retrying"
	msgExecutionFailed = "execution failed"
	msgDiscarded       = "outcome discarded: the claim was lost"
	msgTakeover        = "lease lapsed; execution taken over"
)

func TestLogs(t *testing.T) {
	t.Parallel()

	t.Run("FailsTwiceThenSucceeds", func(t *testing.T) {
		t.Parallel()
		logs := newLogRecorder()
		b, fc := fakeSetup(t, durable.Config{Logger: logs.logger()})
		var runs atomic.Int32
		task := durable.Must(durable.NewTask(b.ex, "charge", func(ctx context.Context, in int) (int, error) {
			if n := runs.Add(1); n <= 2 {
				return 0, fmt.Errorf("card declined (%d)", n)
			}
			return in, nil
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 3, BaseDelay: time.Minute, Multiplier: 2})))
		h := durable.Must(task.Enqueue(b.ctx, 7))
		for k, delay := range []time.Duration{time.Minute, 2 * time.Minute} {
			// (The dispatcher may have armed its timer after the clock was
			// set: nudge the clock until the attempt is logged.)
			advanceUntil(t, fc, time.Millisecond, "a failed attempt", func() bool { return len(logs.with(msgAttemptFailed)) > k })
			rec := logs.with(msgAttemptFailed)[k]
			requireRecord(t, rec, slog.LevelWarn, map[string]any{
				"task": "charge", "execution": h.ID(), "attempt": k + 1, "max_attempts": 4,
				"error_kind": "generic", "error": fmt.Sprintf("card declined (%d)", k+1),
				"retry_at": "*", "retry_in": nanos(delay),
			})
			// The retry is due when the log says.
			row, err := b.store.Get(b.ctx, storage.GetParams{ID: h.ID()})
			if err != nil {
				t.Fatal(err)
			}
			if at := recordTime(t, rec, "retry_at"); row.Status != storage.StatusReady || !at.Equal(row.DueAt) {
				t.Fatalf("retry %d: logged retry_at %v, stored %s due %v", k+1, at, row.Status, row.DueAt)
			}
			fc.Set(row.DueAt)
		}
		advanceUntil(t, fc, time.Millisecond, "the third attempt", func() bool { x, _ := h.Get(b.ctx); return x.Status.Terminal() })
		if x := waitFor(t, b, h); x.Status != durable.StatusCompleted {
			t.Fatalf("got %s %v", x.Status, x.Err)
		}
		if recs := logs.atLeastInfo(); len(recs) != 2 {
			t.Errorf("want only the two failed attempts logged at Info or above, got %v", recs)
		}
	})

	t.Run("RetriesExhausted", func(t *testing.T) {
		t.Parallel()
		logs := newLogRecorder()
		b := setup(t, durable.Config{Logger: logs.logger()})
		task := durable.Must(durable.NewTask(b.ex, "notify", func(ctx context.Context, in int) (int, error) {
			return 0, errors.New("smtp unavailable")
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 1})))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		if x := waitFor(t, b, h); x.Status != durable.StatusFailed || x.Attempt != 1 {
			t.Fatalf("got %s attempt %d", x.Status, x.Attempt)
		}
		retried := logs.await(t, b.ctx, msgAttemptFailed, 1)
		requireRecord(t, retried[0], slog.LevelWarn, map[string]any{
			"task": "notify", "execution": h.ID(), "attempt": 1, "max_attempts": 2,
			"error_kind": "generic", "error": "smtp unavailable", "retry_at": "*", "retry_in": nanos(0),
		})
		failed := logs.await(t, b.ctx, msgExecutionFailed, 1)
		requireRecord(t, failed[0], slog.LevelError, map[string]any{
			"task": "notify", "execution": h.ID(), "attempt": 2, "status": "failed",
			"error_kind": "generic", "error": "smtp unavailable",
		})
		if recs := logs.atLeastInfo(); len(recs) != 2 {
			t.Errorf("want two records at Info or above, got %v", recs)
		}
	})

	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		logs := newLogRecorder()
		b, fc := fakeSetup(t, durable.Config{Logger: logs.logger()})
		task := durable.Must(durable.NewTask(b.ex, "slow", func(ctx context.Context, in int) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		}, durable.WithTimeout(time.Second)))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		advanceUntil(t, fc, 100*time.Millisecond, "the timeout", func() bool { return len(logs.with(msgExecutionFailed)) > 0 })
		if x := waitFor(t, b, h); x.Status != durable.StatusTimedOut {
			t.Fatalf("got %s", x.Status)
		}
		requireRecord(t, logs.with(msgExecutionFailed)[0], slog.LevelError, map[string]any{
			"task": "slow", "execution": h.ID(), "attempt": 1, "status": "timed_out",
			"error_kind": "timed_out", "error": "task slow: attempt timed out after 1s",
		})
	})

	t.Run("ChildrenFailed", func(t *testing.T) {
		t.Parallel()
		logs := newLogRecorder()
		b := setup(t, durable.Config{Logger: logs.logger()})
		child := failTask(t, b, "reserve")
		parent := durable.Must(durable.NewParentTask(b.ex, "order", func(ctx context.Context, in string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Children: []durable.Child{durable.ChildOf(child, "sku-1")}}, nil
		}))
		h := durable.Must(parent.Enqueue(b.ctx, "B-18"))
		x := waitFor(t, b, h)
		if x.Status != durable.StatusChildrenFailed {
			t.Fatalf("got %s", x.Status)
		}
		children, err := b.store.ListChildren(b.ctx, listChildren(h.ID()))
		if err != nil || len(children) != 1 {
			t.Fatalf("children: %v %v", children, err)
		}
		recs := logs.await(t, b.ctx, msgExecutionFailed, 2)
		if recs[0]["task"] != "reserve" {
			recs[0], recs[1] = recs[1], recs[0]
		}
		row, err := b.store.Get(b.ctx, storage.GetParams{ID: h.ID()})
		if err != nil {
			t.Fatal(err)
		}
		requireRecord(t, recs[0], slog.LevelError, map[string]any{
			"task": "reserve", "execution": children[0].ID, "root": h.ID(), "parent": h.ID(), "attempt": 1,
			"status": "failed", "error_kind": "generic", "error": "reserve failed",
		})
		requireRecord(t, recs[1], slog.LevelError, map[string]any{
			"task": "order", "execution": h.ID(), "attempt": 1, "status": "children_failed",
			"error_kind": "children_failed", "error": row.Error.Message,
		})
	})

	t.Run("LeaseTakenOver", func(t *testing.T) {
		t.Parallel()
		logs := newLogRecorder()
		fc := clock.NewFake(epoch)
		b := setupOn(t, memory.New(), durable.Config{Clock: fc, LeaseDuration: time.Second, Logger: logs.logger()}, false)
		task := durable.Must(durable.NewTask(b.ex, "recovered", func(ctx context.Context, in int) (int, error) { return in, nil }))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		if rows := claimAs(t, b, fc.Now(), "dead_executor", time.Second, "recovered"); len(rows) != 1 {
			t.Fatalf("claimed %d", len(rows))
		}
		b.start(t)
		advanceUntil(t, fc, 200*time.Millisecond, "takeover", func() bool { return len(logs.with(msgTakeover)) > 0 })
		if x := waitFor(t, b, h); x.Status != durable.StatusCompleted || x.Crashes != 1 {
			t.Fatalf("got %s crashes %d", x.Status, x.Crashes)
		}
		rec := logs.with(msgTakeover)[0]
		requireRecord(t, rec, slog.LevelWarn, map[string]any{
			"task": "recovered", "execution": h.ID(), "attempt": 1, "crash": 1, "crash_budget": 3, "error": "*",
		})
		if msg, _ := rec["error"].(string); !strings.Contains(msg, "dead_executor") || !strings.Contains(msg, "expired at") {
			t.Errorf("the error does not say whose lease lapsed, and when: %q", msg)
		}
		if recs := logs.atLeastInfo(); len(recs) != 1 {
			t.Errorf("want only the takeover logged at Info or above, got %v", recs)
		}
	})

	t.Run("CrashBudgetSpent", func(t *testing.T) {
		t.Parallel()
		logs := newLogRecorder()
		fc := clock.NewFake(epoch)
		b := setupOn(t, memory.New(), durable.Config{Clock: fc, CrashBudget: 1, Logger: logs.logger()}, false)
		task := durable.Must(durable.NewTask(b.ex, "killer", func(ctx context.Context, in int) (int, error) { return in, nil }))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		for range 2 { // a process claims it, and dies while running it, twice
			if rows := claimAs(t, b, fc.Now(), "doomed", time.Second, "killer"); len(rows) != 1 {
				t.Fatal("no claim")
			}
			fc.Advance(2 * time.Second)
		}
		b.start(t)
		if x := waitFor(t, b, h); x.Status != durable.StatusFailed {
			t.Fatalf("got %s", x.Status)
		}
		requireRecord(t, logs.await(t, b.ctx, msgTakeover, 1)[0], slog.LevelWarn, map[string]any{
			"task": "killer", "execution": h.ID(), "attempt": 1, "crash": 2, "crash_budget": 1, "error": "*",
		})
		requireRecord(t, logs.await(t, b.ctx, msgExecutionFailed, 1)[0], slog.LevelError, map[string]any{
			"task": "killer", "execution": h.ID(), "attempt": 1, "status": "failed",
			"error_kind": "crash_budget", "error": "*",
		})
	})

	t.Run("StaleFailureIsNotSaidToRetry", func(t *testing.T) {
		t.Parallel()
		logs := newLogRecorder()
		fc := clock.NewFake(epoch)
		a := setupOn(t, memory.New(), durable.Config{Clock: fc, LeaseDuration: time.Second, Logger: logs.logger()}, false)
		release := make(chan struct{})
		started := make(chan struct{})
		task := durable.Must(durable.NewTask(a.ex, "fenced", func(ctx context.Context, in int) (int, error) {
			close(started)
			<-release // ignores its context: a paused process
			return 0, errors.New("stale failure")
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 3})))
		a.start(t)
		h := durable.Must(task.Enqueue(a.ctx, 1))
		<-started
		// Its lease lapses meanwhile and another executor takes it over.
		if rows := claimAs(t, a, fc.Now().Add(2*time.Second), "intruder", time.Hour, "fenced"); len(rows) != 1 {
			t.Fatalf("takeover claimed %d", len(rows))
		}
		close(release)
		rec := logs.await(t, a.ctx, msgDiscarded, 1)[0]
		requireRecord(t, rec, slog.LevelDebug, map[string]any{
			"task": "fenced", "execution": h.ID(), "attempt": 1, "status": "ready",
			"error_kind": "generic", "error": "stale failure",
		})
		if got := logs.with(msgAttemptFailed); len(got) != 0 {
			t.Errorf("a result the store refused was logged as retried: %v", got)
		}
	})
}
