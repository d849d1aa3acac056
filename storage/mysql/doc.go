// Package mysql is the storage.Store on MySQL 8.0.1+ and MariaDB 10.6+,
// for durable executors in many processes sharing one database.
//
//	store, err := mysql.Open(ctx, "app:secret@tcp(db:3306)/app", mysql.Config{})
//	// ...
//	ex, err := durable.New(store, durable.Config{})
//
// # Tables and migrations
//
// The store keeps its tables in the DSN's database, their names starting
// with Config.TablePrefix ("durable_" by default): executions,
// execution_tags, leases, events, controls and schema_version. Open
// applies the embedded, versioned migrations (Migrations) under a server
// lock (GET_LOCK) keyed by the database and the prefix, so concurrent
// openers apply each migration once. MySQL commits DDL statements one by
// one, so a migration is not one transaction: each statement is
// idempotent and the version is recorded after the last, so a migration
// cut short is completed by the next Open. With Config.DisableMigrations,
// Open only checks the version.
//
// # What it needs from the server
//
// FOR UPDATE SKIP LOCKED (MySQL 8.0.1, MariaDB 10.6), InnoDB, a database in
// utf8mb4, a max_allowed_packet of at least 8 MiB (the defaults are 64 MiB
// on MySQL 8.0 and 16 MiB on MariaDB 10.11), and the rights to create its
// tables (or tables created by `durable migrate up`). Open checks each and
// says what to change. The fencing tokens a claim hands out survive a
// server crash only when the claim's commit is on disk when it returns:
// innodb_flush_log_at_trx_commit = 1 (the default; Open logs a warning
// otherwise), and sync_binlog = 1 where the binary log is on. See
// docs/mysql.md.
//
// # Time
//
// By default (ClockDatabase) due times and leases are judged on the
// server's clock, so executors with skewed clocks agree; ClockParams
// uses params.Now instead (tests with fixed times).
//
// # Concurrency
//
// Every write runs in a READ COMMITTED transaction. Claims pick due rows
// with FOR UPDATE SKIP LOCKED: concurrent claimers never wait for each
// other nor share a row. Complete and Cancel lock the rows they change in
// id order and decide every change in Go on the locked rows; InnoDB may
// still roll back a transaction for a deadlock (say, a child's completion
// and its parent's cancellation), which the store runs again, with a
// growing pause, up to 8 times (Retries counts them).
//
// # Queues and priorities
//
// Claims read the claim index (queue, priority, due_at, seq, task_id):
// per queue, one range per priority of the rows due by now, read in claim
// order up to the limit, so rows of a high priority due later are never
// read. A claim of every queue reads over the queues the store's last
// claim saw holding work, and checks in the same round trip (a loose index
// scan) that no other queue does. Paused queues (the controls table) are
// left out by each claim as the controls were last committed when it
// starts. See docs/mysql.md.
//
// # Events across processes
//
// MySQL has no LISTEN/NOTIFY. Every write that makes work due or
// finishes executions appends a row to the events table in its
// transaction; every store reads the rows after the last it saw every
// Config.PollInterval (10 ms) and publishes those of other stores. A
// store's own writes are published directly after commit.
package mysql
