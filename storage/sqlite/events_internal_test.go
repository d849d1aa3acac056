package sqlite

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

func TestPackIDs(t *testing.T) {
	t.Parallel()
	cases := [][]string{
		nil,
		{"a"},
		{""},
		{"te_01m8swmyk8y16p74r7fvqjkfx2", "te_01m8swmyk8y16p74r7fvqjkfx3", "te_01m8swmyk8y16p74r7fvqjkfx4"},
		{"abc", "ab", "abcd", "", "x", strings.Repeat("é", 200), strings.Repeat("é", 199) + "e", "\x00\xff"},
	}
	for _, ids := range cases {
		b := packIDs(nil, ids)
		got, err := unpackIDs(nil, b)
		if err != nil || !slices.Equal(got, ids) && len(ids) > 0 {
			t.Errorf("unpack(pack(%q)) = %q, %v", ids, got, err)
		}
	}
	b := packIDs(nil, []string{"te_01m8swmyk8y16p74r7fvqjkfx2", "te_01m8swmyk8y16p74r7fvqjkfx3"})
	if len(b) != 2+29+3 {
		t.Errorf("two ULIDs made in order pack to %d bytes, want %d", len(b), 2+29+3)
	}
	for _, bad := range [][]byte{{0x80}, {5, 1, 'a'}, {0, 9, 'a'}} {
		if _, err := unpackIDs(nil, bad); err == nil {
			t.Errorf("unpack(%v): no error", bad)
		}
	}
}

// eventRecorder collects the events a store publishes.
type eventRecorder struct {
	ch chan storage.Event
}

func recordEvents(s *Store) *eventRecorder {
	r := &eventRecorder{ch: make(chan storage.Event, 1000)}
	s.Subscribe(func(ev storage.Event) { r.ch <- ev })
	return r
}

// next returns the next event, failing after within.
func (r *eventRecorder) next(t *testing.T, within time.Duration) storage.Event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %v", within)
		return storage.Event{}
	}
}

func (r *eventRecorder) none(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case ev := <-r.ch:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(within):
	}
}

func readyRow(id string) storage.Execution {
	return storage.Execution{ID: id, TaskID: "t", Status: storage.StatusReady}
}

