package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/durable-go/durable/storage"
)

// queueInserts blocks the writer, queues one Insert call per element of
// calls, in order, and releases the writer, so that the calls run in one
// batch; it returns each call's error.
func queueInserts(t *testing.T, s *Store, calls [][]storage.Execution) []error {
	t.Helper()
	release := blockWriter(t, s)
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, rows := range calls {
		wg.Go(func() {
			errs[i] = s.Insert(context.Background(), storage.InsertParams{Now: testNow, Executions: rows})
		})
		waitQueued(t, s, i+1) // keep the order
	}
	release()
	wg.Wait()
	return errs
}

// countRows runs a count query on the write connection.
func countRows(t *testing.T, s *Store, q string) int {
	t.Helper()
	var n int
	err := s.submit(context.Background(), "count", func(tx *writeTx) error {
		return tx.w.conn.QueryRowContext(context.Background(), q).Scan(&n)
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInsertsOfABatchAreStoredTogether(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	var calls [][]storage.Execution
	for i := range 20 {
		r := row(fmt.Sprintf("r%d", i))
		if i%2 == 0 {
			r.Tags = []string{"even", fmt.Sprintf("t%d", i)}
		}
		if i%5 == 0 {
			r.Queue, r.Priority = "other", 3
		}
		calls = append(calls, []storage.Execution{r})
	}
	calls = append(calls, []storage.Execution{row("m1"), row("m2"), row("m3")})
	var mu sync.Mutex
	var ready bool
	defer s.Subscribe(func(ev storage.Event) {
		mu.Lock()
		defer mu.Unlock()
		ready = ready || ev.Ready
	})()
	for i, err := range queueInserts(t, s, calls) {
		if err != nil {
			t.Fatalf("Insert %d: %v", i, err)
		}
	}
	if n := s.w.together.Load(); n != int64(len(calls)) {
		t.Errorf("%d of the %d calls were carried out together, want all", n, len(calls))
	}
	for i := range 20 {
		e, err := s.Get(context.Background(), storage.GetParams{ID: fmt.Sprintf("r%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		wantQueue, wantPriority := storage.DefaultQueue, storage.DefaultPriority
		if i%5 == 0 {
			wantQueue, wantPriority = "other", 3
		}
		if e.Queue != wantQueue || e.Priority != wantPriority || len(e.Tags) != 2*(1-i%2) {
			t.Errorf("r%d stored with queue %q, priority %d, tags %v", i, e.Queue, e.Priority, e.Tags)
		}
	}
	if n := countRows(t, s, "SELECT count(*) FROM durable_executions"); n != 23 {
		t.Errorf("%d rows stored, want 23", n)
	}
	if n := countRows(t, s, "SELECT count(*) FROM durable_execution_tags"); n != 20 {
		t.Errorf("%d tag rows stored, want 20", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !ready {
		t.Error("no event saying rows are ready was published for the batch")
	}
}

func TestInsertsOfABatchConflictingRunAlone(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	ctx := context.Background()
	held := row("holder")
	held.ActiveKey = "held"
	if err := s.Insert(ctx, storage.InsertParams{Now: testNow, Executions: []storage.Execution{held}}); err != nil {
		t.Fatal(err)
	}
	sleeper := func(id, key string) storage.Execution {
		return storage.Execution{ID: id, TaskID: "task", Status: storage.StatusRunning, SleepKey: key, Timeout: 1e9}
	}
	keyed := row("k1")
	keyed.ActiveKey = "held"
	calls := [][]storage.Execution{
		{row("a1")},
		{sleeper("s1", "key")},
		{sleeper("s2", "key")}, // the same sleep key as the call before it
		{keyed},                // an active key an earlier row holds
		{row("a2"), row("a1")}, // an id of the first call
		{row("a3")},
	}
	errs := queueInserts(t, s, calls)
	if n := s.w.together.Load(); n != 0 {
		t.Errorf("%d calls of a batch with conflicts were carried out together, want none", n)
	}
	for _, i := range []int{0, 1, 5} {
		if errs[i] != nil {
			t.Errorf("Insert %d beside the conflicting ones: %v", i, errs[i])
		}
	}
	if !errors.Is(errs[2], storage.ErrDuplicate) {
		t.Errorf("the second insert of a sleep key: want ErrDuplicate, got %v", errs[2])
	}
	var ak *storage.ActiveKeyError
	if !errors.As(errs[3], &ak) || ak.ID != "holder" {
		t.Errorf("an insert of a held active key: want an ActiveKeyError naming holder, got %v", errs[3])
	}
	if !errors.Is(errs[4], storage.ErrDuplicate) {
		t.Errorf("an insert of an existing id: want ErrDuplicate, got %v", errs[4])
	}
	for id, want := range map[string]error{"a1": nil, "s1": nil, "a3": nil, "s2": storage.ErrNotFound,
		"k1": storage.ErrNotFound, "a2": storage.ErrNotFound} {
		if _, err := s.Get(ctx, storage.GetParams{ID: id}); !errors.Is(err, want) {
			t.Errorf("Get(%s) = %v, want %v", id, err, want)
		}
	}
}
