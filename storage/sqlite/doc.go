// Package sqlite is the embedded, durable storage.Store of durable: every
// execution lives in one SQLite file, and a program needs nothing but Go to
// build it (the driver is the pure-Go modernc.org/sqlite; no cgo, no C
// compiler).
//
//	store, err := sqlite.Open(ctx, "app.db", sqlite.Config{})
//	if err != nil { ... }
//	defer store.Close()
//
// Config's zero value is the default for every field; set only what you
// change:
//
//	store, err := sqlite.Open(ctx, "app.db", sqlite.Config{Durability: sqlite.DurabilityNormal})
//
// Open creates the file if needed (mode 0600; SQLite gives the -wal and -shm
// files the same mode), switches it to WAL mode, checks the file and applies
// the schema migrations. The path's directory must exist.
//
// # Checks and fatal errors
//
// Open refuses a file it cannot use, with an error that names it: a file
// that fails PRAGMA quick_check (ErrCorrupt; Config.Check chooses the check,
// or none: the quick check reads the whole file, a few seconds per GiB, see
// docs/sqlite.md), and a file this process cannot write, or whose -wal and
// -shm files it cannot create (ErrReadOnly). SQLite itself would open both
// without complaint. A call that meets a damaged page later fails with an
// error wrapping ErrCorrupt (or ErrNotDatabase) and storage.ErrFatal: an
// engine stops on it instead of retrying.
//
// # Durability
//
// By default (DurabilityFull) SQLite runs with synchronous=FULL: a write
// call that returned, an Insert above all, has been fsynced and survives a
// power cut. Config.Durability = DurabilityNormal selects synchronous=NORMAL,
// which skips the fsync of each commit: returned writes survive a crash of
// the process, but the last ones before a power cut or an operating system
// crash may be lost. The database is consistent after any crash in both
// modes. See docs/sqlite.md for figures.
//
// # Writes and group commit
//
// SQLite has one writer at a time. The store keeps one write connection and
// a goroutine that owns it: each write call (Insert, Claim, Complete,
// Heartbeat, Cancel, Release, Recover) is queued, and the goroutine runs
// every queued call in one BEGIN IMMEDIATE transaction, each inside its own
// savepoint, then commits once. Concurrent calls thus share one commit (and
// one fsync), and a call that fails is rolled back alone. A call returns
// when its transaction has committed. A call whose context ends while it is
// still queued returns the context's error and changes nothing; once its
// transaction has begun, the call waits for the outcome, so a returned error
// always means nothing changed.
//
// Reads (Get, GetBySleepKey, ListChildren, NextDue, List, Count) run on a
// separate pool of read connections (Config.MaxReaders), beside the
// writer: in WAL mode readers and the writer do not block each other.
// Delete runs through the writer like every other write.
//
// # Several processes on one file
//
// Several stores, in one process or in several processes on one machine,
// may open the same file. Every write transaction takes SQLite's write lock
// at its start (BEGIN IMMEDIATE), so claims never hand one row to two
// stores; a store waits for the lock up to the busy timeout
// (Config.BusyTimeout, 5 seconds by default). The stores on a file hear each
// other's events (below), so an engine in one process learns within
// milliseconds of the work another makes due, of a cancellation of a run
// it holds and of the end of an execution it waits for. Do not put the file
// on a network file system: SQLite's locking is not reliable there.
//
// # Events
//
// Subscribe delivers an Event after each commit that may have made rows due
// or finished executions, merged over the calls that shared the commit.
// The events of a store's own writes are delivered on its writer goroutine,
// before the calls that shared the commit return. SQLite has no
// notifications between processes, so each such commit also appends one
// row to the table durable_events in the same transaction (the ids of the
// executions it finished packed in one value), and every store has a
// watcher, on its own read connection, that reads the rows appended since
// it last looked, skips its own (each store draws a random tag at Open) and
// delivers the others' events on the watcher's goroutine. On Linux the
// watcher sleeps on inotify: after each such commit the writer writes a
// byte to the signal file PATH-events beside the database, so an event is
// heard within a fraction of a millisecond and an idle store looks only
// once a second. Elsewhere the watcher polls, every millisecond after an
// event and backing off to every 8 ms when idle. Rows are kept 10 seconds;
// a store that has not looked for longer (its process was stopped) misses
// the events pruned meanwhile and delivers Ready in their place (the engine
// then finds what it waits for by polling). Subscribers must return quickly
// and must not call the store.
//
// # Transactional enqueue
//
// WithTx runs a function in a write transaction on the store's own write
// connection (SQLite has one writer at a time), and Tx(tx) is the inserter
// that durable's Task.EnqueueTx takes: the application's writes to its own
// tables in the file and the executions it enqueues commit or roll back
// together. Executors, here and in other processes, hear of the executions
// after the commit only. While the function runs, the store's other writes
// wait for it: keep it short (past the busy timeout they fail with
// ErrTxTooLong). See WithTx and docs/sqlite.md.
//
// # Queues, priorities and controls
//
// The store implements storage.Controls. Claim takes due rows by priority,
// then due time, from the queues asked for, leaving out the paused ones:
// it reads the paused queues (the table durable_controls) in the
// statement that finds the queues with due rows, so a pause holds back
// every claim, in any process, that starts after PauseControl returned. Resuming a queue
// publishes Event.Ready to every store on the file. The due index is kept
// by queue and priority, and a claim searches it once per (queue,
// priority) level that has rows, from the index alone (it holds each row's
// task): rows of a high priority that are not due yet cost a claim one
// search, however many there are (docs/sqlite.md).
//
// # Schema and migrations
//
// The tables are prefixed durable_ (durable_executions, durable_controls,
// durable_migrations and a few more), so the file may hold an
// application's own tables too. Migrations are embedded SQL
// files (see Migrations), applied by Open in one BEGIN IMMEDIATE
// transaction and recorded with their checksums; two processes opening a
// new file at once take turns. Open refuses a database migrated by a newer
// version of durable (ErrNewerSchema) and a file that is not an SQLite
// database (ErrNotDatabase).
package sqlite
