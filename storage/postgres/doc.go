// Package postgres is a storage.Store on PostgreSQL (pgx v5), for many
// executors in many processes sharing one database.
//
//	store, err := postgres.Open(ctx, "postgres://user@host:5432/app", postgres.Config{})
//	// or, on a pool the application already has, in a schema of its own:
//	store, err := postgres.New(ctx, pool, postgres.Config{Schema: "jobs"})
//
// Config's zero value is the default for every field; set only what you
// change. See docs/postgres.md for setup, the Config fields, behaviour and
// benchmarks.
//
// # Schema and migrations
//
// The store keeps its executions in one table, executions (with their tags
// in execution_tags, the named leases in leases and the paused queues and
// schedules in controls, storage.Controls), in its own schema ("durable" by
// default, Config.Schema to change it), created on first open. Migrations are
// embedded (Migrations) and recorded in the schema's schema_version table;
// Open and New apply the missing ones in one transaction under an advisory
// lock, so processes starting at once are safe. A database whose schema is
// newer than this code fails Open with an error wrapping ErrSchemaVersion.
//
// Instants are timestamptz (microsecond precision; NULL for an unset
// time), durations bigint nanoseconds. The bigserial seq column records
// insertion order.
//
// # Clock
//
// By default (ClockDatabase) "now" is the database server's clock: due
// times and lease expiries are computed in SQL from the database's now plus
// the Delay, Timeout or Lease of the params, and params.Now is ignored, so
// executors with skewed clocks neither steal live work nor leave dead work
// stuck. ClockParams uses params.Now instead (tests with fixed times, the
// conformance suite).
//
// # Events
//
// Every write that commits sends, inside its transaction, a NOTIFY on the
// schema's channel (delivered only if the transaction commits): "ready" when
// rows may have become due, and the ids of the executions that finished,
// chunked below PostgreSQL's 8000-byte payload limit. A listener goroutine
// on a dedicated connection turns the notifications of other stores into
// storage.Event values for Subscribe callbacks; this store's own events are
// delivered directly after commit instead (so in-process latency does not
// depend on the round trip). The listener reconnects with backoff when its
// connection drops, and publishes Event{Ready: true} after each reconnect,
// because notifications sent meanwhile are lost.
//
// # Transactional enqueue
//
// InsertTx inserts executions through the caller's pgx.Tx: they exist if
// and only if that transaction commits.
//
// # Guarantees and caveats
//
//   - Claims use a MATERIALIZED CTE with ORDER BY, LIMIT and FOR UPDATE SKIP
//     LOCKED: a claim never takes more rows than asked and no row goes to
//     two claimers. It probes the claim index once per queue and priority
//     level, highest priority first (docs/postgres.md, "Queues and
//     priorities").
//   - Every write of a claimed row is guarded by its fence and status.
//   - Transactions the server aborts for a deadlock or a serialization
//     failure, and requests that never reached the server, are retried a few
//     times; any other error is returned as is. After a connection failure
//     a write may have committed even though it returned an error (an
//     ambiguous commit): guarded writes can be retried safely, inserts fail
//     with storage.ErrDuplicate if they had committed.
//   - Subscribe callbacks run synchronously and must not block.
package postgres
