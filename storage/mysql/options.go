package mysql

import (
	"fmt"
	"log/slog"
	"regexp"
	"time"
)

// DefaultTablePrefix is the prefix of the store's tables unless
// Config.TablePrefix names another.
const DefaultTablePrefix = "durable_"

// Clock selects whose clock judges due times and leases.
type Clock int

const (
	// ClockDatabase (the default) judges every "now" on the database
	// server's clock (NOW(6), in UTC) and ignores params.Now: due times
	// and lease expiries are the server's now plus the Delay, Timeout or
	// Lease duration. Executors with skewed clocks then neither steal live
	// work nor leave dead work stuck.
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

// prefixPattern is what a table prefix must look like: safe to embed in
// SQL unquoted, and short enough that every table and index name stays
// under MySQL's 64 characters.
var prefixPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,31}$`)

// DefaultPollInterval is how often a store reads the events table for the
// writes of other processes, unless Config.PollInterval says otherwise.
const DefaultPollInterval = 10 * time.Millisecond

// Config configures a Store at Open or New. The zero value is valid: every
// field has a documented default.
type Config struct {
	// TablePrefix starts the name of every table of the store, so several
	// stores, or durable and the application, can share one database (the
	// database is the DSN's). It must match ^[a-z_][a-z0-9_]{0,31}$.
	// Default: DefaultTablePrefix ("durable_").
	TablePrefix string
	// Clock selects whose clock judges "now". Default (the zero value):
	// ClockDatabase.
	Clock Clock
	// PollInterval is how often the store reads the events table for the
	// writes of other processes (new work, cancellations, finished
	// executions): the latency of what other processes do, and the rate
	// of queries of an idle store. Default: DefaultPollInterval (10 ms).
	PollInterval time.Duration
	// DisableEvents turns cross-process events off: the store neither
	// writes nor reads the events table, and subscribers see only this
	// store's own writes (other processes' work is found by polling).
	DisableEvents bool
	// DisableMigrations turns off the migrations applied at Open and New:
	// the store then only checks that the tables are at the version this
	// code expects, and fails otherwise. Default (false): migrate.
	DisableMigrations bool
	// Logger receives background events (the event reader's errors, a
	// server setting that weakens a guarantee). Default: discard.
	Logger *slog.Logger
}

// withDefaults returns c with every zero field set to its documented
// default.
func (c Config) withDefaults() Config {
	if c.TablePrefix == "" {
		c.TablePrefix = DefaultTablePrefix
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks c after withDefaults; its error names the field and the
// bad value.
func (c Config) validate() error {
	if !prefixPattern.MatchString(c.TablePrefix) {
		return fmt.Errorf("mysql: Config.TablePrefix: invalid prefix %q: must match %s", c.TablePrefix, prefixPattern)
	}
	if c.Clock != ClockDatabase && c.Clock != ClockParams {
		return fmt.Errorf("mysql: Config.Clock: unknown clock %v (want ClockDatabase or ClockParams)", c.Clock)
	}
	if c.PollInterval < 0 {
		return fmt.Errorf("mysql: Config.PollInterval: %v is negative", c.PollInterval)
	}
	return nil
}
