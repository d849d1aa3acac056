package mysql

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// openErr opens a store on dsn with prefix and returns Open's error,
// failing the test if Open succeeded.
func openErr(t *testing.T, dsn, prefix string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, Config{TablePrefix: prefix})
	if err == nil {
		s.Close()
		t.Fatalf("Open(%q) succeeded, want an error", dsn)
	}
	t.Logf("Open: %v", err)
	return err
}

func requireMentions(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// requireNoTables fails unless the database holds no table of prefix.
func requireNoTables(t *testing.T, prefix string) {
	t.Helper()
	db := testDB(t, testDSN(t))
	defer db.Close()
	var n int
	err := db.QueryRow("SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE ?",
		prefix+"%").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d tables of prefix %s exist after a failed Open: a half-applied migration", n, prefix)
	}
}

func TestOpenMalformedDSN(t *testing.T) {
	for _, dsn := range []string{"postgres://u@h/db", "root@tcp(127.0.0.1:3306", "root@tcp(127.0.0.1:3306)/test?interpolateParams=maybe"} {
		err := openErr(t, dsn, "bad_")
		requireMentions(t, err, "parse DSN", "user:password@tcp(host:3306)/dbname")
	}
	requireMentions(t, openErr(t, "root@tcp(127.0.0.1:3306)/", "bad_"), "names no database")
}

func TestOpenServerDown(t *testing.T) {
	start := time.Now()
	err := openErr(t, "root@tcp(127.0.0.1:1)/test?timeout=2s", "down_")
	requireMentions(t, err, "cannot reach 127.0.0.1:1", "is the server running")
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

func TestOpenUnknownDatabase(t *testing.T) {
	cfg, err := mysql.ParseDSN(testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = "durable_no_such_database"
	requireMentions(t, openErr(t, cfg.FormatDSN(), "x_"), "does not exist", "CREATE DATABASE")
}

// TestOpenWithoutRights: a user who may read but not create tables, and
// one who may create tables but not write rows, get an error naming the
// GRANT to give, and the store's tables are not created.
func TestOpenWithoutRights(t *testing.T) {
	cfg, err := mysql.ParseDSN(testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, grant string }{
		{"readonly", "SELECT"},
		{"createonly", "SELECT, CREATE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			prefix := testPrefix(t)
			user := "dr_" + strings.TrimSuffix(prefix, "_")
			db := testDB(t, testDSN(t))
			defer db.Close()
			t.Cleanup(func() { _, _ = db.Exec("DROP USER IF EXISTS '" + user + "'@'%'") })
			for _, stmt := range []string{
				"CREATE USER '" + user + "'@'%' IDENTIFIED BY 'pw'",
				"GRANT " + c.grant + " ON `" + cfg.DBName + "`.* TO '" + user + "'@'%'",
			} {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			ucfg := *cfg
			ucfg.User, ucfg.Passwd = user, "pw"
			err := openErr(t, ucfg.FormatDSN(), prefix)
			requireMentions(t, err, "may not create or change durable's tables", "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE")
			if _, err := db.Exec("DROP TABLE IF EXISTS " + prefix + "schema_version"); err != nil {
				t.Fatal(err)
			}
			requireNoTables(t, prefix)
		})
	}
}

// TestOpenLatin1Database: a database whose character set is not utf8mb4
// is refused with the statement that changes it.
func TestOpenLatin1Database(t *testing.T) {
	cfg, err := mysql.ParseDSN(testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	prefix := testPrefix(t)
	name := "d" + strings.TrimSuffix(prefix, "_") + "_latin1"
	db := testDB(t, testDSN(t))
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE `" + name + "` CHARACTER SET latin1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP DATABASE IF EXISTS `" + name + "`") })
	cfg.DBName = name
	err = openErr(t, cfg.FormatDSN(), prefix)
	requireMentions(t, err, "character set latin1", "ALTER DATABASE `"+name+"` CHARACTER SET utf8mb4")
	var n int
	if err := db.QueryRow("SELECT count(*) FROM information_schema.tables WHERE table_schema = ?", name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tables in the refused database: %d, %v", n, err)
	}
}

// TestServerCheck: what Open says of servers it cannot run on (versions
// and settings this machine's server does not have).
func TestServerCheck(t *testing.T) {
	good := serverInfo{version: "10.11.19-MariaDB", database: "app", charset: "utf8mb4", connCharset: "utf8mb4", maxPacket: 16 << 20}
	for _, c := range []struct {
		name string
		edit func(*serverInfo)
		want string // "" for no error
	}{
		{"MariaDB 10.11", func(*serverInfo) {}, ""},
		{"MySQL 8.0", func(i *serverInfo) { i.version = "8.0.36" }, ""},
		{"MySQL 5.7", func(i *serverInfo) { i.version = "5.7.44-log" }, "too old"},
		{"MariaDB 10.5", func(i *serverInfo) { i.version = "10.5.23-MariaDB" }, "MariaDB 10.6 or later"},
		{"latin1", func(i *serverInfo) { i.charset = "latin1" }, "ALTER DATABASE `app` CHARACTER SET utf8mb4"},
		{"connection", func(i *serverInfo) { i.connCharset = "latin1" }, "charset=utf8mb4"},
		{"packet", func(i *serverInfo) { i.maxPacket = 4 << 20 }, "SET GLOBAL max_allowed_packet"},
	} {
		t.Run(c.name, func(t *testing.T) {
			i := good
			c.edit(&i)
			i.parseVersion()
			err := i.check("db:3306")
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("check: %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}
