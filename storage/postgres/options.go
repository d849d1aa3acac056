package postgres

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// DefaultSchema is the schema the store keeps its tables in unless
// Config.Schema names another.
const DefaultSchema = "durable"

// Clock selects whose clock judges due times and leases.
type Clock int

const (
	// ClockDatabase (the default) judges every "now" on the database
	// server's clock (statement_timestamp()) and ignores params.Now: due
	// times and lease expiries are computed in SQL as the database's now
	// plus the Delay, Timeout or Lease duration. Executors with skewed
	// clocks then neither steal live work nor leave dead work stuck.
	ClockDatabase Clock = iota
	// ClockParams uses params.Now as "now", like the embedded stores. It
	// is meant for tests that pass fixed times (the conformance suite runs
	// with it). A zero params.Now falls back to the database's clock.
	ClockParams
)

// String returns the clock's name.
func (c Clock) String() string {
	switch c {
	case ClockDatabase:
		return "database"
	case ClockParams:
		return "params"
	}
	return fmt.Sprintf("Clock(%d)", int(c))
}

// schemaPattern is what a schema name must look like: it keeps names safe
// to embed (quoted) in SQL and short enough for PostgreSQL identifiers.
var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Config configures a Store at Open or New. The zero value is valid: every
// field has a documented default.
type Config struct {
	// Schema is the schema the store keeps its tables in (created if
	// missing), so several stores, or durable and the application, can
	// share one database. The name must match ^[a-z_][a-z0-9_]{0,62}$ and
	// must not be a system schema: information_schema, or any name
	// starting with pg_ (pg_catalog, pg_toast, ...; PostgreSQL reserves
	// that prefix for system schemas). Open and New reject any other name
	// with an error naming it. Default: DefaultSchema ("durable").
	Schema string
	// Clock selects whose clock judges "now". Default (the zero value):
	// ClockDatabase.
	Clock Clock
	// DisableNotifications turns cross-process events off. By default
	// (false) every write sends a NOTIFY on the schema's channel and a
	// dedicated connection LISTENs to it, so subscribers see the writes of
	// every process. When true (e.g. behind a pooler in transaction mode,
	// where LISTEN does not work), the store sends no NOTIFY, holds no
	// extra connection, and subscribers only see this store's own writes:
	// other processes' work is found by polling.
	DisableNotifications bool
	// DisableMigrations turns off the migrations applied at Open and New:
	// the store then only checks that the schema is at the version this
	// code expects, and fails otherwise. Default (false): migrate.
	DisableMigrations bool
	// Logger receives background events (the listener's reconnects).
	// Default: discard.
	Logger *slog.Logger

	// pingEvery is how long the listener waits for a notification before
	// pinging its connection (tests lower it). Default: defaultPingEvery.
	pingEvery time.Duration
}

// withDefaults returns c with every zero field set to its documented
// default. It is the only place a default is applied; Open and New call it
// before validate, which then checks the result.
func (c Config) withDefaults() Config {
	if c.Schema == "" {
		c.Schema = DefaultSchema
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.pingEvery == 0 {
		c.pingEvery = defaultPingEvery
	}
	return c
}

// validate checks c after withDefaults; its error names the field and the
// bad value.
func (c Config) validate() error {
	if !schemaPattern.MatchString(c.Schema) {
		return fmt.Errorf("postgres: Config.Schema: invalid schema name %q: must match %s", c.Schema, schemaPattern)
	}
	if why := systemSchema(c.Schema); why != "" {
		return fmt.Errorf("postgres: Config.Schema: invalid schema name %q: %s; choose a schema of your own", c.Schema, why)
	}
	if c.Clock != ClockDatabase && c.Clock != ClockParams {
		return fmt.Errorf("postgres: Config.Clock: unknown clock %v (want ClockDatabase or ClockParams)", c.Clock)
	}
	return nil
}

// systemSchema says why name is a system schema the store must not use, or
// "" if it is not one. Creating the store's tables there would mix them
// with PostgreSQL's own catalogs (CREATE SCHEMA IF NOT EXISTS succeeds on
// an existing system schema), or fail only later, at the first migration.
func systemSchema(name string) string {
	switch {
	case name == "information_schema":
		return "information_schema is PostgreSQL's system schema of the SQL-standard views"
	case name == "pg_catalog" || name == "pg_toast":
		return name + " is a PostgreSQL system schema"
	case strings.HasPrefix(name, "pg_"):
		return `PostgreSQL reserves the prefix "pg_" for system schemas`
	}
	return ""
}
