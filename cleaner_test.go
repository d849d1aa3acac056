package durable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// finishedRow is a top-level row that ended in status at finished.
func finishedRow(id string, status storage.Status, finished time.Time) storage.Execution {
	return storage.Execution{ID: id, TaskID: "t", Status: status, FinishedAt: finished}
}

func newTestCleaner(t *testing.T, store *memory.Store, owner string, fc *clock.Fake, r Retention) *cleaner {
	t.Helper()
	return newCleaner(cleanerConfig{DeleteExpired: store.DeleteExpired, Lead: store.Lead, Owner: owner,
		Retention: r.withDefaults(), Timeout: time.Second, Fatal: func(error) bool { return false },
		Clock: fc, Logger: slog.New(slog.DiscardHandler)})
}

// TestCleanerDeletesExpiredTrees: each status class is kept for its own
// period, trees go whole, and what is not finished or not expired stays.
func TestCleanerDeletesExpiredTrees(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	store := memory.New()
	root := finishedRow("root", storage.StatusCompleted, t0)
	kid := storage.Execution{ID: "kid", TaskID: "t", Status: storage.StatusCompleted, FinishedAt: t0,
		RootID: "root", RootTaskID: "t", ParentID: "root", ParentTaskID: "t"}
	rows := []storage.Execution{root, kid,
		finishedRow("done-late", storage.StatusCompleted, t0.Add(50*time.Minute)),
		finishedRow("failed", storage.StatusFailed, t0),
		finishedRow("timed-out", storage.StatusTimedOut, t0),
		finishedRow("cancelled", storage.StatusCancelled, t0),
		{ID: "ready", TaskID: "t", Status: storage.StatusReady},
	}
	for i := range 7 { // more than one batch
		rows = append(rows, finishedRow("done-"+string(rune('a'+i)), storage.StatusCompleted, t0))
	}
	if err := store.Insert(ctx, storage.InsertParams{Now: t0, Executions: rows}); err != nil {
		t.Fatal(err)
	}
	c := newTestCleaner(t, store, "ex-1", fc, Retention{Completed: time.Hour, Failed: 2 * time.Hour, Cancelled: -1, Batch: 3})
	stop := make(chan struct{})

	fc.Set(t0.Add(time.Hour + time.Second))
	if n := c.clean(stop); n != 9 { // root, kid, done-a..g
		t.Errorf("after 1h: deleted %d rows, want 9", n)
	}
	requireRows(t, store, []string{"done-late", "failed", "timed-out", "cancelled", "ready"}, []string{"root", "kid", "done-a", "done-g"})

	fc.Set(t0.Add(2*time.Hour + time.Second))
	if n := c.clean(stop); n != 3 { // done-late, failed, timed-out
		t.Errorf("after 2h: deleted %d rows, want 3", n)
	}
	requireRows(t, store, []string{"cancelled", "ready"}, []string{"done-late", "failed", "timed-out"})

	fc.Set(t0.Add(1000 * time.Hour))
	if n := c.clean(stop); n != 0 {
		t.Errorf("cancelled kept forever and a ready row: deleted %d, want 0", n)
	}
}

