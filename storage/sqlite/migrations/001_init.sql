-- 001_init: the executions table and its indexes.
--
-- Times are INTEGER microseconds since the Unix epoch, NULL when unset.
-- Durations (timeout, retry delays) are INTEGER nanoseconds, as Go's
-- time.Duration. Optional strings are NULL when empty. error is the JSON form
-- of storage.ErrorInfo. seq is the rowid: insertion order, the tie-breaker of
-- claims.

CREATE TABLE durable_executions (
	seq                     INTEGER PRIMARY KEY,
	id                      TEXT    NOT NULL UNIQUE,
	task_id                 TEXT    NOT NULL,
	root_id                 TEXT,
	root_task_id            TEXT,
	parent_id               TEXT,
	parent_task_id          TEXT,
	child_index             INTEGER NOT NULL DEFAULT 0,
	is_finalize             INTEGER NOT NULL DEFAULT 0,
	sleep_key               TEXT,
	-- An OR chain, not IN (...): SQLite evaluates it several times faster
	-- on every insert and status change.
	status                  TEXT    NOT NULL CHECK (
		status = 'ready' OR status = 'running' OR
		status = 'waiting_for_children' OR status = 'waiting_for_finalize' OR
		status = 'completed' OR status = 'failed' OR status = 'timed_out' OR
		status = 'children_failed' OR status = 'finalize_failed' OR
		status = 'cancelled'),
	input                   BLOB,
	output                  BLOB,
	run_output              BLOB,
	error                   TEXT,
	retry_max_retries       INTEGER NOT NULL DEFAULT 0,
	retry_base_delay        INTEGER NOT NULL DEFAULT 0,
	retry_multiplier        REAL    NOT NULL DEFAULT 0,
	retry_max_delay         INTEGER NOT NULL DEFAULT 0,
	retry_jitter            REAL    NOT NULL DEFAULT 0,
	timeout                 INTEGER NOT NULL DEFAULT 0,
	attempt                 INTEGER NOT NULL DEFAULT 0,
	iteration               INTEGER NOT NULL DEFAULT 0,
	crashes                 INTEGER NOT NULL DEFAULT 0,
	fence                   INTEGER NOT NULL DEFAULT 0,
	executor_id             TEXT,
	fail_fast               INTEGER NOT NULL DEFAULT 0,
	children_total          INTEGER NOT NULL DEFAULT 0,
	children_pending        INTEGER NOT NULL DEFAULT 0,
	due_at                  INTEGER,
	created_at              INTEGER NOT NULL,
	updated_at              INTEGER NOT NULL,
	started_at              INTEGER,
	finished_at             INTEGER,
	waiting_for_children_at INTEGER,
	waiting_for_finalize_at INTEGER
);

-- Sleep keys are unique forever; rows without one (NULL) are not indexed.
CREATE UNIQUE INDEX durable_executions_sleep_key
	ON durable_executions (sleep_key) WHERE sleep_key IS NOT NULL;

-- Claims and NextDue: due rows in DueAt order, ties in insertion order.
CREATE INDEX durable_executions_due
	ON durable_executions (due_at, seq) WHERE due_at IS NOT NULL;

-- ListChildren, parent bookkeeping and cascading cancellation.
CREATE INDEX durable_executions_parent
	ON durable_executions (parent_id, child_index) WHERE parent_id IS NOT NULL;
