package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// openAtVersion creates the database path at schema version n, as the
// code of that version left it, and returns it open on one connection.
func openAtVersion(t *testing.T, path string, n int) *sql.DB {
	t.Helper()
	db, err := sql.Open(driverName, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(createMigrationsTable); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:n] {
		b, err := fs.ReadFile(Migrations(), m.name+".sql")
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if _, err := db.Exec(m.sql); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO durable_migrations VALUES (?, ?, ?, 0)`, m.version, m.name, hex.EncodeToString(sum[:])); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// TestMigration011 opens a database at schema version 10 holding due rows
// of two tasks in two queues and two priorities: Open migrates it, the due
// index holds task_id, and a claim of one task takes its rows in priority,
// then due order, across the queues, and leaves the other task's.
func TestMigration011(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v10.db")
	db := openAtVersion(t, path, 10)
	at := testNow.UnixMicro()
	for _, r := range []struct {
		id, task, queue string
		priority        int
		due             int64
	}{
		{"a-q2-p1-late", "a", "q2", 1, at},
		{"a-q1-p2", "a", "q1", 2, at - 3},
		{"b-q1-p1", "b", "q1", 1, at - 2},
		{"a-q1-p1", "a", "q1", 1, at - 1},
		{"a-q2-p1", "a", "q2", 1, at - 2},
	} {
		_, err := db.Exec(`INSERT INTO durable_executions (id, task_id, status, queue, priority, due_at, created_at, updated_at)
			VALUES (?1, ?2, 'ready', ?3, ?4, ?5, ?5, ?5)`, r.id, r.task, r.queue, r.priority, r.due)
		if err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(t.Context(), path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var cols []string
	rows, err := s.rdb.QueryContext(t.Context(), "SELECT name FROM pragma_index_info('durable_executions_due') ORDER BY seqno")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if want := []string{"queue", "priority", "due_at", "seq", "status", "sleep_key", "task_id"}; !slices.Equal(cols, want) {
		t.Fatalf("due index after the migration: %v, want %v", cols, want)
	}
	c, err := s.Claim(t.Context(), storage.ClaimParams{Now: testNow, ExecutorID: "x", TaskIDs: []string{"a"}, Limit: 10, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range c {
		got = append(got, e.ID)
	}
	if want := []string{"a-q2-p1", "a-q1-p1", "a-q2-p1-late", "a-q1-p2"}; !slices.Equal(got, want) {
		t.Fatalf("claim of task a after the migration: %v, want %v", got, want)
	}
}
