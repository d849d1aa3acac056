// Package memory is an in-memory implementation of [storage.Store].
//
// # NOT DURABLE
//
// Everything this store holds lives in the memory of the current process and
// is lost when the process exits or crashes. Nothing is ever written to disk.
// Use it for tests, examples and prototypes only; use storage/sqlite or
// storage/postgres for anything whose tasks must survive a restart.
//
// # Behaviour
//
// The store behaves like the SQL stores and passes the same conformance
// suite (storage/storagetest):
//
//   - records are copied in and out (byte slices and the error are deep
//     copied), so callers may modify what they pass or get back;
//   - every method is atomic: Insert validates the whole batch before
//     changing anything, and each transition of Complete is checked
//     (guard, then its children) before it is applied;
//   - times are stored in UTC with microsecond precision, like PostgreSQL;
//   - params.Now is the store's clock: the store never reads the wall clock.
//
// # Performance
//
// Rows are indexed by ID, by SleepKey and by parent, and rows with a DueAt
// are kept in one min-heap per task ordered by (DueAt, insertion order), so
// Claim, Complete and Heartbeat cost O(log n) per row touched. Recover scans
// every row; it is meant to run once at executor start.
//
// All methods serialise on one mutex. Events are delivered synchronously, in
// the goroutine that made the write, after the mutex is released;
// subscribers must not block.
//
// Rows are never deleted: memory grows with every execution inserted.
package memory
