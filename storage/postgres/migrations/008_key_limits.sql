-- 008_key_limits: queues' concurrency limits per key and rate limits
-- (storage.Controls.LimitControl, storage.Execution.ConcurrencyKey).
--
-- concurrency_key is set at insert and never changed; NULL for none.
-- per_key: at most that many of a queue's rows with one concurrency key
-- running (and not sleeping) at once; 0 is none. rate per rate_per_us
-- (microseconds): at most rate claims of the queue's rows per window; 0 is
-- none. rate_start (NULL for none yet) and rate_count are the current
-- window (storage.RateWindow), written by the claims. Nullable columns and
-- NOT NULL ones with a constant default rewrite nothing.
ALTER TABLE executions ADD COLUMN IF NOT EXISTS concurrency_key text COLLATE "C";
ALTER TABLE controls ADD COLUMN IF NOT EXISTS per_key integer NOT NULL DEFAULT 0;
ALTER TABLE controls ADD COLUMN IF NOT EXISTS rate integer NOT NULL DEFAULT 0;
ALTER TABLE controls ADD COLUMN IF NOT EXISTS rate_per_us bigint NOT NULL DEFAULT 0;
ALTER TABLE controls ADD COLUMN IF NOT EXISTS rate_start timestamptz;
ALTER TABLE controls ADD COLUMN IF NOT EXISTS rate_count integer NOT NULL DEFAULT 0;

-- The running, not sleeping rows with a concurrency key, by queue and key:
-- what the claim of a queue limited per key counts. Rows without a key are
-- not in it, so their writes cost nothing more. Built in this migration's
-- transaction; on a big table, build it first with CREATE INDEX
-- CONCURRENTLY under this name and definition (IF NOT EXISTS keeps it).
CREATE INDEX IF NOT EXISTS executions_running_key_idx ON executions (queue, concurrency_key)
    WHERE status = 'running' AND sleep_key IS NULL AND concurrency_key IS NOT NULL;
