package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/internal/rescue"
	"github.com/durable-go/durable/storage"
)

// Store is a storage.Store on PostgreSQL. Create it with Open or New; it is
// safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	cfg      Config // with its defaults
	q        *queries
	// channel is the LISTEN/NOTIFY channel of the schema.
	channel string
	// tag identifies this Store in the notifications it sends, so its
	// listener can skip the events it already delivered directly.
	tag string

	closed    atomic.Bool
	closeOnce sync.Once

	subs storage.Subscribers

	// lastClaimed is how many rows the last claim returned: the next
	// claim's buffers start a quarter larger (a claim's limit is often far
	// more than what is due; a buffer that must grow is copied).
	lastClaimed atomic.Int64

	// rescues paces the claims' rescues of lapsed leases (claim.go).
	rescues rescue.Pacer
	// limits is the copy of which queues have a concurrency limit
	// (limits.go).
	limits limited.Cache
	// unindexed holds the limited queues whose running rows wait for
	// their pass (indexRuns, limits.go).
	unindexed unindexedQueues

	listener *listener
}

var _ storage.Store = (*Store)(nil)

// Open connects to the PostgreSQL database at dsn (a URL or key=value
// connection string, see pgxpool.ParseConfig), applies the migrations and
// starts the listener. The store owns the pool: Close closes it.
func Open(ctx context.Context, dsn string, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	s, err := newStore(ctx, pool, true, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// New makes a store on a pool the caller owns: Close leaves the pool open.
// It applies the migrations and starts the listener, which takes one
// connection out of the pool for good (pgxpool.Conn.Hijack) and another
// each time it reconnects.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: new: nil pool")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newStore(ctx, pool, false, cfg)
}

// newStore makes the store; cfg has its defaults and is valid.
func newStore(ctx context.Context, pool *pgxpool.Pool, owns bool, cfg Config) (*Store, error) {
	q, err := newQueries(cfg.Schema)
	if err != nil {
		return nil, err
	}
	s := &Store{
		pool: pool, ownsPool: owns, cfg: cfg, q: q,
		channel: channelName(cfg.Schema), tag: newTag(),
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if !cfg.DisableNotifications {
		l, err := startListener(ctx, s)
		if err != nil {
			return nil, err
		}
		s.listener = l
	}
	return s, nil
}

// channelName is the NOTIFY channel of schema: "durable_" + schema, or a
// hash of it when that would be longer than a PostgreSQL identifier.
func channelName(schema string) string {
	name := "durable_" + schema
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(schema))
	return "durable_" + hex.EncodeToString(sum[:16])
}

func newTag() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Schema returns the schema the store's tables live in.
func (s *Store) Schema() string { return s.cfg.Schema }

// Channel returns the LISTEN/NOTIFY channel the store sends and listens on.
func (s *Store) Channel() string { return s.channel }

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the listener and, for a store made by Open, closes the pool.
// Methods called after Close return an error wrapping storage.ErrClosed.
// Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.listener != nil {
			s.listener.stop()
		}
		if s.ownsPool {
			s.pool.Close()
		}
	})
	return nil
}

// check returns ErrClosed, wrapped with op, once the store is closed.
func (s *Store) check(op string) error {
	if s.closed.Load() {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrClosed)
	}
	return nil
}

// now is the @now argument: params' Now with ClockParams, NULL (the
// database's clock) with ClockDatabase or when now is zero.
func (s *Store) now(now time.Time) any {
	if s.cfg.Clock != ClockParams || now.IsZero() {
		return nil
	}
	return now
}

// Subscribe registers fn for the events of every committed write: this
// store's writes are delivered directly after commit (the listener skips
// their notifications), other stores' and InsertTx's through LISTEN/NOTIFY.
// fn is called synchronously from the writing goroutine or the listener
// goroutine, possibly concurrently, outside any lock, and must not block.
// Events of other processes may be lost while the listener reconnects;
// after every reconnect an Event{Ready: true} is delivered so the engine
// polls. With notifications off, only this store's writes are seen.
func (s *Store) Subscribe(fn func(storage.Event)) (unsubscribe func()) {
	return s.subs.Subscribe(fn)
}

// publish delivers ev to every subscriber. It skips empty events.
func (s *Store) publish(ev storage.Event) { s.subs.Publish(ev) }

// withTx runs fn in a transaction and commits it, retrying the whole
// transaction (a few times) when PostgreSQL aborted it for a deadlock or a
// serialization failure, or when nothing reached the server. prime, when
// not nil, queues the transaction's first statements, which are sent with
// its BEGIN in one round trip before fn runs. prime and fn must not keep
// state across attempts.
func (s *Store) withTx(ctx context.Context, prime func(*pgx.Batch), fn func(tx pgx.Tx) error) error {
	return withRetry(ctx, func() error { return s.runTx(ctx, prime, fn) })
}

func (s *Store) runTx(ctx context.Context, prime func(*pgx.Batch), fn func(tx pgx.Tx) error) (err error) {
	batch := &pgx.Batch{}
	batch.BeginTx(pgx.TxOptions{})
	if prime != nil {
		batch.Queue(s.q.indexPlans)
		prime(batch)
	}
	br := s.pool.SendBatch(ctx, batch)
	tx := br.Tx()
	defer func() {
		if err != nil {
			// Also releases the connection when BEGIN itself failed.
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = br.Close(); err != nil {
		return err
	}
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// withRetry runs a single-statement operation, retrying it like withTx.
func withRetry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := 0; ; attempt++ {
		err = fn()
		if err == nil || !retryable(err) || attempt >= maxAttempts-1 {
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
