package sqlite

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

// The checkpointer copies the WAL into the database file on a connection
// of its own, so that the writer does not: a checkpoint that the writer
// ran itself (SQLite's auto-checkpoint, after the commit that takes the
// WAL past 1,000 frames) held every write behind it while it copied the
// frames and synced the file. The writer's auto-checkpoint stays on only
// as a backstop, past walBackstop frames.
//
// A checkpoint on another connection copies the frames but cannot
// restart the WAL: only a write transaction that begins while the WAL is
// wholly copied starts writing it again from its beginning, and the
// writer commits between the checkpointer's copies. So when a copy
// leaves the WAL at least walRestart frames long, the checkpointer asks
// the writer to copy the few frames written since, before its next
// transaction (restartWanted), which then restarts the WAL unless a
// reader still uses its frames.
type checkpointer struct {
	db      *sql.DB
	kick    chan struct{} // a commit happened
	stop    chan struct{}
	stopped chan struct{}
	// restart asks the writer to finish a copy before its next
	// transaction.
	restart atomic.Bool
}

const (
	// checkpointEvery is the least time between two checkpoints while
	// commits go on.
	checkpointEvery = 100 * time.Millisecond
	// walRestart is the WAL's length, in frames, from which the writer
	// is asked to finish a copy: SQLite's auto-checkpoint threshold.
	walRestart = 1000
	// walBackstop is the writer's own auto-checkpoint threshold, for a
	// checkpointer that falls behind.
	walBackstop = 10000
)

// startCheckpointer opens the checkpointer's connection to the file at
// uri and starts it.
func startCheckpointer(uri string) (*checkpointer, error) {
	db, err := sql.Open(driverName, uri+"?_busy_timeout=0")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	c := &checkpointer{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c, nil
}

// run copies the WAL after commits, at most every checkpointEvery.
func (c *checkpointer) run() {
	defer close(c.stopped)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		c.copyWAL()
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// copyWAL runs one PASSIVE checkpoint: it copies the frames no reader
// needs and never waits for a lock. An error (another process's
// checkpoint holds the file's checkpoint lock) skips this copy.
func (c *checkpointer) copyWAL() {
	var busy, frames, copied int
	err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
	if err == nil && frames >= walRestart && copied == frames {
		c.restart.Store(true)
	}
}

// committed tells the checkpointer that a transaction committed.
func (c *checkpointer) committed() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// close stops the checkpointer and closes its connection.
func (c *checkpointer) close() {
	close(c.stop)
	<-c.stopped
	c.db.Close()
}

// finishCopy runs on the writer goroutine before a transaction: when the
// checkpointer asked, it copies the frames written since its last copy
// (a few: the copy is cheap), so that the transaction restarts the WAL.
// Errors are ignored: the WAL only grows longer until the next try.
func (w *writer) finishCopy() {
	if w.ckpt == nil || !w.ckpt.restart.Swap(false) {
		return
	}
	_, _ = w.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
}
