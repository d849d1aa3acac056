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
// SQLite database.
var ErrNotDatabase = errors.New("file is not an SQLite database")

// SQLite result codes (https://sqlite.org/rescode.html), the same for both
// drivers.
const (
	codeBusy                 = 5
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

// errClosed is the error of every call on a closed store.
func errClosed(op string) error {
	return fmt.Errorf("sqlite: %s: %w", op, storage.ErrClosed)
}
