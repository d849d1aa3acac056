package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

var testNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func openInternal(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "durable.db"), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// blockWriter occupies the writer goroutine until release is called, so
// that the calls made meanwhile queue up and run in one batch.
func blockWriter(t *testing.T, s *Store) (release func()) {
	t.Helper()
	started, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.submit(context.Background(), "block", func(*writeTx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking write: %v", err)
		}
	}
}

// waitQueued waits until n requests are queued behind the blocked writer.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.w.queue) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued after 10s, want %d", len(s.w.queue), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func row(id string) storage.Execution {
	return storage.Execution{ID: id, TaskID: "task", Status: storage.StatusReady}
}

func TestGroupCommitSharesOneTransaction(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	release := blockWriter(t, s)
	const calls = 50
	var wg sync.WaitGroup
	errs := make([]error, calls)
	for i := range calls {
		wg.Go(func() {
			errs[i] = s.Insert(context.Background(), storage.InsertParams{
				Now: testNow, Executions: []storage.Execution{row(fmt.Sprintf("r%d", i))},
			})
		})
	}
	waitQueued(t, s, calls)
	before := s.w.commits.Load()
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Insert %d: %v", i, err)
		}
	}
	// One commit is the blocking call's own; the queued calls share the next.
	if got := s.w.commits.Load() - before; got != 2 {
		t.Fatalf("%d queued inserts took %d commits, want 1", calls, got-1)
	}
}

func TestGroupCommitIsolatesAFailingCall(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	ctx := context.Background()
	if err := s.Insert(ctx, storage.InsertParams{Now: testNow, Executions: []storage.Execution{row("dup")}}); err != nil {
		t.Fatal(err)
	}
	release := blockWriter(t, s)
	ids := [][]string{{"a1", "a2"}, {"b1", "dup"}, {"c1"}}
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, batch := range ids {
		wg.Go(func() {
			var rows []storage.Execution
			for _, id := range batch {
				rows = append(rows, row(id))
			}
			errs[i] = s.Insert(ctx, storage.InsertParams{Now: testNow, Executions: rows})
		})
		waitQueued(t, s, i+1) // keep the order: the failing call is in the middle
	}
	release()
	wg.Wait()
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("the calls beside the failing one failed: %v, %v", errs[0], errs[2])
	}
	if !errors.Is(errs[1], storage.ErrDuplicate) {
		t.Fatalf("duplicate insert: want ErrDuplicate, got %v", errs[1])
	}
	for _, id := range []string{"a1", "a2", "c1"} {
		if _, err := s.Get(ctx, storage.GetParams{ID: id}); err != nil {
			t.Errorf("Get(%s): %v", id, err)
		}
	}
	if _, err := s.Get(ctx, storage.GetParams{ID: "b1"}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(b1) of the failed insert: want ErrNotFound, got %v", err)
	}
}

func TestQueuedCallAbandonedByItsContextChangesNothing(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	release := blockWriter(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Insert(ctx, storage.InsertParams{Now: testNow, Executions: []storage.Execution{row("a")}})
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Insert with a cancelled context: want context.Canceled, got %v", err)
	}
	release()
	// A write after it proves the writer has passed the abandoned call.
	if err := s.Insert(context.Background(), storage.InsertParams{Now: testNow, Executions: []storage.Execution{row("b")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(context.Background(), storage.GetParams{ID: "a"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the abandoned insert was applied: Get(a) = %v", err)
	}
}

func TestDurabilitySetsSynchronous(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{
		{Config{}, 2},
		{Config{Durability: DurabilityFull}, 2},
		{Config{Durability: DurabilityNormal}, 1},
	} {
		s := openInternal(t, tc.cfg)
		var got int
		var mode string
		err := s.submit(context.Background(), "pragma", func(tx *writeTx) error {
			if err := tx.w.conn.QueryRowContext(context.Background(), "PRAGMA synchronous").Scan(&got); err != nil {
				return err
			}
			return tx.w.conn.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want || mode != "wal" {
			t.Errorf("%+v: synchronous=%d journal_mode=%s, want %d and wal", tc.cfg, got, mode, tc.want)
		}
	}
}

func TestQueriesFileIsWellFormed(t *testing.T) {
	t.Parallel()
	qs, err := parseQueries(queriesSQL)
	if err != nil {
		t.Fatal(err)
	}
	for name, q := range qs {
		if name != "columns" && len(q) < 10 {
			t.Errorf("query %s is suspiciously short: %q", name, q)
		}
	}
	if _, err := parseQueries("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n-- name: columns\nx"); err == nil {
		t.Error("a query defined twice was accepted")
	}
	if _, err := parseQueries("-- name: a\nSELECT {{columns}}\n-- name: columns\nx"); err == nil {
		t.Error("a file without the mutable_columns and done_set fragments was accepted")
	}
	for name, q := range qs {
		if strings.Contains(q, "{{") && !strings.Contains(q, "{{rows}}") && !strings.Contains(q, "{{insert_columns}}") &&
			!strings.Contains(q, "{{arms}}") && !strings.Contains(q, "{{q}}") {
			t.Errorf("query %s keeps an unknown fragment: %q", name, q)
		}
	}
	for k := 2; k <= maxMergedQueues; k++ {
		if q := claimQueuesQuery(k); strings.Contains(q, "{{") || strings.Count(q, "UNION ALL") != k-1 {
			t.Errorf("claim_queues of %d queues: %q", k, q)
		}
	}
	if q := query("claim_priority"); strings.Contains(q, "{{") || !strings.Contains(q, "json_group_array") {
		t.Errorf("claim_priority: %q", q)
	}
}
