-- 011_column_order: a new, empty executions table is created again with its
-- columns in an order chosen for the updates every run makes; a table that
-- holds rows is left as it is.
--
-- A claim and a completion each change indexed columns, and to decide
-- whether an update can be HOT PostgreSQL compares every column an index
-- names (or its predicate reads) between the old and the new row version.
-- It reaches a column behind a variable-width or NULL column by walking the
-- row from its start, one column at a time. The ALTER TABLE ADD COLUMNs of
-- migrations 002-010 put the columns of queues, priorities, keys and limits
-- last, behind 40 others and the payloads: each update walked the whole row
-- for each of them, and a drain of no-op tasks ran 2-4 % slower than with
-- the order below (docs/performance.md, "What the unused features cost
-- PostgreSQL"). The order: the fixed-width NOT NULL columns first, 8-byte
-- ones before the narrower (so there is no padding between them and their
-- offsets are fixed), then the columns indexes name, then the rest, the
-- payloads last.
--
-- PostgreSQL cannot move a column, so the order takes a new table. Copying
-- a big table would hold an exclusive lock on it for as long as the copy
-- takes, so the table is created again only when it is empty: on a new
-- install, or one whose rows retention has all deleted. The exclusive lock
-- is taken before the table is read, so that no row inserted meanwhile is
-- lost. The statements name every column they read or write, so both
-- orders work the same. Every column, default, constraint, index and the
-- sequence of seq keep their names and definitions (the check of priority
-- is validated: the table is empty).
DO $migration$
BEGIN
    LOCK TABLE executions IN ACCESS EXCLUSIVE MODE;
    IF EXISTS (SELECT FROM executions) THEN
        RETURN;
    END IF;
    DROP TABLE executions;
    CREATE TABLE executions (
        -- Fixed width, NOT NULL: 8 bytes.
        seq                     bigserial,
        fence                   bigint NOT NULL DEFAULT 0,
        created_at              timestamptz NOT NULL,
        updated_at              timestamptz NOT NULL,
        attempt                 bigint NOT NULL DEFAULT 0,
        iteration               bigint NOT NULL DEFAULT 0,
        crashes                 bigint NOT NULL DEFAULT 0,
        children_total          bigint NOT NULL DEFAULT 0,
        children_pending        bigint NOT NULL DEFAULT 0,
        child_index             bigint NOT NULL DEFAULT 0,
        timeout_ns              bigint NOT NULL DEFAULT 0,
        retry_max_retries       bigint NOT NULL DEFAULT 0,
        retry_base_delay_ns     bigint NOT NULL DEFAULT 0,
        retry_multiplier        double precision NOT NULL DEFAULT 0,
        retry_max_delay_ns      bigint NOT NULL DEFAULT 0,
        retry_jitter            double precision NOT NULL DEFAULT 0,
        -- Fixed width, NOT NULL: narrower.
        priority                smallint NOT NULL DEFAULT 5,
        is_finalize             boolean NOT NULL DEFAULT false,
        fail_fast               boolean NOT NULL DEFAULT false,
        run_indexed             boolean NOT NULL DEFAULT false,
        -- What the indexes name or their predicates read.
        due_at                  timestamptz,
        status                  text COLLATE "C" NOT NULL,
        queue                   text COLLATE "C" NOT NULL DEFAULT 'default',
        id                      text COLLATE "C" PRIMARY KEY,
        task_id                 text COLLATE "C" NOT NULL,
        root_id                 text COLLATE "C" NOT NULL DEFAULT '',
        parent_id               text COLLATE "C",
        sleep_key               text COLLATE "C",
        active_key              text COLLATE "C",
        concurrency_key         text COLLATE "C",
        -- The rest.
        root_task_id            text COLLATE "C" NOT NULL DEFAULT '',
        parent_task_id          text COLLATE "C" NOT NULL DEFAULT '',
        executor_id             text COLLATE "C" NOT NULL DEFAULT '',
        retry_of                text COLLATE "C",
        started_at              timestamptz,
        finished_at             timestamptz,
        waiting_for_children_at timestamptz,
        waiting_for_finalize_at timestamptz,
        error                   jsonb,
        attempts                jsonb,
        tags                    text[] COLLATE "C",
        metadata                text,
        input                   bytea,
        output                  bytea,
        run_output              bytea,

        CONSTRAINT executions_status_check CHECK (status IN (
            'ready', 'running', 'waiting_for_children', 'waiting_for_finalize',
            'completed', 'failed', 'timed_out', 'children_failed',
            'finalize_failed', 'cancelled')),
        CONSTRAINT executions_terminal_not_due CHECK (
            due_at IS NULL OR status IN (
                'ready', 'running', 'waiting_for_children', 'waiting_for_finalize')),
        CONSTRAINT executions_priority_check CHECK (priority BETWEEN 1 AND 9)
    );
    CREATE UNIQUE INDEX executions_sleep_key_key ON executions (sleep_key)
        WHERE sleep_key IS NOT NULL;
    CREATE INDEX executions_parent_idx ON executions (parent_id, child_index)
        WHERE parent_id IS NOT NULL;
    CREATE INDEX executions_waiting_idx ON executions (created_at, id)
        WHERE due_at IS NULL AND status IN ('ready', 'running', 'waiting_for_children', 'waiting_for_finalize');
    CREATE INDEX executions_completed_idx ON executions (created_at, id)
        WHERE status = 'completed';
    CREATE INDEX executions_unsuccessful_idx ON executions (created_at, id)
        WHERE status IN ('failed', 'timed_out', 'children_failed', 'finalize_failed', 'cancelled');
    CREATE INDEX executions_task_idx ON executions (task_id, created_at, id)
        WHERE status IN ('completed', 'failed', 'timed_out', 'children_failed', 'finalize_failed', 'cancelled');
    CREATE INDEX executions_root_idx ON executions (root_id, created_at, id)
        WHERE root_id <> '';
    CREATE INDEX executions_claim_idx ON executions (queue, priority, due_at, seq)
        WHERE due_at IS NOT NULL;
    CREATE UNIQUE INDEX executions_active_key_idx ON executions (active_key)
        WHERE active_key IS NOT NULL
            AND status IN ('ready', 'running', 'waiting_for_children', 'waiting_for_finalize');
    CREATE INDEX executions_running_key_idx ON executions (queue, concurrency_key)
        WHERE status = 'running' AND sleep_key IS NULL AND concurrency_key IS NOT NULL;
    CREATE INDEX executions_limited_running_idx ON executions (queue, due_at)
        WHERE status = 'running' AND sleep_key IS NULL AND run_indexed;
END
$migration$;
