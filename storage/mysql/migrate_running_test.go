package mysql

import (
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestMigrationRunningFlagOnExistingRows: tables at version 6 holding a
// running row of a queue limited to one (as the code of version 6 left
// it) are migrated by Open: the row is flagged in executions_running, so
// it holds the queue's slot and no other row of the queue is claimed;
// migration 007 applied again changes nothing.
func TestMigrationRunningFlagOnExistingRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	at := tablesAtVersion(t, 6)
	prefix, q, db, exec, apply := at.prefix, at.q, at.db, at.exec, at.apply
	now := time.Now().UnixMicro()
	lease := now + time.Hour.Microseconds()
	exec("INSERT INTO "+q.data.T+" (id, task_id, queue, status, fence, executor_id, due_at, created_at, updated_at, started_at) "+
		"VALUES ('old', 'task', 'lim', 'running', 1, 'x', ?, ?, ?, ?), ('next', 'task', 'lim', 'ready', 0, '', ?, ?, ?, NULL)",
		lease, now, now, now, now, now, now)
	exec("INSERT INTO "+q.data.Controls+" (kind, name, paused, spec, mark, updated_at, concurrency) VALUES ('queue', 'lim', FALSE, '', 0, ?, 1)", now)

	s := openOn(t, prefix, Config{})
	claim := func() []storage.Execution {
		t.Helper()
		claimed, err := s.Claim(ctx, storage.ClaimParams{ExecutorID: "y", TaskIDs: []string{"task"}, Limit: 10, Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return claimed
	}
	if claimed := claim(); len(claimed) != 0 {
		t.Fatalf("Claim of a queue limited to 1 with a run from before the migration: got %d rows, want none", len(claimed))
	}
	apply(7)
	if claimed := claim(); len(claimed) != 0 {
		t.Fatalf("Claim after migration 007 again: got %d rows, want none", len(claimed))
	}
	var flagged int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+q.data.T+" WHERE run_indexed = 1").Scan(&flagged); err != nil {
		t.Fatal(err)
	}
	if flagged != 1 {
		t.Fatalf("rows flagged after the migration: %d, want 1 (the running row)", flagged)
	}
}
