package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/storage"
)

// Store is a storage.Store on one SQLite file. It is safe for concurrent use.
// See the package documentation for its guarantees.
type Store struct {
	path string
	wdb  *sql.DB // one connection, owned by w
	rdb  *sql.DB // the read pool
	w    *writer

	reads map[string]*sql.Stmt // prepared on rdb; read-only after Open

	mu     sync.RWMutex // guards closed against enqueues
	closed bool

	subs  storage.Subscribers
	watch *watcher // hears the other stores on the file (watch.go)

	// limits is the copy of which queues have a concurrency limit
	// (limits.go).
	limits limited.Cache
}

// Open opens (creating it if needed) the database file at path, checks it,
// brings its schema up to date, and returns a store on it. path is a file
// system path (not a URI); its directory must exist. A new file is created
// with mode 0600 (SQLite gives its -wal and -shm files the mode of the
// database file). Open fails with a clear error, naming the file, when path
// is a directory, when its directory does not exist, when the file is not
// an SQLite database (ErrNotDatabase), when it fails its integrity check
// (ErrCorrupt; see Config.Check), when this process cannot write to it or
// create its -wal and -shm files (ErrReadOnly), and when the database was
// migrated by a newer version of durable (ErrNewerSchema).
//
// Several stores, in one process or many, may open the same file; see the
// package documentation.
func Open(ctx context.Context, path string, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	uri, err := fileURI(path)
	if err != nil {
		return nil, err
	}
	if err := createFile(path); err != nil {
		return nil, err
	}
	s := &Store{path: path}
	if err := s.openWriter(ctx, uri, cfg); err != nil {
		return nil, err
	}
	if err := s.openReaders(ctx, uri, cfg); err != nil {
		s.w.close()
		s.wdb.Close()
		return nil, err
	}
	go s.w.run()
	if s.watch, err = startWatcher(ctx, s, uri, cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openWriter opens the write connection, sets WAL mode and the durability,
// checks the file, migrates the schema and checks that it can write.
func (s *Store) openWriter(ctx context.Context, uri string, cfg Config) error {
	// busy_timeout = 0: see busy.go.
	wdb, err := sql.Open(driverName, uri+"?_busy_timeout=0")
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	var conn *sql.Conn
	err = retryBusy(ctx, cfg.BusyTimeout, func() (err error) {
		conn, err = wdb.Conn(ctx)
		return err
	})
	if err == nil {
		err = setupWriter(ctx, conn, cfg)
		if err == nil {
			// Busy: another opener of a new file is recovering its WAL
			// (SQLITE_BUSY_RECOVERY) or migrating it.
			err = retryBusy(ctx, cfg.BusyTimeout, func() error { return checkIntegrity(ctx, conn, s.path, cfg.Check) })
		}
		if err == nil {
			err = migrate(ctx, conn, cfg.BusyTimeout)
		}
		if err == nil {
			err = checkWritable(ctx, conn, cfg.BusyTimeout)
		}
		if err != nil {
			conn.Close()
		}
	}
	if err != nil {
		wdb.Close()
		return s.openError(err)
	}
	s.wdb = wdb
	s.w = newWriter(conn, cfg, s.publish)
	return nil
}

func setupWriter(ctx context.Context, conn *sql.Conn, cfg Config) error {
	// A new file gets 8 KiB pages, before anything is written to it (an
	// existing file keeps its page size: SQLite ignores the pragma then):
	// against 4 KiB, a drain costs about 4 % less CPU a task and
	// retention's delete about a fifteenth less a row (docs/sqlite.md).
	if _, err := conn.ExecContext(ctx, "PRAGMA page_size = 8192"); err != nil {
		return err
	}
	var mode string
	err := retryBusy(ctx, cfg.BusyTimeout, func() error {
		return conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
	})
	if err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("cannot switch to WAL mode (journal mode is %q); is the file on a network file system?", mode)
	}
	if _, err = conn.ExecContext(ctx, "PRAGMA synchronous = "+cfg.Durability.String()); err != nil {
		return err
	}
	// The savepoint of each write call keeps its statement journal in
	// memory: by default SQLite spills it to a temporary file past 64 KiB,
	// and a Complete of a hundred rows touches more pages of the due
	// index than that (docs/sqlite.md, "Queues and priorities").
	_, err = conn.ExecContext(ctx, "PRAGMA temp_store = MEMORY")
	return err
}

// openError turns an error of opening or migrating into a clear one.
func (s *Store) openError(err error) error {
	switch {
	case errors.Is(err, ErrNewerSchema), errors.Is(err, ErrCorrupt), errors.Is(err, ErrReadOnly):
		return fmt.Errorf("sqlite: open %s: %w", s.path, err)
	case isNotDatabase(err):
		return fmt.Errorf("sqlite: open %s: %w (%v)", s.path, ErrNotDatabase, err)
	case isCorrupt(err):
		return fmt.Errorf("sqlite: open %s: %w (%v)", s.path, ErrCorrupt, err)
	case isReadOnly(err):
		return fmt.Errorf("sqlite: open %s: %w (%v); %s", s.path, ErrReadOnly, err, readOnlyHint)
	}
	return fmt.Errorf("sqlite: open %s: %w", s.path, err)
}

// openReaders opens the read pool and prepares the read statements.
func (s *Store) openReaders(ctx context.Context, uri string, cfg Config) error {
	rdb, err := sql.Open(driverName, fmt.Sprintf("%s?_busy_timeout=%d&_query_only=1", uri, cfg.BusyTimeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("sqlite: open %s for reading: %w", s.path, err)
	}
	rdb.SetMaxOpenConns(cfg.MaxReaders)
	rdb.SetMaxIdleConns(cfg.MaxReaders)
	s.reads = map[string]*sql.Stmt{}
	names := []string{"get", "get_by_sleep_key", "list_children", "next_due", "next_due_in", "claim_candidates", "claim_candidates_in", "claim_levels", "claim_levels_in", "claim_level", "claim_priority", "rescue_candidates", "finished_early", "control_list", "limited_queues", "running_count", "limited_lapsed", "limited_candidates", "limited_key_candidates"}
	for k := 2; k <= maxMergedQueues; k++ {
		names = append(names, claimQueuesName(k))
	}
	for _, name := range names {
		st, err := rdb.PrepareContext(ctx, query(name))
		if err != nil {
			rdb.Close()
			return s.openError(fmt.Errorf("prepare %s: %w", name, err))
		}
		s.reads[name] = st
	}
	s.rdb = rdb
	return nil
}

// fileURI checks path and returns the SQLite URI of the file.
func fileURI(path string) (string, error) {
	if err := checkPath(path); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), nil
}

// checkPath rejects paths that cannot be a database file, with an error
// that says why.
func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("sqlite: open: empty database path")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return fmt.Errorf("sqlite: open %s: want a file system path, not an SQLite URI or :memory: "+
			"(for a store that is not durable, use storage/memory)", path)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("sqlite: open %s: %s is not a directory", path, filepath.Dir(path))
	case err == nil && fi.IsDir():
		return fmt.Errorf("sqlite: open %s: is a directory, not a database file", path)
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite: open %s: directory %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	case !di.IsDir():
		return fmt.Errorf("sqlite: open %s: %s is not a directory", path, dir)
	}
	return nil
}

// Close waits for the writes already submitted, then closes the database.
// Calls after Close fail with an error wrapping storage.ErrClosed. Close is
// idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.w.queue)
	s.mu.Unlock()
	if s.watch != nil {
		s.watch.close()
	}
	<-s.w.stopped
	err := s.w.close()
	if cerr := s.wdb.Close(); err == nil {
		err = cerr
	}
	for _, st := range s.reads {
		st.Close()
	}
	if cerr := s.rdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// isClosed reports whether Close was called.
func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// Subscribe registers fn to receive the events of every store on the file,
// in this process or another. The events of this store's writes are
// delivered synchronously on its writer goroutine after each commit,
// before the write calls that shared the commit return; those of other
// stores, on the store's watcher goroutine within about a millisecond of
// their commit (see the package documentation). fn must return quickly and
// must not call the store. The returned function unsubscribes; it is
// idempotent.
func (s *Store) Subscribe(fn func(storage.Event)) (unsubscribe func()) {
	return s.subs.Subscribe(fn)
}

// publish delivers ev to the subscribers, outside every lock.
func (s *Store) publish(ev events) {
	s.subs.Publish(storage.Event{Ready: ev.ready, Finished: ev.finished})
}
