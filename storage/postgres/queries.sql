{{- /*
queries.sql holds every statement the store runs, as Go text/template
definitions. They are rendered once per store with:

  .T         the schema-qualified table, e.g. "durable".executions
  .Schema    the quoted schema, e.g. "durable"
  .Now       the SQL expression for "now": coalesce(@now, statement_timestamp()).
             The store passes @now = params.Now with ClockParams and NULL
             with ClockDatabase, so the database's clock is used.
  .Terminal  the SQL list of terminal statuses
  .Waiting   the SQL list of the two waiting statuses
  .Active    the SQL list of running and the two waiting statuses
  .Tags      the schema-qualified tags table
  .Controls  the schema-qualified controls table
  .Extras    whether insert_plain is rendered for rows with tags, RetryOf,
             metadata, a queue or a priority
  .Listed    whether claim and next_due are rendered for a list of queues
             (@queues) rather than every queue

Arguments are named (@name, namedArgs in args.go). Durations are passed as bigint
microseconds (@..._us) when they are added to a timestamptz.
*/ -}}

{{define "cols"}}{{.}}.id, {{.}}.task_id, {{.}}.root_id, {{.}}.root_task_id, coalesce({{.}}.parent_id, ''),
    {{.}}.parent_task_id, {{.}}.child_index, {{.}}.is_finalize, coalesce({{.}}.sleep_key, ''), {{.}}.status,
    {{.}}.input, {{.}}.output, {{.}}.run_output, {{.}}.error,
    {{.}}.retry_max_retries, {{.}}.retry_base_delay_ns, {{.}}.retry_multiplier, {{.}}.retry_max_delay_ns, {{.}}.retry_jitter,
    {{.}}.timeout_ns, {{.}}.attempt, {{.}}.iteration, {{.}}.crashes, {{.}}.fence, {{.}}.executor_id, {{.}}.fail_fast,
    {{.}}.children_total, {{.}}.children_pending, {{.}}.due_at, {{.}}.created_at, {{.}}.updated_at,
    {{.}}.started_at, {{.}}.finished_at, {{.}}.waiting_for_children_at, {{.}}.waiting_for_finalize_at,
    {{.}}.attempts, {{.}}.tags, coalesce({{.}}.retry_of, ''), {{.}}.metadata, {{.}}.queue, {{.}}.priority,
    coalesce({{.}}.active_key, ''), coalesce({{.}}.concurrency_key, ''){{end}}

{{- /* list_cols are the "cols" of List: the payloads and the attempts are
left out (NULL), so a page reads no TOAST. */}}
{{define "list_cols"}}{{.}}.id, {{.}}.task_id, {{.}}.root_id, {{.}}.root_task_id, coalesce({{.}}.parent_id, ''),
    {{.}}.parent_task_id, {{.}}.child_index, {{.}}.is_finalize, coalesce({{.}}.sleep_key, ''), {{.}}.status,
    NULL::bytea, NULL::bytea, NULL::bytea, {{.}}.error,
    {{.}}.retry_max_retries, {{.}}.retry_base_delay_ns, {{.}}.retry_multiplier, {{.}}.retry_max_delay_ns, {{.}}.retry_jitter,
    {{.}}.timeout_ns, {{.}}.attempt, {{.}}.iteration, {{.}}.crashes, {{.}}.fence, {{.}}.executor_id, {{.}}.fail_fast,
    {{.}}.children_total, {{.}}.children_pending, {{.}}.due_at, {{.}}.created_at, {{.}}.updated_at,
    {{.}}.started_at, {{.}}.finished_at, {{.}}.waiting_for_children_at, {{.}}.waiting_for_finalize_at,
    NULL::jsonb, {{.}}.tags, coalesce({{.}}.retry_of, ''), {{.}}.metadata, {{.}}.queue, {{.}}.priority,
    coalesce({{.}}.active_key, ''), coalesce({{.}}.concurrency_key, ''){{end}}

{{- /* insert_rows inserts the rows given as parallel arrays @e_*. The caller
adds a WHERE clause (or none) and must end with "ORDER BY e.ord" so that seq
follows the order of the arrays, then "RETURNING id, created_at, tags" for
insert_tags. Tags are given as one string per row, joined by commas (a tag
holds none), NULL for none; attempts as JSON text, NULL for none. */}}
{{define "insert_rows"}}INSERT INTO {{.T}} (
    id, task_id, root_id, root_task_id, parent_id, parent_task_id, child_index, is_finalize,
    sleep_key, status, input, output, run_output, error,
    retry_max_retries, retry_base_delay_ns, retry_multiplier, retry_max_delay_ns, retry_jitter,
    timeout_ns, attempt, iteration, crashes, fence, executor_id, fail_fast,
    children_total, children_pending, due_at, created_at, updated_at,
    started_at, finished_at, waiting_for_children_at, waiting_for_finalize_at,
    attempts, tags, retry_of, metadata, queue, priority, active_key, concurrency_key)
SELECT
    e.id, e.task_id, e.root_id, e.root_task_id, nullif(e.parent_id, ''), e.parent_task_id, e.child_index, e.is_finalize,
    nullif(e.sleep_key, ''), e.status, e.input, e.output, e.run_output, e.error::jsonb,
    e.retry_max_retries, e.retry_base_delay_ns, e.retry_multiplier, e.retry_max_delay_ns, e.retry_jitter,
    e.timeout_ns, e.attempt, e.iteration, e.crashes, 0, e.executor_id, e.fail_fast,
    e.children_total, e.children_pending,
    CASE
        WHEN e.status = 'ready' THEN {{.Now}} + e.delay_us * interval '1 microsecond'
        WHEN e.status = 'running' AND e.sleep_key <> '' THEN {{.Now}} + (e.timeout_ns / 1000) * interval '1 microsecond'
        WHEN e.status = 'running' AND e.executor_id <> '' THEN {{.Now}} + e.delay_us * interval '1 microsecond'
        WHEN e.status IN {{.Terminal}} THEN NULL
        ELSE e.due_at
    END,
    {{.Now}}, {{.Now}},
    CASE WHEN e.status = 'running' AND (e.sleep_key <> '' OR e.executor_id <> '') THEN {{.Now}} ELSE e.started_at END,
    e.finished_at, e.waiting_for_children_at, e.waiting_for_finalize_at,
    e.attempts::jsonb, string_to_array(e.tags, ','), nullif(e.retry_of, ''), e.metadata, e.queue, e.priority,
    nullif(e.active_key, ''), nullif(e.concurrency_key, '')
FROM unnest(
    @e_id::text[], @e_task_id::text[], @e_root_id::text[], @e_root_task_id::text[],
    @e_parent_id::text[], @e_parent_task_id::text[], @e_child_index::bigint[], @e_is_finalize::boolean[],
    @e_sleep_key::text[], @e_status::text[], @e_input::bytea[], @e_output::bytea[],
    @e_run_output::bytea[], @e_error::text[],
    @e_retry_max_retries::bigint[], @e_retry_base_delay_ns::bigint[], @e_retry_multiplier::double precision[],
    @e_retry_max_delay_ns::bigint[], @e_retry_jitter::double precision[],
    @e_timeout_ns::bigint[], @e_attempt::bigint[], @e_iteration::bigint[], @e_crashes::bigint[],
    @e_executor_id::text[], @e_fail_fast::boolean[], @e_children_total::bigint[], @e_children_pending::bigint[],
    @e_due_at::timestamptz[], @e_started_at::timestamptz[], @e_finished_at::timestamptz[],
    @e_waiting_for_children_at::timestamptz[], @e_waiting_for_finalize_at::timestamptz[], @e_delay_us::bigint[],
    @e_attempts::text[], @e_tags::text[], @e_retry_of::text[], @e_metadata::text[],
    @e_queue::text[], @e_priority::smallint[], @e_active_key::text[], @e_concurrency_key::text[]
) WITH ORDINALITY AS e(
    id, task_id, root_id, root_task_id, parent_id, parent_task_id, child_index, is_finalize,
    sleep_key, status, input, output, run_output, error,
    retry_max_retries, retry_base_delay_ns, retry_multiplier, retry_max_delay_ns, retry_jitter,
    timeout_ns, attempt, iteration, crashes, executor_id, fail_fast, children_total, children_pending,
    due_at, started_at, finished_at, waiting_for_children_at, waiting_for_finalize_at, delay_us,
    attempts, tags, retry_of, metadata, queue, priority, active_key, concurrency_key, ord){{end}}

