-- 009_limits: queues' global concurrency limits (storage.Controls.LimitControl).
--
-- A queue's limit: at most that many of its rows running (and not
-- sleeping) at once across every store on the file; 0 is none. Claims
-- leave limited queues out of their usual statements (unpaused in
-- queries.sql) and claim them apart (limits.go).
ALTER TABLE durable_controls ADD COLUMN concurrency INTEGER NOT NULL DEFAULT 0;

-- The running, not sleeping rows by queue: what a limited queue's claim
-- counts (its slots in use), and where it finds those whose lease lapsed
-- (due_at <= now), which hold their slots until taken over.
CREATE INDEX durable_executions_running
	ON durable_executions (queue, due_at) WHERE status = 'running' AND sleep_key IS NULL;
