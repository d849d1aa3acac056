package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/durable-go/durable/internal/migrations"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations returns the schema migrations Open applies, as files named
// NNN_name.sql, for tools that want to inspect or apply them themselves.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err) // the directory is embedded: cannot happen
	}
	return sub
}

// migration is one embedded migration file.
type migration struct {
	version  int
	name     string // file name without .sql
	sql      string
	checksum string // hex SHA-256 of the file
}

// loadMigrations reads the embedded migrations, ordered by version. Versions
// must be 1, 2, 3, ... without gaps.
func loadMigrations() ([]migration, error) {
	files, err := migrations.Load(Migrations())
	if err != nil {
		return nil, err
	}
	out := make([]migration, len(files))
	for i, f := range files {
		out[i] = migration{version: f.Version, name: f.Name, sql: f.SQL, checksum: f.Checksum}
	}
	return out, nil
}

// SchemaVersion is the schema version this code migrates a database to: the
// number of its embedded migrations.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS durable_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL,
	checksum   TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
)`

// migrate brings the schema up to date in one BEGIN IMMEDIATE transaction:
// it holds the write lock from the start, so two processes migrating one
// file at once take turns, and the second finds the work done. It refuses a
// database whose version is newer than this code knows, and one whose
// applied migrations differ from the embedded files.
func migrate(ctx context.Context, conn *sql.Conn, busyTimeout time.Duration) (err error) {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	err = retryBusy(ctx, busyTimeout, func() error {
		_, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, createMigrationsTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return err
	}
	if err := checkApplied(applied, ms); err != nil {
		return err
	}
	for _, m := range ms[len(applied):] {
		if err := apply(ctx, conn, m); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

// appliedMigrations returns the checksums of the applied migrations by
// version, in version order.
func appliedMigrations(ctx context.Context, conn *sql.Conn) ([]migration, error) {
	rows, err := conn.QueryContext(ctx, "SELECT version, name, checksum FROM durable_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("migrate: read applied migrations: %w", err)
	}
	defer rows.Close()
	var out []migration
	for rows.Next() {
		var m migration
		if err := rows.Scan(&m.version, &m.name, &m.checksum); err != nil {
			return nil, fmt.Errorf("migrate: read applied migrations: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read applied migrations: %w", err)
	}
	return out, nil
}

// checkApplied compares the applied migrations with the known ones.
func checkApplied(applied, known []migration) error {
	if n := len(applied); n > 0 && applied[n-1].version > len(known) {
		return fmt.Errorf("%w: the database is at schema version %d (migration %s), this code knows versions up to %d",
			ErrNewerSchema, applied[n-1].version, applied[n-1].name, len(known))
	}
	for i, a := range applied {
		k := known[i]
		if a.version != k.version {
			return fmt.Errorf("migrate: applied migrations are not 1..%d: found version %d at position %d",
				len(applied), a.version, i+1)
		}
		if a.checksum != k.checksum {
			return fmt.Errorf("migrate: migration %s was applied from a different file than %s.sql (checksum %s, want %s)",
				a.name, k.name, a.checksum, k.checksum)
		}
	}
	return nil
}

func apply(ctx context.Context, conn *sql.Conn, m migration) error {
	if _, err := conn.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migrate: apply %s: %w", m.name, err)
	}
	// The applied_at stamp is metadata for people, not engine logic, so the
	// wall clock is right here.
	_, err := conn.ExecContext(ctx,
		"INSERT INTO durable_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)",
		m.version, m.name, m.checksum, time.Now().UnixMicro())
	if err != nil {
		return fmt.Errorf("migrate: record %s: %w", m.name, err)
	}
	return nil
}
