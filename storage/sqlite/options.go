package sqlite

import (
	"fmt"
	"time"
)

// Durability says what a committed write survives. The zero value is
// DurabilityFull.
type Durability int

const (
	// DurabilityFull (the default) runs SQLite with synchronous=FULL: every
	// commit is fsynced before the call that made it returns, so a write
	// whose call returned (an Insert, a Complete) survives a process crash
	// and a power cut.
	DurabilityFull Durability = iota
	// DurabilityNormal runs SQLite with synchronous=NORMAL in WAL mode: a
	// write whose call returned survives a crash of the process, but the
	// last transactions before a power cut or an operating system crash may
	// be lost (the database itself stays consistent). Commits skip the
	// fsync, so writes are faster.
	DurabilityNormal
)

// String returns the name of the SQLite synchronous setting.
func (d Durability) String() string {
	switch d {
	case DurabilityFull:
		return "FULL"
	case DurabilityNormal:
		return "NORMAL"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// Option configures Open.
type Option func(*options)

// WithDurability sets what a returned write survives. Default:
// DurabilityFull.
func WithDurability(d Durability) Option {
	return func(o *options) { o.durability = d }
}

// WithBusyTimeout sets how long a write waits for the database's write lock
// while another process holds it before it fails with "database is locked".
// Default: 5 seconds. Must be positive.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// WithMaxReaders sets the number of read connections (Get, GetBySleepKey,
// ListChildren, NextDue run on them, beside the single writer). Default: 4.
// Must be at least 1.
func WithMaxReaders(n int) Option {
	return func(o *options) { o.maxReaders = n }
}

// WithMaxBatch sets how many pending write calls one transaction may carry
// (group commit). Default: 256. Must be at least 1; 1 disables group commit.
func WithMaxBatch(n int) Option {
	return func(o *options) { o.maxBatch = n }
}

// Check says how Open checks the database file for damage before using it.
// The zero value is CheckQuick.
type Check int

const (
	// CheckQuick (the default) runs PRAGMA quick_check: it reads every page
	// of the file and checks each b-tree's structure and each record's
	// format, so it finds a damaged page anywhere in the file; it does not
	// check that indexes match their tables. It costs one read of the
	// whole file: see docs/sqlite.md for the figure on a 1 GiB file.
	CheckQuick Check = iota
	// CheckFull runs PRAGMA integrity_check: CheckQuick's checks plus
	// index contents against their tables. Several times slower.
	CheckFull
	// CheckNone skips the check, for a large file opened often by
	// processes that trust it. A damaged page is then found only when a
	// call reads it: that call fails with ErrCorrupt and storage.ErrFatal,
	// and an engine on the store stops.
	CheckNone
)

// String returns the name of the check.
func (c Check) String() string {
	switch c {
	case CheckQuick:
		return "quick_check"
	case CheckFull:
		return "integrity_check"
	case CheckNone:
		return "none"
	}
	return fmt.Sprintf("Check(%d)", int(c))
}

// WithCheck sets how Open checks the file for damage. Default: CheckQuick.
// Open checks that it can write to the file whatever the check.
func WithCheck(c Check) Option {
	return func(o *options) { o.check = c }
}

type options struct {
	check       Check
	durability  Durability
	busyTimeout time.Duration
	maxReaders  int
	maxBatch    int
}

func defaultOptions() options {
	return options{
		durability:  DurabilityFull,
		busyTimeout: 5 * time.Second,
		maxReaders:  4,
		maxBatch:    256,
	}
}

func (o options) validate() error {
	switch {
	case o.check != CheckQuick && o.check != CheckFull && o.check != CheckNone:
		return fmt.Errorf("sqlite: unknown check %v", o.check)
	case o.durability != DurabilityFull && o.durability != DurabilityNormal:
		return fmt.Errorf("sqlite: unknown durability %v", o.durability)
	case o.busyTimeout <= 0:
		return fmt.Errorf("sqlite: busy timeout must be positive, got %v", o.busyTimeout)
	case o.maxReaders < 1:
		return fmt.Errorf("sqlite: max readers must be at least 1, got %d", o.maxReaders)
	case o.maxBatch < 1:
		return fmt.Errorf("sqlite: max batch must be at least 1, got %d", o.maxBatch)
	}
	return nil
}
