package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/mysql"
	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

// The environment variables the connection flags default to.
const (
	envDB     = "DURABLE_DB"
	envDSN    = "DURABLE_DSN"
	envSchema = "DURABLE_SCHEMA"
)

// connFlags are the flags of every command that operates a store: --db
// for a SQLite file, or --dsn and --schema for PostgreSQL, or for MySQL
// (a DSN that starts with mysql://; the schema names the table prefix,
// schema + "_").
type connFlags struct {
	db, dsn, schema string
	// notify listens to the store's notifications (PostgreSQL), for a
	// command that waits for executions (serve).
	notify bool
}

func (c *cli) connFlags() *connFlags {
	var f connFlags
	c.group("store (one of --db and --dsn; the flags win over the environment)")
	c.stringVar(&f.db, "db", "", "`PATH` of the SQLite database file (env "+envDB+")")
	c.stringVar(&f.dsn, "dsn", "", "`URL` of the PostgreSQL database, e.g. postgres://user@host:5432/db, or of the MySQL one, e.g. mysql://user:pw@tcp(host:3306)/db (env "+envDSN+")")
	c.stringVar(&f.schema, "schema", "", "`NAME` of the PostgreSQL schema holding durable's tables; on MySQL, the tables are NAME_* (env "+envSchema+"; default "+postgres.DefaultSchema+")")
	c.group("flags")
	return &f
}

// store says which store the flags and the environment name: "sqlite" or
// "postgres", with the flags resolved, or an error naming what is wrong.
func (f *connFlags) resolve(c *cli) (string, error) {
	set := map[string]bool{}
	c.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	db, dsn, schema := f.db, f.dsn, f.schema
	if !set["db"] && !set["dsn"] {
		db, dsn = os.Getenv(envDB), os.Getenv(envDSN)
		if db != "" && dsn != "" {
			return "", fmt.Errorf("both %s and %s are set: give --db or --dsn to choose", envDB, envDSN)
		}
	}
	if !set["schema"] {
		schema = os.Getenv(envSchema)
	}
	switch {
	case set["db"] && set["dsn"]:
		return "", errors.New("give --db (SQLite) or --dsn (PostgreSQL), not both")
	case set["db"] && db == "":
		return "", errors.New("--db is empty")
	case set["dsn"] && dsn == "":
		return "", errors.New("--dsn is empty")
	case db == "" && dsn == "":
		return "", fmt.Errorf("no store: give --db PATH (SQLite) or --dsn URL (PostgreSQL), or set %s or %s", envDB, envDSN)
	case db != "" && set["schema"]:
		return "", errors.New("--schema is for PostgreSQL (--dsn); a SQLite file (--db) has no schema")
	}
	f.db, f.dsn, f.schema = db, dsn, schema
	switch {
	case db != "":
		return "sqlite", nil
	case f.mysql():
		return "mysql", nil
	}
	return "postgres", nil
}

// mysqlScheme starts a --dsn that names a MySQL database.
const mysqlScheme = "mysql://"

// mysql reports whether the flags name a MySQL database.
func (f *connFlags) mysql() bool { return strings.HasPrefix(f.dsn, mysqlScheme) }

// mysqlDSN is the go-sql-driver DSN of a mysql:// --dsn.
func (f *connFlags) mysqlDSN() string { return strings.TrimPrefix(f.dsn, mysqlScheme) }

// mysqlPrefix is the MySQL table prefix the --schema names.
func (f *connFlags) mysqlPrefix() string {
	schema := f.schema
	if schema == "" {
		schema = postgres.DefaultSchema
	}
	return schema + "_"
}

// where names the store for messages.
func (f *connFlags) where() string {
	if f.db != "" {
		return f.db
	}
	if f.mysql() {
		return "MySQL tables " + f.mysqlPrefix() + "*"
	}
	schema := f.schema
	if schema == "" {
		schema = postgres.DefaultSchema
	}
	return "PostgreSQL schema " + schema
}

// quiet is the logger of the command's stores and executor: the command
// reports errors itself.
var quiet = slog.New(slog.DiscardHandler)

// openStore opens the store the flags name. With create false (every
// command but migrate up) it changes no schema on PostgreSQL (migrations
// off) and creates no SQLite file: a missing one is an error.
func (f *connFlags) openStore(ctx context.Context, create bool) (storage.Store, error) {
	if f.db != "" {
		if !create {
			st, err := os.Stat(f.db)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("database file %s does not exist (--db); `durable migrate up --db %s` creates one", f.db, f.db)
			}
			if err == nil && st.IsDir() {
				return nil, fmt.Errorf("--db %s is a directory, not a database file", f.db)
			}
			if err := checkSQLiteSchema(ctx, f.db); err != nil {
				return nil, err
			}
		}
		s, err := sqlite.Open(ctx, f.db, sqlite.Config{})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	if f.mysql() {
		s, err := mysql.Open(ctx, f.mysqlDSN(), mysql.Config{TablePrefix: f.mysqlPrefix(), DisableMigrations: !create,
			DisableEvents: true, Logger: quiet})
		if errors.Is(err, mysql.ErrSchemaVersion) && !create {
			return nil, fmt.Errorf("%w\n(`durable migrate status` shows the tables' migrations; `durable migrate up` applies them)", err)
		}
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	s, err := postgres.Open(ctx, f.dsn, postgres.Config{Schema: f.schema, DisableMigrations: !create,
		DisableNotifications: !f.notify, Logger: quiet})
	if errors.Is(err, postgres.ErrSchemaVersion) && !create {
		return nil, fmt.Errorf("%w\n(`durable migrate status` shows the schema's migrations; `durable migrate up` applies them)", err)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// checkSQLiteSchema refuses a file whose schema is not the one this
// command knows, instead of letting sqlite.Open migrate it: an operator's
// command must not upgrade the schema under the applications using the
// file (migrate up does, when asked).
func checkSQLiteSchema(ctx context.Context, path string) error {
	st, err := sqlite.MigrationStatus(ctx, path)
	if err != nil {
		return err
	}
	applied := 0
	for _, m := range st {
		if m.Applied {
			applied++
		}
	}
	switch {
	case applied == 0:
		return fmt.Errorf("%s is not a durable database (it has none of durable's tables); `durable migrate up --db %s` creates them", path, path)
	case applied < sqlite.SchemaVersion():
		return fmt.Errorf("%s is at schema version %d, this durable needs version %d: `durable migrate up --db %s` applies the missing migrations (applications of an older durable then refuse the file)",
			path, applied, sqlite.SchemaVersion(), path)
	}
	return nil // a newer schema: sqlite.Open says so
}

// open opens the store and an executor on it that is never started: the
// command uses its operator methods only.
func (f *connFlags) open(ctx context.Context) (*durable.Executor, func(), error) {
	store, err := f.openStore(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	ex, err := durable.New(store, durable.Config{Logger: quiet})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return ex, func() { store.Close() }, nil
}
