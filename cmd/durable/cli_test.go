package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage/sqlite"
)

// everyCommand lists every command line that has its own usage.
var everyCommand = [][]string{
	{"demo"}, {"bench"}, {"bench-table"}, {"stats"}, {"version"},
	{"executions"}, {"executions", "list"}, {"executions", "show"}, {"executions", "tree"}, {"executions", "cancel"},
	{"executions", "retry"}, {"executions", "wake"}, {"executions", "delete"}, {"executions", "purge"},
	{"migrate"}, {"migrate", "up"}, {"migrate", "status"}, {"migrate", "sql"},
}

// TestHelp: -h, --help and help print the usage to standard output and
// exit 0, for every command; the usage spells every flag --name.
func TestHelp(t *testing.T) {
	t.Parallel()
	singleDash := regexp.MustCompile(`(^|[\s\[(])-[a-z]`)
	for _, args := range append(everyCommand, nil) {
		for _, help := range []string{"-h", "--help", "help"} {
			line := append(append([]string{}, args...), help)
			if help == "help" {
				line = append([]string{"help"}, args...)
			}
			r := runCmd(line...)
			if r.code != exitOK || r.stderr != "" || !strings.HasPrefix(r.stdout, "usage: durable") {
				t.Errorf("durable %s: %s", strings.Join(line, " "), r)
				continue
			}
			if m := singleDash.FindString(r.stdout); m != "" {
				t.Errorf("durable %s: the usage spells a flag with one dash (%q):\n%s", strings.Join(line, " "), m, r.stdout)
			}
		}
	}
	r := runCmd("executions", "list", "--help")
	for _, want := range []string{"--db PATH", "--dsn URL", "--schema NAME", "--status STATUS", "--cursor CURSOR", "DURABLE_DB"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("executions list --help lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := runCmd(); r.code != exitUsage || !strings.Contains(r.stderr, "usage: durable") || r.stdout != "" {
		t.Errorf("no command: %s", r)
	}
}

// TestBadFlag: a bad flag or argument prints its error once, spelled
// --name, and a hint, on standard error, and exits 2; stdout stays empty.
func TestBadFlag(t *testing.T) {
	t.Parallel()
	for _, args := range everyCommand {
		if len(args) == 1 && (args[0] == "executions" || args[0] == "migrate") {
			continue
		}
		line := append(append([]string{}, args...), "--bogus")
		r := runCmd(line...)
		want := "durable " + strings.Join(args, " ") + ": unknown flag: --bogus\n"
		if r.code != exitUsage || r.stdout != "" || !strings.HasPrefix(r.stderr, want) ||
			strings.Count(r.stderr, "bogus") != 1 || !strings.Contains(r.stderr, "--help") {
			t.Errorf("durable %s: %s\nwant exit 2 and %q once", strings.Join(line, " "), r, want)
		}
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"executions", "list", "--limit", "x"}, `invalid value "x" for flag --limit`},
		{[]string{"executions", "list", "--db"}, "flag needs an argument: --db"},
		{[]string{"executions"}, "missing command"},
		{[]string{"executions", "frob"}, `unknown command "frob"`},
		{[]string{"migrate", "down"}, `unknown command "down"`},
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"version", "extra"}, "unexpected argument"},
	} {
		r := runCmd(c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.msg) || strings.Count(r.stderr, c.msg) != 1 {
			t.Errorf("durable %s: %s\nwant exit 2 and %q once", strings.Join(c.args, " "), r, c.msg)
		}
	}
}

