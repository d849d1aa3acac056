-- 010_running_flag: the index of running rows holds only the rows whose
-- queue counts them. A claim is an update that changes indexed columns,
-- so the row's new version gets an entry in every index whose predicate
-- it meets: with every running row in executions_running_idx, every claim
-- of every queue added one, about a tenth of the server's work on a plain
-- drain of this 2-vCPU VM. The index's predicate now also asks for
-- run_indexed, set, and never cleared:
--
-- - by claim_limited on the rows it claims (the claims of a limited queue
--   take turns on its control row, so each counts what the one before it
--   flagged);
-- - once per limit set on a queue that had none, on the queue's rows
--   already running: limit_control sets the control's runs_indexed to
--   false, claim_limited claims nothing from the queue until it is true
--   again, and the store whose claim finds it false runs the pass
--   (index_runs_lock, index_runs): it locks the control row, then the
--   queue's due and running rows, which waits for the claims in flight
--   that read the queue as unlimited (they hold the rows they picked),
--   flags its running rows and sets runs_indexed;
-- - here, on every row running now. Executors of an earlier version must
--   be stopped before this migration: their claims of a limited queue do
--   not set the flag.
--
-- A NOT NULL column with a constant default rewrites nothing. The index
-- is built in this migration's transaction; on a big table, build it
-- first with CREATE INDEX CONCURRENTLY under this name and definition (IF
-- NOT EXISTS keeps it).
ALTER TABLE executions ADD COLUMN IF NOT EXISTS run_indexed boolean NOT NULL DEFAULT false;
ALTER TABLE controls ADD COLUMN IF NOT EXISTS runs_indexed boolean NOT NULL DEFAULT true;
UPDATE executions SET run_indexed = true WHERE status = 'running' AND sleep_key IS NULL AND NOT run_indexed;
CREATE INDEX IF NOT EXISTS executions_limited_running_idx ON executions (queue, due_at)
    WHERE status = 'running' AND sleep_key IS NULL AND run_indexed;
DROP INDEX IF EXISTS executions_running_idx;
