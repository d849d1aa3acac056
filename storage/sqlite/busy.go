package sqlite

import (
	"context"
	"math/rand/v2"
	"time"
)

// The write connection runs with busy_timeout = 0: when another connection
// (another store, another process) holds the write lock, BEGIN IMMEDIATE
// fails at once with SQLITE_BUSY, and retryBusy retries it every fraction
// of a millisecond. SQLite's own busy handler sleeps up to 100 ms between
// attempts, which lets a busy store keep the lock for seconds while another
// waits; short, jittered retries give the waiting store its turn. In WAL
// mode only the start of a transaction can meet SQLITE_BUSY.

// isBusy reports whether err is SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	return sqliteCode(err)&0xff == codeBusy
}

// retryBusy runs fn until it returns anything but SQLITE_BUSY, timeout has
// passed, or ctx ends.
func retryBusy(ctx context.Context, timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(busyPause())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// busyPause returns a pause between 50 and 300 microseconds.
func busyPause() time.Duration {
	return 50*time.Microsecond + rand.N(250*time.Microsecond)
}
