package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/mysql"
	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

// eachStore runs body, as parallel subtests, on a new SQLite file, on a
// fresh PostgreSQL schema (DURABLE_TEST_POSTGRES_URL) and on fresh MySQL
// tables (DURABLE_TEST_MYSQL_DSN), each dropped when the test ends; conn
// are the connection flags that reach the store. A store whose server is
// not configured skips its subtest, saying what to set.
func eachStore(t *testing.T, body func(t *testing.T, store storage.Store, conn []string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "app.db")
		store, err := sqlite.Open(context.Background(), path, sqlite.Config{})
		if err != nil {
			t.Fatal(err)
		}
		body(t, store, []string{"--db", path})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		dsn := os.Getenv(envPostgres)
		if dsn == "" {
			t.Skipf("PostgreSQL tests need a server: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)", envPostgres)
		}
		schema := freshSchema(t, dsn)
		store, err := postgres.Open(context.Background(), dsn, postgres.Config{Schema: schema, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		body(t, store, []string{"--dsn", dsn, "--schema", schema})
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		dsn := os.Getenv("DURABLE_TEST_MYSQL_DSN")
		if dsn == "" {
			t.Skip("MySQL tests need a server: set DURABLE_TEST_MYSQL_DSN (e.g. root@tcp(127.0.0.1:3306)/test)")
		}
		schema := "cli" + randomSuffix()
		t.Cleanup(func() { dropMySQLTables(dsn, schema+"_") })
		store, err := mysql.Open(context.Background(), dsn, mysql.Config{TablePrefix: schema + "_", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		body(t, store, []string{"--dsn", "mysql://" + dsn, "--schema", schema})
	})
}
