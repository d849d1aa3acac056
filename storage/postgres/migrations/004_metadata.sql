-- 004_metadata: the execution's metadata (storage.Execution.Metadata),
-- set at insert and never changed: the JSON text of an object of strings,
-- its keys sorted (storage.EncodeMetadata); NULL when there is none. Text,
-- not jsonb: it is written and read whole, never queried, and text costs
-- the insert no parsing. Adding a nullable column without a default
-- rewrites nothing: the upgrade of a big table is instant.
ALTER TABLE executions ADD COLUMN metadata text;
