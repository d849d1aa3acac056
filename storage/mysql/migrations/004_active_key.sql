-- 004_active_key: keys unique while their execution is active
-- (storage.Execution.ActiveKey, durable.WithIdempotencyWhileActive).
--
-- active_key is set at insert and never changed; NULL for none (almost
-- every row). The uniqueness follows the status: active_key_held is the
-- key while the row is not terminal and NULL once it is (a virtual
-- column: computed, not stored), and its unique index holds each key of an
-- active row at most once (NULLs never collide). So whatever makes a row
-- terminal (a transition, a cancel, a cascade) frees its key in the same
-- statement, and no statement has to clear it. A row without a key adds a
-- NULL entry to the index at insert, and none of its updates changes it.
-- Each ALTER is prepared only when it has something to do (see 003).
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND COLUMN_NAME = 'active_key') = 0, 'ALTER TABLE {{.P}}executions ADD COLUMN active_key VARBINARY(255) NULL', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND COLUMN_NAME = 'active_key_held') = 0, 'ALTER TABLE {{.P}}executions ADD COLUMN active_key_held VARBINARY(255) AS (CASE WHEN status IN (''ready'', ''running'', ''waiting_for_children'', ''waiting_for_finalize'') THEN active_key END) VIRTUAL', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND INDEX_NAME = '{{.P}}executions_active_key') = 0, 'ALTER TABLE {{.P}}executions ADD UNIQUE INDEX {{.P}}executions_active_key (active_key_held)', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
