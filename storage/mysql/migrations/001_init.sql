-- 001_init: the tables of the store.
--
-- {{.P}} stands for the store's table prefix (Config.TablePrefix). Each
-- statement is applied on its own (MySQL commits every DDL statement at
-- once) and is idempotent (IF NOT EXISTS), so a migration cut short by a
-- crash is completed by the next Open; the version is recorded only after
-- the last statement.
--
-- Every string is VARBINARY or a BLOB: compared, ordered and stored as
-- bytes, as Go compares strings, whatever the collation of the database
-- or the connection. Instants are BIGINT microseconds since the Unix
-- epoch, NULL when unset; durations are BIGINT nanoseconds (Go's
-- time.Duration). error and attempts hold the JSON of storage.ErrorInfo and
-- []storage.Attempt; tags the JSON array of the tags. Optional strings
-- (parent_id, sleep_key, retry_of) are NULL when empty.

CREATE TABLE IF NOT EXISTS {{.P}}executions (
    -- seq is the insertion order: claims break DueAt ties with it. It is
    -- the primary key, so rows lie in the table in insertion order.
    seq                     BIGINT NOT NULL AUTO_INCREMENT,
    id                      VARBINARY(255) NOT NULL,
    task_id                 VARBINARY(255) NOT NULL,
    root_id                 VARBINARY(255) NOT NULL DEFAULT '',
    root_task_id            VARBINARY(255) NOT NULL DEFAULT '',
    parent_id               VARBINARY(255) NULL,
    parent_task_id          VARBINARY(255) NOT NULL DEFAULT '',
    child_index             BIGINT NOT NULL DEFAULT 0,
    is_finalize             BOOLEAN NOT NULL DEFAULT FALSE,
    sleep_key               VARBINARY(1024) NULL,
    status                  VARBINARY(32) NOT NULL,
    input                   MEDIUMBLOB NULL,
    output                  MEDIUMBLOB NULL,
    run_output              MEDIUMBLOB NULL,
    error                   MEDIUMBLOB NULL,
    retry_max_retries       BIGINT NOT NULL DEFAULT 0,
    retry_base_delay_ns     BIGINT NOT NULL DEFAULT 0,
    retry_multiplier        DOUBLE NOT NULL DEFAULT 0,
    retry_max_delay_ns      BIGINT NOT NULL DEFAULT 0,
    retry_jitter            DOUBLE NOT NULL DEFAULT 0,
    timeout_ns              BIGINT NOT NULL DEFAULT 0,
    attempt                 BIGINT NOT NULL DEFAULT 0,
    iteration               BIGINT NOT NULL DEFAULT 0,
    crashes                 BIGINT NOT NULL DEFAULT 0,
    fence                   BIGINT NOT NULL DEFAULT 0,
    executor_id             VARBINARY(255) NOT NULL DEFAULT '',
    fail_fast               BOOLEAN NOT NULL DEFAULT FALSE,
    children_total          BIGINT NOT NULL DEFAULT 0,
    children_pending        BIGINT NOT NULL DEFAULT 0,
    due_at                  BIGINT NULL,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL,
    started_at              BIGINT NULL,
    finished_at             BIGINT NULL,
    waiting_for_children_at BIGINT NULL,
    waiting_for_finalize_at BIGINT NULL,
    attempts                MEDIUMBLOB NULL,
    tags                    BLOB NULL,
    retry_of                VARBINARY(255) NULL,
    PRIMARY KEY (seq),
    UNIQUE KEY {{.P}}executions_id (id),
    -- Sleep keys are unique among the rows that have one (NULLs are not
    -- compared).
    UNIQUE KEY {{.P}}executions_sleep_key (sleep_key),
    -- Claims and NextDue walk the rows that need an executor in claim
    -- order (rows with a NULL due_at sort first and are never read);
    -- task_id lets a claim skip the rows of other tasks in the index.
    KEY {{.P}}executions_due (due_at, seq, task_id),
    -- ListChildren, parent bookkeeping and cascading cancellation.
    KEY {{.P}}executions_parent (parent_id, child_index),
    -- List, newest or oldest first, by task, and by root (the
    -- descendants of a top-level execution; Delete of whole trees).
    KEY {{.P}}executions_created (created_at, id),
    KEY {{.P}}executions_task (task_id, created_at, id),
    KEY {{.P}}executions_root (root_id, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per tag of an execution, written with it and deleted with it:
-- List by tag, in either order.
CREATE TABLE IF NOT EXISTS {{.P}}execution_tags (
    tag        VARBINARY(255) NOT NULL,
    created_at BIGINT NOT NULL,
    id         VARBINARY(255) NOT NULL,
    PRIMARY KEY (tag, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Named leases (storage.Leader): work one executor at a time does across
-- every process sharing the tables (the retention cleaner).
CREATE TABLE IF NOT EXISTS {{.P}}leases (
    name       VARBINARY(255) NOT NULL,
    owner      VARBINARY(255) NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The events of every store on the tables, so that stores in other
-- processes hear them (MySQL has no notifications): a write that makes
-- rows due or finishes executions appends one row in its transaction;
-- every store reads the rows after the last it saw (events.go).
CREATE TABLE IF NOT EXISTS {{.P}}events (
    seq      BIGINT NOT NULL AUTO_INCREMENT,
    at       BIGINT NOT NULL,         -- microseconds since the epoch, the writer's now
    tag      VARBINARY(32) NOT NULL,  -- the store that wrote it (random, per Open)
    ready    BOOLEAN NOT NULL,        -- rows may have become due
    finished MEDIUMBLOB NULL,         -- ids of executions that finished, packed; NULL if none
    PRIMARY KEY (seq)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