// TestCleanerGoesPastTreesWithActiveRows: a finished root whose tree holds
// an unfinished row (which the engine never leaves) is kept and logged,
// and the cleaning goes on past it, batch after batch.
func TestCleanerGoesPastTreesWithActiveRows(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	store := memory.New()
	stuck := finishedRow("stuck", storage.StatusCompleted, t0)
	kid := storage.Execution{ID: "stuck-kid", TaskID: "t", Status: storage.StatusRunning, ExecutorID: "gone",
		RootID: "stuck", RootTaskID: "t", ParentID: "stuck", ParentTaskID: "t"}
	rows := []storage.Execution{stuck, kid}
	for i := range 5 {
		rows = append(rows, finishedRow("done-"+string(rune('a'+i)), storage.StatusCompleted, t0))
	}
	if err := store.Insert(ctx, storage.InsertParams{Now: t0, Executions: rows, Delays: make([]time.Duration, len(rows))}); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	c := newTestCleaner(t, store, "ex-1", fc, Retention{Completed: time.Hour, Batch: 2})
	c.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	fc.Set(t0.Add(2 * time.Hour))
	if n := c.clean(make(chan struct{})); n != 5 {
		t.Errorf("deleted %d rows, want the 5 trees of one row", n)
	}
	requireRows(t, store, []string{"stuck", "stuck-kid"}, []string{"done-a", "done-e"})
	if got := logs.String(); !strings.Contains(got, "execution=stuck") || !strings.Contains(got, "level=WARN") {
		t.Errorf("log: %q, want a warning naming the kept tree", got)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func requireRows(t *testing.T, store *memory.Store, present, absent []string) {
	t.Helper()
	for _, id := range present {
		if _, err := store.Get(t.Context(), storage.GetParams{ID: id}); err != nil {
			t.Errorf("%s: %v, want it kept", id, err)
		}
	}
	for _, id := range absent {
		if _, err := store.Get(t.Context(), storage.GetParams{ID: id}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: %v, want it deleted", id, err)
		}
	}
}

// TestCleanerOneAtATime: of two executors' cleaners on one store, only the
// lease holder deletes; when it stops, it gives the lease up and the other
// takes over at once.
func TestCleanerOneAtATime(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	store := memory.New()
	insert := func(ids ...string) {
		t.Helper()
		var rows []storage.Execution
		for _, id := range ids {
			rows = append(rows, finishedRow(id, storage.StatusCompleted, fc.Now()))
		}
		if err := store.Insert(ctx, storage.InsertParams{Now: fc.Now(), Executions: rows}); err != nil {
			t.Fatal(err)
		}
	}
	r := Retention{Completed: time.Minute}
	a := newTestCleaner(t, store, "ex-a", fc, r)
	b := newTestCleaner(t, store, "ex-b", fc, r)
	stop := make(chan struct{})

	insert("x1", "x2")
	fc.Advance(2 * time.Minute)
	if n := a.clean(stop); n != 2 {
		t.Fatalf("a (takes the lease): deleted %d, want 2", n)
	}
	insert("y1")
	fc.Advance(time.Minute + time.Second) // y1 expired; a's lease (2 intervals) still holds
	if n := b.clean(stop); n != 0 {
		t.Fatalf("b while a holds the lease: deleted %d, want 0", n)
	}
	a.resign()
	if n := b.clean(stop); n != 1 {
		t.Fatalf("b after a gave the lease up: deleted %d, want 1", n)
	}
}

// TestCleanerRunsInTheExecutor: a started executor cleans on its own,
// every Interval, and stops cleaning at Shutdown.
func TestCleanerRunsInTheExecutor(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	fc := clock.NewFake(t0)
	store := memory.New()
	if err := store.Insert(ctx, storage.InsertParams{Now: t0, Executions: []storage.Execution{
		finishedRow("old", storage.StatusCompleted, t0)}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	deleted := make(chan struct{})
	ex, err := New(deleteWatcher{Store: store, after: func() {
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-deleted:
		default:
			close(deleted)
		}
	}}, Config{Clock: fc, Logger: slog.New(slog.DiscardHandler), Retention: Retention{Completed: time.Hour, Interval: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer ex.Shutdown(context.Background())
	// The clock moves on until the cleaner has deleted: its timer is made
	// by its goroutine, which may not have run before a first Advance.
	deadline := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case <-deleted:
			done = true
		case <-deadline:
			t.Fatal("the executor's cleaner did not delete the expired execution")
		case <-time.After(5 * time.Millisecond):
			fc.Advance(10 * time.Minute)
		}
	}
	requireRows(t, store, nil, []string{"old"})
}

// deleteWatcher calls after after each DeleteExpired.
type deleteWatcher struct {
	*memory.Store
	after func()
}

func (w deleteWatcher) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	res, err := w.Store.DeleteExpired(ctx, p)
	if res.Rows > 0 {
		w.after()
	}
	return res, err
}

// TestCleanerPacesToShare: after each batch the cleaner pauses so that the
// batch is Retention.Share of the batch and the pause; with a share of 1
// it does not pause.
func TestCleanerPacesToShare(t *testing.T) {
	for _, c := range []struct {
		share float64
		gap   time.Duration // from one batch's start to the next's, a batch taking 1s
	}{{0, 3 * time.Second}, {1.0 / 5, 5 * time.Second}, {1, time.Second}} {
		t.Run(fmt.Sprint(c.share), func(t *testing.T) {
			ctx := t.Context()
			t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			fc := clock.NewFake(t0)
			store := memory.New()
			var rows []storage.Execution
			for _, id := range []string{"a", "b", "c"} {
				rows = append(rows, finishedRow(id, storage.StatusCompleted, t0))
			}
			if err := store.Insert(ctx, storage.InsertParams{Now: t0, Executions: rows, Delays: make([]time.Duration, len(rows))}); err != nil {
				t.Fatal(err)
			}
			fc.Set(t0.Add(2 * time.Hour))
			cl := newTestCleaner(t, store, "ex-1", fc, Retention{Completed: time.Hour, Failed: -1, Cancelled: -1, Batch: 1, Share: c.share})
			var mu sync.Mutex
			var starts []time.Time
			cl.cfg.DeleteExpired = func(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
				mu.Lock()
				starts = append(starts, fc.Now())
				mu.Unlock()
				res, err := store.DeleteExpired(ctx, p)
				fc.Advance(time.Second) // the batch takes a second
				return res, err
			}
			done := make(chan int)
			go func() { done <- cl.clean(make(chan struct{})) }()
			for n := -1; n < 0; {
				select {
				case n = <-done:
					if n != 3 {
						t.Errorf("deleted %d rows, want 3", n)
					}
				default:
					if fc.Timers() > 0 {
						fc.Advance(100 * time.Millisecond) // the pause's end is a multiple of it
					} else {
						runtime.Gosched()
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(starts) != 4 { // 3 full batches, then one that finds nothing
				t.Fatalf("%d calls, want 4", len(starts))
			}
			for i := 1; i < len(starts); i++ {
				if gap := starts[i].Sub(starts[i-1]); gap != c.gap {
					t.Errorf("call %d started %v after the one before, want %v", i+1, gap, c.gap)
				}
			}
		})
	}
}
