package postgres

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// DefaultSchema is the schema the store keeps its tables in unless
// WithSchema says otherwise.
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

// config is what the options set.
type config struct {
	schema  string
	clock   Clock
	listen  bool
	logger  *slog.Logger
	migrate bool
	// pingEvery is how long the listener waits for a notification before
	// pinging its connection (tests lower it).
	pingEvery time.Duration
}

func defaultConfig() config {
	return config{
		schema:  DefaultSchema,
		clock:   ClockDatabase,
		listen:  true,
		logger:  slog.New(slog.DiscardHandler),
		migrate: true,

		pingEvery: defaultPingEvery,
	}
}

// Option configures a Store at Open or New.
type Option func(*config)

// WithSchema keeps the store's tables in the named schema (created if
// missing), so several stores, or durable and the application, can share
// one database. The name must match ^[a-z_][a-z0-9_]{0,62}$ and must not
// be a system schema: information_schema, or any name starting with pg_
// (pg_catalog, pg_toast, ...; PostgreSQL reserves that prefix for system
// schemas). Open and New reject any other name with an error naming it.
// Defaults to DefaultSchema ("durable").
func WithSchema(name string) Option {
	return func(c *config) { c.schema = name }
}

// WithClock selects whose clock judges "now". Defaults to ClockDatabase.
func WithClock(clock Clock) Option {
	return func(c *config) { c.clock = clock }
}

// WithNotifications turns cross-process events on or off. When on (the
// default), every write sends a NOTIFY on the schema's channel and a
// dedicated connection LISTENs to it, so subscribers see the writes of
// every process. When off (e.g. behind a pooler in transaction mode, where
// LISTEN does not work), the store sends no NOTIFY, holds no extra
// connection, and subscribers only see this store's own writes: other
// processes' work is found by polling.
func WithNotifications(enabled bool) Option {
	return func(c *config) { c.listen = enabled }
}

// WithLogger sets the logger for background events (the listener's
// reconnects). Defaults to discarding.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithMigrations turns the migrations applied at Open/New on or off.
// When off, the store only checks that the schema is at the version this
// code expects and fails otherwise. Defaults to on.
func WithMigrations(enabled bool) Option {
	return func(c *config) { c.migrate = enabled }
}

func (c *config) validate() error {
	if !schemaPattern.MatchString(c.schema) {
		return fmt.Errorf("postgres: invalid schema name %q: must match %s", c.schema, schemaPattern)
	}
	if why := systemSchema(c.schema); why != "" {
		return fmt.Errorf("postgres: invalid schema name %q: %s; choose a schema of your own", c.schema, why)
	}
	if c.clock != ClockDatabase && c.clock != ClockParams {
		return fmt.Errorf("postgres: invalid clock %v", c.clock)
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
