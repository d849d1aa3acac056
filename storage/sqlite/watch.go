package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/durable-go/durable/storage"
)

// The watcher publishes the events other stores on the file (other
// processes, mostly) append to durable_events (events.go). It holds its
// own read connection and reads the rows appended since it last looked:
//
//   - on Linux, when inotify reports a write to the signal file beside the
//     database (PATH-events): every store writes one byte to it after each
//     commit that appended an event, once the commit is visible. An event
//     is heard within about a tenth of a millisecond of its commit, and an
//     idle store costs almost nothing: a look every watchSafetyPoll, which
//     catches a signal lost (a process killed between its commit and its
//     signal);
//   - elsewhere, or if the signal file cannot be opened or watched, by
//     polling: every watchPollMin after a change was seen, doubling up to
//     watchPollMax while nothing changes.
//
// The measured latencies and idle costs are in docs/sqlite.md.
const (
	watchSafetyPoll = time.Second
	watchPollMin    = time.Millisecond // Go's timers do not wake much sooner
	watchPollMax    = 8 * time.Millisecond
)

// signalSuffix names the signal file: the database path plus it.
const signalSuffix = "-events"

// watchFileChanges can be turned off by tests, to run the polling path.
var watchFileChanges = true

type watcher struct {
	s    *Store
	tag  string // this store's rows are skipped
	db   *sql.DB
	conn *sql.Conn
	read *sql.Stmt
	pos  int64 // the last seq read

	// changes receives a value when the signal file was written; nil when
	// the watcher polls. stopChanges ends the notifications.
	changes     <-chan struct{}
	stopChanges func()
	signal      *os.File // the signal file, written by this store's writer

	stop chan struct{}
	done chan struct{}

	// For tests and figures.
	checks atomic.Int64 // reads of durable_events
	missed atomic.Int64 // times rows were pruned before they were read
}

// startWatcher opens the watcher's connection, reads the position of the
// newest event (so that every event committed after Open returns is
// heard), and starts watching.
func startWatcher(ctx context.Context, s *Store, uri string, cfg Config) (*watcher, error) {
	db, err := sql.Open(driverName, fmt.Sprintf("%s?_busy_timeout=%d&_query_only=1", uri, cfg.BusyTimeout.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s for events: %w", s.path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	w := &watcher{s: s, tag: s.w.events.tag, db: db, stop: make(chan struct{}), done: make(chan struct{})}
	if err := w.open(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: events: %w", s.path, err)
	}
	if watchFileChanges {
		w.watchSignal(s.path + signalSuffix)
	}
	go w.run()
	return w, nil
}

// watchSignal opens (creating it if needed, with the database file's
// permissions) and watches the signal file, and has the writer write to it
// after each commit that appended an event. Without it, the watcher polls.
func (w *watcher) watchSignal(path string) {
	perm := os.FileMode(0o600)
	if fi, err := os.Stat(w.s.path); err == nil {
		perm = fi.Mode().Perm()
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return
	}
	if w.changes, w.stopChanges = watchWrites(path); w.changes == nil {
		f.Close()
		return
	}
	w.signal = f
	w.s.w.events.signal.Store(f)
}

func (w *watcher) open(ctx context.Context) (err error) {
	if w.conn, err = w.db.Conn(ctx); err != nil {
		return err
	}
	if err = w.conn.QueryRowContext(ctx, eventLastSQL).Scan(&w.pos); err == nil {
		w.read, err = w.conn.PrepareContext(ctx, eventReadSQL)
	}
	if err != nil {
		w.conn.Close()
	}
	return err
}

// close stops the watcher and closes its connection.
func (w *watcher) close() error {
	close(w.stop)
	<-w.done
	if w.stopChanges != nil {
		w.stopChanges()
	}
	if w.signal != nil {
		w.s.w.events.signal.Store(nil)
		w.signal.Close()
	}
	w.read.Close()
	w.conn.Close()
	return w.db.Close()
}

func (w *watcher) run() {
	defer close(w.done)
	interval := watchPollMax
	timer := time.NewTimer(interval)
	defer timer.Stop()
	changes := w.changes
	for {
		select {
		case <-w.stop:
			return
		case _, ok := <-changes:
			if !ok { // the signal file can no longer be watched: poll
				changes = nil
			}
		case <-timer.C:
		}
		seen := w.check()
		switch {
		case changes != nil:
			interval = watchSafetyPoll
		case seen:
			interval = watchPollMin
		default:
			interval = min(2*interval, watchPollMax)
		}
		timer.Reset(interval)
	}
}

// check reads the rows appended since the last look and publishes the
// events of other stores, merged. It reports whether there were rows.
func (w *watcher) check() bool {
	w.checks.Add(1)
	rows, err := w.read.Query(w.pos, w.tag)
	if err != nil {
		return false // the next look tries again; the engine also polls
	}
	defer rows.Close()
	var (
		ev   events
		seen bool
	)
	for rows.Next() {
		var (
			seq      int64
			own      bool
			ready    bool
			finished sql.RawBytes
		)
		if err := rows.Scan(&seq, &own, &ready, &finished); err != nil {
			ev.ready = true
			break
		}
		seen = true
		if seq != w.pos+1 {
			// Rows this store had not read were pruned: their events are
			// lost. Ready makes the engine look for work; what it waits
			// for it finds by polling.
			w.missed.Add(1)
			ev.ready = true
		}
		w.pos = seq
		if own {
			continue // published when it was written
		}
		ev.ready = ev.ready || ready
		if len(finished) > 0 {
			if ev.finished, err = unpackIDs(ev.finished, finished); err != nil {
				ev.ready = true
			}
		}
	}
	if rows.Err() != nil {
		ev.ready = true
	}
	if ev.ready || len(ev.finished) > 0 {
		w.s.subs.Publish(storage.Event{Ready: ev.ready, Finished: ev.finished})
	}
	return seen
}
