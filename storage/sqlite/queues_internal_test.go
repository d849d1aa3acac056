package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestMigration007 opens a database at schema version 6 holding rows, as
// the code before migration 007 left it: Open migrates it, the old rows
// read back in the default queue with the default priority, the claim
// takes the due one, and the rows and controls inserted since keep theirs.
func TestMigration007(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v6.db")
	db := openAtVersion(t, path, 6)
	at := testNow.UnixMicro()
	_, err := db.Exec(`INSERT INTO durable_executions (id, task_id, status, due_at, created_at, updated_at)
		VALUES ('old-ready', 't', 'ready', ?1, ?1, ?1)`, at)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO durable_executions (id, task_id, status, created_at, updated_at, finished_at)
		VALUES ('old-done', 't', 'completed', ?1, ?1, ?1)`, at)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(t.Context(), path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	for _, id := range []string{"old-ready", "old-done"} {
		e, err := s.Get(ctx, storage.GetParams{ID: id})
		if err != nil || e.Queue != storage.DefaultQueue || e.Priority != storage.DefaultPriority {
			t.Fatalf("Get(%s) after the migration: queue %q priority %d, %v", id, e.Queue, e.Priority, err)
		}
	}
	high := storage.Execution{ID: "new-high", TaskID: "t", Status: storage.StatusReady, Queue: "emails", Priority: 1}
	if err := s.Insert(ctx, storage.InsertParams{Now: testNow, Executions: []storage.Execution{high}}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, storage.ClaimParams{Now: testNow, ExecutorID: "x", TaskIDs: []string{"t"}, Limit: 10, Lease: time.Minute})
	if err != nil || len(c) != 2 || c[0].ID != "new-high" || c[1].ID != "old-ready" {
		t.Fatalf("Claim after the migration: %+v, %v", c, err)
	}
	if c[0].Queue != "emails" || c[0].Priority != 1 || c[1].Queue != storage.DefaultQueue || c[1].Priority != storage.DefaultPriority {
		t.Fatalf("Claim after the migration: queues %q %q, priorities %d %d", c[0].Queue, c[1].Queue, c[0].Priority, c[1].Priority)
	}
	err = s.RegisterControls(ctx, storage.RegisterControlsParams{Now: testNow,
		Controls: []storage.Control{{Kind: storage.ControlQueue, Name: "emails"}}})
	if err != nil {
		t.Fatalf("RegisterControls after the migration: %v", err)
	}
}
