//go:build !durable_cgo_sqlite

package sqlite

import (
	"errors"

	"modernc.org/sqlite"
)

// driverName is the database/sql driver the store runs on: the pure-Go
// modernc.org/sqlite, so that building needs no C compiler. Build with the
// tag durable_cgo_sqlite to use github.com/mattn/go-sqlite3 instead.
const driverName = "sqlite"

// sqliteCode returns the extended SQLite result code of err, or 0 when err
// does not come from SQLite.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}
