-- 005_queues: named queues, priorities and controls (storage.Controls).
--
-- Every execution belongs to a queue and has a priority (1, claimed first,
-- to 9), set at insert and never changed. Adding NOT NULL columns with a
-- constant default is a change of the catalog only: the rows of a big table
-- are not rewritten, and read as 'default' and 5.
ALTER TABLE executions
    ADD COLUMN queue    text COLLATE "C" NOT NULL DEFAULT 'default',
    ADD COLUMN priority smallint NOT NULL DEFAULT 5;
-- NOT VALID: the existing rows (all of priority 5) are not scanned; new and
-- updated rows are checked.
ALTER TABLE executions ADD CONSTRAINT executions_priority_check
    CHECK (priority BETWEEN 1 AND 9) NOT VALID;

-- The rows that need an executor, by queue and priority, then oldest
-- first. A claim probes one range of it per (queue, priority) level and
-- merges them (queries.sql, "claim"): rows of a high priority that are not
-- due yet lie after the due ones of their level, so no claim walks past
-- them. It replaces executions_due_idx (due_at, seq): the drain writes one
-- due index, not two (each claim and each retry adds an entry to every
-- index whose predicate the new row version meets). NextDue, the rescue of
-- lapsed leases and List read it in the same way (per level, or whole).
-- Built in this migration's transaction, which blocks writes to the table
-- while it is built; on a big table, build it first with CREATE INDEX
-- CONCURRENTLY under this name and definition (IF NOT EXISTS keeps it).
CREATE INDEX IF NOT EXISTS executions_claim_idx ON executions (queue, priority, due_at, seq)
    WHERE due_at IS NOT NULL;
DROP INDEX IF EXISTS executions_due_idx;

-- Named switches shared by every process on the schema: a queue that can
-- be paused (its rows are not claimed), a schedule that can be paused and
-- remembers its last tick (mark). spec is the engine's definition, kept
-- unread.
CREATE TABLE controls (
    kind       text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL,
    paused     boolean NOT NULL DEFAULT false,
    spec       bytea,
    mark       bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (kind, name)
);
