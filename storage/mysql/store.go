package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/internal/rescue"
	"github.com/durable-go/durable/storage"
)

// Store is a storage.Store on MySQL 8.0+ or MariaDB 10.6+. Create it with
// Open or New; it is safe for concurrent use.
type Store struct {
	db     *sql.DB
	ownsDB bool
	cfg    Config // with its defaults
	q      *queries
	server serverInfo
	// txOpts are the options of the store's transactions: READ COMMITTED,
	// asked for at each BEGIN unless the connections are opened in it
	// (Open does that).
	txOpts *sql.TxOptions
	// multi: the connections take several statements at once (Open's
	// pool), which pipe uses.
	multi bool
	// tag identifies this Store in the events table, so that its reader
	// skips the events it already delivered directly.
	tag string

	closed    atomic.Bool
	closeOnce sync.Once

	subs storage.Subscribers
	// rescues paces the claims' rescues of lapsed leases (claim.go).
	rescues rescue.Pacer
	// queues are the queues a claim of every queue reads (claim.go).
	queues queueList
	// floors are where claims start reading the levels of a queue with a
	// backlog (floors.go).
	floors claimFloors
	// limits is the copy of which queues have a concurrency limit
	// (limits.go).
	limits  limited.Cache
	retries retryCounters

	events *eventReader // nil with Config.DisableEvents
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database the DSN names (the go-sql-driver/mysql
// form, user:password@tcp(host:3306)/dbname?param=value, see
// mysql.ParseDSN), checks the server (version, character set,
// max_allowed_packet: an error says what to change), applies the
// migrations and starts the event reader. The store owns the connection
// pool: Close closes it. Open sets what the store needs on every
// connection of its pool: utf8mb4, UTC, READ COMMITTED, parameters
// interpolated by the driver (one round trip per statement) and a lock
// wait timeout of 10 s.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	dcfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql: parse DSN: %w (want user:password@tcp(host:3306)/dbname)", err)
	}
	if dcfg.DBName == "" {
		return nil, errors.New("mysql: the DSN names no database: add it after the address, as in user@tcp(127.0.0.1:3306)/dbname")
	}
	info, err := probe(ctx, dcfg)
	if err != nil {
		return nil, err
	}
	tune(dcfg, info)
	conn, err := mysql.NewConnector(dcfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(time.Minute)
	s, err := newStore(ctx, db, true, cfg, info, nil)
	if s != nil {
		s.multi = true
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// probe connects once with dcfg as given and reads what the store needs
// to know about the server.
func probe(ctx context.Context, dcfg *mysql.Config) (serverInfo, error) {
	conn, err := mysql.NewConnector(dcfg)
	if err != nil {
		return serverInfo{}, fmt.Errorf("mysql: %w", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxOpenConns(1)
	return checkServer(ctx, db, dcfg.Addr)
}

// tune sets on dcfg what every connection of the store's pool needs (see
// Open).
func tune(dcfg *mysql.Config, info serverInfo) {
	dcfg.InterpolateParams = true
	dcfg.MultiStatements = true
	dcfg.Collation = ""
	dcfg.ParseTime = false
	if dcfg.Params == nil {
		dcfg.Params = map[string]string{}
	}
	_ = dcfg.Apply(mysql.Charset("utf8mb4", "")) // cannot fail
	dcfg.Params["time_zone"] = "'+00:00'"
	dcfg.Params[info.isolationVar()] = "'READ-COMMITTED'"
	if _, ok := dcfg.Params["innodb_lock_wait_timeout"]; !ok {
		dcfg.Params["innodb_lock_wait_timeout"] = "10"
	}
}

// New makes a store on a database handle the caller owns (opened with the
// go-sql-driver/mysql driver): Close leaves it open. The connections must
// use utf8mb4 (charset=utf8mb4 in the DSN); every transaction of the store
// asks for READ COMMITTED at its BEGIN.
func New(ctx context.Context, db *sql.DB, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("mysql: new: nil *sql.DB")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	info, err := checkServer(ctx, db, "")
	if err != nil {
		return nil, err
	}
	return newStore(ctx, db, false, cfg, info, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
}

// newStore makes the store; cfg has its defaults and is valid.
func newStore(ctx context.Context, db *sql.DB, owns bool, cfg Config, info serverInfo, txOpts *sql.TxOptions) (*Store, error) {
	q, err := newQueries(cfg.TablePrefix)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, ownsDB: owns, cfg: cfg, q: q, server: info, txOpts: txOpts, tag: newTag()}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if info.flushLogAtCommit != 1 {
		cfg.Logger.Warn("mysql: innodb_flush_log_at_trx_commit is not 1: a claim acknowledged just before a server crash may be lost, "+
			"and its fencing token handed out again (see docs/mysql.md)", "innodb_flush_log_at_trx_commit", info.flushLogAtCommit)
	}
	if !cfg.DisableEvents {
		r, err := startEventReader(ctx, s)
		if err != nil {
			return nil, err
		}
		s.events = r
	}
	return s, nil
}

func newTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TablePrefix returns the prefix of the store's tables.
func (s *Store) TablePrefix() string { return s.cfg.TablePrefix }

// DB returns the store's database handle.
func (s *Store) DB() *sql.DB { return s.db }

// Server returns the server's version string (VERSION()).
func (s *Store) Server() string { return s.server.version }

// Close stops the event reader and, for a store made by Open, closes the
// connection pool. Methods called after Close return an error wrapping
// storage.ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.events != nil {
			s.events.stop()
		}
		if s.ownsDB {
			s.db.Close()
		}
	})
	return nil
}

// check returns ErrClosed, wrapped with op, once the store is closed.
func (s *Store) check(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("mysql: %s: %w", op, storage.ErrClosed)
	}
	return nil
}