{{- /* insert_tags inserts the execution_tags rows of the executions that
the CTE "ins" inserted (its rows: id, created_at, tags). */}}
{{define "insert_tags"}}INSERT INTO {{.Tags}} (tag, created_at, id)
SELECT g.tag, ins.created_at, ins.id FROM ins CROSS JOIN LATERAL unnest(ins.tags) AS g(tag)
WHERE ins.tags IS NOT NULL{{end}}

{{- /* transition_update applies the guarded transitions given as parallel
arrays @t_*. A transition applies when the row's id, fence and status match
and the row is not terminal. Attempts (JSON text) replace the row's history;
NULL keeps it, an empty list clears it. It returns one row per applied
transition. */}}
{{define "transition_update"}}UPDATE {{.T}} AS t SET
    status = u.to_status,
    output = CASE WHEN u.to_status = 'completed' THEN u.output ELSE t.output END,
    run_output = CASE
        WHEN u.to_status = 'waiting_for_children' AND t.status = 'running' THEN u.run_output
        WHEN u.to_status IN {{.Waiting}} THEN t.run_output
        ELSE NULL
    END,
    error = u.error::jsonb,
    attempt = u.attempt,
    iteration = u.iteration,
    attempts = CASE WHEN u.attempts IS NULL THEN t.attempts ELSE nullif(u.attempts::jsonb, '[]') END,
    fail_fast = CASE WHEN u.to_status IN {{.Waiting}} THEN u.fail_fast ELSE t.fail_fast END,
    executor_id = '',
    updated_at = {{.Now}},
    due_at = CASE WHEN u.to_status = 'ready' THEN {{.Now}} + u.delay_us * interval '1 microsecond' ELSE NULL END,
    started_at = CASE WHEN u.to_status = 'ready' THEN NULL ELSE t.started_at END,
    finished_at = CASE WHEN u.to_status IN {{.Terminal}} THEN {{.Now}} ELSE t.finished_at END,
    waiting_for_children_at = CASE
        WHEN u.to_status = 'waiting_for_children' AND t.status <> 'waiting_for_children' THEN {{.Now}}
        ELSE t.waiting_for_children_at
    END,
    waiting_for_finalize_at = CASE
        WHEN u.to_status = 'waiting_for_finalize' AND t.status <> 'waiting_for_finalize' THEN {{.Now}}
        ELSE t.waiting_for_finalize_at
    END,
    children_total = t.children_total + u.children,
    children_pending = t.children_pending + u.children
FROM unnest(
    @t_id::text[], @t_fence::bigint[], @t_from::text[], @t_to::text[],
    @t_output::bytea[], @t_run_output::bytea[], @t_error::text[], @t_attempt::bigint[],
    @t_iteration::bigint[], @t_delay_us::bigint[], @t_fail_fast::boolean[], @t_children::bigint[],
    @t_attempts::text[]
) AS u(id, fence, from_status, to_status, output, run_output, error, attempt, iteration, delay_us, fail_fast, children,
    attempts)
WHERE t.id = u.id AND t.fence = u.fence AND t.status = u.from_status
    AND t.status NOT IN {{.Terminal}} AND u.to_status <> 'running'
RETURNING t.id, coalesce(t.parent_id, ''), t.root_id, t.status, t.children_total{{end}}

{{- /* insert_plain inserts plain new executions (no parent, no sleep key,
nothing but what a top-level enqueue sets; see plainRows) given as parallel
arrays @p_*, ready, or, when @claimed_by is not empty, claimed at insert by
that executor (running, the delay being the lease), and sends the NOTIFY of
the new work on @channel (none when it is NULL), in one statement: the lean
path of a small enqueue. It is rendered twice: with .Extras, it also writes
tags, retry_of, metadata, queue and priority (@p_tags, @p_retry_of,
@p_metadata, @p_queue, @p_priority) and the tags rows; without, for a batch
that has none of them (every row in the default queue at the default
priority, which the columns' defaults give), it is the statement of the
code before them. It returns the number of rows inserted. */}}
{{define "insert_plain"}}WITH ins AS (
    INSERT INTO {{.T}} (id, task_id, status, input,
        retry_max_retries, retry_base_delay_ns, retry_multiplier, retry_max_delay_ns, retry_jitter,
        timeout_ns, executor_id, due_at, created_at, updated_at, started_at{{if .Extras}}, tags, retry_of, metadata, queue, priority{{end}})
    SELECT e.id, e.task_id, CASE WHEN @claimed_by::text = '' THEN 'ready' ELSE 'running' END, e.input,
        e.retry_max_retries, e.retry_base_delay_ns, e.retry_multiplier, e.retry_max_delay_ns, e.retry_jitter,
        e.timeout_ns, @claimed_by::text, {{.Now}} + e.delay_us * interval '1 microsecond', {{.Now}}, {{.Now}},
        CASE WHEN @claimed_by::text <> '' THEN {{.Now}} END
        {{- if .Extras}}, string_to_array(e.tags, ','), nullif(e.retry_of, ''), e.metadata, e.queue, e.priority{{end}}
    FROM unnest(
        @p_id::text[], @p_task_id::text[], @p_input::bytea[],
        @p_retry_max_retries::bigint[], @p_retry_base_delay_ns::bigint[], @p_retry_multiplier::double precision[],
        @p_retry_max_delay_ns::bigint[], @p_retry_jitter::double precision[],
        @p_timeout_ns::bigint[], @p_delay_us::bigint[]{{if .Extras}}, @p_tags::text[], @p_retry_of::text[], @p_metadata::text[],
        @p_queue::text[], @p_priority::smallint[]{{end}}
    ) WITH ORDINALITY AS e(id, task_id, input, retry_max_retries, retry_base_delay_ns, retry_multiplier,
        retry_max_delay_ns, retry_jitter, timeout_ns, delay_us, {{if .Extras}}tags, retry_of, metadata, queue, priority, {{end}}ord)
    ORDER BY e.ord
    RETURNING {{if .Extras}}id, created_at, tags{{else}}1{{end}}
){{if .Extras}}, tagged AS (
    {{template "insert_tags" .}}
    RETURNING 1
){{end}}, notes AS (
    SELECT pg_notify(@channel::text, @payload::text) WHERE @channel::text IS NOT NULL
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM notes){{end}}

{{define "insert"}}WITH ins AS (
{{template "insert_rows" .}}
ORDER BY e.ord
RETURNING id, created_at, tags
)
{{template "insert_tags" .}}{{end}}

{{define "complete"}}{{template "transition_update" .}}{{end}}

{{- /* complete_done is Complete for the common batch, in one statement (one
round trip, one commit): every transition goes from running to completed
without an error, IDs distinct. It applies the guarded updates given as
parallel arrays @d_*, does the bookkeeping of their waiting parents (locked
in id order, as complete_parents does), and sends the notifications of the
write on @channel (none when it is NULL): the applied ids, in chunks under
the payload limit (consecutive in the update's output, unsorted), the first
chunk flagged ready when a parent became due.
Running rows are never waiting parents, so no row of the batch is a parent
the batch updates. It returns one row per applied transition: its id and
whether a parent became due. */}}
{{define "complete_done"}}WITH upd AS (
    UPDATE {{.T}} AS t SET
        status = 'completed',
        output = u.output,
        run_output = NULL,
        error = NULL,
        attempt = u.attempt,
        iteration = u.iteration,
        executor_id = '',
        updated_at = {{.Now}},
        due_at = NULL,
        finished_at = {{.Now}}
    FROM unnest(@d_id::text[], @d_fence::bigint[], @d_output::bytea[], @d_attempt::bigint[], @d_iteration::bigint[])
        AS u(id, fence, output, attempt, iteration)
    WHERE t.id = u.id AND t.fence = u.fence AND t.status = 'running'
    RETURNING t.id, t.parent_id
), c AS (
    SELECT parent_id, count(*) AS n FROM upd WHERE parent_id IS NOT NULL GROUP BY parent_id
), locked AS MATERIALIZED (
    SELECT p.id FROM {{.T}} AS p JOIN c ON p.id = c.parent_id
    WHERE p.status IN {{.Waiting}}
    ORDER BY p.id
    FOR UPDATE OF p
), parents AS (
    UPDATE {{.T}} AS p SET
        children_pending = p.children_pending - c.n,
        due_at = CASE WHEN p.children_pending - c.n <= 0 THEN {{.Now}} ELSE p.due_at END,
        updated_at = {{.Now}}
    FROM c, locked
    WHERE p.id = locked.id AND p.id = c.parent_id AND p.status IN {{.Waiting}}
    RETURNING p.children_pending <= 0 AS due
), ready AS (
    SELECT coalesce(bool_or(due), false) AS due FROM parents
), chunks AS (
    SELECT id, sum(length(id) + 3) OVER (ROWS UNBOUNDED PRECEDING) / 6000 AS g FROM upd
), notes AS (
    SELECT pg_notify(@channel::text, json_build_object(
        's', @sender::text,
        'r', g = 0 AND (SELECT due FROM ready),
        'f', json_agg(id))::text)
    FROM chunks
    WHERE @channel::text IS NOT NULL
    GROUP BY g
)
SELECT upd.id, (SELECT due FROM ready), (SELECT count(*) FROM notes) FROM upd{{end}}

