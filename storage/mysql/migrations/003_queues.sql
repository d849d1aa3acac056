-- 003_queues: queues, priorities and controls (storage.Execution.Queue and
-- Priority, storage.Controls).
--
-- Every execution belongs to a queue (at most 64 bytes, 'default' when
-- none was given) and has a priority, 1 (claimed first) to 9 (5 when none
-- was given); both are set at insert and never change. Rows that exist
-- when the migration runs get the defaults.
--
-- MySQL has neither ADD COLUMN IF NOT EXISTS nor CREATE INDEX IF NOT
-- EXISTS: each ALTER is prepared only when it has something to do (DO 0
-- otherwise), so that the migration stays idempotent, as a run cut short
-- or the script run twice needs.
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND COLUMN_NAME = 'queue') = 0, 'ALTER TABLE {{.P}}executions ADD COLUMN queue VARBINARY(64) NOT NULL DEFAULT ''default''', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND COLUMN_NAME = 'priority') = 0, 'ALTER TABLE {{.P}}executions ADD COLUMN priority SMALLINT NOT NULL DEFAULT 5', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
-- The claim index replaces the due index: claims, NextDue and the rescue
-- of lapsed leases read one range per (queue, priority) level, due_at
-- ascending, so rows of a high priority that are not due yet never stand
-- in the way of due rows of a lower one (rows with a NULL due_at sort
-- first in each level and are never read). task_id lets a claim skip the
-- rows of other tasks in the index.
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND INDEX_NAME = '{{.P}}executions_queue_due') = 0, 'ALTER TABLE {{.P}}executions ADD INDEX {{.P}}executions_queue_due (queue, priority, due_at, seq, task_id)', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND INDEX_NAME = '{{.P}}executions_due') > 0, 'ALTER TABLE {{.P}}executions DROP INDEX {{.P}}executions_due', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
-- Controls (storage.Control): switches shared by every process on the
-- tables, a queue that can be paused, a schedule that can be paused and
-- remembers its last tick (mark). spec is the engine's definition (at
-- most 64 KiB), kept as given.
CREATE TABLE IF NOT EXISTS {{.P}}controls (
    kind       VARBINARY(32) NOT NULL,
    name       VARBINARY(64) NOT NULL,
    paused     BOOLEAN NOT NULL DEFAULT FALSE,
    spec       MEDIUMBLOB NULL,
    mark       BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
