package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestMigration012 opens a database at schema version 11 holding a
// running row of a queue limited to one, as the code before migration 012
// left it: Open migrates it, and the row, flagged in
// durable_executions_running, holds the queue's slot: the next row of the
// queue is not claimed.
func TestMigration012(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v11.db")
	db := openAtVersion(t, path, 11)
	at := testNow.UnixMicro()
	lease := testNow.Add(time.Hour).UnixMicro()
	_, err := db.Exec(`INSERT INTO durable_executions (id, task_id, queue, status, fence, executor_id, due_at, created_at, updated_at, started_at)
		VALUES ('old', 't', 'lim', 'running', 1, 'x', ?2, ?1, ?1, ?1), ('next', 't', 'lim', 'ready', 0, '', ?1, ?1, ?1, NULL)`, at, lease)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO durable_controls (kind, name, paused, spec, mark, updated_at, concurrency)
		VALUES ('queue', 'lim', 0, NULL, 0, ?1, 1)`, at); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(t.Context(), path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Claim(t.Context(), storage.ClaimParams{Now: testNow, ExecutorID: "y", TaskIDs: []string{"t"}, Limit: 10, Lease: time.Minute})
	if err != nil || len(c) != 0 {
		t.Fatalf("Claim of a queue limited to 1 with a run from before the migration: %d rows, %v; want none", len(c), err)
	}
}
