package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MigrationState is one migration: as this code embeds it, and as a
// database's tables recorded it.
type MigrationState struct {
	Version int
	// Name is the file name without .sql (001_init).
	Name string
	// Applied says the tables recorded the migration, at AppliedAt.
	Applied   bool
	AppliedAt time.Time
	// Known is false for a migration the tables recorded that this code
	// does not embed: a newer version of durable migrated them.
	Known bool
	// Modified says the tables recorded the migration from a file other
	// than the embedded one (another checksum).
	Modified bool
}

// MigrationStatus reads which migrations the tables of prefix
// (DefaultTablePrefix when empty) in the DSN's database have applied, in
// version order, changing nothing. Without the store's version table,
// every migration is pending. Open applies the pending ones (unless
// Config.DisableMigrations).
func MigrationStatus(ctx context.Context, dsn, prefix string) ([]MigrationState, error) {
	cfg := Config{TablePrefix: prefix}.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	q, err := newQueries(cfg.TablePrefix)
	if err != nil {
		return nil, err
	}
	dcfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql: parse DSN: %w (want user:password@tcp(host:3306)/dbname)", err)
	}
	conn, err := mysql.NewConnector(dcfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, q.migrateHasVersionTable, q.data.Versions).Scan(&n); err != nil {
		return nil, connectError(dcfg.Addr, err)
	}
	var applied []appliedMigration
	if n > 0 {
		if applied, err = readApplied(ctx, db, q.migrateApplied); err != nil {
			return nil, fmt.Errorf("mysql: migration status of tables %s*: %w", cfg.TablePrefix, err)
		}
	}
	out := make([]MigrationState, len(embeddedMigrations))
	for i, m := range embeddedMigrations {
		out[i] = MigrationState{Version: m.Version, Name: m.Name, Known: true}
	}
	for _, a := range applied {
		at := time.UnixMicro(a.appliedAt).UTC()
		if a.version >= 1 && a.version <= len(embeddedMigrations) {
			st := &out[a.version-1]
			st.Applied, st.AppliedAt = true, at
			st.Modified = a.checksum != embeddedMigrations[a.version-1].Checksum
			continue
		}
		out = append(out, MigrationState{Version: a.version, Name: a.name, Applied: true, AppliedAt: at})
	}
	return out, nil
}

// MigrationSQL returns a script for the mysql client that applies the
// embedded migrations after version since (0: every one) to the tables of
// prefix (DefaultTablePrefix when empty) in the current database as Open
// does: holding the server lock Open takes, creating the version table if
// needed, running each migration's statements and recording it, so that
// Open (even with Config.DisableMigrations) then finds them applied. It is
// for a DBA who applies schema changes by hand. MySQL commits each DDL
// statement at once: the script is not one transaction, but its
// statements are idempotent, and a script cut short can be run again.
func MigrationSQL(prefix string, since int) (string, error) {
	cfg := Config{TablePrefix: prefix}.withDefaults()
	if err := cfg.validate(); err != nil {
		return "", err
	}
	n := len(embeddedMigrations)
	if since < 0 || since > n {
		return "", fmt.Errorf("mysql: no schema version %d: this code knows versions 0..%d", since, n)
	}
	q, err := newQueries(cfg.TablePrefix)
	if err != nil {
		return "", err
	}
	// The lock's name is lockName's: a hash of the database and the prefix
	// (which matches prefixPattern: safe inside a literal).
	lock := fmt.Sprintf("CONCAT('durable.migrate.', LEFT(SHA2(CONCAT(DATABASE(), '.', '%s'), 256), 32))", cfg.TablePrefix)
	var b strings.Builder
	fmt.Fprintf(&b, "-- durable MySQL tables %s*: migrations %d..%d of %d.\n", cfg.TablePrefix, since+1, n, n)
	fmt.Fprintf(&b, "SELECT GET_LOCK(%s, %d);\n", lock, migrateLockWait)
	b.WriteString(q.migrateVersionTable + ";\n")
	for _, m := range embeddedMigrations[since:] {
		fmt.Fprintf(&b, "\n-- %s.sql (checksum %s)\n\n", m.Name, m.Checksum)
		stmts, err := migrationStatements(m, cfg.TablePrefix)
		if err != nil {
			return "", err
		}
		for _, st := range stmts {
			b.WriteString(st + ";\n\n")
		}
		fmt.Fprintf(&b, "INSERT INTO %s (version, name, checksum, applied_at)\nVALUES (%d, '%s', '%s', %s)\nON DUPLICATE KEY UPDATE version = version;\n",
			q.data.Versions, m.Version, strings.ReplaceAll(m.Name, "'", "''"), m.Checksum, nowSQL)
	}
	fmt.Fprintf(&b, "\nSELECT RELEASE_LOCK(%s);\n", lock)
	return b.String(), nil
}