{{define "complete_with_children"}}WITH upd AS (
{{template "transition_update" .}}
), ins AS (
{{template "insert_rows" .}}
WHERE EXISTS (SELECT 1 FROM upd)
ORDER BY e.ord
RETURNING id, created_at, tags
), tagged AS (
{{template "insert_tags" .}}
RETURNING 1
)
SELECT * FROM upd{{end}}

{{- /* complete_parents does the bookkeeping of children that reached a
terminal status: @p_parent lists their parents (repeated per child) and
@p_completed whether each child completed. Waiting parents are locked in id
order (no deadlock between concurrent completions) and decremented; a parent
becomes due when its counter reaches zero or when a child did not complete
and the parent fails fast. */}}
{{define "complete_parents"}}WITH c AS (
    SELECT parent_id, count(*) AS n, bool_or(NOT completed) AS failed
    FROM unnest(@p_parent::text[], @p_completed::boolean[]) AS c(parent_id, completed)
    GROUP BY parent_id
), locked AS MATERIALIZED (
    SELECT p.id FROM {{.T}} AS p JOIN c ON p.id = c.parent_id
    WHERE p.status IN {{.Waiting}}
    ORDER BY p.id
    FOR UPDATE OF p
)
UPDATE {{.T}} AS p SET
    children_pending = p.children_pending - c.n,
    due_at = CASE
        WHEN p.children_pending - c.n <= 0 OR (c.failed AND p.fail_fast) THEN {{.Now}}
        ELSE p.due_at
    END,
    updated_at = {{.Now}}
FROM c, locked
WHERE p.id = locked.id AND p.id = c.parent_id AND p.status IN {{.Waiting}}
RETURNING p.id, (p.children_pending <= 0 OR (c.failed AND p.fail_fast)){{end}}

{{- /* cancel_descendants cancels every unfinished descendant of the rows in
@c_id (which ended with the statuses in @c_status), locking them in id order.
It does not touch counters: the ancestors are finished or being cancelled. */}}
{{define "cancel_descendants"}}WITH RECURSIVE roots AS (
    SELECT * FROM unnest(@c_id::text[], @c_status::text[]) AS r(id, status)
), d(id, root, root_status) AS (
    SELECT e.id, r.id, r.status FROM {{.T}} AS e JOIN roots AS r ON e.parent_id = r.id
    UNION ALL
    SELECT e.id, d.root, d.root_status FROM {{.T}} AS e JOIN d ON e.parent_id = d.id
), locked AS MATERIALIZED (
    SELECT e.id, d.root, d.root_status FROM {{.T}} AS e JOIN d ON e.id = d.id
    WHERE e.status NOT IN {{.Terminal}}
    ORDER BY e.id
    FOR UPDATE OF e
)
UPDATE {{.T}} AS e SET
    status = 'cancelled',
    finished_at = {{.Now}},
    due_at = NULL,
    updated_at = {{.Now}},
    error = jsonb_build_object('kind', 'cancelled', 'message',
        format('cancelled because ancestor %s ended with status %s', l.root, l.root_status))
FROM locked AS l
WHERE e.id = l.id AND e.status NOT IN {{.Terminal}}
RETURNING e.id{{end}}

{{define "cancel"}}UPDATE {{.T}} SET
    status = 'cancelled',
    finished_at = {{.Now}},
    due_at = NULL,
    updated_at = {{.Now}},
    error = @error::jsonb
WHERE id = @id AND status NOT IN {{.Terminal}}
RETURNING coalesce(parent_id, ''), children_total{{end}}

{{- /* guard reports whether a transition's guard matches its row, as
transition_update checks it. */}}
{{define "guard"}}SELECT EXISTS (SELECT 1 FROM {{.T}}
    WHERE id = @id AND fence = @fence AND status = @from AND status NOT IN {{.Terminal}}){{end}}

{{define "exists"}}SELECT EXISTS (SELECT 1 FROM {{.T}} WHERE id = @id){{end}}

{{define "get"}}SELECT {{template "cols" "t"}} FROM {{.T}} AS t WHERE t.id = @id{{end}}

{{- /* active_key_holder is the active execution holding the key @key,
read through executions_active_key_idx (whose predicate it repeats). */}}
{{define "active_key_holder"}}SELECT id, task_id FROM {{.T}}
WHERE active_key = @key AND active_key IS NOT NULL AND status IN ('ready', 'running', 'waiting_for_children', 'waiting_for_finalize'){{end}}

{{define "get_by_sleep_key"}}SELECT {{template "cols" "t"}} FROM {{.T}} AS t WHERE t.sleep_key = @sleep_key{{end}}

{{define "list_children"}}SELECT {{template "cols" "t"}} FROM {{.T}} AS t
WHERE t.parent_id = @parent_id AND t.child_index >= @from_index
ORDER BY t.child_index, t.seq
LIMIT @limit{{end}}

{{- /* due_queues is the CTE qs of the queues that have rows with a due
time (their names, then a NULL), for claim and next_due over every queue and
for rescue: a skip scan of executions_claim_idx, one descent per queue,
since PostgreSQL has no skip scan of its own. It walks from the last queue
down: the first entries of a queue's range are those of the rows claimed
or completed since they were due (dead versions until vacuum and bottom-up
deletion remove them, which every scan from that end reads again), the
last ones those of rows just claimed or enqueued, alive. */}}
{{define "due_queues"}}qs(name) AS (
    (SELECT t.queue FROM {{.T}} AS t WHERE t.due_at IS NOT NULL ORDER BY t.queue DESC LIMIT 1)
    UNION ALL
    SELECT (SELECT t.queue FROM {{.T}} AS t WHERE t.due_at IS NOT NULL AND t.queue < qs.name ORDER BY t.queue DESC LIMIT 1)
    FROM qs WHERE qs.name IS NOT NULL
){{end}}

{{- /* open_queues is the CTE open of the queues a claim or next_due reads:
the ones listed in @queues (with .Listed), else every queue with due rows,
less the paused ones (controls of kind queue) and the limited ones (claimed
by claim_limited), read in the statement's snapshot: a pause or a limit
committed before the statement started holds. */}}
{{define "open_queues"}}{{if .Listed}}qs(name) AS (
    SELECT DISTINCT u.name FROM unnest(@queues::text[]) AS u(name)
){{else}}{{template "due_queues" .}}{{end}}, open AS MATERIALIZED (
    SELECT qs.name FROM qs
    WHERE qs.name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {{.Controls}} AS c
        WHERE c.kind = 'queue' AND c.name = qs.name AND (c.paused OR c.concurrency > 0 OR c.per_key > 0 OR c.rate > 0))
){{end}}

