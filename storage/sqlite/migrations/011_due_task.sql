-- 011_due_task: the task of each row in the due index.
--
-- A claim reads only the rows of the tasks its executor runs: with task_id
-- in the index, the claim's read of each (queue, priority) level's due rows
-- reads the index alone, not each row of the table (whose rows of one
-- level are scattered when several levels are in use); see claimLevels in
-- claim.go. The other columns are 007's.
DROP INDEX durable_executions_due;
CREATE INDEX durable_executions_due
	ON durable_executions (queue, priority, due_at, seq, status, sleep_key, task_id) WHERE due_at IS NOT NULL;
