//go:build durable_cgo_sqlite

package sqlite

import (
	"errors"

	"github.com/mattn/go-sqlite3"
)

// driverName is the database/sql driver the store runs on. This build (tag
// durable_cgo_sqlite) uses the cgo driver github.com/mattn/go-sqlite3,
// which needs a C compiler; the default build uses the pure-Go
// modernc.org/sqlite.
const driverName = "sqlite3"

// sqliteCode returns the extended SQLite result code of err, or 0 when err
// does not come from SQLite.
func sqliteCode(err error) int {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return int(se.ExtendedCode)
	}
	return 0
}
