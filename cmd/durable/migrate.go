package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/durable-go/durable/storage/mysql"
	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

func migrateCommands() []subcommand {
	return []subcommand{
		{"up", "", "apply the pending schema migrations (creating the SQLite file or the schema)", runMigrateUp},
		{"status", "", "show which migrations the store has applied and which are pending", runMigrateStatus},
		{"sql", "", "print the SQL of the migrations, for a DBA to apply by hand", runMigrateSQL},
	}
}

func runMigrate(args []string, stdout, stderr io.Writer) int {
	return runGroup("migrate", "Manage the store's schema. Applications migrate it themselves when they open a\n"+
		"store (sqlite.Open, postgres.Open without Config.DisableMigrations); the other\n"+
		"durable commands do not, and refuse a schema older than theirs.",
		migrateCommands(), args, stdout, stderr)
}

// migration is one migration's state, from either store.
type migration struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
	Known     bool      `json:"known"`
	Modified  bool      `json:"modified,omitzero"`
}

// migrationStatus reads the store's migrations without changing anything;
// a missing SQLite file has every one pending (exists false).
func (f *connFlags) migrationStatus(ctx context.Context) (ms []migration, exists bool, err error) {
	if f.db != "" {
		st, err := sqlite.MigrationStatus(ctx, f.db)
		if errors.Is(err, fs.ErrNotExist) {
			for v := 1; v <= sqlite.SchemaVersion(); v++ {
				ms = append(ms, migration{Version: v, Name: sqliteMigrationName(v), Known: true})
			}
			return ms, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		for _, m := range st {
			ms = append(ms, migration{m.Version, m.Name, m.Applied, m.AppliedAt, m.Known, m.Modified})
		}
		return ms, true, nil
	}
	if f.mysql() {
		st, err := mysql.MigrationStatus(ctx, f.mysqlDSN(), f.mysqlPrefix())
		if err != nil {
			return nil, false, err
		}
		for _, m := range st {
			ms = append(ms, migration{m.Version, m.Name, m.Applied, m.AppliedAt, m.Known, m.Modified})
		}
		return ms, true, nil
	}
	st, err := postgres.MigrationStatus(ctx, f.dsn, f.schema)
	if err != nil {
		return nil, false, err
	}
	for _, m := range st {
		ms = append(ms, migration{m.Version, m.Name, m.Applied, m.AppliedAt, m.Known, m.Modified})
	}
	return ms, true, nil
}

// sqliteMigrationName is the name of an embedded SQLite migration.
func sqliteMigrationName(v int) string {
	names, _ := fs.Glob(sqlite.Migrations(), fmt.Sprintf("%03d_*.sql", v))
	if len(names) == 0 {
		return fmt.Sprintf("%03d", v)
	}
	return names[0][:len(names[0])-len(".sql")]
}

func appliedCount(ms []migration) int {
	n := 0
	for _, m := range ms {
		if m.Applied {
			n++
		}
	}
	return n
}

func runMigrateUp(args []string, stdout, stderr io.Writer) int {
	c := newCLI("migrate up", "", "Applies the pending schema migrations, as an application opening the store\n"+
		"would: creates the SQLite file, or the PostgreSQL schema, if it does not exist.\n"+
		"Concurrent openers take turns; a store migrated by a newer durable is refused.\n"+
		"Applications of an older durable refuse a store migrated past their version.", stdout, stderr)
	conn := c.connFlags()
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.failf("unexpected argument %q", pos[0])
	}
	if _, err := conn.resolve(c); err != nil {
		return c.fail(err)
	}
	ctx, stop := interruptContext()
	defer stop()
	before, existed, err := conn.migrationStatus(ctx)
	if err != nil {
		return c.failed(err)
	}
	store, err := conn.openStore(ctx, true)
	if err != nil {
		return c.failed(err)
	}
	store.Close()
	after, _, err := conn.migrationStatus(ctx)
	if err != nil {
		return c.failed(err)
	}
	if !existed {
		fmt.Fprintf(stdout, "created %s\n", conn.where())
	}
	applied := 0
	for i, m := range after {
		if m.Applied && (i >= len(before) || !before[i].Applied) {
			fmt.Fprintf(stdout, "applied %s\n", m.Name)
			applied++
		}
	}
	if applied == 0 {
		fmt.Fprintf(stdout, "%s is up to date: schema version %d\n", conn.where(), appliedCount(after))
	} else {
		fmt.Fprintf(stdout, "%s is at schema version %d\n", conn.where(), appliedCount(after))
	}
	return exitOK
}

