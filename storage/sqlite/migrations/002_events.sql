-- The events of every store on the file, so that stores in other processes
-- hear them (SQLite has no notifications between processes). A write
-- transaction that makes rows due or finishes executions appends one row,
-- in the same transaction; every store reads the rows appended since it
-- last looked, skips its own (tag) and publishes the others' events. Rows
-- older than a few seconds are pruned; the newest row is never deleted, so
-- seq (the rowid) only grows and a reader can tell when rows it had not
-- read were pruned (a gap).
CREATE TABLE durable_events (
	seq      INTEGER PRIMARY KEY,
	at       INTEGER NOT NULL, -- when it was written, microseconds since the epoch
	tag      TEXT    NOT NULL, -- the store that wrote it (random, per Open)
	ready    INTEGER NOT NULL, -- rows may have become due (1) or not (0)
	finished BLOB              -- ids of executions that finished, packed (events.go); NULL if none
);