{{- /* claim: the CTE picks at most @limit due rows (SKIP LOCKED, so
concurrent claimers never wait for or share a row), priority first, then
due_at and seq. It visits the priority levels in order (generate_series:
the nested loop keeps its order) and stops once it has @limit rows; in each
level it probes the range of executions_claim_idx of each open queue, from
the oldest due entry to now, in order (so a row not due yet, of whatever
priority, is never visited). A row is locked as its probe reads it. With
one open queue (the common case: one branch of the UNION ALL runs, chosen
by a one-time filter), the probe's rows stream out in claim order and the
outer LIMIT stops it: it locks exactly the rows it claims. With several,
a level's probes lock up to @limit rows each and a sort merges them by
(due_at, seq), keeping @limit at most; rows locked and not kept are
unlocked at the end of the claim's transaction.
The UPDATE touches exactly the picked rows (RELIABILITY.md pitfall 1),
found by their ctid: a nested loop over the picked rows with a TID scan
inside (claim_settings, sent before, turns hash and merge joins off for the
transaction; PostgreSQL 12 and later plan a join on ctid that way). A
picked row is locked, so its ctid cannot change before the UPDATE. Joining
on id instead let a generic plan (which guesses that LIMIT @limit keeps a
tenth of the table) hash-join the picked rows against a sequential scan of
the whole table on every claim. It returns each row's pre-claim DueAt and
seq, by which (after its priority) the store orders the rows. A lapsed
lease expired at due_at, or at updated_at once rescued (see rescue). */}}
{{define "claim"}}WITH RECURSIVE {{template "open_queues" .}}, picked AS MATERIALIZED (
    SELECT c.ctid, c.id, c.seq, c.due_at
    FROM generate_series({{.First}}, {{.Last}}) AS lv(p)
    CROSS JOIN LATERAL (
        SELECT one.ctid, one.id, one.seq, one.due_at FROM (
            SELECT t.ctid, t.id, t.seq, t.due_at FROM {{.T}} AS t
            WHERE (SELECT count(*) FROM open) = 1
                AND t.queue = (SELECT name FROM open) AND t.priority = lv.p AND t.due_at <= {{.Now}}
                AND t.task_id = ANY(@task_ids::text[])
            ORDER BY t.due_at, t.seq
            LIMIT @limit
            FOR UPDATE SKIP LOCKED
        ) AS one
        UNION ALL
        (SELECT r.ctid, r.id, r.seq, r.due_at FROM open
        CROSS JOIN LATERAL (
            SELECT t.ctid, t.id, t.seq, t.due_at FROM {{.T}} AS t
            WHERE t.queue = open.name AND t.priority = lv.p AND t.due_at <= {{.Now}}
                AND t.task_id = ANY(@task_ids::text[])
            ORDER BY t.due_at, t.seq
            LIMIT @limit
            FOR UPDATE SKIP LOCKED
        ) AS r
        WHERE (SELECT count(*) FROM open) > 1
        ORDER BY r.due_at, r.seq
        LIMIT @limit)
    ) AS c
    LIMIT @limit
)
{{template "claim_update" .}}{{end}}

{{- /* claim_update claims the rows of the CTE picked (see claim). */}}
{{define "claim_update"}}UPDATE {{.T}} AS t SET
    fence = t.fence + 1,
    executor_id = @executor_id,
    due_at = {{.Now}} + @lease_us::bigint * interval '1 microsecond',
    updated_at = {{.Now}},
    status = CASE WHEN t.status = 'ready' THEN 'running' ELSE t.status END,
    started_at = CASE WHEN t.status = 'ready' THEN {{.Now}} ELSE t.started_at END,
    crashes = CASE WHEN t.status = 'running' AND t.sleep_key IS NULL THEN t.crashes + 1 ELSE t.crashes END,
    error = CASE
        WHEN t.status = 'running' AND t.sleep_key IS NULL THEN jsonb_build_object(
            'kind', 'lease_expired',
            'message', format('the lease of executor %s (claim %s) expired at %s; the run is taken over by executor %s',
                quote_literal(t.executor_id), t.fence, greatest(t.due_at, t.updated_at), quote_literal(@executor_id::text)))
        ELSE t.error
    END{{if .Limited}},
    run_indexed = true{{end}}
FROM picked
WHERE t.ctid = picked.ctid
RETURNING picked.due_at, picked.seq, {{template "cols" "t"}}{{end}}

{{- /* claim_limit_lock locks the control row of the limited queue @queue
for the rest of the claim's transaction: claims of the queue take turns,
each counting the running rows after the previous one committed (its
claim_limited is the next statement of the batch, with a snapshot of its
own). */}}
{{define "claim_limit_lock"}}SELECT runs_indexed FROM {{.Controls}} WHERE kind = 'queue' AND name = @queue FOR UPDATE{{end}}

