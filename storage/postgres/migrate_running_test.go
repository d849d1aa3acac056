package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestMigrateRunningFlag: a schema at version 9 holding a running row of a
// queue limited to one (as the code of version 9 left it) is migrated by
// Open: the row is flagged in executions_limited_running_idx, so it holds
// the queue's slot and no other row of the queue is claimed; the index it
// replaces is gone.
func TestMigrateRunningFlag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema, pool, tx := schemaAtVersion(t, 9)
	now := time.Now().UTC()
	_, err := tx.Exec(ctx, `INSERT INTO executions (id, task_id, root_id, root_task_id, parent_task_id, queue,
		status, fence, executor_id, input, created_at, updated_at, started_at, due_at) VALUES
		('old', 'task', '', '', '', 'lim', 'running', 1, 'x', '\x31', $1, $1, $1, $2),
		('next', 'task', '', '', '', 'lim', 'ready', 0, '', '\x31', $1, $1, NULL, $1)`, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO controls (kind, name, paused, spec, mark, updated_at, concurrency)
		VALUES ('queue', 'lim', false, '', 0, $1, 1)`, now); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	s := openOn(t, schema, Config{})
	claimed, err := s.Claim(ctx, storage.ClaimParams{ExecutorID: "y", TaskIDs: []string{"task"}, Limit: 10, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 0 {
		t.Fatalf("Claim of a queue limited to 1 with a run from before the migration: got %d rows, want none", len(claimed))
	}
	var oldIndex bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", schema+".executions_running_idx").Scan(&oldIndex); err != nil {
		t.Fatal(err)
	}
	if oldIndex {
		t.Fatal("executions_running_idx is still there after migration 010")
	}
}
