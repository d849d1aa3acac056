-- 012_running_flag: the index of running rows holds only the rows whose
-- queue counts them. With every running row in it (009), each claim of
-- every queue added an entry and each completion removed one. run_indexed
-- is set, and never cleared, by the claim of a row whose queue has a
-- limit (the claim statement reads the limited queues in the write
-- transaction, after every limit committed before it), by LimitControl on
-- the running rows of a queue it gives a limit (in its write transaction,
-- after every claim committed before it), and here on every row running
-- now. Writes are serialized on the file, so no claim can fall between
-- the two.
ALTER TABLE durable_executions ADD COLUMN run_indexed INTEGER NOT NULL DEFAULT 0;
UPDATE durable_executions SET run_indexed = 1 WHERE status = 'running';
DROP INDEX durable_executions_running;
CREATE INDEX durable_executions_running
	ON durable_executions (queue, due_at) WHERE status = 'running' AND sleep_key IS NULL AND run_indexed;