// Subscribe registers fn for the events of every committed write: this
// store's writes are delivered directly after commit, other stores' (and
// InsertTx's) through the events table, read every Config.PollInterval.
// fn is called synchronously from the writing goroutine or the reader
// goroutine, possibly concurrently, and must not block. When the reader
// fell behind the table's retention, an Event{Ready: true} is delivered
// so the engine polls. With events off, only this store's writes are seen.
func (s *Store) Subscribe(fn func(storage.Event)) (unsubscribe func()) {
	return s.subs.Subscribe(fn)
}

// publish delivers ev to every subscriber (it skips empty events), after
// marking the list of queues and the levels claims passed out of date
// when rows may have become due (see queueList and claimFloors).
func (s *Store) publish(ev storage.Event) {
	if ev.Ready {
		s.queues.stale()
		s.floors.stale()
	}
	s.subs.Publish(ev)
}

// micros is t in microseconds since the epoch, the stored form of an
// instant.
func micros(t time.Time) int64 { return t.UnixMicro() }

// durMicros converts d to whole microseconds, the precision of stored
// instants.
func durMicros(d time.Duration) int64 { return int64(d / time.Microsecond) }

// fromMicros is the instant of a stored value; NULL is the zero time.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// querier is what runs statements: the pool, a connection or a
// transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// now returns the instant that judges an operation: params' Now with
// ClockParams (when set), else the server's clock read through q.
func (s *Store) now(ctx context.Context, q querier, t time.Time) (int64, error) {
	if s.cfg.Clock == ClockParams && !t.IsZero() {
		return micros(t), nil
	}
	var now int64
	err := q.QueryRowContext(ctx, "SELECT "+nowSQL).Scan(&now)
	return now, err
}

// withTx runs fn in a READ COMMITTED transaction and commits it, retrying
// the whole transaction (a few times, with a growing pause) when InnoDB
// rolled it back for a deadlock or a lock wait timeout. fn must not keep
// state across attempts.
func (s *Store) withTx(ctx context.Context, fn func(tx *pipe) error) error {
	return s.withRetry(ctx, func() error { return s.runTx(ctx, fn) })
}

func (s *Store) runTx(ctx context.Context, fn func(tx *pipe) error) (err error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.commit(ctx); err != nil {
		return err
	}
	tx.done()
	return nil
}

// withRetry runs an operation, retrying it like withTx.
func (s *Store) withRetry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; ; attempt++ {
		err = fn()
		if err == nil || !s.retries.count(err) || attempt >= maxAttempts-1 {
			return err
		}
		if werr := sleepCtx(ctx, retryDelay(attempt)); werr != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
