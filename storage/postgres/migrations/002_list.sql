-- 002_list: what operators need (issue #12): an execution's attempt
-- history, its tags and the execution it retries, and the indexes that
-- List, Count, Delete and a retention cleaner read.
--
-- Every claim and completion changes due_at, which executions_due_idx
-- indexes, so none is a HOT update: each adds an entry to every index
-- whose predicate the new row version meets. The indexes are chosen for
-- what that costs the drain (docs/postgres.md has the figures):
--
--   - each is partial: a task that completes without children has an
--     entry in two of them (executions_completed_idx and
--     executions_task_idx), both written by its completion; inserts and
--     claims write none. The rows that need an executor are listed from
--     executions_due_idx, which the drain writes anyway;
--   - their keys are set at insert and never change (created_at, id,
--     task_id, root_id): the entry a later write of the row adds lies
--     next to the previous one, which bottom-up deletion removes before
--     a page splits. None leads with status, which would move the row
--     between the parts of the index at each change;
--   - tags live in a table of their own, written at insert and deleted
--     with the row: an index of the executions table would be written
--     again at every status change of a tagged row.
--
-- The columns are added without a default (a change of the catalog
-- only); the indexes are built in this migration's transaction, which
-- blocks writes to the table while they are built. On a big table, build
-- them first with CREATE INDEX CONCURRENTLY, under these names and
-- definitions: the migration then keeps them (IF NOT EXISTS).

-- attempts is the JSON form of []storage.Attempt, NULL when there is none.
-- tags is NULL when there is none. retry_of is NULL for every execution
-- that does not retry another by hand.
ALTER TABLE executions
    ADD COLUMN attempts jsonb,
    ADD COLUMN tags     text[] COLLATE "C",
    ADD COLUMN retry_of text COLLATE "C";

-- List, keyset by (created_at, id) in either order (id compared as bytes),
-- reads the rows of each class of statuses from its own index, and merges
-- their pages: the finished rows from executions_completed_idx and
-- executions_unsuccessful_idx, the active rows that wait for nothing
-- (due_at NULL: parents waiting on their children) from
-- executions_waiting_idx, and the others (ready, running) from
-- executions_due_idx, read whole and sorted.
CREATE INDEX IF NOT EXISTS executions_waiting_idx ON executions (created_at, id)
    WHERE due_at IS NULL AND status IN ('ready', 'running', 'waiting_for_children', 'waiting_for_finalize');
-- Also the retention cleaner's: top-level rows finished before a time,
-- oldest first.
CREATE INDEX IF NOT EXISTS executions_completed_idx ON executions (created_at, id)
    WHERE status = 'completed';
-- The executions that ended without completing: few among many completed
-- ones.
CREATE INDEX IF NOT EXISTS executions_unsuccessful_idx ON executions (created_at, id)
    WHERE status IN ('failed', 'timed_out', 'children_failed', 'finalize_failed', 'cancelled');

-- The finished rows of a task (its active rows are read as above).
CREATE INDEX IF NOT EXISTS executions_task_idx ON executions (task_id, created_at, id)
    WHERE status IN ('completed', 'failed', 'timed_out', 'children_failed', 'finalize_failed', 'cancelled');

-- The descendants of a top-level execution: List by RootID and Delete of
-- whole trees. Top-level rows (root_id '') are not in it.
CREATE INDEX IF NOT EXISTS executions_root_idx ON executions (root_id, created_at, id)
    WHERE root_id <> '';

-- One row per tag of an execution, written with it and deleted with it:
-- List by tag, in either order.
CREATE TABLE execution_tags (
    tag        text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    id         text COLLATE "C" NOT NULL,
    PRIMARY KEY (tag, created_at, id)
);