func runMigrateStatus(args []string, stdout, stderr io.Writer) int {
	c := newCLI("migrate status", "", "Shows which migrations the store has applied, and when, and which are pending,\n"+
		"changing nothing. A migration the store has applied but this durable does not\n"+
		"know means a newer durable migrated it; a modified one, that the file applied\n"+
		"differs from this durable's.", stdout, stderr)
	conn := c.connFlags()
	var asJSON bool
	c.boolVar(&asJSON, "json", false, `print one JSON document: {"version": N, "latest": N, "migrations": [...]}`)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.failf("unexpected argument %q", pos[0])
	}
	if _, err := conn.resolve(c); err != nil {
		return c.fail(err)
	}
	ctx, stop := interruptContext()
	defer stop()
	ms, exists, err := conn.migrationStatus(ctx)
	if err != nil {
		return c.failed(err)
	}
	if !exists {
		return c.errorf("database file %s does not exist (--db); `durable migrate up --db %s` creates it", conn.db, conn.db)
	}
	latest := sqlite.SchemaVersion()
	switch {
	case conn.mysql():
		latest = mysql.SchemaVersion
	case conn.dsn != "":
		latest = postgres.SchemaVersion
	}
	if asJSON {
		doc := struct {
			Version    int         `json:"version"`
			Latest     int         `json:"latest"`
			Migrations []migration `json:"migrations"`
		}{appliedCount(ms), latest, ms}
		if err := writeJSON(stdout, doc); err != nil {
			return c.failed(err)
		}
		return exitOK
	}
	tw := newTable(stdout)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
	pending, problems := 0, 0
	for _, m := range ms {
		state := "pending"
		switch {
		case m.Applied && !m.Known:
			state, problems = "applied, unknown to this durable (a newer one migrated the store)", problems+1
		case m.Applied && m.Modified:
			state, problems = "applied from a different file (checksum differs)", problems+1
		case m.Applied:
			state = "applied"
		default:
			pending++
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", m.Version, m.Name, state, when(m.AppliedAt))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%s: schema version %d; this durable's is %d", conn.where(), appliedCount(ms), latest)
	switch {
	case problems > 0:
		fmt.Fprintln(stdout, "; this durable cannot use the store (see above)")
	case pending > 0:
		fmt.Fprintf(stdout, "; %d pending (`durable migrate up` applies them)\n", pending)
	default:
		fmt.Fprintln(stdout, "; up to date")
	}
	return exitOK
}

func runMigrateSQL(args []string, stdout, stderr io.Writer) int {
	c := newCLI("migrate sql", "[--store sqlite|postgres|mysql] [--schema NAME] [--since VERSION]", "Prints the SQL of the migrations after --since, as one script that applies them\n"+
		"in one transaction (on MySQL, which commits DDL at once, statement by statement,\n"+
		"each idempotent) and records them as applied, so that applications (even a\n"+
		"store with Config.DisableMigrations) find the schema up to date. It connects to\n"+
		"nothing: the store is --store, or the one --db or --dsn names.", stdout, stderr)
	conn := c.connFlags()
	var kind string
	var since int
	c.stringVar(&kind, "store", "", "print the SQL of this `STORE`: sqlite, postgres or mysql (default: the one --db or --dsn names)")
	c.intVar(&since, "since", 0, "print the migrations after schema `VERSION` (what `durable migrate status` shows)")
	c.examples = []string{"durable migrate sql --store postgres --schema jobs | psql \"$DSN\"",
		"durable migrate sql --db app.db --since 3 | sqlite3 app.db",
		"durable migrate sql --store mysql --schema jobs | mysql --host=db app"}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.failf("unexpected argument %q", pos[0])
	}
	if kind == "" {
		var err error
		if kind, err = conn.resolve(c); err != nil {
			return c.fail(fmt.Errorf("%w; or give --store sqlite, --store postgres or --store mysql", err))
		}
	} else {
		set := map[string]bool{}
		c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["schema"] {
			conn.schema = os.Getenv(envSchema)
		}
	}
	var script string
	var err error
	switch kind {
	case "sqlite":
		script, err = sqlite.MigrationSQL(since)
	case "postgres":
		script, err = postgres.MigrationSQL(conn.schema, since)
	case "mysql":
		script, err = mysql.MigrationSQL(conn.mysqlPrefix(), since)
	default:
		return c.failf("--store must be sqlite, postgres or mysql, not %q", kind)
	}
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprint(stdout, script)
	return exitOK
}