// TestConnection: exactly one of --db and --dsn, from the flags or the
// environment, the flags winning.
func TestConnection(t *testing.T) { // not parallel: it sets the environment
	f := sqliteFixture(t)
	db := f.conn[1]
	t.Setenv(envDB, "")
	t.Setenv(envDSN, "")
	t.Setenv(envSchema, "")
	if r := runCmd("stats"); r.code != exitUsage || !strings.Contains(r.stderr, "no store: give --db PATH") {
		t.Errorf("no store: %s", r)
	}
	t.Setenv(envDB, db)
	if r := runCmd("stats"); r.code != exitOK || !strings.Contains(r.stdout, "9 executions") {
		t.Errorf("%s from the environment: %s", envDB, r)
	}
	t.Setenv(envDSN, "postgres://nowhere/x")
	if r := runCmd("stats"); r.code != exitUsage || !strings.Contains(r.stderr, "both DURABLE_DB and DURABLE_DSN") {
		t.Errorf("both in the environment: %s", r)
	}
	if r := runCmd("stats", "--db", db); r.code != exitOK {
		t.Errorf("--db wins over the environment: %s", r)
	}
	t.Setenv(envDSN, "")
	t.Setenv(envDB, filepath.Join(t.TempDir(), "other.db"))
	if r := runCmd("stats", "--db", db); r.code != exitOK {
		t.Errorf("--db wins over %s: %s", envDB, r)
	}
	t.Setenv(envSchema, "jobs") // ignored with a SQLite file
	if r := runCmd("stats", "--db", db); r.code != exitOK {
		t.Errorf("%s with --db: %s", envSchema, r)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"stats", "--db", db, "--dsn", "postgres://x/y"}, "not both"},
		{[]string{"stats", "--db", db, "--schema", "jobs"}, "--schema is for PostgreSQL"},
		{[]string{"stats", "--db", ""}, "--db is empty"},
	} {
		if r := runCmd(c.args...); r.code != exitUsage || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("durable %s: %s\nwant exit 2 and %q", strings.Join(c.args, " "), r, c.msg)
		}
	}
}

// TestReadOnlyCommandsCreateNothing: a command that reads refuses a
// missing file (without creating it), a file that is not durable's, and
// one at an older schema (without migrating it).
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	for _, args := range [][]string{{"executions", "list"}, {"stats"}, {"migrate", "status"}, {"executions", "show", "x"}} {
		r := runCmd(append(args, "--db", missing)...)
		if r.code != exitError || !strings.Contains(r.stderr, "missing.db does not exist") {
			t.Errorf("durable %s on a missing file: %s", strings.Join(args, " "), r)
		}
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a command created %s (stat: %v)", missing, err)
	}

	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCmd("executions", "list", "--db", empty); r.code != exitError || !strings.Contains(r.stderr, "not a durable database") {
		t.Errorf("an empty file: %s", r)
	}
	text := filepath.Join(dir, "text.db")
	if err := os.WriteFile(text, []byte("hello, not a database\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runCmd("executions", "list", "--db", text); r.code != exitError || !strings.Contains(r.stderr, "not an SQLite database") {
		t.Errorf("a text file: %s", r)
	}
	if r := runCmd("executions", "list", "--db", dir); r.code != exitError || !strings.Contains(r.stderr, "directory") {
		t.Errorf("a directory: %s", r)
	}

	// A file at the schema before this one's: migrations 1..n-1 applied.
	old := filepath.Join(dir, "old.db")
	script, err := sqlite.MigrationSQL(0)
	if err != nil {
		t.Fatal(err)
	}
	last := strings.LastIndex(script, ".sql (checksum ")
	script = script[:strings.LastIndex(script[:last], "\n-- ")] + "\nCOMMIT;\n"
	db, err := sql.Open("sqlite", old) // modernc.org/sqlite, the store's driver

	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(script); err != nil {
		t.Fatal(err)
	}
	db.Close()
	r := runCmd("executions", "list", "--db", old)
	if r.code != exitError || !strings.Contains(r.stderr, "needs version") || !strings.Contains(r.stderr, "migrate up") {
		t.Errorf("an older schema: %s", r)
	}
	r = runCmd("migrate", "status", "--db", old)
	if r.code != exitOK || strings.Count(r.stdout, "pending") != 2 || !strings.Contains(r.stdout, "1 pending") {
		t.Errorf("migrate status of an older schema: %s", r)
	}
	r = runCmd("migrate", "up", "--db", old)
	if r.code != exitOK || strings.Count(r.stdout, "applied ") != 1 {
		t.Errorf("migrate up of an older schema: %s", r)
	}
	if r := runCmd("stats", "--db", old); r.code != exitOK || !strings.Contains(r.stdout, "no executions") {
		t.Errorf("stats after migrate up: %s", r)
	}
}

