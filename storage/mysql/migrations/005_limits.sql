-- 005_limits: queues' global concurrency limits
-- (storage.Controls.LimitControl): a queue's limit, at most that many of
-- its rows running (and not sleeping) at once across every process on the
-- tables; 0 is none. Each ALTER is prepared only when it has something to
-- do (DO 0 otherwise), so that the migration stays idempotent.
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}controls' AND COLUMN_NAME = 'concurrency') = 0, 'ALTER TABLE {{.P}}controls ADD COLUMN concurrency INT NOT NULL DEFAULT 0', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
-- The rows by queue and status, then lease expiry: what the claim of a
-- limited queue counts (its running rows) and where it finds those whose
-- lease lapsed (due_at <= now), which hold their slots until taken over.
-- MySQL has no partial index: every row is in it.
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND INDEX_NAME = '{{.P}}executions_running') = 0, 'ALTER TABLE {{.P}}executions ADD INDEX {{.P}}executions_running (queue, status, due_at)', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
