-- 007_limits: queues' global concurrency limits (storage.Controls.LimitControl).
--
-- A queue's limit: at most that many of its rows running (and not
-- sleeping) at once across every process on the schema; 0 is none. Adding
-- a NOT NULL column with a constant default rewrites nothing.
ALTER TABLE controls ADD COLUMN concurrency integer NOT NULL DEFAULT 0;

-- The running, not sleeping rows by queue: what the claim of a limited
-- queue counts (its slots in use), and where it finds those whose lease
-- lapsed (due_at <= now), which hold their slots until taken over. Built in
-- this migration's transaction; on a big table, build it first with CREATE
-- INDEX CONCURRENTLY under this name and definition (IF NOT EXISTS keeps
-- it).
CREATE INDEX IF NOT EXISTS executions_running_idx ON executions (queue, due_at)
    WHERE status = 'running' AND sleep_key IS NULL;
