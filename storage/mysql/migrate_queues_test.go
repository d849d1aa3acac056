package mysql

import (
	"database/sql"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestMigrationQueuesOnExistingRows: tables at version 2 holding a row
// (a due one, inserted as the code of version 2 did) are migrated by Open:
// the row is in the default queue at the default priority and is
// claimed; the due index is gone, the claim index is there; and migration
// 003 applied again changes nothing.
func TestMigrationQueuesOnExistingRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	at := tablesAtVersion(t, 2)
	prefix, q, db, exec, apply := at.prefix, at.q, at.db, at.exec, at.apply
	now := time.Now().UnixMicro()
	exec("INSERT INTO "+q.data.T+" (id, task_id, status, due_at, created_at, updated_at) VALUES ('old', 'task', 'ready', ?, ?, ?)",
		now, now, now)

	s := openOn(t, prefix, Config{})
	got, err := s.Get(ctx, storage.GetParams{ID: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Queue != storage.DefaultQueue || got.Priority != storage.DefaultPriority {
		t.Fatalf("row of version 2 after the migration: queue %q priority %d, want %q %d",
			got.Queue, got.Priority, storage.DefaultQueue, storage.DefaultPriority)
	}
	claimed, err := s.Claim(ctx, storage.ClaimParams{ExecutorID: "x", TaskIDs: []string{"task"}, Limit: 10, Lease: time.Minute})
	if err != nil || len(claimed) != 1 || claimed[0].ID != "old" {
		t.Fatalf("Claim after the migration: %v, %v", claimed, err)
	}
	indexes := func() map[string]bool {
		rows, err := db.QueryContext(ctx, "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "+
			"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", q.data.T)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			out[name] = true
		}
		return out
	}
	if ix := indexes(); ix[prefix+"executions_due"] || !ix[q.data.Due] {
		t.Fatalf("indexes after the migration: %v, want %s and not %sexecutions_due", ix, q.data.Due, prefix)
	}
	apply(3)
	if ix := indexes(); ix[prefix+"executions_due"] || !ix[q.data.Due] {
		t.Fatalf("indexes after migration 003 again: %v", ix)
	}
}

// versionedTables are new tables at a migration version, as the code of
// that version made them, with what a test of the next migrations uses.
type versionedTables struct {
	prefix string
	q      *queries
	db     *sql.DB
	exec   func(stmt string, args ...any)
	apply  func(m int) // applies migration m
}

// tablesAtVersion makes new tables at migration version n.
func tablesAtVersion(t *testing.T, n int) versionedTables {
	t.Helper()
	at := versionedTables{prefix: testPrefix(t), db: testDB(t, testDSN(t))}
	t.Cleanup(func() { at.db.Close() })
	var err error
	if at.q, err = newQueries(at.prefix); err != nil {
		t.Fatal(err)
	}
	at.exec = func(stmt string, args ...any) {
		t.Helper()
		if _, err := at.db.ExecContext(t.Context(), stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	at.apply = func(m int) {
		t.Helper()
		stmts, err := migrationStatements(embeddedMigrations[m-1], at.prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range stmts {
			at.exec(st)
		}
	}
	at.exec(at.q.migrateVersionTable)
	for m := 1; m <= n; m++ {
		at.apply(m)
		at.exec(at.q.migrateRecord, m, embeddedMigrations[m-1].Name, embeddedMigrations[m-1].Checksum)
	}
	return at
}
