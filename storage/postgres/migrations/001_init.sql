-- 001_init: the executions table.
--
-- Runs with search_path set to the store's schema, so names are unqualified.
-- Instants are timestamptz (microsecond precision, NULL = unset); durations
-- are bigint nanoseconds (Go time.Duration). Identifiers use the "C"
-- collation: byte order (as Go's), and cheap comparisons in the indexes.

CREATE TABLE executions (
    id                      text COLLATE "C" PRIMARY KEY,
    -- seq is the insertion order: claims break DueAt ties with it. It has
    -- no index of its own (every index costs every update).
    seq                     bigserial,
    task_id                 text COLLATE "C" NOT NULL,
    root_id                 text COLLATE "C" NOT NULL DEFAULT '',
    root_task_id            text COLLATE "C" NOT NULL DEFAULT '',
    -- parent_id is NULL for a top-level execution.
    parent_id               text COLLATE "C",
    parent_task_id          text COLLATE "C" NOT NULL DEFAULT '',
    child_index             bigint NOT NULL DEFAULT 0,
    is_finalize             boolean NOT NULL DEFAULT false,
    -- sleep_key is NULL for every execution that is not sleeping.
    sleep_key               text COLLATE "C",
    status                  text COLLATE "C" NOT NULL,
    input                   bytea,
    output                  bytea,
    run_output              bytea,
    -- error is the JSON form of storage.ErrorInfo.
    error                   jsonb,
    retry_max_retries       bigint NOT NULL DEFAULT 0,
    retry_base_delay_ns     bigint NOT NULL DEFAULT 0,
    retry_multiplier        double precision NOT NULL DEFAULT 0,
    retry_max_delay_ns      bigint NOT NULL DEFAULT 0,
    retry_jitter            double precision NOT NULL DEFAULT 0,
    timeout_ns              bigint NOT NULL DEFAULT 0,
    attempt                 bigint NOT NULL DEFAULT 0,
    iteration               bigint NOT NULL DEFAULT 0,
    crashes                 bigint NOT NULL DEFAULT 0,
    fence                   bigint NOT NULL DEFAULT 0,
    executor_id             text COLLATE "C" NOT NULL DEFAULT '',
    fail_fast               boolean NOT NULL DEFAULT false,
    children_total          bigint NOT NULL DEFAULT 0,
    children_pending        bigint NOT NULL DEFAULT 0,
    due_at                  timestamptz,
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    started_at              timestamptz,
    finished_at             timestamptz,
    waiting_for_children_at timestamptz,
    waiting_for_finalize_at timestamptz,

    CONSTRAINT executions_status_check CHECK (status IN (
        'ready', 'running', 'waiting_for_children', 'waiting_for_finalize',
        'completed', 'failed', 'timed_out', 'children_failed',
        'finalize_failed', 'cancelled')),
    -- Terminal rows never need an executor.
    CONSTRAINT executions_terminal_not_due CHECK (
        due_at IS NULL OR status IN (
            'ready', 'running', 'waiting_for_children', 'waiting_for_finalize'))
);

-- Sleep keys are unique among the rows that have one (NULLs are distinct);
-- the index is partial so that other rows cost nothing in it.
CREATE UNIQUE INDEX executions_sleep_key_key ON executions (sleep_key)
    WHERE sleep_key IS NOT NULL;

-- Claims and NextDue walk the rows that need an executor, oldest first.
CREATE INDEX executions_due_idx ON executions (due_at, seq)
    WHERE due_at IS NOT NULL;

-- ListChildren, parent bookkeeping and cascading cancellation.
CREATE INDEX executions_parent_idx ON executions (parent_id, child_index)
    WHERE parent_id IS NOT NULL;
