package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/sqlite"
	"github.com/durable-go/durable/storage/storagetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// openTemp opens a store on a new file in t.TempDir and closes it at the
// end of the test.
func openTemp(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "durable.db")
	return openAt(t, path, sqlite.Config{}), path
}

// openAt opens a store on path and closes it at the end of the test.
func openAt(t *testing.T, path string, cfg sqlite.Config) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func ready(id string) storage.Execution {
	return storage.Execution{ID: id, TaskID: "task", Status: storage.StatusReady}
}

func insert(t *testing.T, s storage.Store, rows ...storage.Execution) {
	t.Helper()
	if err := s.Insert(context.Background(), storage.InsertParams{Now: now, Executions: rows}); err != nil {
		t.Fatalf("Insert: %v", err)
	}
}

func get(t *testing.T, s storage.Store, id string) storage.Execution {
	t.Helper()
	e, err := s.Get(context.Background(), storage.GetParams{ID: id})
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return e
}

func claimAll(t *testing.T, s storage.Store, executor string) []storage.Execution {
	t.Helper()
	rows, err := s.Claim(context.Background(), storage.ClaimParams{
		Now: now, ExecutorID: executor, TaskIDs: []string{"task"}, Limit: 1000, Lease: time.Minute,
	})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return rows
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestOpenRejectsBadPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
		is               error
	}{
		{"Empty", "", "empty database path", nil},
		{"Memory", ":memory:", "storage/memory", nil},
		{"URI", "file:x.db?mode=memory", "not an SQLite URI", nil},
		{"Directory", dir, "is a directory", nil},
		{"MissingDirectory", filepath.Join(dir, "missing", "durable.db"), "does not exist", nil},
		{"ParentIsAFile", filepath.Join(file, "durable.db"), "is not a directory", nil},
		{"TextFile", text, "not an SQLite database", sqlite.ErrNotDatabase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(context.Background(), tc.path, sqlite.Config{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.path)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%q): %v; want it to say %q", tc.path, err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Open(%q): %v; want it to wrap %v", tc.path, err, tc.is)
			}
		})
	}
}

// TestOpenRejectsBadConfig: a bad Config field fails Open with an error
// naming the field and the bad value, before the file is touched.
func TestOpenRejectsBadConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "durable.db")
	for _, tc := range []struct {
		cfg  sqlite.Config
		want []string // in the error
	}{
		{sqlite.Config{Durability: sqlite.Durability(7)}, []string{"Config.Durability", "Durability(7)"}},
		{sqlite.Config{Check: sqlite.Check(9)}, []string{"Config.Check", "Check(9)"}},
		{sqlite.Config{BusyTimeout: -time.Second}, []string{"Config.BusyTimeout", "-1s"}},
		{sqlite.Config{MaxReaders: -1}, []string{"Config.MaxReaders", "-1"}},
		{sqlite.Config{MaxBatch: -2}, []string{"Config.MaxBatch", "-2"}},
	} {
		s, err := sqlite.Open(context.Background(), path, tc.cfg)
		if err == nil {
			s.Close()
			t.Errorf("Open with %+v succeeded", tc.cfg)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open with %+v: %v; want it to say %q", tc.cfg, err, w)
			}
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open with a bad Config touched the file: %v", err)
	}
}

func TestOpenKeepsDataAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "durable.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.Config{Durability: sqlite.DurabilityNormal})
	if err != nil {
		t.Fatal(err)
	}
	insert(t, s, ready("a"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, sqlite.Config{})
	if e := get(t, s, "a"); e.Status != storage.StatusReady || !e.CreatedAt.Equal(now) {
		t.Fatalf("after reopening: %+v", e)
	}
}

