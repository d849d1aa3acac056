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

// Config configures a Store at Open. The zero value is valid: every field
// has a documented default.
type Config struct {
	// Durability says what a write whose call returned survives. Default
	// (the zero value): DurabilityFull.
	Durability Durability
	// Check says how Open checks the file for damage. Open checks that it
	// can write to the file whatever the check. Default (the zero value):
	// CheckQuick.
	Check Check
	// BusyTimeout is how long a write waits for the database's write lock
	// while another process holds it before it fails with "database is
	// locked". Default: 5s. Range: positive (0 means the default).
	BusyTimeout time.Duration
	// MaxReaders is the number of read connections (Get, GetBySleepKey,
	// ListChildren, NextDue, List, Count run on them, beside the single
	// writer).
	// Default: 4. Range: at least 1 (0 means the default).
	MaxReaders int
	// MaxBatch is how many pending write calls one transaction may carry
	// (group commit). Default: 256. Range: at least 1 (0 means the
	// default); 1 disables group commit.
	MaxBatch int
}

// withDefaults returns c with every zero field set to its documented
// default. It is the only place a default is applied; Open calls it before
// validate, which then checks the result.
func (c Config) withDefaults() Config {
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 5 * time.Second
	}
	if c.MaxReaders == 0 {
		c.MaxReaders = 4
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 256
	}
	return c
}

// validate checks c after withDefaults; its error names the field and the
// bad value.
func (c Config) validate() error {
	switch {
	case c.Check != CheckQuick && c.Check != CheckFull && c.Check != CheckNone:
		return fmt.Errorf("sqlite: Config.Check: unknown check %v (want CheckQuick, CheckFull or CheckNone)", c.Check)
	case c.Durability != DurabilityFull && c.Durability != DurabilityNormal:
		return fmt.Errorf("sqlite: Config.Durability: unknown durability %v (want DurabilityFull or DurabilityNormal)", c.Durability)
	case c.BusyTimeout < 0:
		return fmt.Errorf("sqlite: Config.BusyTimeout is %v, want positive (0 means the default, 5s)", c.BusyTimeout)
	case c.MaxReaders < 1:
		return fmt.Errorf("sqlite: Config.MaxReaders is %d, want at least 1 (0 means the default, 4)", c.MaxReaders)
	case c.MaxBatch < 1:
		return fmt.Errorf("sqlite: Config.MaxBatch is %d, want at least 1 (0 means the default, 256)", c.MaxBatch)
	}
	return nil
}
