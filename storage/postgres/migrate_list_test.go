package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestMigrateFromVersion1: a schema made by the code before 002_list,
// holding rows and one of 002's indexes built beforehand, is migrated by
// Open: its rows read back without attempts, tags or RetryOf, List finds
// them, Delete deletes them, and new rows get the new columns.
func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	ctx := context.Background()
	pool := testPool(t)
	q, err := newQueries(schema)
	if err != nil {
		t.Fatal(err)
	}
	v1 := embeddedMigrations[0]
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{q.migrateSchema, q.migrateVersionTable, q.migrateSearchPath} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(ctx, v1.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, q.migrateRecord, pgx.StrictNamedArgs{"version": v1.version, "name": v1.name, "checksum": v1.checksum}); err != nil {
		t.Fatal(err)
	}
	// Rows as the code before wrote them: a finished tree of two and a
	// ready row.
	_, err = tx.Exec(ctx, `INSERT INTO executions (id, task_id, root_id, root_task_id, parent_id, parent_task_id,
		status, input, output, created_at, updated_at, finished_at, due_at) VALUES
		('old-p', 'task', '', '', NULL, '', 'completed', '\x31', '\x32', $1, $1, $1, NULL),
		('old-c', 'child', 'old-p', 'task', 'old-p', 'task', 'completed', '\x31', '\x32', $1, $1, $1, NULL),
		('old-r', 'task', '', '', NULL, '', 'ready', '\x31', NULL, $1, $1, NULL, $1)`,
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	// An index built beforehand, as docs/postgres.md tells for a big
	// table, is kept.
	if _, err := pool.Exec(ctx, "CREATE INDEX CONCURRENTLY executions_task_idx ON "+q.table+` (task_id, created_at, id)
		WHERE status IN ('completed', 'failed', 'timed_out', 'children_failed', 'finalize_failed', 'cancelled')`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, testURL(t), Config{Schema: schema, DisableMigrations: true}); err == nil {
		t.Fatal("Open with migrations off on a schema at version 1: want an error")
	}
	s := openOn(t, schema, Config{})
	for _, id := range []string{"old-p", "old-c", "old-r"} {
		e, err := s.Get(ctx, storage.GetParams{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		if e.Attempts != nil || e.Tags != nil || e.RetryOf != "" || string(e.Input) != "1" {
			t.Fatalf("row %s after the migration: Attempts %v, Tags %v, RetryOf %q, Input %q", id, e.Attempts, e.Tags, e.RetryOf, e.Input)
		}
	}
	rows, err := s.List(ctx, storage.ListParams{Limit: 10, Order: storage.OldestFirst})
	if err != nil || len(rows) != 3 {
		t.Fatalf("List after the migration: %d rows, %v", len(rows), err)
	}
	e := storagetest.NewExecution("new", "task")
	e.Tags, e.RetryOf = []string{"x"}, "old-p"
	if err := s.Insert(ctx, storage.InsertParams{Executions: []storage.Execution{e}}); err != nil {
		t.Fatal(err)
	}
	tagged, err := s.List(ctx, storage.ListParams{Limit: 10, Filter: storage.ListFilter{Tag: "x"}})
	if err != nil || len(tagged) != 1 || tagged[0].RetryOf != "old-p" {
		t.Fatalf("List by tag after the migration: %v, %v", tagged, err)
	}
	if n, err := s.Delete(ctx, storage.DeleteParams{IDs: []string{"old-p"}}); err != nil || n != 2 {
		t.Fatalf("Delete of a tree written before the migration: %d, %v; want 2", n, err)
	}
}
