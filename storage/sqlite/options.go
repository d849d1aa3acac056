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

type options struct {
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