// TestMigrate: migrate up creates a file, status shows its migrations,
// sql prints the script of either store without connecting.
func TestMigrate(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "new.db")
	r := runCmd("migrate", "up", "--db", path)
	if r.code != exitOK || !strings.Contains(r.stdout, "created "+path) || !strings.Contains(r.stdout, "applied 001_init") {
		t.Fatalf("migrate up on a new file: %s", r)
	}
	r = runCmd("migrate", "status", "--db", path, "--json")
	var doc struct {
		Version, Latest int
		Migrations      []migration
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Version != sqlite.SchemaVersion() ||
		doc.Latest != doc.Version || len(doc.Migrations) != doc.Version || !doc.Migrations[0].Applied {
		t.Errorf("migrate status --json: %v %s", err, r)
	}
	r = runCmd("migrate", "sql", "--store", "postgres", "--schema", "jobs", "--since", "1")
	if r.code != exitOK || !strings.Contains(r.stdout, `"jobs".schema_version`) || strings.Contains(r.stdout, "001_init") {
		t.Errorf("migrate sql --store postgres --since 1: %s", r)
	}
	r = runCmd("migrate", "sql", "--db", path)
	if r.code != exitOK || !strings.Contains(r.stdout, "BEGIN IMMEDIATE") {
		t.Errorf("migrate sql --db: %s", r)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"migrate", "sql", "--store", "oracle"}, "--store must be sqlite, postgres or mysql"},
		{[]string{"migrate", "sql", "--store", "sqlite", "--since", "99"}, "no schema version 99"},
		{[]string{"migrate", "sql", "--store", "postgres", "--schema", "pg_x"}, "pg_"},
		{[]string{"migrate", "sql"}, "--store sqlite"},
	} {
		if r := runCmd(c.args...); r.code != exitUsage || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("durable %s: %s\nwant exit 2 and %q", strings.Join(c.args, " "), r, c.msg)
		}
	}
}

