package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"
)

// envDSN names the environment variable holding the test server's DSN.
const envDSN = "DURABLE_TEST_MYSQL_DSN"

func TestMain(m *testing.M) {
	if os.Getenv(envDSN) == "" {
		fmt.Fprintf(os.Stderr, "storage/mysql: %s is not set: SKIPPING every MySQL store test "+
			"(set it, e.g. to root@tcp(127.0.0.1:3306)/test, to run them)\n", envDSN)
	}
	goleak.VerifyTestMain(m)
}

// testDSN returns the test server's DSN, or skips the test.
func testDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(envDSN)
	if dsn == "" {
		tb.Skipf("MySQL tests need a server: set %s (e.g. root@tcp(127.0.0.1:3306)/test)", envDSN)
	}
	return dsn
}

// testPrefix returns a fresh table prefix and drops its tables when the
// test ends.
func testPrefix(tb testing.TB) string {
	tb.Helper()
	dsn := testDSN(tb)
	var b [5]byte
	_, _ = rand.Read(b[:])
	prefix := "t" + hex.EncodeToString(b[:]) + "_"
	tb.Cleanup(func() { dropTables(tb, dsn, prefix) })
	return prefix
}

// tables are the tables of a store, without the prefix.
var tables = []string{"executions", "execution_tags", "leases", "events", "controls", "schema_version"}

func dropTables(tb testing.TB, dsn, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := testDB(tb, dsn)
	defer db.Close()
	for _, t := range tables {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+prefix+t); err != nil {
			tb.Errorf("drop table %s%s: %v", prefix, t, err)
		}
	}
}

// testDB opens a handle on the test server (the caller closes it).
func testDB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		tb.Fatalf("parse %s: %v", envDSN, err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return sql.OpenDB(conn)
}

// openStore opens a store with cfg on a fresh prefix (which replaces
// cfg.TablePrefix) and closes it when the test ends.
func openStore(tb testing.TB, cfg Config) *Store {
	tb.Helper()
	return openOn(tb, testPrefix(tb), cfg)
}

// openOn opens a store with cfg on prefix and closes it when the test
// ends.
func openOn(tb testing.TB, prefix string, cfg Config) *Store {
	tb.Helper()
	cfg.TablePrefix = prefix
	s, err := Open(context.Background(), testDSN(tb), cfg)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
