-- 003_due_index_status: the due index carries each row's status and sleep
-- key, so that the rescue of lapsed leases (claim.go) finds the running,
-- non-sleeping rows of a window of due times from the index alone, without
-- reading the table row of every ready row in the window. Every write that
-- changes a row's status or sleep key also changes or clears its due_at,
-- so the wider entries cost no extra index writes.
DROP INDEX durable_executions_due;
CREATE INDEX durable_executions_due
	ON durable_executions (due_at, seq, status, sleep_key) WHERE due_at IS NOT NULL;