// TestMigratePostgres: the commands that read refuse a schema that does
// not exist, creating nothing; migrate up creates it; status shows it.
func TestMigratePostgres(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv(envPostgres)
	if dsn == "" {
		t.Skipf("PostgreSQL tests need a server: set %s", envPostgres)
	}
	schema := freshSchema(t, dsn)
	conn := []string{"--dsn", dsn, "--schema", schema}
	r := runCmd(append([]string{"executions", "list"}, conn...)...)
	if r.code != exitError || !strings.Contains(r.stderr, "migrations are off") || !strings.Contains(r.stderr, "migrate up") {
		t.Errorf("list on a missing schema: %s", r)
	}
	r = runCmd(append([]string{"migrate", "status"}, conn...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "schema version 0") {
		t.Errorf("migrate status of a missing schema: %s", r)
	}
	pg, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(context.Background())
	var exists bool
	if err := pg.QueryRow(context.Background(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil || exists {
		t.Errorf("a reading command created the schema (%v, %v)", exists, err)
	}
	r = runCmd(append([]string{"migrate", "up"}, conn...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "applied 001_init") {
		t.Errorf("migrate up: %s", r)
	}
	r = runCmd(append([]string{"migrate", "status"}, conn...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "up to date") {
		t.Errorf("migrate status after up: %s", r)
	}
	if r := runCmd(append([]string{"stats"}, conn...)...); r.code != exitOK || !strings.Contains(r.stdout, "no executions") {
		t.Errorf("stats after migrate up: %s", r)
	}
	r = runCmd("stats", "--dsn", "postgres://postgres@127.0.0.1:1/none?connect_timeout=2")
	if r.code != exitError || r.stderr == "" {
		t.Errorf("stats on an unreachable server: %s", r)
	}
}

// TestMigrateMySQL: on a mysql:// --dsn, the commands that read refuse
// tables that do not exist, creating nothing; migrate up creates them
// (prefix: --schema and "_"); status shows them.
func TestMigrateMySQL(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("DURABLE_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Skip("MySQL tests need a server: set DURABLE_TEST_MYSQL_DSN")
	}
	schema := "cli" + randomSuffix()
	t.Cleanup(func() { dropMySQLTables(dsn, schema+"_") })
	conn := []string{"--dsn", "mysql://" + dsn, "--schema", schema}
	r := runCmd(append([]string{"executions", "list"}, conn...)...)
	if r.code != exitError || !strings.Contains(r.stderr, "migrations are off") || !strings.Contains(r.stderr, "migrate up") {
		t.Errorf("list on missing tables: %s", r)
	}
	r = runCmd(append([]string{"migrate", "status"}, conn...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "MySQL tables "+schema+"_*: schema version 0") {
		t.Errorf("migrate status of missing tables: %s", r)
	}
	r = runCmd(append([]string{"migrate", "up"}, conn...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "applied 001_init") {
		t.Errorf("migrate up: %s", r)
	}
	r = runCmd(append([]string{"migrate", "status"}, conn...)...)
	if r.code != exitOK || !strings.Contains(r.stdout, "up to date") {
		t.Errorf("migrate status after up: %s", r)
	}
	if r := runCmd(append([]string{"stats"}, conn...)...); r.code != exitOK || !strings.Contains(r.stdout, "no executions") {
		t.Errorf("stats after migrate up: %s", r)
	}
	if r := runCmd("migrate", "sql", "--store", "mysql", "--schema", schema); r.code != exitOK ||
		!strings.Contains(r.stdout, "CREATE TABLE IF NOT EXISTS "+schema+"_executions") {
		t.Errorf("migrate sql --store mysql: %s", r)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCmd("version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "durable ") || !strings.Contains(r.stdout, "go1.") ||
		!strings.Contains(r.stdout, "schemas  SQLite version") {
		t.Errorf("version: %s", r)
	}
	var b buildInfo
	if err := json.Unmarshal([]byte(runCmd("version", "--json").stdout), &b); err != nil || b.Go == "" || b.Module == "" {
		t.Errorf("version --json: %v %+v", err, b)
	}
}

// TestBinary builds the command and runs it as a process: exit codes,
// standard output and error, on a store filled by a real executor.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "durable")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	f := sqliteFixture(t)
	runBin := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), envDB+"="+f.conn[1], envDSN+"=")
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), out.String(), errOut.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, out.String(), errOut.String()
	}
	code, out, errOut := runBin("executions", "list", "--status", "failed", "--json")
	if code != 0 || errOut != "" || !strings.Contains(out, f.doomed) || !strings.Contains(out, f.panicky) {
		t.Errorf("list: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runBin("executions", "retry", f.doomed)
	if code != 0 || !strings.HasPrefix(out, "te_") || !strings.Contains(errOut, "a retry of") {
		t.Errorf("retry: exit %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = runBin("executions", "show", "te_nosuchexecution")
	if code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("show of an unknown id: exit %d\n%s", code, errOut)
	}
	code, out, errOut = runBin("executions", "list", "-limit", "x")
	if code != 2 || out != "" || !strings.Contains(errOut, "--limit") {
		t.Errorf("a bad flag: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runBin("--help")
	if code != 0 || errOut != "" || !strings.Contains(out, "executions") {
		t.Errorf("--help: exit %d\n%s\n%s", code, out, errOut)
	}
}
