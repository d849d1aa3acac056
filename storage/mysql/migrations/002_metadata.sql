-- 002_metadata: the execution's metadata (storage.Execution.Metadata),
-- set at insert and never changed: the JSON of an object of strings, its
-- keys sorted (storage.EncodeMetadata); NULL when there is none. MySQL
-- has no ADD COLUMN IF NOT EXISTS: the ALTER is prepared only when the
-- column is missing (DO 0 otherwise), so that the migration stays
-- idempotent, as a run cut short or the script run twice needs.
SET @durable_ddl = IF((SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{{.P}}executions' AND COLUMN_NAME = 'metadata') = 0, 'ALTER TABLE {{.P}}executions ADD COLUMN metadata BLOB NULL', 'DO 0');
PREPARE durable_ddl FROM @durable_ddl;
EXECUTE durable_ddl;
DEALLOCATE PREPARE durable_ddl;