{{- /* claim_limited claims from the queue @queue (see claim_limit_lock),
within its limits read from its control row (ctl): first what is left of
its rate window (budget: the window ctl.win_start, a new one once the last
ended, less the rows claimed in it; @limit without a rate limit), then its
running, not sleeping rows whose lease lapsed (rescued or not), found by
executions_running_idx, which hold their slots and are taken over whatever
the concurrency limits; then, in claim order (one probe of
executions_claim_idx per priority level, as claim does), as many of its
other due rows as it has free slots: the budget less the lapsed rows
taken, and the concurrency limit less its running, not sleeping rows.
With a limit per key, the probe passes over the rows whose key has
per_key running rows (counted through executions_running_key_idx) and
reads twice the free slots (cands); fresh keeps, in claim order, those
whose rank among the candidates of their key plus the key's running rows
stays within per_key. The rows claimed are counted in the rate window
(win), in this statement; a new window starts only with a claim that takes
a row. A queue paused meanwhile gives nothing; one no
longer limited gives up to @limit.
Turns (slots, free, turn): while the control row names another executor as
waiter (until waiter_until), the claim takes no fresh row (yield: the
lapsed rows still), leaving the slots that free up to the waiter. A claim
of a queue with a concurrency limit and none per key that finds no free slot and takes
nothing while it has a due row (one probe per priority level) becomes the
waiter for @wait_us (0: never); one
whose claim takes fresh rows while it is the waiter ends its turn. The
control row is written only for a change (rate window, waiter), or to
renew a waiter's turn past half its time. */}}
{{define "claim_limited"}}WITH ctl AS MATERIALIZED (
    SELECT c.concurrency, c.paused OR NOT c.runs_indexed AS paused, c.per_key, c.rate, w.fresh,
        CASE WHEN w.fresh THEN {{.Now}} ELSE c.rate_start END AS win_start,
        CASE WHEN w.fresh THEN 0 ELSE c.rate_count END AS win_count,
        c.waiter, c.waiter_until,
        coalesce(c.waiter <> @executor_id AND c.waiter_until > {{.Now}}, false) AS yield
    FROM {{.Controls}} AS c
    CROSS JOIN LATERAL (SELECT c.rate > 0 AND (c.rate_start IS NULL
        OR {{.Now}} >= c.rate_start + c.rate_per_us * interval '1 microsecond') AS fresh) AS w
    WHERE c.kind = 'queue' AND c.name = @queue
), budget AS MATERIALIZED (
    SELECT CASE WHEN ctl.paused THEN 0 WHEN ctl.rate = 0 THEN @limit
        ELSE greatest(0, least(@limit, ctl.rate - ctl.win_count)) END AS n
    FROM ctl
), lapsed AS MATERIALIZED (
    SELECT t.ctid, t.id, t.seq, t.due_at FROM {{.T}} AS t
    WHERE t.queue = @queue AND t.status = 'running' AND t.sleep_key IS NULL AND t.run_indexed AND t.due_at <= {{.Now}}
        AND t.task_id = ANY(@task_ids::text[]) AND EXISTS (SELECT 1 FROM ctl WHERE NOT ctl.paused)
    ORDER BY t.due_at, t.seq
    LIMIT coalesce((SELECT n FROM budget), 0)
    FOR UPDATE SKIP LOCKED
), slots AS MATERIALIZED (
    SELECT CASE WHEN ctl.paused THEN 0
        WHEN ctl.concurrency = 0 THEN b.n - (SELECT count(*) FROM lapsed)
        ELSE greatest(0, least(b.n - (SELECT count(*) FROM lapsed), ctl.concurrency - (
            SELECT count(*) FROM {{.T}} AS t
            WHERE t.queue = @queue AND t.status = 'running' AND t.sleep_key IS NULL AND t.run_indexed)))
        END AS n
    FROM ctl CROSS JOIN budget AS b
), free AS MATERIALIZED (
    SELECT CASE WHEN ctl.yield THEN 0 ELSE s.n END AS n,
        CASE WHEN ctl.per_key = 0 THEN 1 ELSE 2 END AS reads
    FROM ctl CROSS JOIN slots AS s
), cands AS MATERIALIZED (
    SELECT c.ctid, c.id, c.seq, c.due_at, c.ckey, lv.p
    FROM generate_series({{.First}}, {{.Last}}) AS lv(p)
    CROSS JOIN LATERAL (
        SELECT t.ctid, t.id, t.seq, t.due_at, t.concurrency_key AS ckey FROM {{.T}} AS t
        WHERE t.queue = @queue AND t.priority = lv.p AND t.due_at <= {{.Now}}
            AND t.task_id = ANY(@task_ids::text[])
            AND NOT (t.status = 'running' AND t.sleep_key IS NULL)
            AND (t.concurrency_key IS NULL OR (SELECT per_key FROM ctl) = 0 OR (
                SELECT count(*) FROM {{.T}} AS r
                WHERE r.queue = @queue AND r.concurrency_key = t.concurrency_key
                    AND r.status = 'running' AND r.sleep_key IS NULL AND r.concurrency_key IS NOT NULL
                ) < (SELECT per_key FROM ctl))
        ORDER BY t.due_at, t.seq
        LIMIT coalesce((SELECT n * reads FROM free), 0)
        FOR UPDATE SKIP LOCKED
    ) AS c
    LIMIT coalesce((SELECT n * reads FROM free), 0)
), fresh AS MATERIALIZED (
    SELECT k.ctid, k.id, k.seq, k.due_at FROM (
        SELECT c.*, row_number() OVER (PARTITION BY c.ckey ORDER BY c.p, c.due_at, c.seq) AS rank
        FROM cands AS c
    ) AS k
    WHERE k.ckey IS NULL OR (SELECT per_key FROM ctl) = 0 OR k.rank + (
        SELECT count(*) FROM {{.T}} AS r
        WHERE r.queue = @queue AND r.concurrency_key = k.ckey
            AND r.status = 'running' AND r.sleep_key IS NULL AND r.concurrency_key IS NOT NULL
        ) <= (SELECT per_key FROM ctl)
    ORDER BY k.p, k.due_at, k.seq
    LIMIT coalesce((SELECT n FROM free), 0)
), picked AS (
    SELECT * FROM lapsed UNION ALL SELECT * FROM fresh
), turn AS MATERIALIZED (
    SELECT NOT ctl.yield AND NOT ctl.paused AND ctl.concurrency > 0 AND ctl.per_key = 0 AND @wait_us::bigint > 0 AND @limit > 0
            AND (SELECT n FROM slots) = 0 AND NOT EXISTS (SELECT 1 FROM picked)
            AND (ctl.waiter IS DISTINCT FROM @executor_id
                OR ctl.waiter_until < {{.Now}} + @wait_us::bigint / 2 * interval '1 microsecond')
            AND EXISTS (SELECT 1 FROM generate_series({{.First}}, {{.Last}}) AS lv(p)
                CROSS JOIN LATERAL (SELECT 1 FROM {{.T}} AS t
                    WHERE t.queue = @queue AND t.priority = lv.p AND t.due_at <= {{.Now}}
                        AND t.task_id = ANY(@task_ids::text[])
                        AND NOT (t.status = 'running' AND t.sleep_key IS NULL)
                    LIMIT 1) AS d) AS wait,
        coalesce(ctl.waiter = @executor_id, false) AND EXISTS (SELECT 1 FROM fresh) AS served,
        ctl.rate > 0 AND EXISTS (SELECT 1 FROM picked) AS counted
    FROM ctl
), win AS (
    UPDATE {{.Controls}} AS c SET
        rate_start = CASE WHEN turn.counted THEN ctl.win_start ELSE c.rate_start END,
        rate_count = CASE WHEN turn.counted THEN ctl.win_count + (SELECT count(*) FROM picked) ELSE c.rate_count END,
        waiter = CASE WHEN turn.wait THEN @executor_id WHEN turn.served THEN NULL ELSE c.waiter END,
        waiter_until = CASE WHEN turn.wait THEN {{.Now}} + @wait_us::bigint * interval '1 microsecond'
            WHEN turn.served THEN NULL ELSE c.waiter_until END
    FROM ctl CROSS JOIN turn
    WHERE c.kind = 'queue' AND c.name = @queue AND (turn.counted OR turn.wait OR turn.served)
)
{{template "claim_update" .}}{{end}}

{{- /* claim_limit_yield sends the notification of new work on @channel
when the queue @queue's turn is another claimer's (see claim_limited): the
slots this transaction frees or leaves are that claimer's, and it claims
them at once instead of at its next poll. It follows claim_limited in the
same transaction (the control row is locked). */}}
{{- /* index_runs_lock and index_runs: the pass that flags a queue's
running rows (run_indexed, migration 010) once it got its first limit, in
a transaction of its own: lock the control row (the queue's claims wait),
and if runs_indexed is still false, lock the queue's due and running rows
(waiting for the claims in flight that took some as an unlimited queue's:
they hold the rows they picked, which were due), then, in a snapshot taken
after them, flag its running rows and set runs_indexed. */}}
{{define "index_runs_lock"}}WITH ctl AS MATERIALIZED (
    SELECT runs_indexed FROM {{.Controls}} WHERE kind = 'queue' AND name = @queue FOR UPDATE
)
SELECT count(*) FROM (SELECT 1 FROM {{.T}} AS t
    WHERE t.queue = @queue AND t.due_at IS NOT NULL AND EXISTS (SELECT 1 FROM ctl WHERE NOT ctl.runs_indexed)
    FOR UPDATE OF t) AS locked{{end}}

{{define "index_runs"}}WITH flagged AS (
    UPDATE {{.T}} AS t SET run_indexed = true
    WHERE t.queue = @queue AND t.due_at IS NOT NULL AND t.status = 'running' AND NOT t.run_indexed
        AND EXISTS (SELECT 1 FROM {{.Controls}} AS c WHERE c.kind = 'queue' AND c.name = @queue AND NOT c.runs_indexed)
)
UPDATE {{.Controls}} SET runs_indexed = true WHERE kind = 'queue' AND name = @queue AND NOT runs_indexed{{end}}

{{define "claim_limit_yield"}}SELECT pg_notify(@channel, @payload) FROM {{.Controls}}
WHERE kind = 'queue' AND name = @queue AND waiter <> @executor_id AND waiter_until > {{.Now}}{{end}}

{{define "limited_queues"}}SELECT name, concurrency, per_key, rate, rate_per_us FROM {{.Controls}}
WHERE kind = 'queue' AND (concurrency > 0 OR per_key > 0 OR rate > 0) AND NOT paused ORDER BY name{{end}}

{{- /* limit_control sets a control's limits and, when they changed, sends
the notification of new work on @channel (none when NULL); a change of the
rate limit starts a new window. It returns whether the control exists and
whether it changed. */}}
{{define "limit_control"}}WITH upd AS (
    UPDATE {{.Controls}} SET concurrency = @concurrency::integer, per_key = @per_key::integer,
        rate = @rate::integer, rate_per_us = @rate_per_us::bigint,
        rate_start = CASE WHEN rate = @rate::integer AND rate_per_us = @rate_per_us::bigint THEN rate_start END,
        rate_count = CASE WHEN rate = @rate::integer AND rate_per_us = @rate_per_us::bigint THEN rate_count ELSE 0 END,
        runs_indexed = runs_indexed AND NOT (concurrency = 0 AND per_key = 0 AND rate = 0
            AND (@concurrency::integer > 0 OR @per_key::integer > 0 OR @rate::integer > 0)),
        updated_at = {{.Now}}
    WHERE kind = @kind AND name = @name AND (concurrency, per_key, rate, rate_per_us)
        IS DISTINCT FROM (@concurrency::integer, @per_key::integer, @rate::integer, @rate_per_us::bigint)
    RETURNING kind
), notes AS (
    SELECT pg_notify(@channel::text, @payload::text) FROM upd WHERE @channel::text IS NOT NULL
)
SELECT EXISTS (SELECT 1 FROM {{.Controls}} WHERE kind = @kind AND name = @name),
    (SELECT count(*) FROM upd) > 0, (SELECT count(*) FROM notes){{end}}

