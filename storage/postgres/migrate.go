package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the embedded migration files, named NNN_name.sql.
// Each runs with search_path set to the store's schema, so it uses
// unqualified names; the store records applied versions in the table
// schema_version of that schema.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	return sub
}

// migration is one embedded migration file.
type migration struct {
	version  int
	name     string
	sql      string
	checksum string
}

// embeddedMigrations are the migrations of this code, in version order.
var embeddedMigrations = mustLoadMigrations()

// SchemaVersion is the schema version this code creates and expects: the
// number of its newest migration.
var SchemaVersion = embeddedMigrations[len(embeddedMigrations)-1].version

func mustLoadMigrations() []migration {
	ms, err := loadMigrations(Migrations())
	if err != nil { // cannot happen: the files are embedded and tested
		panic(err)
	}
	return ms
}

// loadMigrations reads and orders the migration files of fsys; versions
// must be 1, 2, 3, ... without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	files, err := migrations.Load(fsys)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	ms := make([]migration, len(files))
	for i, f := range files {
		ms[i] = migration{version: f.Version, name: f.Name, sql: f.SQL, checksum: f.Checksum}
	}
	return ms, nil
}

// appliedMigration is one row of schema_version.
type appliedMigration struct {
	version        int
	name, checksum string
}

// migrate brings the schema to SchemaVersion in one transaction holding an
// advisory lock keyed by the schema name, so concurrent openers apply each
// migration once: the second waits for the first and then finds nothing
// to do. It fails with ErrSchemaVersion when the database is newer than
// this code or an applied migration's checksum differs from the embedded
// file. With migrations off, it only checks the version.
func (s *Store) migrate(ctx context.Context) error {
	err := s.withTx(ctx, nil, func(tx pgx.Tx) error { return s.migrateTx(ctx, tx) })
	if err != nil {
		return fmt.Errorf("postgres: migrate schema %q: %w", s.cfg.Schema, err)
	}
	return nil
}

func (s *Store) migrateTx(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, s.q.migrateLock, namedArgs{"lock_key": "durable.migrate." + s.cfg.Schema}); err != nil {
		return err
	}
	if !s.cfg.DisableMigrations {
		if _, err := tx.Exec(ctx, s.q.migrateSchema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.q.migrateVersionTable); err != nil {
			return err
		}
	}
	if s.cfg.DisableMigrations {
		var ok bool
		table := pgx.Identifier{s.cfg.Schema, "schema_version"}.Sanitize()
		if err := tx.QueryRow(ctx, s.q.migrateHasVersionTable, namedArgs{"table": table}).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: the schema has no durable tables and migrations are off", ErrSchemaVersion)
		}
	}
	applied, err := readApplied(ctx, tx, s.q.migrateApplied)
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
		if err := s.applyMigration(ctx, tx, m); err != nil {
			return err
		}
	}
	return nil
}

func readApplied(ctx context.Context, tx pgx.Tx, sql string) ([]appliedMigration, error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (appliedMigration, error) {
		var a appliedMigration
		err := r.Scan(&a.version, &a.name, &a.checksum)
		return a, err
	})
}

// pendingMigrations compares what the database has applied with the
// embedded migrations and returns those still to apply.
func pendingMigrations(known []migration, applied []appliedMigration) ([]migration, error) {
	latest := known[len(known)-1].version
	for _, a := range applied {
		if a.version < 1 {
			return nil, fmt.Errorf("%w: schema_version holds an invalid version %d", ErrSchemaVersion, a.version)
		}
		if a.version > latest {
			return nil, fmt.Errorf("%w: the database schema is at version %d, newer than version %d, the newest this code knows; upgrade durable",
				ErrSchemaVersion, applied[len(applied)-1].version, latest)
		}
	}
	done := make(map[int]bool, len(applied))
	for _, a := range applied {
		m := known[a.version-1]
		if a.checksum != m.checksum {
			return nil, fmt.Errorf("%w: migration %s applied to the database differs from the one in this code (checksum %s, want %s)",
				ErrSchemaVersion, m.name, a.checksum, m.checksum)
		}
		done[a.version] = true
	}
	var pending []migration
	for _, m := range known {
		if !done[m.version] {
			pending = append(pending, m)
		}
	}
	return pending, nil
}

func (s *Store) applyMigration(ctx context.Context, tx pgx.Tx, m migration) error {
	if _, err := tx.Exec(ctx, s.q.migrateSearchPath); err != nil {
		return err
	}
	// The simple protocol runs a file of several statements at once.
	if _, err := tx.Exec(ctx, m.sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	args := namedArgs{"version": m.version, "name": m.name, "checksum": m.checksum}
	if _, err := tx.Exec(ctx, s.q.migrateRecord, args); err != nil {
		return fmt.Errorf("record migration %s: %w", m.name, err)
	}
	return nil
}
