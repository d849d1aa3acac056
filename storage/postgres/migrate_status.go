package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// MigrationState is one schema migration: as this code embeds it, and as
// a database schema recorded it.
type MigrationState struct {
	Version int
	// Name is the file name without .sql (001_init).
	Name string
	// Applied says the schema recorded the migration, at AppliedAt.
	Applied   bool
	AppliedAt time.Time
	// Known is false for a migration the schema recorded that this code
	// does not embed: it was migrated by a newer version of durable.
	Known bool
	// Modified says the schema recorded the migration from a file other
	// than the embedded one (another checksum).
	Modified bool
}

// MigrationStatus reads which migrations the schema (DefaultSchema when
// empty) of the database at dsn has applied, in version order, in a read
// only transaction: it changes nothing. A schema without durable's tables,
// or no such schema, has every migration pending. Open applies the
// pending ones (unless Config.DisableMigrations).
func MigrationStatus(ctx context.Context, dsn, schema string) ([]MigrationState, error) {
	cfg := Config{Schema: schema}.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	q, err := newQueries(cfg.Schema)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var applied []appliedMigration
	var at []time.Time
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var exists bool
		table := pgx.Identifier{cfg.Schema, "schema_version"}.Sanitize()
		if err := tx.QueryRow(ctx, q.migrateHasVersionTable, namedArgs{"table": table}).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return nil
		}
		rows, err := tx.Query(ctx, "SELECT version, name, checksum, applied_at FROM "+table+" ORDER BY version")
		if err != nil {
			return err
		}
		var a appliedMigration
		var t time.Time
		_, err = pgx.ForEachRow(rows, []any{&a.version, &a.name, &a.checksum, &t}, func() error {
			applied, at = append(applied, a), append(at, t.UTC())
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: migration status of schema %q: %w", cfg.Schema, err)
	}
	return statesOf(applied, at), nil
}

// statesOf merges the embedded migrations with the applied ones.
func statesOf(applied []appliedMigration, at []time.Time) []MigrationState {
	out := make([]MigrationState, len(embeddedMigrations))
	for i, m := range embeddedMigrations {
		out[i] = MigrationState{Version: m.version, Name: m.name, Known: true}
	}
	for i, a := range applied {
		if a.version >= 1 && a.version <= len(embeddedMigrations) {
			st := &out[a.version-1]
			st.Applied, st.AppliedAt = true, at[i]
			st.Modified = a.checksum != embeddedMigrations[a.version-1].checksum
			continue
		}
		out = append(out, MigrationState{Version: a.version, Name: a.name, Applied: true, AppliedAt: at[i]})
	}
	return out
}

// MigrationSQL returns a script that applies the embedded migrations after
// version since (0: every one) to schema (DefaultSchema when empty) as
// Open does: in one transaction holding the advisory lock Open takes,
// creating the schema and its schema_version table if needed, running
// each file with search_path set to the schema and recording it, so that
// Open (even with Config.DisableMigrations) then finds them applied. It is
// for a DBA who applies schema changes by hand (psql -1 is not needed: the
// script has its own BEGIN and COMMIT).
func MigrationSQL(schema string, since int) (string, error) {
	cfg := Config{Schema: schema}.withDefaults()
	if err := cfg.validate(); err != nil {
		return "", err
	}
	n := len(embeddedMigrations)
	if since < 0 || since > n {
		return "", fmt.Errorf("postgres: no schema version %d: this code knows versions 0..%d", since, n)
	}
	q, err := newQueries(cfg.Schema)
	if err != nil {
		return "", err
	}
	quoted := pgx.Identifier{cfg.Schema}.Sanitize()
	var b strings.Builder
	fmt.Fprintf(&b, "-- durable PostgreSQL schema %s: migrations %d..%d of %d.\n", quoted, since+1, n, n)
	b.WriteString("BEGIN;\n\n")
	// The schema name matches schemaPattern: safe inside a literal.
	// (A DO block, so that psql prints no row: the lock is held until COMMIT.)
	fmt.Fprintf(&b, "DO $$ BEGIN PERFORM pg_advisory_xact_lock(hashtextextended('durable.migrate.%s', 0)); END $$;\n", cfg.Schema)
	b.WriteString(q.migrateSchema + ";\n")
	b.WriteString(q.migrateVersionTable + ";\n")
	b.WriteString(q.migrateSearchPath + ";\n")
	for _, m := range embeddedMigrations[since:] {
		fmt.Fprintf(&b, "\n-- %s.sql (checksum %s)\n\n", m.name, m.checksum)
		b.WriteString(strings.TrimRight(m.sql, "\n \t"))
		if !strings.HasSuffix(strings.TrimSpace(m.sql), ";") {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, "\n\nINSERT INTO %s.schema_version (version, name, checksum)\nVALUES (%d, '%s', '%s');\n",
			quoted, m.version, strings.ReplaceAll(m.name, "'", "''"), m.checksum)
	}
	b.WriteString("\nCOMMIT;\n")
	return b.String(), nil
}