{{- /* rescue runs before claim, in its batch (so with claim_settings), at
most every 250 ms per store (see package internal/rescue): it moves the
running, non-sleeping rows whose lease lapsed, with due_at (the lease
expiry) in the window (@rescue_from, now], to due_at = created_at, so that
the claim takes them as of their creation and not behind the backlog
enqueued before their lease expiry; updated_at keeps the expiry for the
claim's lease_expired error. The window is a range of executions_claim_idx
per queue (paused ones included) and priority. SKIP LOCKED: a row locked by
a claim or a heartbeat is left to it (this statement never waits). It
returns the now it used and how many rows it moved. */}}
{{define "rescue"}}WITH RECURSIVE {{template "due_queues" .}}, lapsed AS MATERIALIZED (
    SELECT l.ctid FROM qs
    CROSS JOIN generate_series({{.First}}, {{.Last}}) AS lv(p)
    CROSS JOIN LATERAL (
        SELECT t.ctid FROM {{.T}} AS t
        WHERE t.queue = qs.name AND t.priority = lv.p
            AND t.due_at > @rescue_from::timestamptz AND t.due_at <= {{.Now}}
            AND t.status = 'running' AND t.sleep_key IS NULL
        FOR UPDATE SKIP LOCKED
    ) AS l
    WHERE qs.name IS NOT NULL
), moved AS (
    UPDATE {{.T}} AS t SET due_at = t.created_at, updated_at = t.due_at
    FROM lapsed
    WHERE t.ctid = lapsed.ctid
    RETURNING 1
)
SELECT {{.Now}}, (SELECT count(*) FROM moved){{end}}

{{- /* next_due: the earliest due_at of the rows of @task_ids in the queues
of unpaused_queues, the earliest of one probe per queue and priority; in
a limited queue, of the rows due after the last claim only, now less
@lookback_us (its rows due before that wait for a slot, not for a time);
or the end after the last claim of a full rate window of one of those
queues (its rows already due start then), if earlier. */}}
{{define "next_due"}}WITH RECURSIVE {{template "unpaused_queues" .}}
SELECT least((
    SELECT min(n.due_at) FROM unpaused
    CROSS JOIN generate_series({{.First}}, {{.Last}}) AS lv(p)
    CROSS JOIN LATERAL (
        SELECT t.due_at FROM {{.T}} AS t
        WHERE t.queue = unpaused.name AND t.priority = lv.p AND t.due_at IS NOT NULL
            AND t.due_at > CASE WHEN unpaused.lim THEN {{.Now}} - @lookback_us * interval '1 microsecond' ELSE '-infinity'::timestamptz END
            AND t.task_id = ANY(@task_ids::text[])
        ORDER BY t.due_at
        LIMIT 1
    ) AS n
), (
    SELECT min(c.rate_start + c.rate_per_us * interval '1 microsecond') FROM {{.Controls}} AS c
    WHERE c.kind = 'queue' AND c.name IN (SELECT name FROM unpaused) AND c.rate > 0
        AND c.rate_start IS NOT NULL AND c.rate_count >= c.rate
        AND c.rate_start + c.rate_per_us * interval '1 microsecond' > {{.Now}} - @lookback_us * interval '1 microsecond'
)), {{.Now}}{{end}}

{{- /* unpaused_queues is the CTE unpaused of the queues NextDue reads: the
ones listed in @queues (with .Listed), else every queue with due rows, less
the paused ones, each with whether it has a limit (lim). */}}
{{define "unpaused_queues"}}{{if .Listed}}qs(name) AS (
    SELECT DISTINCT u.name FROM unnest(@queues::text[]) AS u(name)
){{else}}{{template "due_queues" .}}{{end}}, unpaused AS MATERIALIZED (
    SELECT qs.name, EXISTS (SELECT 1 FROM {{.Controls}} AS c
        WHERE c.kind = 'queue' AND c.name = qs.name AND (c.concurrency > 0 OR c.per_key > 0 OR c.rate > 0)) AS lim
    FROM qs
    WHERE qs.name IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {{.Controls}} AS c
        WHERE c.kind = 'queue' AND c.name = qs.name AND c.paused)
){{end}}

{{- /* register_controls creates the controls given as parallel arrays @c_*
(not paused) or, for one that exists, sets its spec and keeps its pause and
mark. The caller gives each (kind, name) once. */}}
{{define "register_controls"}}INSERT INTO {{.Controls}} AS c (kind, name, spec, mark, updated_at)
SELECT u.kind, u.name, u.spec, u.mark, {{.Now}}
FROM unnest(@c_kind::text[], @c_name::text[], @c_spec::bytea[], @c_mark::bigint[]) AS u(kind, name, spec, mark)
ON CONFLICT (kind, name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at{{end}}

{{define "list_controls"}}SELECT kind, name, paused, spec, mark, updated_at, concurrency, per_key, rate, rate_per_us FROM {{.Controls}}
WHERE kind = @kind ORDER BY name{{end}}

{{- /* pause_control sets a control's paused flag and, when that resumed a
queue, sends the notification of new work on @channel (none when it is
NULL): other processes' executors claim the queue's rows at once. It
returns whether the control exists and whether it changed. A concurrent
pause of the same control waits for the row and sees it changed. */}}
{{define "pause_control"}}WITH upd AS (
    UPDATE {{.Controls}} SET paused = @paused::boolean, updated_at = {{.Now}}
    WHERE kind = @kind AND name = @name AND paused <> @paused::boolean
    RETURNING kind
), notes AS (
    SELECT pg_notify(@channel::text, @payload::text) FROM upd
    WHERE upd.kind = 'queue' AND NOT @paused::boolean AND @channel::text IS NOT NULL
)
SELECT EXISTS (SELECT 1 FROM {{.Controls}} WHERE kind = @kind AND name = @name),
    (SELECT count(*) FROM upd) > 0, (SELECT count(*) FROM notes){{end}}

{{- /* advance_control moves a control's mark from @from to @to: a
compare-and-set (a concurrent caller waits for the row, then finds the mark
moved). It returns whether the control exists and whether it moved. */}}
{{define "advance_control"}}WITH upd AS (
    UPDATE {{.Controls}} SET mark = @to::bigint, updated_at = {{.Now}}
    WHERE kind = @kind AND name = @name AND mark = @from::bigint
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM {{.Controls}} WHERE kind = @kind AND name = @name),
    (SELECT count(*) FROM upd) > 0{{end}}

{{- /* claim_settings runs before claim and next_due, in the same implicit
transaction, and sets for that transaction only:
- no sorts: without statistics (a new or fast-growing table) the planner
  may otherwise sort every due row instead of walking executions_claim_idx
  in order (the claim's merge of a level's queues is a sort all the same:
  every plan of it has one);
- a durable commit, even where the server's or the role's
  synchronous_commit is off (it is then raised to local): the claim
  returns its fencing tokens only once the WAL that holds them is on disk.
  A claim committed asynchronously could be lost in a server crash after
  its rows were handed out, and the next claim would then hand out the
  same fence again (TestPostgresServerCrash). A durable commit also
  flushes every write before it, so no fence lower than one handed out
  can come back after a crash;
- generic plans (see generic_plans);
- no hash or merge joins, so that the claim reaches its picked rows by TID
  scans (see claim);
- no JIT compilation: the claim's sort, disabled, makes the plan look
  expensive enough to compile (hundreds of milliseconds per claim where
  the server has JIT on; the claim itself takes about one). */}}
{{define "claim_settings"}}SELECT set_config('enable_sort', 'off', true),
    set_config('synchronous_commit', CASE current_setting('synchronous_commit') WHEN 'off' THEN 'local' ELSE current_setting('synchronous_commit') END, true),
    set_config('plan_cache_mode', 'force_generic_plan', true),
    set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
    set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true){{end}}

