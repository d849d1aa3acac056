-- 006_metadata: the execution's metadata (storage.Execution.Metadata),
-- set at insert and never changed: a JSON object of strings, its keys
-- sorted (storage.EncodeMetadata); NULL when there is none.
ALTER TABLE durable_executions ADD COLUMN metadata TEXT;
