-- 006_active_key: keys unique while their execution is active
-- (storage.Execution.ActiveKey, durable.WithIdempotencyWhileActive).
--
-- active_key is set at insert and never changed; NULL for none (almost
-- every row). Adding a nullable column without a default is a change of
-- the catalog only. The uniqueness follows the status: the unique index
-- holds only the rows with a key that are not terminal, so whatever makes
-- a row terminal (a transition, a cancel, a cascade) frees its key in the
-- same statement, and no statement has to clear it. Rows without a key are
-- not in the index: their inserts and updates write nothing to it (status
-- is in the predicates of the list indexes of 002 already, so an update of
-- it was not a HOT update before either). Built in this migration's
-- transaction: on a table without keys it holds no row, but the build
-- reads the table; on a big table, build it first with CREATE UNIQUE INDEX
-- CONCURRENTLY under this name and definition (IF NOT EXISTS keeps it).
ALTER TABLE executions ADD COLUMN IF NOT EXISTS active_key text COLLATE "C";
CREATE UNIQUE INDEX IF NOT EXISTS executions_active_key_idx ON executions (active_key)
    WHERE active_key IS NOT NULL
        AND status IN ('ready', 'running', 'waiting_for_children', 'waiting_for_finalize');
