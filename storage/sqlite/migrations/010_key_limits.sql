-- 010_key_limits: queues' concurrency limits per key and rate limits
-- (storage.Controls.LimitControl, storage.Execution.ConcurrencyKey).
--
-- concurrency_key is set at insert and never changed; NULL for none.
-- per_key: at most that many of a queue's rows with one concurrency key
-- running (and not sleeping) at once; 0 is none. rate per rate_per
-- (microseconds): at most rate claims of the queue's rows per window; 0 is
-- none. rate_start (Unix microseconds, 0 for none yet) and rate_count are
-- the current window (storage.RateWindow), written by the claims.
ALTER TABLE durable_executions ADD COLUMN concurrency_key TEXT;
ALTER TABLE durable_controls ADD COLUMN per_key INTEGER NOT NULL DEFAULT 0;
ALTER TABLE durable_controls ADD COLUMN rate INTEGER NOT NULL DEFAULT 0;
ALTER TABLE durable_controls ADD COLUMN rate_per INTEGER NOT NULL DEFAULT 0;
ALTER TABLE durable_controls ADD COLUMN rate_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE durable_controls ADD COLUMN rate_count INTEGER NOT NULL DEFAULT 0;

-- The running, not sleeping rows with a concurrency key, by queue and key:
-- what a claim of a queue limited per key counts. Rows without a key are
-- not in it.
CREATE INDEX durable_executions_running_key
	ON durable_executions (queue, concurrency_key)
	WHERE status = 'running' AND sleep_key IS NULL AND concurrency_key IS NOT NULL;
