-- 007_running_flag: executions_running holds only the rows whose queue
-- counts its running rows. MySQL has no partial index: with every row in
-- it (005), each claim and each completion of every queue rewrote its
-- entry (status and due_at change), about a tenth of the server's work on
-- a plain drain. Its key is now three virtual columns that are NULL unless
-- run_indexed is set, so a row that is never flagged keeps one entry,
-- (NULL, NULL, NULL), that no update moves.
--
-- run_indexed is set by the claims of a limited queue (claim_pick_lapsed,
-- claim_pick_limited, claim_pick_limited_key take their rows under the
-- queue's control row lock) on the rows they claim; and, for the rows
-- already running when a queue gets its first limit, by the first limited
-- claim after it: LimitControl sets the control's runs_indexed to 0, and
-- that claim, holding the control row, locks the queue's due and running
-- rows (waiting for the claims in flight that read the queue as
-- unlimited), flags the running ones and sets runs_indexed back to 1.
-- It is never cleared: a row that was flagged stays in the index.
--
-- The rows running now are flagged here, whatever their queue; executors
-- of an earlier version must be stopped before this migration (their
-- claims of limited queues do not set the flag).
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND COLUMN_NAME = 'run_indexed') = 0, 'ALTER TABLE {{.P}}executions ADD COLUMN run_indexed TINYINT NOT NULL DEFAULT 0, ADD COLUMN run_queue VARBINARY(64) AS (IF(run_indexed, queue, NULL)) VIRTUAL, ADD COLUMN run_status VARBINARY(32) AS (IF(run_indexed, status, NULL)) VIRTUAL, ADD COLUMN run_due BIGINT AS (IF(run_indexed, due_at, NULL)) VIRTUAL, DROP INDEX {{.P}}executions_running, ADD INDEX {{.P}}executions_running (run_queue, run_status, run_due)', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}controls' AND COLUMN_NAME = 'runs_indexed') = 0, 'ALTER TABLE {{.P}}controls ADD COLUMN runs_indexed BOOLEAN NOT NULL DEFAULT TRUE', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
UPDATE {{.P}}executions SET run_indexed = 1 WHERE status = 'running' AND run_indexed = 0;