{{- /* generic_plans runs before the single-statement writes (insert_plain,
complete_done) in the same implicit transaction: PostgreSQL otherwise
plans them anew on every execution (a custom plan for each array size),
which costs more than running them. */}}
{{define "generic_plans"}}SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
    set_config('enable_seqscan', 'off', true){{end}}

{{- /* index_plans runs first in the store's transactions (runTx) and
before the heartbeat: it forbids sequential scans of the table. A new
table has no statistics until autovacuum analyzes it, minutes into a busy
start, and until then the planner takes it for ten pages, on which a
sequential scan (joined to the rows a statement works on) looks cheaper
than an index or TID probe per row; a plan made then (kept by the
connection, or chosen generic after five executions) made each call cost
O(table) as the table grew. Every statement here finds its rows through an
index or by TID. */}}
{{define "index_plans"}}SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true){{end}}

{{- /* custom_plans runs before List's and Count's statements, in their
implicit transaction: they are planned for the values of their parameters
at each execution (which tasks, tag or root, how rare they are), not with
a generic plan that guesses. */}}
{{define "custom_plans"}}SELECT set_config('plan_cache_mode', 'force_custom_plan', true){{end}}

{{- /* heartbeat extends the leases @ids/@fences whose rows match (claimed,
active), and never waits for a row lock: a row another transaction holds
locked is skipped (SKIP LOCKED) and returned as busy, neither extended nor
lost; the next heartbeat extends it. An executor renews the leases of the
runs whose outcomes its completer is writing, and a heartbeat that waited
for those writes (a batch of several statements, or one waiting in turn
for the parents that other executors' batches hold) came seconds late
under load, or deadlocked with them (a batch that spawned children locked
its rows out of id order, and PostgreSQL broke the cycle only after
deadlock_timeout, 1 s); with 3 s leases, other executors then ran again
executions whose results the blocked batch held. Each lease's row is
found through the primary key (the lateral subquery runs once per lease);
only the leases it did not lock are read again, as of the statement's
snapshot, to tell the busy from the lost. It returns the leases still
held, extended or busy. */}}
{{define "heartbeat"}}WITH locked AS MATERIALIZED (
    SELECT l.id FROM unnest(@ids::text[], @fences::bigint[]) AS u(id, fence)
    CROSS JOIN LATERAL (
        SELECT t.id FROM {{.T}} AS t
        WHERE t.id = u.id AND t.fence = u.fence AND t.due_at IS NOT NULL AND t.status IN {{.Active}}
        FOR NO KEY UPDATE SKIP LOCKED
    ) AS l
), renewed AS (
    UPDATE {{.T}} AS t SET
        due_at = {{.Now}} + @lease_us::bigint * interval '1 microsecond',
        updated_at = {{.Now}}
    FROM locked
    WHERE t.id = locked.id
    RETURNING t.id, t.fence
)
SELECT id, fence FROM renewed
UNION ALL
SELECT t.id, t.fence FROM unnest(@ids::text[], @fences::bigint[]) AS u(id, fence)
JOIN {{.T}} AS t ON t.id = u.id AND t.fence = u.fence
WHERE u.id NOT IN (SELECT id FROM locked) AND t.due_at IS NOT NULL AND t.status IN {{.Active}}{{end}}

{{- /* release: a running row goes back to ready; a sleeping row past its
deadline and a waiting row only become due now. */}}
{{define "release"}}UPDATE {{.T}} AS t SET
    status = CASE WHEN t.status = 'running' AND t.sleep_key IS NULL THEN 'ready' ELSE t.status END,
    executor_id = CASE WHEN t.status = 'running' AND t.sleep_key IS NULL THEN '' ELSE t.executor_id END,
    started_at = CASE WHEN t.status = 'running' AND t.sleep_key IS NULL THEN NULL ELSE t.started_at END,
    due_at = {{.Now}},
    updated_at = {{.Now}}
FROM unnest(@ids::text[], @fences::bigint[]) AS u(id, fence)
WHERE t.id = u.id AND t.fence = u.fence AND t.due_at IS NOT NULL AND t.status IN {{.Active}}
RETURNING t.id{{end}}

{{define "recover"}}UPDATE {{.T}} SET due_at = {{.Now}}, updated_at = {{.Now}}
WHERE executor_id = @executor_id AND due_at IS NOT NULL AND status IN {{.Active}}{{end}}

{{define "notify"}}SELECT pg_notify(@channel, @payload){{end}}

{{- /* List and Count are rendered per filter shape (list.go: shapeData,
which embeds the fields above and adds the filter's). K is the alias whose
created_at and id are the list key: g (the tags table) when the filter has
a tag, else t. The statuses and the task condition are the branch's (.B):
statuses are checked, so they are inlined, and the planner sees which
partial index a branch may read. */}}

{{define "list_from"}}{{if .Tag}}{{.Tags}} AS g JOIN {{.T}} AS t ON t.id = g.id{{else}}{{.T}} AS t{{end}}{{end}}

{{define "list_where"}}WHERE true
{{- if .Tag}} AND g.tag = @tag::text{{end}}
{{- if .IDs}} AND t.id = ANY(@ids::text[]){{end}}
{{- if .B.Statuses}} AND t.status IN {{.B.Statuses}}{{end}}
{{- if .B.Due}} AND t.due_at {{.B.Due}}{{end}}
{{- if .B.TaskAny}} AND t.task_id = ANY(@task_ids::text[]){{end}}
{{- if .B.TaskIn}} AND t.task_id IN ({{.B.TaskIn}}){{end}}
{{- if .RootID}} AND t.root_id = @root_id::text AND t.root_id <> ''{{end}}
{{- if .ParentID}} AND t.parent_id = @parent_id::text{{end}}
{{- if .TopLevel}} AND t.parent_id IS NULL{{end}}
{{- if .CreatedFrom}} AND {{.K}}.created_at >= @created_from::timestamptz{{end}}
{{- if .CreatedTo}} AND {{.K}}.created_at < @created_to::timestamptz{{end}}
{{- if .FinishedFrom}} AND t.finished_at >= @finished_from::timestamptz{{end}}
{{- if .FinishedTo}} AND t.finished_at < @finished_to::timestamptz{{end}}
{{- if .After}} AND ({{.K}}.created_at, {{.K}}.id) {{.After}} (@after_at::timestamptz, @after_id::text){{end}}
{{- end}}

{{define "list_branch"}}SELECT {{template "list_cols" "t"}}
FROM {{template "list_from" .}}
{{template "list_where" .}}
ORDER BY {{.K}}.created_at {{.Dir}}, {{.K}}.id {{.Dir}}
LIMIT @limit::bigint{{end}}

{{- /* list: a page of executions, the merge of a page of each branch (see
listBranches): each branch's rows are one range of one index, read in the
list's order. */}}
{{define "list"}}{{if eq (len .Branches) 1}}{{template "list_branch" index .Branches 0}}
{{- else}}SELECT * FROM ({{range $i, $b := .Branches}}{{if $i}}
UNION ALL{{end}}
({{template "list_branch" $b}}){{end}}
) AS k
ORDER BY k.created_at {{.Dir}}, k.id {{.Dir}}
LIMIT @limit::bigint{{end}}{{end}}

{{define "count"}}SELECT t.task_id, t.status, count(*), min(t.due_at) FILTER (WHERE t.due_at <= {{.Now}})
FROM {{template "list_from" .}}
{{template "list_where" .}}
GROUP BY t.task_id, t.status
ORDER BY t.task_id, t.status{{end}}

{{- /* untag_deleted is the CTE of delete and delete_expired that deletes
the tag rows of the rows their CTE del deleted (and returned with their
tags). */}}
{{define "untag_deleted"}}untagged AS (
    DELETE FROM {{.Tags}} AS g
    USING (SELECT x.tag, del.created_at, del.id FROM del CROSS JOIN LATERAL unnest(del.tags) AS x(tag)
        WHERE del.tags IS NOT NULL) AS d
    WHERE g.tag = d.tag AND g.created_at = d.created_at AND g.id = d.id
    RETURNING 1
){{end}}

{{- /* delete_settings runs before delete, in its implicit transaction: a
generic plan (planned once per connection: a custom plan of up to 10,000
ids cost more to plan than to run), and every row found by an index (an
index scan of the tags table for each tagged row deleted, not a hash join
against all of it). */}}
{{define "delete_settings"}}SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
    set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
    set_config('enable_mergejoin', 'off', true){{end}}