// TestStoresHearEachOther: two stores on one file (as two processes
// would) hear each other's events, once each, and not their own twice.
func TestStoresHearEachOther(t *testing.T) {
	for _, notify := range []bool{true, false} {
		t.Run(fmt.Sprintf("notify=%v", notify), func(t *testing.T) {
			defer func(v bool) { watchFileChanges = v }(watchFileChanges)
			watchFileChanges = notify
			path := filepath.Join(t.TempDir(), "durable.db")
			a, err := Open(t.Context(), path, Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := Open(t.Context(), path, Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if notify && runtime.GOOS == "linux" && a.watch.changes == nil {
				t.Fatal("the watcher does not watch the WAL")
			}
			ra, rb := recordEvents(a), recordEvents(b)
			ctx := t.Context()

			// An insert in a: a hears it from its writer, b from its watcher.
			t0 := time.Now()
			if err := a.Insert(ctx, storage.InsertParams{Now: testNow, Executions: []storage.Execution{readyRow("x1"), readyRow("x2")}}); err != nil {
				t.Fatal(err)
			}
			if ev := ra.next(t, time.Second); !ev.Ready {
				t.Errorf("a's own event %+v, want Ready", ev)
			}
			ev := rb.next(t, 5*time.Second)
			t.Logf("insert in a -> event in b after %v", time.Since(t0))
			if !ev.Ready || len(ev.Finished) != 0 {
				t.Errorf("b heard %+v, want Ready", ev)
			}
			// A cancel in b: a hears the finished id.
			t0 = time.Now()
			if _, err := b.Cancel(ctx, storage.CancelParams{Now: testNow, ID: "x1", Error: storage.ErrorInfo{Kind: storage.ErrorKindCancelled}}); err != nil {
				t.Fatal(err)
			}
			ev = ra.next(t, 5*time.Second)
			t.Logf("cancel in b -> event in a after %v", time.Since(t0))
			if !slices.Equal(ev.Finished, []string{"x1"}) {
				t.Errorf("a heard %+v, want x1 finished", ev)
			}
			if ev := rb.next(t, time.Second); !slices.Equal(ev.Finished, []string{"x1"}) {
				t.Errorf("b's own event %+v, want x1 finished", ev)
			}
			// No echo of one's own events.
			ra.none(t, 300*time.Millisecond)
			rb.none(t, 10*time.Millisecond)
			if a.watch.missed.Load()+b.watch.missed.Load() != 0 {
				t.Errorf("missed events")
			}
		})
	}
}

// TestEventRowsArePruned: the events table keeps about eventRetention of
// rows, and a watcher that fell behind the pruning says so with Ready.
func TestEventRowsArePruned(t *testing.T) {
	defer func(r, e time.Duration) { eventRetention, pruneEvery = r, e }(eventRetention, pruneEvery)
	eventRetention, pruneEvery = 100*time.Millisecond, 10*time.Millisecond
	path := filepath.Join(t.TempDir(), "durable.db")
	a, err := Open(t.Context(), path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rb := recordEvents(b)
	ctx := t.Context()
	const inserts = 40
	start := time.Now()
	for i := range inserts {
		if err := a.Insert(ctx, storage.InsertParams{Now: testNow, Executions: []storage.Execution{readyRow(fmt.Sprint("x", i))}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var rows, first int64
	if err := a.rdb.QueryRow(`SELECT count(*), min(seq) FROM durable_events`).Scan(&rows, &first); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d inserts over %v: %d event rows left, from seq %d", inserts, time.Since(start).Round(time.Millisecond), rows, first)
	if rows >= inserts || first <= 1 {
		t.Errorf("%d event rows left from seq %d: none pruned", rows, first)
	}
	if rb.next(t, 5*time.Second); b.watch.missed.Load() != 0 {
		t.Errorf("b's watcher, which kept up, missed events")
	}
	// A watcher that last looked before the pruned rows: it reports Ready.
	w := &watcher{s: b, tag: "someone else", db: b.rdb}
	if err := w.open(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { w.read.Close(); w.conn.Close() }()
	w.pos = 0
	for len(rb.ch) > 0 {
		<-rb.ch
	}
	w.check()
	if w.missed.Load() != 1 {
		t.Errorf("a watcher behind the pruning: missed = %d, want 1", w.missed.Load())
	}
	if ev := rb.next(t, time.Second); !ev.Ready {
		t.Errorf("a watcher behind the pruning published %+v, want Ready", ev)
	}
}

// TestManyStoresAreSignalled: the stores of a process share one inotify
// instance (a user may have only 128 of them), so each of many stores is
// woken by the signal; two stores on one file keep hearing each other when
// a third store on it closes.
func TestManyStoresAreSignalled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify")
	}
	dir := t.TempDir()
	const n = 130
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(t.Context(), filepath.Join(dir, fmt.Sprintf("db%d", i%(n-3))), Config{Check: CheckNone, MaxReaders: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
		if s.watch.changes == nil {
			t.Fatalf("store %d is not signalled: it polls", i)
		}
	}
	// Stores 0 and n-3 share the file db0 (and so one inotify watch): when
	// n-3 closes, 0 still hears the writes of another store on db0.
	if err := stores[n-3].Close(); err != nil {
		t.Fatal(err)
	}
	inotifyMu.Lock()
	watched := false
	for _, list := range inotifyCur.subs {
		for _, ch := range list {
			watched = watched || (<-chan struct{})(ch) == stores[0].watch.changes
		}
	}
	inotifyMu.Unlock()
	if !watched {
		t.Fatal("store 0 lost its watch when another store on its file closed")
	}
	c, err := Open(t.Context(), filepath.Join(dir, "db0"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r0 := recordEvents(stores[0])
	if err := c.Insert(t.Context(), storage.InsertParams{Now: testNow, Executions: []storage.Execution{readyRow("x")}}); err != nil {
		t.Fatal(err)
	}
	if ev := r0.next(t, 5*time.Second); !ev.Ready {
		t.Errorf("heard %+v, want Ready", ev)
	}
}
