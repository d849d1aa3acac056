package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// What Open checks before it hands out a store: that the file is an
// undamaged SQLite database (checkIntegrity), and that this process can
// write to it (checkWritable). SQLite itself opens a damaged file without
// complaint, and opens a file it may not write read-only without saying
// so: without these checks the store would fail later, call after call.

// readOnlyHint ends an ErrReadOnly error of Open.
const readOnlyHint = "the file and its directory (where SQLite creates the -wal and -shm files) must be writable by this process"

// createFile creates the database file with mode 0600 when it does not
// exist, so that SQLite, which gives its -wal and -shm files the mode of
// the database file, creates them 0600 too: payloads may hold secrets.
// SQLite would create the file 0644 (less the umask). An existing file is
// left as it is.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case errors.Is(err, fs.ErrExist):
		return nil
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("sqlite: open %s: %w: cannot create the file (%v); %s", path, ErrReadOnly, err, readOnlyHint)
	}
	return fmt.Errorf("sqlite: open %s: %w", path, err)
}

// maxCheckErrors is how many problems an integrity check reports.
const maxCheckErrors = 5

// checkIntegrity runs the integrity check c on the file at path and
// returns an error wrapping ErrCorrupt that lists the first problems found,
// if any.
func checkIntegrity(ctx context.Context, conn *sql.Conn, path string, c Check) error {
	if c == CheckNone {
		return nil
	}
	if err := preRead(ctx, path); err != nil {
		return err
	}
	// A damaged page can stop the check itself with SQLITE_CORRUPT, after
	// it reported some problems.
	var problems []string
	rows, err := conn.QueryContext(ctx, fmt.Sprintf("PRAGMA %s(%d)", c, maxCheckErrors))
	if err == nil {
		for rows.Next() {
			var msg string
			if err = rows.Scan(&msg); err != nil {
				break
			}
			if msg != "ok" {
				msg = strings.TrimPrefix(msg, "*** in database main ***\n")
				problems = append(problems, strings.ReplaceAll(msg, "\n", "; "))
			}
		}
		if err == nil {
			err = rows.Err()
		}
		rows.Close()
	}
	switch {
	case err != nil && isCorrupt(err):
		problems = append(problems, err.Error())
	case err != nil:
		return fmt.Errorf("%s: %w", c, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s found: %s", ErrCorrupt, c, strings.Join(problems, "; "))
	}
	return nil
}

// preRead reads the file from start to end, so that the integrity check,
// which reads the pages in the order of the b-trees, finds them in the
// operating system's cache: on a file not in the cache, the check alone
// read at about 25 MB/s, a sequential read ran at hundreds of MB/s (see
// docs/sqlite.md).
func preRead(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading the file before checking it: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := f.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the file before checking it: %w", err)
		}
	}
}

// checkWritable makes sure that the store can write to the file. SQLite
// opens a file it may not write (mode 0444, a read-only mount) read-only
// without an error, and even BEGIN IMMEDIATE succeeds on it; only a
// statement that writes fails. This one writes nothing: it deletes no row,
// inside a transaction rolled back.
func checkWritable(ctx context.Context, conn *sql.Conn, busyTimeout time.Duration) error {
	err := retryBusy(ctx, busyTimeout, func() error {
		_, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		return err
	})
	if err != nil {
		return writableError(err)
	}
	_, err = conn.ExecContext(ctx, "DELETE FROM durable_migrations WHERE 0")
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK"); err == nil && rerr != nil {
		err = fmt.Errorf("rollback: %w", rerr)
	}
	if err != nil {
		return writableError(err)
	}
	return nil
}

func writableError(err error) error {
	if isReadOnly(err) {
		return fmt.Errorf("%w (%v); %s", ErrReadOnly, err, readOnlyHint)
	}
	return fmt.Errorf("checking that the file is writable: %w", err)
}
