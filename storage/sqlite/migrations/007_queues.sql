-- 007_queues: queues, priorities and controls (storage/queues.go).
--
-- Every execution belongs to one queue and has a priority, both set at
-- insert and never changed. A table with rows gets the defaults: the queue
-- 'default' (storage.DefaultQueue) and the priority 5
-- (storage.DefaultPriority).
ALTER TABLE durable_executions ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
-- 1 (claimed first) to 9.
ALTER TABLE durable_executions ADD COLUMN priority INTEGER NOT NULL DEFAULT 5;

-- The controls every store on the file shares (storage.Controls): queues
-- that can be paused, schedules. spec and mark are the engine's; the
-- store keeps them without reading them. updated_at is INTEGER
-- microseconds since the Unix epoch.
CREATE TABLE durable_controls (
	kind       TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	paused     INTEGER NOT NULL DEFAULT 0,
	spec       BLOB,
	mark       INTEGER NOT NULL DEFAULT 0,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (kind, name)
) WITHOUT ROWID;

-- The due index, by queue and priority: one range of it per (queue,
-- priority) level holds that level's due rows in due order. A claim
-- probes each level for its rows due now and merges the few it reads
-- (claim_candidates in queries.sql), so rows of a higher priority that
-- are not due yet are never walked past. The queues and the levels that
-- have rows are found by skip scans of its first two columns. status and
-- sleep_key stay in it for the rescue of lapsed leases (see 003).
DROP INDEX durable_executions_due;
CREATE INDEX durable_executions_due
	ON durable_executions (queue, priority, due_at, seq, status, sleep_key) WHERE due_at IS NOT NULL;
