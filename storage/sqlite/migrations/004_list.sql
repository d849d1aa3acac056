-- 004_list: attempt history, tags and retry links on the row, and the
-- indexes of List, Count and Delete (storage.Lister, list.go).
--
-- Each index is written by the drain only when the columns it holds
-- change, or when its WHERE clause starts or stops holding. The set is the
-- smallest that serves the first page of a list without reading rows that
-- do not match: created_at and task_id never change (an insert writes
-- their entries, a delete removes them), root_id is set on children only,
-- and the status index holds only the statuses a drain of plain tasks
-- never enters (not ready, running or completed). See docs/sqlite.md.

-- The history of runs that did not complete the execution: the JSON of
-- []storage.Attempt; NULL when there is none.
ALTER TABLE durable_executions ADD COLUMN attempts TEXT;
-- The execution's tags: a JSON array of strings; NULL when none.
ALTER TABLE durable_executions ADD COLUMN tags TEXT;
-- The execution this one retries by hand; NULL for every other.
ALTER TABLE durable_executions ADD COLUMN retry_of TEXT;

-- List's order, newest or oldest first, with the keyset cursor; the walk
-- of every list without a narrower filter (and of retention's, whose
-- expired rows are the oldest).
CREATE INDEX durable_executions_created
	ON durable_executions (created_at, id);

-- List by task, in list order.
CREATE INDEX durable_executions_task
	ON durable_executions (task_id, created_at, id);

-- The descendants of a root, in list order: List by root, and Delete of
-- whole trees. Top-level rows (root_id NULL) are not indexed.
CREATE INDEX durable_executions_root
	ON durable_executions (root_id, created_at, id) WHERE root_id IS NOT NULL;

-- List by status, in list order, for the statuses outside the drain's
-- path: parents waiting on children, and the terminal statuses but
-- completed. A task that is enqueued, runs and completes never enters
-- this index (ready, running and completed rows are listed by walking
-- durable_executions_created, where they are most rows). Three <> terms,
-- not NOT IN or IN (...): SQLite tests the WHERE clause at every insert
-- and status change, and an IN list costs several times more (see the
-- status CHECK of 001).
CREATE INDEX durable_executions_status
	ON durable_executions (status, created_at, id)
	WHERE status <> 'ready' AND status <> 'running' AND status <> 'completed';

-- Rows whose finished_at is before their created_at: possible only when
-- the clocks of the processes that inserted and finished a row disagree.
-- A list of rows finished before T walks durable_executions_created below
-- T (every other row finished before T was created before it) and reads
-- these few beside it. Normally empty.
CREATE INDEX durable_executions_finished_early
	ON durable_executions (finished_at) WHERE finished_at < created_at;

-- One row per tag of an execution, in list order within a tag: List by
-- tag walks it and joins each row by seq. Written by the store with the
-- rows (an Insert or a Complete that inserts tagged rows) and deleted
-- with them (Delete), in the same transaction; not by triggers, which
-- would cost every insert and delete a call of the trigger's program even
-- for rows without tags.
CREATE TABLE durable_execution_tags (
	tag        TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	id         TEXT    NOT NULL,
	seq        INTEGER NOT NULL, -- durable_executions.seq
	PRIMARY KEY (tag, created_at, id)
) WITHOUT ROWID;