// rawDB opens path with the driver directly, to tamper with it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open(sqlite.DriverName, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	s.Close()
	_, err := rawDB(t, path).Exec(`INSERT INTO durable_migrations (version, name, checksum, applied_at)
		VALUES (?, '099_future', 'x', 0)`, sqlite.SchemaVersion()+1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(context.Background(), path, sqlite.Config{})
	if !errors.Is(err, sqlite.ErrNewerSchema) {
		t.Fatalf("Open of a newer database: want ErrNewerSchema, got %v", err)
	}
	for _, want := range []string{
		fmt.Sprintf("schema version %d", sqlite.SchemaVersion()+1),
		fmt.Sprintf("versions up to %d", sqlite.SchemaVersion()),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestOpenRejectsAlteredMigration(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	s.Close()
	if _, err := rawDB(t, path).Exec(`UPDATE durable_migrations SET checksum = 'edited' WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(context.Background(), path, sqlite.Config{})
	if err == nil || !strings.Contains(err.Error(), "different file") {
		t.Fatalf("Open with an altered migration: %v", err)
	}
}

func TestOpenMigratesADatabaseWithOtherTables(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.db")
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TABLE users (name TEXT); INSERT INTO users VALUES ('ann')`); err != nil {
		t.Fatal(err)
	}
	s := openAt(t, path, sqlite.Config{})
	insert(t, s, ready("a"))
	var name string
	if err := db.QueryRow(`SELECT name FROM users`).Scan(&name); err != nil || name != "ann" {
		t.Fatalf("the application's table after Open: %q, %v", name, err)
	}
}

// TestReleasedMigrationsAreUnchanged pins the checksum of every released
// migration: a released file must never change (add a new one instead).
func TestReleasedMigrationsAreUnchanged(t *testing.T) {
	t.Parallel()
	released := map[string]string{
		"001_init.sql":             "e7cf14a1b32d9512ab4f41733791ea2d52cd59c48296dc9a748da23672204c92",
		"002_events.sql":           "113a63366966af7bc8daf8863592024c0ddbea964065cb2eb876ca5af191f02b",
		"003_due_index_status.sql": "283a63863ca485cc64a696178410270ebfb5b8d0e2361e59d69bf846717c8711",
		"004_list.sql":             "a200de550115ad88d3c60ebc6106fdfaa16484864c7aac234df57c1534ba751d",
		"005_leases.sql":           "253c3f4a9d35627e0da884b52022d323bcd5695e90a74facaef6e40ad10be53d",
		"006_metadata.sql":         "3919d3b7b8124807df8bdf3c3535e2d3f21792d98156aa4fc86e671308c4c4f1",
		"007_queues.sql":           "e80b35eafbe9ecb083f91a2b1d2d9c275c6a1126277c9ca6da419492a28e2812",
		"008_active_key.sql":       "0dda93de49780a3349414f72c80ce98dba8391ab10527e4634dda5a0cc070ed4",
		"009_limits.sql":           "3666d2a1fac5cdfc3424db8e349a36642e0e0f1c672acc5b0dc468f66e2785e9",
		"010_key_limits.sql":       "acfb258ea25da5c80f702f0c13f2e349d5fad9edfab70661eacf2289d85134a4",
		"011_due_task.sql":         "61624821b64a1b02f77b08a9711b7c4abc70b69e91fd0a6bb051015e30c1d975",
	}
	files, err := fs.ReadDir(sqlite.Migrations(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != sqlite.SchemaVersion() {
		t.Fatalf("%d migration files, SchemaVersion() = %d", len(files), sqlite.SchemaVersion())
	}
	for name, want := range released {
		b, err := fs.ReadFile(sqlite.Migrations(), name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("released migration %s changed: sha256 %s, want %s", name, got, want)
		}
	}
}

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "durable.db")
	const opens = 4
	stores := make([]*sqlite.Store, opens)
	errs := make([]error, opens)
	var wg sync.WaitGroup
	for i := range opens {
		wg.Go(func() { stores[i], errs[i] = sqlite.Open(context.Background(), path, sqlite.Config{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM durable_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != sqlite.SchemaVersion() {
		t.Fatalf("%d migrations recorded, want %d", n, sqlite.SchemaVersion())
	}
	insert(t, stores[0], ready("a"))
	if e := get(t, stores[opens-1], "a"); e.ID != "a" {
		t.Fatalf("a row written by one store is not seen by another: %+v", e)
	}
}

// TestTwoStoresOnOneFileNeverShareAClaim runs two stores on one file, as two
// processes would, claiming concurrently: every row is claimed exactly once.
func TestTwoStoresOnOneFileNeverShareAClaim(t *testing.T) {
	t.Parallel()
	a, path := openTemp(t)
	b := openAt(t, path, sqlite.Config{})
	const n = 500
	rows := make([]storage.Execution, n)
	for i := range rows {
		rows[i] = ready(fmt.Sprintf("r%04d", i))
	}
	insert(t, a, rows...)

	var mu sync.Mutex
	claimedBy := map[string]string{}
	var wg sync.WaitGroup
	for _, w := range []struct {
		name  string
		store *sqlite.Store
	}{{"a1", a}, {"a2", a}, {"b1", b}, {"b2", b}} {
		wg.Go(func() {
			for {
				got, err := w.store.Claim(context.Background(), storage.ClaimParams{
					Now: now, ExecutorID: w.name, TaskIDs: []string{"task"}, Limit: 5, Lease: time.Hour,
				})
				if err != nil {
					t.Errorf("Claim by %s: %v", w.name, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, e := range got {
					if prev, dup := claimedBy[e.ID]; dup {
						t.Errorf("%s claimed by %s and %s", e.ID, prev, w.name)
					}
					claimedBy[e.ID] = w.name
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimedBy) != n {
		t.Fatalf("%d rows claimed, want %d", len(claimedBy), n)
	}
	perStore := map[byte]int{}
	for _, by := range claimedBy {
		perStore[by[0]]++
	}
	t.Logf("claims per store: a=%d b=%d", perStore['a'], perStore['b'])
}

// TestEventsOfEveryStoreOnTheFile: a store publishes the events of its own
// writes before they return, and those of the other stores on the file (in
// this process or another) when its watcher reads them, each once.
func TestEventsOfEveryStoreOnTheFile(t *testing.T) {
	t.Parallel()
	a, path := openTemp(t)
	b := openAt(t, path, sqlite.Config{})
	events := make(chan storage.Event, 10)
	defer b.Subscribe(func(ev storage.Event) { events <- ev })()
	insert(t, b, ready("from-b"))
	select {
	case ev := <-events:
		if !ev.Ready {
			t.Errorf("b's event for its own insert: %+v, want Ready", ev)
		}
	default:
		t.Fatal("b published no event for its own insert before Insert returned")
	}
	insert(t, a, ready("from-a"))
	select {
	case ev := <-events:
		if !ev.Ready {
			t.Errorf("b's event for a's insert: %+v, want Ready", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b heard nothing of a's insert")
	}
	select {
	case ev := <-events:
		t.Fatalf("b published another event: %+v", ev)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestCompleteAppliesInOrder checks batches whose transitions interact (a
// cascade, a child and its parent in one call): the outcome must be that of
// applying them one after the other.
func TestCompleteAppliesInOrder(t *testing.T) {
	t.Parallel()
	for _, parentFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("ParentFirst=%v", parentFirst), func(t *testing.T) {
			s, _ := openTemp(t)
			parent, kids := spawn(t, s, "p", 3)
			// The parent fails (cascading to its children) and the first
			// child completes, in one call.
			failParent := storage.Transition{ID: "p", Fence: parent.Fence, From: storage.StatusWaitingForChildren,
				To: storage.StatusFailed, Error: &storage.ErrorInfo{Kind: "generic", Message: "boom"}}
			doneKid := storage.Transition{ID: kids[0].ID, Fence: kids[0].Fence, From: storage.StatusRunning,
				To: storage.StatusCompleted, Output: []byte("1")}
			ts := []storage.Transition{doneKid, failParent}
			if parentFirst {
				ts = []storage.Transition{failParent, doneKid}
			}
			res, err := s.Complete(context.Background(), storage.CompleteParams{Now: now, Transitions: ts})
			if err != nil {
				t.Fatal(err)
			}
			kid := get(t, s, kids[0].ID)
			if parentFirst {
				if !res[0].Applied || res[1].Applied || kid.Status != storage.StatusCancelled {
					t.Fatalf("parent first: results %+v, child %s; want the child cancelled and its completion refused", res, kid.Status)
				}
			} else {
				if !res[0].Applied || !res[1].Applied || kid.Status != storage.StatusCompleted {
					t.Fatalf("child first: results %+v, child %s; want both applied", res, kid.Status)
				}
			}
			for _, k := range kids[1:] {
				if e := get(t, s, k.ID); e.Status != storage.StatusCancelled {
					t.Errorf("child %s: %s, want cancelled", k.ID, e.Status)
				}
			}
		})
	}
}

func TestCompleteBatchOfSiblings(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	_, kids := spawn(t, s, "p", 300)
	var mu sync.Mutex
	var ready []string
	defer s.Subscribe(func(ev storage.Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Ready {
			ready = append(ready, "ready")
		}
	})()
	ts := make([]storage.Transition, len(kids))
	for i, k := range kids {
		ts[i] = storage.Transition{ID: k.ID, Fence: k.Fence, From: storage.StatusRunning, To: storage.StatusCompleted}
	}
	// All but the last in one call: the parent stays waiting.
	res, err := s.Complete(context.Background(), storage.CompleteParams{Now: now, Transitions: ts[:len(ts)-1]})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Applied || r.Err != nil {
			t.Fatalf("transition %d: %+v", i, r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if p := get(t, s, "p"); p.ChildrenPending != 1 || !p.DueAt.IsZero() || len(ready) != 0 {
		t.Fatalf("parent after %d of %d children: pending %d, due %v, ready events %d",
			len(ts)-1, len(ts), p.ChildrenPending, p.DueAt, len(ready))
	}
	mu.Unlock()
	if _, err := s.Complete(context.Background(), storage.CompleteParams{Now: now, Transitions: ts[len(ts)-1:]}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if p := get(t, s, "p"); p.ChildrenPending != 0 || !p.DueAt.Equal(now) || len(ready) != 1 {
		t.Fatalf("parent after the last child: pending %d, due %v, ready events %d", p.ChildrenPending, p.DueAt, len(ready))
	}
}

// spawn inserts parent id, claims it, moves it to waiting_for_children with
// n children, and claims the children. It returns the parent and the
// claimed children.
func spawn(t *testing.T, s storage.Store, id string, n int) (storage.Execution, []storage.Execution) {
	t.Helper()
	insert(t, s, ready(id))
	p := claimAll(t, s, "exec")[0]
	kids := make([]storage.Execution, n)
	for i := range kids {
		kids[i] = storage.Execution{ID: fmt.Sprintf("%s.%03d", id, i), TaskID: "task", Status: storage.StatusReady,
			ParentID: id, ParentTaskID: "task", RootID: id, RootTaskID: "task", ChildIndex: i}
	}
	res, err := s.Complete(context.Background(), storage.CompleteParams{Now: now, Transitions: []storage.Transition{{
		ID: id, Fence: p.Fence, From: storage.StatusRunning, To: storage.StatusWaitingForChildren, Children: kids,
	}}})
	if err != nil || !res[0].Applied || res[0].Err != nil {
		t.Fatalf("spawn: %+v, %v", res, err)
	}
	claimed := claimAll(t, s, "exec")
	if len(claimed) != n {
		t.Fatalf("claimed %d children, want %d", len(claimed), n)
	}
	return get(t, s, id), claimed
}
