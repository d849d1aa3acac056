package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver
)

// pgPoolMaxConns is the pgx pool size the benchmark gives each engine on
// PostgreSQL; DBOS uses 20 for its own pool by default, River sizes nothing.
const pgPoolMaxConns = 20

// sqliteBusyTimeoutMs is how long a SQLite connection waits for a lock held by
// another connection (another process in the recovery workload) before failing.
const sqliteBusyTimeoutMs = 10000

// runStore is the fresh database of one run: a new SQLite file, a new
// PostgreSQL schema in the database named by dsn, or a new MySQL database on
// the server named by dsn.
type runStore struct {
	kind   string // storeSQLite, storePostgres or storeMySQL
	path   string // SQLite database file
	dsn    string // PostgreSQL URL or MySQL DSN
	schema string // PostgreSQL schema or MySQL database of this run; the engine creates it
	tmpDir string // temp dir holding path, removed on close; empty for --path
}

// newRunStore makes the names of a fresh store for one run of engine. Nothing
// is created yet: the engine's prepare step creates the file or schema.
func newRunStore(o options, engine string) (*runStore, error) {
	s := &runStore{kind: o.store, dsn: o.dsn}
	switch o.store {
	case storeSQLite:
		if o.path != "" {
			s.path = o.path
			return s, nil
		}
		dir, err := os.MkdirTemp("", "peers-"+engine+"-")
		if err != nil {
			return nil, fmt.Errorf("create temp dir for the SQLite store: %w", err)
		}
		s.tmpDir, s.path = dir, filepath.Join(dir, engine+".db")
	case storePostgres, storeMySQL:
		suffix, err := randomSuffix()
		if err != nil {
			return nil, err
		}
		s.schema = "peers_" + engine + "_" + suffix
	}
	return s, nil
}

// randomSuffix returns 12 random hex digits.
func randomSuffix() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random schema suffix: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// close deletes the store: the SQLite file with its WAL and shared-memory
// files (and the temp dir), or the PostgreSQL schema with everything in it.
func (s *runStore) close(ctx context.Context) error {
	switch s.kind {
	case storeSQLite:
		var errs []error
		for _, f := range []string{s.path, s.path + "-wal", s.path + "-shm", s.path + "-journal"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		if s.tmpDir != "" {
			errs = append(errs, os.RemoveAll(s.tmpDir))
		}
		return errors.Join(errs...)
	case storePostgres:
		return s.dropSchema(ctx)
	case storeMySQL:
		return s.dropMySQLDatabase(ctx)
	}
	return nil
}

// dropSchema drops this run's PostgreSQL schema if it exists.
func (s *runStore) dropSchema(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return fmt.Errorf("connect to drop schema %s: %w", s.schema, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s.schema}.Sanitize()+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", s.schema, err)
	}
	return nil
}

// createSchema creates this run's PostgreSQL schema.
func (s *runStore) createSchema(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", redactDSN(s.dsn), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{s.schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s: %w", s.schema, err)
	}
	return nil
}

// openSQLite opens the run's SQLite file with WAL, synchronous=NORMAL, a busy
// timeout and BEGIN IMMEDIATE transactions, limited to maxConns connections.
func (s *runStore) openSQLite(maxConns int) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMs))
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+s.path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", s.path, err)
	}
	db.SetMaxOpenConns(maxConns)
	return db, nil
}

// openPgxPool opens a pgx pool on the run's database with pgPoolMaxConns
// connections and checks that the server answers.
func (s *runStore) openPgxPool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(s.dsn)
	if err != nil {
		return nil, fmt.Errorf("parse --dsn %s: %w", redactDSN(s.dsn), err)
	}
	cfg.MaxConns = pgPoolMaxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactDSN(s.dsn), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", redactDSN(s.dsn), err)
	}
	return pool, nil
}

// redactDSN hides the password of a PostgreSQL URL for error messages.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}
