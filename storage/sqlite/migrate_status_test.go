package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/durable-go/durable/storage/sqlite"
)

// TestMigrationStatus reads the migrations of a missing file (an error;
// the file is not created), of an empty file (every one pending), of a
// store's file (every one applied), and of a file a newer durable
// migrated (an applied migration this code does not know).
func TestMigrationStatus(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n := sqlite.SchemaVersion()

	missing := filepath.Join(dir, "missing.db")
	if _, err := sqlite.MigrationStatus(ctx, missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("MigrationStatus created the missing file (stat: %v)", err)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.MigrationStatus(ctx, empty)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != n {
		t.Fatalf("%d migrations, want %d", len(st), n)
	}
	for i, m := range st {
		if m.Version != i+1 || m.Applied || !m.Known || m.Modified || !strings.HasPrefix(m.Name, fmt.Sprintf("%03d_", m.Version)) {
			t.Errorf("empty file, migration %d: %+v, want known and pending", i+1, m)
		}
	}

	_, path := openTemp(t)
	st, err = sqlite.MigrationStatus(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if !m.Applied || m.AppliedAt.IsZero() || !m.Known || m.Modified {
			t.Errorf("store's file: %+v, want applied", m)
		}
	}

	db, err := sql.Open(sqlite.DriverName, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("INSERT INTO durable_migrations VALUES (?, 'from_the_future', 'x', 0)", n+1); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE durable_migrations SET checksum = 'other' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	st, err = sqlite.MigrationStatus(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != n+1 || st[n].Known || !st[n].Applied || st[n].Name != "from_the_future" || !st[0].Modified {
		t.Errorf("after a newer migration: %+v, want %d known, the last unknown and applied, the first modified", st, n)
	}

	if _, err := sqlite.MigrationStatus(ctx, dir); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("a directory: %v, want an error saying so", err)
	}
}

// TestMigrationSQL applies the script MigrationSQL prints with the sqlite3
// shell's library (database/sql here), in two steps, and checks that Open
// then finds every migration applied and the store works.
func TestMigrationSQL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "dba.db")
	db, err := sql.Open(sqlite.DriverName, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first, err := sqlite.MigrationSQL(0)
	if err != nil {
		t.Fatal(err)
	}
	n := sqlite.SchemaVersion()
	if strings.Count(first, "INSERT INTO durable_migrations") != n {
		t.Errorf("the whole script records %d migrations, want %d:\n%s", strings.Count(first, "INSERT INTO durable_migrations"), n, first)
	}
	one, err := sqlite.MigrationSQL(n - 1)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(one, "INSERT INTO durable_migrations") != 1 {
		t.Errorf("the script since %d records %d migrations, want 1", n-1, strings.Count(one, "INSERT INTO durable_migrations"))
	}
	head, err := sqlite.MigrationSQL(0)
	if err != nil {
		t.Fatal(err)
	}
	// Everything but the last migration, then the last one.
	last := strings.LastIndex(head, ".sql (checksum ")
	head = head[:strings.LastIndex(head[:last], "\n-- ")] + "\nCOMMIT;\n"
	for _, script := range []string{head, one} {
		if _, err := db.ExecContext(ctx, script); err != nil {
			t.Fatalf("apply:\n%s\n%v", script, err)
		}
	}
	db.Close()
	st, err := sqlite.MigrationStatus(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if !m.Applied || m.Modified || !m.Known || m.AppliedAt.IsZero() {
			t.Errorf("after the scripts: %+v, want applied", m)
		}
	}
	s := openAt(t, path, sqlite.Config{})
	insert(t, s, ready("a"))

	if _, err := sqlite.MigrationSQL(n + 1); err == nil {
		t.Errorf("MigrationSQL(%d): no error", n+1)
	}
}
