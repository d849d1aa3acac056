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
//   - records are copied in and out (byte slices, the error, the tags, the
//     metadata and the attempt history are deep copied), so callers may
//     modify what they pass or get back, and a transition's Attempts after
//     Complete; empty Tags, Metadata and Attempts are stored as none (nil);
//   - every method is atomic: Insert validates the whole batch before
//     changing anything, and each transition of Complete is checked
//     (guard, then its children) before it is applied;
//   - times (the attempts' too) are stored in UTC with microsecond
//     precision, like PostgreSQL;
//   - params.Now is the store's clock: the store never reads the wall clock.
//
// # Performance
//
// Rows are indexed by ID, by SleepKey and by parent, and rows with a DueAt
// are kept in one min-heap per task ordered by (DueAt, insertion order), so
// Claim, Complete and Heartbeat cost O(log n) per row touched. Recover scans
// every row; it is meant to run once at executor start.
//
// Every row is also kept in a slice ordered by list key (CreatedAt, then
// ID), so List finds the start of a page by binary search and scans from
// there; a filter on IDs, a parent or a root scans only those rows (sorted
// per call). Filters on anything else scan until the page is full: a
// filter that matches few of many rows reads many. Count scans every row
// the filter can match. Delete checks every named tree before removing
// anything, then removes the rows from the ordered slice in one pass
// (O(rows) per call, not per tree).
//
// All methods serialise on one mutex. Events are delivered synchronously, in
// the goroutine that made the write, after the mutex is released;
// subscribers must not block.
//
// Rows are deleted only by Delete (storage.Lister): memory grows with every
// execution inserted until then.
package memory