{{- /* delete deletes the trees of the top-level terminal executions @ids, all
or nothing, in one statement (one implicit transaction). It locks the roots
(in id order), so that two deletes of one tree are one after the other:
the second finds it gone. A root that is not terminal is not locked (the
WHERE clause sees it is not, so the lock is not waited for): nothing that
an executor holds is locked. If an id is unknown, or names a child or a row
that is not terminal, or a tree holds a row that is not terminal, nothing
is deleted and the first problem is returned (the unknown ids first).
Otherwise every row of the trees goes, with its tags, found by the ctids
read before (a row is read once): the descendants are terminal, and stay
so (no claim, heartbeat, completion or cancellation writes a terminal
row), so their ctids cannot change, and no row is added to a tree whose
rows are all terminal (only a running parent spawns children). It returns
the problem (id, what, detail; NULL when none) and the number of rows
deleted. */}}
{{define "delete"}}WITH roots AS MATERIALIZED (
    SELECT ctid, id FROM {{.T}}
    WHERE id = ANY(@ids::text[]) AND parent_id IS NULL AND status IN {{.Terminal}}
    ORDER BY id
    FOR UPDATE
), tree AS MATERIALIZED (
    SELECT ctid, id, root_id, status FROM {{.T}}
    WHERE root_id = ANY(@ids::text[]) AND root_id <> ''
), problem AS MATERIALIZED (
    SELECT p.id, p.what, p.detail FROM (
        SELECT 1 AS rank, u.id,
            CASE WHEN e.parent_id IS NOT NULL THEN 'child'
                WHEN e.status NOT IN {{.Terminal}} THEN 'active'
                ELSE 'unknown' END AS what,
            coalesce(e.parent_id, e.status, '') AS detail
        FROM unnest(@ids::text[]) AS u(id)
        LEFT JOIN {{.T}} AS e ON e.id = u.id
        WHERE u.id NOT IN (SELECT id FROM roots)
        UNION ALL
        (SELECT 2, root_id, 'active descendant', id || ' is ' || status FROM tree
        WHERE status NOT IN {{.Terminal}}
        LIMIT 1)
    ) AS p
    ORDER BY p.rank, (p.what = 'unknown') DESC, p.id
    LIMIT 1
), del AS (
    DELETE FROM {{.T}} AS e
    WHERE e.ctid = ANY (ARRAY(SELECT ctid FROM roots UNION ALL SELECT ctid FROM tree))
        AND NOT EXISTS (SELECT 1 FROM problem)
    RETURNING e.id, e.created_at, e.tags
), {{template "untag_deleted" .}}
SELECT p.id, p.what, p.detail, (SELECT count(*) FROM del), (SELECT count(*) FROM untagged)
FROM (SELECT 1) AS one LEFT JOIN problem AS p ON true{{end}}

{{- /* delete_expired_settings runs before delete_expired, in its implicit
transaction, and fixes its plan whatever the table's statistics say: a
generic plan (planned once per connection and statuses), no sort, no
sequential or bitmap scan, no hash or merge join, and no JIT compilation
(a disabled plan node's cost, such as the sort of the roots taken to find
the last one, would otherwise make the statement look expensive enough to
compile, tens of milliseconds per call). The roots are then read
in order from the index of their statuses (executions_completed_idx or
executions_unsuccessful_idx, (created_at, id)) and the walk stops at the
limit; with statistics older than the table's growth the planner had
otherwise read every completed row in a bitmap scan and sorted them, for
each batch (seconds per batch on a table grown by 500,000 rows). The
trees are read through executions_root_idx, the rows deleted by TID, the
tags through the tags table's primary key. */}}
{{define "delete_expired_settings"}}SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
    set_config('enable_sort', 'off', true), set_config('enable_seqscan', 'off', true),
    set_config('enable_bitmapscan', 'off', true), set_config('enable_hashjoin', 'off', true),
    set_config('enable_mergejoin', 'off', true), set_config('jit', 'off', true){{end}}

{{- /* delete_expired (storage.Lister.DeleteExpired) deletes up to @limit
expired trees: the top-level rows in the statuses .B.Statuses (inlined: the
planner sees which partial index holds them) created and finished before
@before, oldest first after (@after_at, @after_id), each with its tree and tags,
in one statement. It does not lock the roots it reads (a lock costs a WAL
record and a write of the row's page: a quarter of the statement's CPU):
the roots and their descendants are terminal and stay so, as in delete,
so that only a concurrent Delete of the same trees can change them; the
DELETE then waits for that Delete and skips the rows it took (READ
COMMITTED). If each waits for a row the other deleted first, PostgreSQL
ends one of them after deadlock_timeout and withRetry runs it again.
A tree with a row that is not terminal is kept, and its root returned. It
returns how many roots it took, the rows and tag rows deleted, the key of
the last root taken (NULL when none) and the kept roots. */}}
{{define "delete_expired"}}WITH roots AS MATERIALIZED (
    SELECT ctid, id, created_at FROM {{.T}}
    WHERE status IN {{.B.Statuses}} AND parent_id IS NULL
        AND (created_at, id) > (@after_at::timestamptz, @after_id::text)
        AND created_at < @before::timestamptz AND finished_at < @before::timestamptz
    ORDER BY created_at, id
    LIMIT @limit::bigint
), tree AS MATERIALIZED (
    SELECT t.ctid, t.root_id, t.status FROM {{.T}} AS t
    WHERE t.root_id = ANY (ARRAY(SELECT id FROM roots)) AND t.root_id <> ''
), kept AS MATERIALIZED (
    SELECT DISTINCT root_id AS id FROM tree WHERE status NOT IN {{.Terminal}}
), del AS (
    DELETE FROM {{.T}} AS e
    WHERE e.ctid = ANY (ARRAY(
        SELECT ctid FROM roots WHERE id NOT IN (SELECT id FROM kept)
        UNION ALL
        SELECT ctid FROM tree WHERE root_id NOT IN (SELECT id FROM kept)))
    RETURNING e.id, e.created_at, e.tags
), {{template "untag_deleted" .}}
SELECT (SELECT count(*) FROM roots), (SELECT count(*) FROM del), (SELECT count(*) FROM untagged),
    l.created_at, l.id, ARRAY(SELECT id FROM kept)
FROM (SELECT 1) AS one
LEFT JOIN (SELECT created_at, id FROM roots ORDER BY created_at DESC, id DESC LIMIT 1) AS l ON true{{end}}

{{- /* Migration statements. They run in one transaction that holds a
transaction-scoped advisory lock, so concurrent openers apply the
migrations once, one after the other. */}}
{{define "migrate_lock"}}SELECT pg_advisory_xact_lock(hashtextextended(@lock_key, 0)){{end}}

{{define "migrate_schema"}}CREATE SCHEMA IF NOT EXISTS {{.Schema}}{{end}}

{{define "migrate_version_table"}}CREATE TABLE IF NOT EXISTS {{.Schema}}.schema_version (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
){{end}}

{{define "migrate_has_version_table"}}SELECT to_regclass(@table) IS NOT NULL{{end}}

{{define "migrate_applied"}}SELECT version, name, checksum FROM {{.Schema}}.schema_version ORDER BY version{{end}}

{{define "migrate_search_path"}}SET LOCAL search_path TO {{.Schema}}{{end}}

{{define "migrate_record"}}INSERT INTO {{.Schema}}.schema_version (version, name, checksum)
VALUES (@version, @name, @checksum){{end}}

{{- /* lead takes the lease @name for @owner until now + @ttl_us when it is
free, lapsed (its expiry at or before now) or already the owner's; it
returns a row then, none otherwise. */}}
{{define "lead"}}INSERT INTO {{.Leases}} AS l (name, owner, expires_at)
VALUES (@name, @owner, {{.Now}} + @ttl_us::bigint * interval '1 microsecond')
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE l.owner = excluded.owner OR l.expires_at <= {{.Now}}
RETURNING l.owner{{end}}

{{define "lead_give_up"}}DELETE FROM {{.Leases}} WHERE name = @name AND owner = @owner{{end}}
