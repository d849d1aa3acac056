package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
)

// envURL names the environment variable holding the test server's DSN.
const envURL = "DURABLE_TEST_POSTGRES_URL"

func TestMain(m *testing.M) {
	if os.Getenv(envURL) == "" {
		fmt.Fprintf(os.Stderr, "storage/postgres: %s is not set: SKIPPING every PostgreSQL store test "+
			"(set it, e.g. to postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run them)\n", envURL)
	}
	goleak.VerifyTestMain(m)
}

// testURL returns the test server's DSN, or skips the test.
func testURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(envURL)
	if url == "" {
		tb.Skipf("PostgreSQL tests need a server: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", envURL)
	}
	return url
}

// testSchema returns a fresh schema name and drops the schema when the
// test ends.
func testSchema(tb testing.TB) string {
	tb.Helper()
	url := testURL(tb)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	tb.Cleanup(func() { dropSchema(tb, url, schema) })
	return schema
}

func dropSchema(tb testing.TB, url, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		tb.Errorf("drop schema %s: %v", schema, err)
	}
}

// openStore opens a store with cfg on a fresh schema (which replaces
// cfg.Schema) and closes it when the test ends.
func openStore(tb testing.TB, cfg Config) *Store {
	tb.Helper()
	schema := testSchema(tb)
	return openOn(tb, schema, cfg)
}

// openOn opens a store with cfg on schema (which replaces cfg.Schema) and
// closes it when the test ends.
func openOn(tb testing.TB, schema string, cfg Config) *Store {
	tb.Helper()
	cfg.Schema = schema
	s, err := Open(context.Background(), testURL(tb), cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// testPool returns a pool on the test server, closed when the test ends.
func testPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), testURL(tb))
	if err != nil {
		tb.Fatalf("pgxpool.New: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// schemaAtVersion starts, in a transaction it returns (rolled back at the
// end of the test unless committed), a new schema at migration version n,
// as the code of that version made it.
func schemaAtVersion(t *testing.T, n int) (schema string, pool *pgxpool.Pool, tx pgx.Tx) {
	t.Helper()
	ctx := context.Background()
	schema, pool = testSchema(t), testPool(t)
	q, err := newQueries(schema)
	if err != nil {
		t.Fatal(err)
	}
	if tx, err = pool.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	for _, sql := range []string{q.migrateSchema, q.migrateVersionTable, q.migrateSearchPath} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range embeddedMigrations[:n] {
		if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("migration %s: %v", m.name, err)
		}
		if _, err := tx.Exec(ctx, q.migrateRecord, pgx.StrictNamedArgs{"version": m.version, "name": m.name, "checksum": m.checksum}); err != nil {
			t.Fatal(err)
		}
	}
	return schema, pool, tx
}
