package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"
)

// MigrationState is one schema migration: as this code embeds it, and as
// a database recorded it.
type MigrationState struct {
	Version int
	// Name is the file name without .sql (001_init).
	Name string
	// Applied says the database recorded the migration, at AppliedAt.
	Applied   bool
	AppliedAt time.Time
	// Known is false for a migration the database recorded that this code
	// does not embed: the file was migrated by a newer version of durable.
	Known bool
	// Modified says the database recorded the migration from a file other
	// than the embedded one (another checksum).
	Modified bool
}

// MigrationStatus reads which migrations the database file at path has
// applied, in version order, without changing the file: it is opened read
// only, and a missing file is an error (fs.ErrNotExist), not created. A
// file without durable's tables has every migration pending. Open applies
// the pending ones.
func MigrationStatus(ctx context.Context, path string) ([]MigrationState, error) {
	known, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	uri, err := fileURI(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("sqlite: migration status of %s: %w", path, err)
	}
	db, err := sql.Open(driverName, uri+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	defer db.Close()
	applied, err := readMigrationTable(ctx, db)
	if err != nil {
		s := &Store{path: path}
		return nil, s.openError(err)
	}
	var out []MigrationState
	for _, k := range known {
		out = append(out, MigrationState{Version: k.version, Name: k.name, Known: true})
	}
	for _, a := range applied {
		if a.version >= 1 && a.version <= len(known) {
			st := &out[a.version-1]
			st.Applied, st.AppliedAt, st.Modified = true, a.at, a.checksum != known[a.version-1].checksum
			continue
		}
		out = append(out, MigrationState{Version: a.version, Name: a.name, Applied: true, AppliedAt: a.at})
	}
	return out, nil
}

type recordedMigration struct {
	version        int
	name, checksum string
	at             time.Time
}

// readMigrationTable reads durable_migrations; none if the table does not
// exist.
func readMigrationTable(ctx context.Context, db *sql.DB) ([]recordedMigration, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'durable_migrations'").Scan(&n)
	if err != nil || n == 0 {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, "SELECT version, name, checksum, applied_at FROM durable_migrations ORDER BY version")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recordedMigration
	for rows.Next() {
		var a recordedMigration
		var at int64
		if err := rows.Scan(&a.version, &a.name, &a.checksum, &at); err != nil {
			return nil, err
		}
		a.at = time.UnixMicro(at).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// MigrationSQL returns a script that applies the embedded migrations after
// version since (0: every one) as Open does: in one transaction that takes
// the write lock first, recording each in durable_migrations, so that Open
// then finds them applied. Open also switches the file to WAL mode, which
// the script leaves to it. It is for the sqlite3 shell of someone who
// applies schema changes by hand.
func MigrationSQL(since int) (string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return "", err
	}
	if since < 0 || since > len(ms) {
		return "", fmt.Errorf("sqlite: no schema version %d: this code knows versions 0..%d", since, len(ms))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "-- durable SQLite schema: migrations %d..%d of %d.\n", since+1, len(ms), len(ms))
	b.WriteString("BEGIN IMMEDIATE;\n\n")
	b.WriteString(createMigrationsTable + ";\n")
	for _, m := range ms[since:] {
		fmt.Fprintf(&b, "\n-- %s.sql (checksum %s)\n\n", m.name, m.checksum)
		b.WriteString(strings.TrimRight(m.sql, "\n \t"))
		if !strings.HasSuffix(strings.TrimSpace(m.sql), ";") {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, "\n\nINSERT INTO durable_migrations (version, name, checksum, applied_at)\n"+
			"VALUES (%d, '%s', '%s', CAST(strftime('%%s', 'now') AS INTEGER) * 1000000);\n", m.version, m.name, m.checksum)
	}
	b.WriteString("\nCOMMIT;\n")
	return b.String(), nil
}
