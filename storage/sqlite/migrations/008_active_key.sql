-- 008_active_key: keys unique while their execution is active
-- (storage.Execution.ActiveKey, durable.WithIdempotencyWhileActive).
--
-- active_key is set at insert and never changed; NULL for none (almost
-- every row). The uniqueness follows the status: the unique index holds
-- only the rows with a key that are not terminal, so whatever makes a row
-- terminal (a transition, a cancel, a cascade) frees its key in the same
-- write, and no statement has to clear it. Rows without a key are not in
-- the index: an insert or an update of one writes nothing to it.
ALTER TABLE durable_executions ADD COLUMN active_key TEXT;
CREATE UNIQUE INDEX durable_executions_active_key ON durable_executions (active_key)
	WHERE active_key IS NOT NULL
		AND status IN ('ready', 'running', 'waiting_for_children', 'waiting_for_finalize');
