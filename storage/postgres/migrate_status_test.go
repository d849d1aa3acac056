package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
)

// TestMigrationStatus reads the migrations of a schema that does not
// exist (every one pending, and the schema is not created), of a store's
// schema (every one applied), and of one a newer durable migrated.
func TestMigrationStatus(t *testing.T) {
	ctx := context.Background()
	url, schema := testURL(t), testSchema(t)
	st, err := MigrationStatus(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != SchemaVersion {
		t.Fatalf("%d migrations, want %d", len(st), SchemaVersion)
	}
	for i, m := range st {
		if m.Version != i+1 || m.Applied || !m.Known || m.Modified || !strings.HasPrefix(m.Name, fmt.Sprintf("%03d_", i+1)) {
			t.Errorf("no schema, migration %d: %+v, want known and pending", i+1, m)
		}
	}
	pool := testPool(t)
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil || exists {
		t.Errorf("MigrationStatus created the schema (%v, %v)", exists, err)
	}

	openOn(t, schema, Config{})
	st, err = MigrationStatus(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if !m.Applied || m.AppliedAt.IsZero() || !m.Known || m.Modified {
			t.Errorf("store's schema: %+v, want applied", m)
		}
	}

	table := pgx.Identifier{schema, "schema_version"}.Sanitize()
	if _, err := pool.Exec(ctx, "INSERT INTO "+table+" (version, name, checksum) VALUES ($1, 'from_the_future', 'x')", SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE "+table+" SET checksum = 'other' WHERE version = 1"); err != nil {
		t.Fatal(err)
	}
	st, err = MigrationStatus(ctx, url, schema)
	if err != nil {
		t.Fatal(err)
	}
	n := SchemaVersion
	if len(st) != n+1 || st[n].Known || !st[n].Applied || st[n].Name != "from_the_future" || !st[0].Modified {
		t.Errorf("after a newer migration: %+v, want %d known, the last unknown and applied, the first modified", st, n)
	}

	if _, err := MigrationStatus(ctx, url, "pg_mine"); err == nil || !strings.Contains(err.Error(), "pg_") {
		t.Errorf("a system schema: %v, want an error naming it", err)
	}
}

// TestMigrationSQL applies the script MigrationSQL prints in two steps, as
// psql would, and checks that a store opened with migrations off finds
// every migration applied and works.
func TestMigrationSQL(t *testing.T) {
	ctx := context.Background()
	schema := testSchema(t)
	all, err := MigrationSQL(schema, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := SchemaVersion
	if c := strings.Count(all, "INSERT INTO"); c != n {
		t.Errorf("the whole script records %d migrations, want %d", c, n)
	}
	last, err := MigrationSQL(schema, n-1)
	if err != nil {
		t.Fatal(err)
	}
	lastAt := strings.LastIndex(all, ".sql (checksum ")
	head := all[:strings.LastIndex(all[:lastAt], "\n-- ")] + "\nCOMMIT;\n"
	pool := testPool(t)
	for _, script := range []string{head, last} {
		if _, err := pool.Exec(ctx, script, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("apply:\n%s\n%v", script, err)
		}
	}
	st, err := MigrationStatus(ctx, testURL(t), schema)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st {
		if !m.Applied || m.Modified || !m.Known {
			t.Errorf("after the scripts: %+v, want applied", m)
		}
	}
	s := openOn(t, schema, Config{DisableMigrations: true})
	if err := s.Insert(ctx, storage.InsertParams{Executions: []storage.Execution{{ID: "a", TaskID: "t", Status: storage.StatusReady}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := MigrationSQL(schema, n+1); err == nil {
		t.Errorf("MigrationSQL(%d): no error", n+1)
	}
	if _, err := MigrationSQL("Bad-Name", 0); err == nil {
		t.Error("MigrationSQL of an invalid schema name: no error")
	}
}
