-- 006_key_limits: queues' concurrency limits per key and rate limits
-- (storage.Controls.LimitControl, storage.Execution.ConcurrencyKey).
--
-- concurrency_key is set at insert and never changed; NULL for none.
-- per_key: at most that many of a queue's rows with one concurrency key
-- running (and not sleeping) at once; 0 is none. rate per rate_per_us
-- (microseconds): at most rate claims of the queue's rows per window; 0 is
-- none. rate_start (Unix microseconds, 0 for none yet) and rate_count are
-- the current window (storage.RateWindow), written by the claims. No index
-- is added: MySQL has no partial index, and one over every row would cost
-- every insert; a claim of a queue limited per key counts a key's running
-- rows through executions_running (queue, status, due_at), so through the
-- queue's running rows. Each ALTER is prepared only when it has something
-- to do (see 003).
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND COLUMN_NAME = 'concurrency_key') = 0, 'ALTER TABLE {{.P}}executions ADD COLUMN concurrency_key VARBINARY(255) NULL', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}controls' AND COLUMN_NAME = 'per_key') = 0, 'ALTER TABLE {{.P}}controls ADD COLUMN per_key INT NOT NULL DEFAULT 0', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}controls' AND COLUMN_NAME = 'rate') = 0, 'ALTER TABLE {{.P}}controls ADD COLUMN rate INT NOT NULL DEFAULT 0', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}controls' AND COLUMN_NAME = 'rate_per_us') = 0, 'ALTER TABLE {{.P}}controls ADD COLUMN rate_per_us BIGINT NOT NULL DEFAULT 0', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}controls' AND COLUMN_NAME = 'rate_start') = 0, 'ALTER TABLE {{.P}}controls ADD COLUMN rate_start BIGINT NOT NULL DEFAULT 0', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}controls' AND COLUMN_NAME = 'rate_count') = 0, 'ALTER TABLE {{.P}}controls ADD COLUMN rate_count INT NOT NULL DEFAULT 0', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
