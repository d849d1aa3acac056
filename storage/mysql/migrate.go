package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"
	"text/template"

	"github.com/durable-go/durable/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded migration files, named NNN_name.sql.
// {{.P}} in them stands for the table prefix; each statement ends with a
// semicolon at the end of a line. The store records applied versions in
// its table schema_version (prefixed).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	return sub
}

// embeddedMigrations are the migrations of this code, in version order.
var embeddedMigrations = mustLoadMigrations()

// SchemaVersion is the schema version this code creates and expects: the
// number of its newest migration.
var SchemaVersion = embeddedMigrations[len(embeddedMigrations)-1].Version

func mustLoadMigrations() []migrations.File {
	files, err := migrations.Load(Migrations())
	if err != nil { // cannot happen: the files are embedded and tested
		panic(err)
	}
	return files
}

// migrationStatements renders migration m for prefix and splits it into
// its statements.
func migrationStatements(m migrations.File, prefix string) ([]string, error) {
	tmpl, err := template.New(m.Name).Parse(m.SQL)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, struct{ P string }{prefix}); err != nil {
		return nil, err
	}
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(b.String()) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		return nil, fmt.Errorf("migration %s: the last statement has no semicolon", m.Name)
	}
	return out, nil
}

// appliedMigration is one row of schema_version.
type appliedMigration struct {
	version        int
	name, checksum string
	appliedAt      int64
}

// migrateLockWait is how long Open waits, in seconds, for another opener's
// migration.
const migrateLockWait = 60

// lockName is the name of the server lock (GET_LOCK) that serializes the
// migrations of the store's tables: at most 64 characters.
func (s *Store) lockName(database string) string {
	sum := sha256.Sum256([]byte(database + "." + s.cfg.TablePrefix))
	return "durable.migrate." + hex.EncodeToString(sum[:16])
}

// migrate brings the tables to SchemaVersion, holding the server lock of
// the database and prefix (GET_LOCK) on one connection, so concurrent
// openers apply each migration once: the second waits for the first and
// then finds nothing to do. MySQL commits each DDL statement at once, so
// a migration is not one transaction: its statements are idempotent (IF
// NOT EXISTS), and its version is recorded after the last one, so a
// migration cut short is completed by the next Open. It fails with
// ErrSchemaVersion when the database is newer than this code or an applied
// migration differs from the embedded file. With migrations off, it only
// checks the version.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mysql: migrate: %w", err)
	}
	defer conn.Close()
	name := s.lockName(s.server.database)
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, s.q.migrateLock, name, migrateLockWait).Scan(&got); err != nil {
		return fmt.Errorf("mysql: migrate: take the migration lock: %w", err)
	}
	if got.Int64 != 1 {
		return fmt.Errorf("mysql: migrate: another process held the migration lock %s for %d s", name, migrateLockWait)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), s.q.migrateUnlock, name) //nolint:errcheck // closing the connection frees it too
	if err := s.migrateConn(ctx, conn); err != nil {
		return fmt.Errorf("mysql: migrate tables %s* of database %s: %w", s.cfg.TablePrefix, s.server.database, err)
	}
	return nil
}

func (s *Store) migrateConn(ctx context.Context, conn *sql.Conn) error {
	if s.cfg.DisableMigrations {
		var n int
		if err := conn.QueryRowContext(ctx, s.q.migrateHasVersionTable, s.q.data.Versions).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: the database has no durable tables and migrations are off", ErrSchemaVersion)
		}
	} else {
		if _, err := conn.ExecContext(ctx, s.q.migrateVersionTable); err != nil {
			return s.rightsError(err)
		}
		if err := s.probeRights(ctx, conn); err != nil {
			return s.rightsError(err)
		}
	}
	applied, err := readApplied(ctx, conn, s.q.migrateApplied)
	if err != nil {
		return err
	}
	pending, err := pendingMigrations(embeddedMigrations, applied)
	if err != nil {
		return err
	}
	if len(pending) > 0 && s.cfg.DisableMigrations {
		return fmt.Errorf("%w: database is at version %d, this code needs version %d and migrations are off",
			ErrSchemaVersion, len(applied), SchemaVersion)
	}
	for _, m := range pending {
		stmts, err := migrationStatements(m, s.cfg.TablePrefix)
		if err != nil {
			return err
		}
		for _, st := range stmts {
			if _, err := conn.ExecContext(ctx, st); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.Name, s.rightsError(err))
			}
		}
		if _, err := conn.ExecContext(ctx, s.q.migrateRecord, m.Version, m.Name, m.Checksum); err != nil {
			return fmt.Errorf("record migration %s: %w", m.Name, s.rightsError(err))
		}
	}
	return nil
}

// probeRights checks, before any table of the store is created, that the
// user may read and write rows (SELECT, INSERT, UPDATE, DELETE), in a
// transaction on the version table that it rolls back.
func (s *Store) probeRights(ctx context.Context, conn *sql.Conn) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // nothing to keep
	table := s.q.data.Versions
	for _, stmt := range []string{
		"INSERT INTO " + table + " (version, name, checksum, applied_at) VALUES (-1, 'probe', '', 0)",
		"UPDATE " + table + " SET name = 'probe' WHERE version = -1",
		"SELECT count(*) FROM " + table + " WHERE version = -1",
		"DELETE FROM " + table + " WHERE version = -1",
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

// rightsError explains a statement refused for lack of rights.
func (s *Store) rightsError(err error) error {
	switch errNumber(err) {
	case errTableAccess, errDBAccess:
		return fmt.Errorf("the DSN's user may not create or change durable's tables: "+
			"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP ON `%s`.* TO the user "+
			"(or create the tables once with `durable migrate up` as a user who may): %w", s.server.database, err)
	}
	return err
}

func readApplied(ctx context.Context, q querier, stmt string) ([]appliedMigration, error) {
	rows, err := q.QueryContext(ctx, stmt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appliedMigration
	for rows.Next() {
		var a appliedMigration
		if err := rows.Scan(&a.version, &a.name, &a.checksum, &a.appliedAt); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// pendingMigrations compares what the database has applied with the
// embedded migrations and returns those still to apply.
func pendingMigrations(known []migrations.File, applied []appliedMigration) ([]migrations.File, error) {
	latest := known[len(known)-1].Version
	done := make(map[int]bool, len(applied))
	for _, a := range applied {
		if a.version < 1 {
			return nil, fmt.Errorf("%w: schema_version holds an invalid version %d", ErrSchemaVersion, a.version)
		}
		if a.version > latest {
			return nil, fmt.Errorf("%w: the tables are at version %d, newer than version %d, the newest this code knows; upgrade durable",
				ErrSchemaVersion, applied[len(applied)-1].version, latest)
		}
		m := known[a.version-1]
		if a.checksum != m.Checksum {
			return nil, fmt.Errorf("%w: migration %s applied to the database differs from the one in this code (checksum %s, want %s)",
				ErrSchemaVersion, m.Name, a.checksum, m.Checksum)
		}
		done[a.version] = true
	}
	var pending []migrations.File
	for _, m := range known {
		if !done[m.Version] {
			pending = append(pending, m)
		}
	}
	return pending, nil
}

// TableNames returns the names of the store's tables for prefix (the
// executions table first): what dropping a store's tables must drop.
func TableNames(prefix string) []string {
	return []string{prefix + "executions", prefix + "execution_tags", prefix + "leases", prefix + "events", prefix + "controls",
		prefix + "schema_version"}
}
