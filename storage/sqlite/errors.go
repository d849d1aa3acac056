package sqlite

import (
	"errors"
	"fmt"

	"github.com/durable-go/durable/storage"
)

// ErrNewerSchema is returned by Open when the database was migrated by a
// newer version of durable than this one: its schema version is higher than
// the latest this code knows. Upgrade durable, or open another file.
var ErrNewerSchema = errors.New("database schema is newer than this version of durable")

// ErrNotDatabase is returned by Open when the file exists but is not an
// SQLite database. A store whose file stops reading as a database later
// (overwritten, truncated) returns it too, beside storage.ErrFatal.
var ErrNotDatabase = errors.New("file is not an SQLite database")

// ErrCorrupt is returned by Open when the database file fails its
// integrity check (a damaged page, a broken b-tree; see Config.Check), and by
// every call that meets a damaged page later (SQLite's SQLITE_CORRUPT),
// beside storage.ErrFatal: an engine then stops instead of retrying.
// Restore the file from a backup, or recover what can be read with the
// sqlite3 shell's .recover command.
var ErrCorrupt = errors.New("database file is corrupt")

// ErrReadOnly is returned by Open when the store cannot write to the
// database file: the file, or its directory (where SQLite creates the
// -wal and -shm files), is not writable by this process, or the file is on
// a read-only file system.
var ErrReadOnly = errors.New("database file is not writable")

// SQLite result codes (https://sqlite.org/rescode.html), the same for both
// drivers.
const (
	codeBusy                 = 5
	codeReadOnly             = 8
	codeCorrupt              = 11
	codeCantOpen             = 14
	codeNotADB               = 26
	codeConstraintPrimaryKey = 1555
	codeConstraintUnique     = 2067
)

// isUniqueViolation reports whether err is a UNIQUE constraint failure.
func isUniqueViolation(err error) bool {
	switch sqliteCode(err) {
	case codeConstraintUnique, codeConstraintPrimaryKey:
		return true
	}
	return false
}

// isNotDatabase reports whether err says the file is not an SQLite database.
func isNotDatabase(err error) bool {
	return sqliteCode(err)&0xff == codeNotADB
}

// isCorrupt reports whether err is SQLITE_CORRUPT (any extended code).
func isCorrupt(err error) bool {
	return sqliteCode(err)&0xff == codeCorrupt
}

// isReadOnly reports whether err says the database cannot be written:
// SQLITE_READONLY (any extended code), or SQLITE_CANTOPEN, which SQLite
// returns when it cannot create the -wal or -shm file beside the database.
func isReadOnly(err error) bool {
	switch sqliteCode(err) & 0xff {
	case codeReadOnly, codeCantOpen:
		return true
	}
	return false
}

// fatalError is an error after which the store cannot be used: the file is
// corrupt, or no longer a database. errors.Is finds kind (ErrCorrupt,
// ErrNotDatabase), storage.ErrFatal and the driver's error in it.
type fatalError struct {
	path string
	kind error
	err  error
}

func (f *fatalError) Error() string {
	return fmt.Sprintf("%v (%s): %v", f.kind, f.path, f.err)
}

func (f *fatalError) Unwrap() []error { return []error{f.kind, storage.ErrFatal, f.err} }

// fatal returns err marked as fatal when it says the database file is
// corrupt or not a database, and err as it is otherwise (nil included).
func (s *Store) fatal(err error) error {
	if err == nil {
		return nil
	}
	var f *fatalError
	if errors.As(err, &f) {
		return err
	}
	switch {
	case isCorrupt(err):
		return &fatalError{path: s.path, kind: ErrCorrupt, err: err}
	case isNotDatabase(err):
		return &fatalError{path: s.path, kind: ErrNotDatabase, err: err}
	}
	return err
}

// errClosed is the error of every call on a closed store.
func errClosed(op string) error {
	return fmt.Errorf("sqlite: %s: %w", op, storage.ErrClosed)
}
