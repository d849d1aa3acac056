{{- /*
queries.sql holds the store's statements, as Go text/template definitions
rendered once per store with:

  .T, .Tags, .Leases, .Events, .Versions  the store's tables (prefixed)
  .Controls  the controls table (prefixed)
  .Due       the name of the claim index (queue, priority, due_at, seq,
             task_id)
  .Levels    the SQL list of the priorities, (1, 2, ..., 9)
  .Now       the SQL of "now": coalesce(?, the server's clock in
             microseconds). The store passes params.Now (microseconds)
             with ClockParams and NULL with ClockDatabase.
  .Terminal  the SQL list of terminal statuses
  .Active    the SQL list of running and the two waiting statuses

Arguments are positional (?). :list1, :list2 stand for lists of
placeholders, "(?, ?, ...)", and :values for a derived table of rows,
expanded per call (expand in queries.go). Instants are microseconds since
the epoch.

MySQL evaluates the assignments of an UPDATE from left to right, each
seeing the columns assigned before it: an assignment that reads a column
comes before the assignment of that column.
*/ -}}

{{define "cols"}}t.seq, t.id, t.task_id, t.root_id, t.root_task_id, t.parent_id,
    t.parent_task_id, t.child_index, t.is_finalize, t.sleep_key, t.status,
    t.input, t.output, t.run_output, t.error,
    t.retry_max_retries, t.retry_base_delay_ns, t.retry_multiplier, t.retry_max_delay_ns, t.retry_jitter,
    t.timeout_ns, t.attempt, t.iteration, t.crashes, t.fence, t.executor_id, t.fail_fast,
    t.children_total, t.children_pending, t.due_at, t.created_at, t.updated_at,
    t.started_at, t.finished_at, t.waiting_for_children_at, t.waiting_for_finalize_at,
    t.attempts, t.tags, t.retry_of, t.metadata, t.queue, t.priority, t.active_key, t.concurrency_key{{end}}

{{- /* list_cols are the "cols" of List: without payloads and attempts. */}}
{{define "list_cols"}}t.seq, t.id, t.task_id, t.root_id, t.root_task_id, t.parent_id,
    t.parent_task_id, t.child_index, t.is_finalize, t.sleep_key, t.status,
    NULL, NULL, NULL, t.error,
    t.retry_max_retries, t.retry_base_delay_ns, t.retry_multiplier, t.retry_max_delay_ns, t.retry_jitter,
    t.timeout_ns, t.attempt, t.iteration, t.crashes, t.fence, t.executor_id, t.fail_fast,
    t.children_total, t.children_pending, t.due_at, t.created_at, t.updated_at,
    t.started_at, t.finished_at, t.waiting_for_children_at, t.waiting_for_finalize_at,
    NULL, t.tags, t.retry_of, t.metadata, t.queue, t.priority, t.active_key, t.concurrency_key{{end}}

{{- /* state_cols are the columns of a row a write locks and may change
(see rowState in state.go), in its order. */}}
{{define "state_cols"}}t.seq, t.id, t.parent_id, t.root_id, t.sleep_key, t.status, t.error, t.attempt, t.iteration,
    t.fail_fast, t.executor_id, t.updated_at, t.due_at, t.started_at, t.finished_at,
    t.waiting_for_children_at, t.waiting_for_finalize_at, t.children_total, t.children_pending, t.fence{{end}}

{{define "now"}}SELECT {{.Now}}{{end}}

{{define "get"}}SELECT {{template "cols"}} FROM {{.T}} AS t WHERE t.id = ?{{end}}

{{define "get_by_sleep_key"}}SELECT {{template "cols"}} FROM {{.T}} AS t WHERE t.sleep_key = ?{{end}}

{{define "exists"}}SELECT count(*) FROM {{.T}} WHERE id = ?{{end}}

{{define "list_children"}}SELECT {{template "cols"}} FROM {{.T}} AS t
WHERE t.parent_id = ? AND t.child_index >= ?
ORDER BY t.child_index, t.seq
LIMIT ?{{end}}

{{- /* active_key_holder: the active execution holding the key ?, through
the unique index of active_key_held. */}}
{{define "active_key_holder"}}SELECT id, task_id FROM {{.T}} WHERE active_key_held = ?{{end}}

{{define "insert_tags"}}INSERT INTO {{.Tags}} (tag, created_at, id) VALUES {{end}}

{{- /* lock: the state of rows by id, locked in id order (the order of the
unique index read), so that concurrent writes lock shared rows in one
order; each row comes with the now of the statement (see txWrite.now). */}}
{{define "lock"}}SELECT {{template "state_cols"}}, {{.Now}} FROM {{.T}} AS t WHERE t.id IN :list1 ORDER BY t.id FOR UPDATE{{end}}

{{- /* lock_children: the state of the children of rows, locked. */}}
{{define "lock_children"}}SELECT {{template "state_cols"}}, {{.Now}} FROM {{.T}} AS t WHERE t.parent_id IN :list1 ORDER BY t.id FOR UPDATE{{end}}

{{- /* claim_pick: at most ? due rows of the tasks in one queue (unless
it is paused or limited: limits.go claims those), in claim order (priority, due_at, seq), locked; rows
another transaction holds are skipped (SKIP LOCKED), so concurrent
claimers never wait for each other nor share a row. The claim index gives
one range per priority, of the rows due by now: InnoDB reads them in
index order, which is claim order, and stops at the limit, however many
rows of a higher priority are due later. The control is read as last
committed (a subquery of a locking read takes no lock). Each row comes
with the now that judged it. Arguments: now, the queue, now, the tasks,
the queue, the limit. :levels is the condition on the levels: every level
(t.priority IN {{.Levels}}), or, while the queue holds a backlog, each
from its floor (claimFloors in floors.go). A claim over several queues
picks its keys per queue (claim_pick_key) and reads the rows it keeps
(claim_pick_keys). */}}
{{define "claim_pick"}}SELECT {{template "cols"}}, {{.Now}} {{template "claim_pick_from" .}}{{end}}

{{define "claim_pick_from"}}FROM {{.T}} AS t FORCE INDEX ({{.Due}})
WHERE t.queue = ? AND :levels AND t.due_at <= {{.Now}} AND t.task_id IN :list1
    AND NOT EXISTS (SELECT 1 FROM {{.Controls}} AS c WHERE c.kind = 'queue' AND c.name = ? AND (c.paused OR c.concurrency > 0 OR c.per_key > 0 OR c.rate > 0))
ORDER BY t.priority, t.due_at, t.seq
LIMIT ?
FOR UPDATE SKIP LOCKED{{end}}

{{- /* claim_pick_key: claim_pick of one queue of several, its keys only
(the claim index holds them all): arguments the queue, now, the tasks,
the queue, the limit. */}}
{{define "claim_pick_key"}}SELECT t.seq, t.priority, t.due_at {{template "claim_pick_from" .}}{{end}}

{{- /* claim_pick_keys: the rows of a claim of several queues, in claim
order: :keys is the claim_pick_key of each queue joined by UNION ALL, put
in claim order and limited. The union is of keys, not rows, so the server
sorts it in memory and reads each row kept once; a union of whole rows,
whose BLOB columns an in-memory temporary table cannot hold, goes
through an on-disk one. Arguments: now, the keys' arguments, the limit. */}}
{{define "claim_pick_keys"}}SELECT {{template "cols"}}, {{.Now}} FROM {{.T}} AS t
JOIN (:keys
    ORDER BY priority, due_at, seq
    LIMIT ?) AS k ON t.seq = k.seq
ORDER BY k.priority, k.due_at, k.seq{{end}}

{{- /* claim_queues: the queues that hold rows with a due_at (due now or
later), from the claim index with a loose index scan (one dive per
(queue, priority) level; min() is what lets the server skip from level to
level). */}}
{{define "claim_queues"}}SELECT t.queue, t.priority, min(t.due_at) FROM {{.T}} AS t FORCE INDEX ({{.Due}})
WHERE t.due_at IS NOT NULL
GROUP BY t.queue, t.priority{{end}}

{{- /* claim: the claim of the picked rows (by seq): arguments now, the
executor, the lease expiry, now. */}}
{{define "claim"}}UPDATE {{.T}} SET
    crashes = crashes + (status = 'running' AND sleep_key IS NULL),
    started_at = CASE WHEN status = 'ready' THEN ? ELSE started_at END,
    status = CASE WHEN status = 'ready' THEN 'running' ELSE status END,
    fence = fence + 1,
    executor_id = ?,
    due_at = ?,
    updated_at = ?:flag
WHERE seq IN :list1{{end}}

{{- /* claim_errors: the lease_expired errors of the lapsed rows a claim
took over: CASE seq WHEN ? THEN ? ... END. */}}
{{define "claim_errors"}}UPDATE {{.T}} SET error = CASE seq :values END WHERE seq IN :list1{{end}}

{{- /* rescue_pick: the running, non-sleeping rows of the queues whose
lease lapsed, with due_at (the lease expiry) in the window (?, now], not
yet rescued (one range of the claim index per level); rows locked
elsewhere are left (SKIP LOCKED). */}}
{{define "rescue_pick"}}SELECT t.seq FROM {{.T}} AS t FORCE INDEX ({{.Due}})
WHERE t.queue IN :list1 AND t.priority IN {{.Levels}} AND t.due_at > ? AND t.due_at <= ?
    AND t.status = 'running' AND t.sleep_key IS NULL AND t.due_at > t.created_at
FOR UPDATE SKIP LOCKED{{end}}

{{- /* rescue: claims take the rescued rows as of their creation;
updated_at keeps the lease expiry for the claim's error. */}}
{{define "rescue"}}UPDATE {{.T}} SET updated_at = due_at, due_at = created_at WHERE seq IN :list1{{end}}

{{- /* next_due: the earliest due_at among the rows of the tasks in one
(queue, priority) level, unless the queue is paused: a range read of the
claim index that stops at the first row of the tasks (none of a limited
queue: next_due_limited reads those). NextDue joins one per level with
UNION ALL and takes the least (read.go). Arguments: the queue, the
priority, the tasks, the queue. */}}
{{define "next_due"}}(SELECT t.due_at AS due FROM {{.T}} AS t FORCE INDEX ({{.Due}})
WHERE t.queue = ? AND t.priority = ? AND t.due_at IS NOT NULL AND t.task_id IN :list1
    AND NOT EXISTS (SELECT 1 FROM {{.Controls}} AS c WHERE c.kind = 'queue' AND c.name = ? AND (c.paused OR c.concurrency > 0 OR c.per_key > 0 OR c.rate > 0))
ORDER BY t.due_at
LIMIT 1){{end}}

{{- /* next_due_limited: next_due of a level of a limited queue, of its rows
due after the last claim only, now less the lookback (its rows due before
that wait for a slot, not for a time). Arguments: the queue, the priority,
now, the lookback (microseconds), the tasks, the queue. */}}
{{define "next_due_limited"}}(SELECT t.due_at AS due FROM {{.T}} AS t FORCE INDEX ({{.Due}})
WHERE t.queue = ? AND t.priority = ? AND t.due_at > {{.Now}} - ? AND t.task_id IN :list1
    AND NOT EXISTS (SELECT 1 FROM {{.Controls}} AS c WHERE c.kind = 'queue' AND c.name = ? AND c.paused)
ORDER BY t.due_at
LIMIT 1){{end}}

{{- /* next_due_windows: the earliest end after the last claim (now less
the lookback) of the full rate windows of the queues listed, not paused
(their rows already due start then). Arguments: the queues, now, the
lookback (microseconds). */}}
{{define "next_due_windows"}}(SELECT min(c.rate_start + c.rate_per_us) AS due FROM {{.Controls}} AS c
WHERE c.kind = 'queue' AND c.name IN :list1 AND NOT c.paused AND c.rate > 0
    AND c.rate_start <> 0 AND c.rate_count >= c.rate AND c.rate_start + c.rate_per_us > {{.Now}} - ?){{end}}

{{- /* heartbeat_lock: the leased rows still claimed, locked unless
another transaction holds them (SKIP LOCKED: a heartbeat never waits),
each with the statement's now. */}}
{{define "heartbeat_lock"}}SELECT t.seq, t.id, t.fence, {{.Now}} FROM {{.T}} AS t
WHERE t.id IN :list1 AND t.due_at IS NOT NULL AND t.status IN {{.Active}}
FOR UPDATE SKIP LOCKED{{end}}

{{define "heartbeat"}}UPDATE {{.T}} SET due_at = ?, updated_at = ? WHERE seq IN :list1{{end}}

{{- /* heartbeat_busy: the leased rows a heartbeat did not lock, as last
committed, still claimed. */}}
{{define "heartbeat_busy"}}SELECT t.id, t.fence FROM {{.T}} AS t
WHERE t.id IN :list1 AND t.due_at IS NOT NULL AND t.status IN {{.Active}}{{end}}

{{- /* release_lock, recover_lock: the rows to give back, locked. */}}
{{define "release_lock"}}SELECT t.seq, t.id, t.fence FROM {{.T}} AS t
WHERE t.id IN :list1 AND t.due_at IS NOT NULL AND t.status IN {{.Active}}
ORDER BY t.id FOR UPDATE{{end}}

{{define "recover_lock"}}SELECT t.seq FROM {{.T}} AS t
WHERE t.executor_id = ? AND t.due_at IS NOT NULL AND t.status IN {{.Active}}
FOR UPDATE{{end}}

{{- /* release: a running row goes back to ready; a sleeping row past its
deadline and a waiting row only become due now. Arguments: now, now. */}}
{{define "release"}}UPDATE {{.T}} SET
    executor_id = CASE WHEN status = 'running' AND sleep_key IS NULL THEN '' ELSE executor_id END,
    started_at = CASE WHEN status = 'running' AND sleep_key IS NULL THEN NULL ELSE started_at END,
    status = CASE WHEN status = 'running' AND sleep_key IS NULL THEN 'ready' ELSE status END,
    due_at = ?,
    updated_at = ?
WHERE seq IN :list1{{end}}

{{define "recover"}}UPDATE {{.T}} SET due_at = ?, updated_at = ? WHERE seq IN :list1{{end}}

{{- /* event_insert: at is the server's clock, whichever Clock the store
judges rows with: event_prune deletes by it. */}}
{{define "event_insert"}}INSERT INTO {{.Events}} (at, tag, ready, finished) VALUES (TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(6)), ?, ?, ?){{end}}

{{- /* event_read: the events after seq ?, in order, with the ids of
others' events only. */}}
{{define "event_read"}}SELECT seq, tag = ?, ready, CASE WHEN tag = ? THEN NULL ELSE finished END
FROM {{.Events}} WHERE seq > ? ORDER BY seq LIMIT 1000{{end}}

{{define "event_last"}}SELECT coalesce(max(seq), 0) FROM {{.Events}}{{end}}

{{- /* event_prune: the events older than ? microseconds, by the server's
clock; never the newest row, so that seq keeps growing. */}}
{{define "event_prune"}}DELETE FROM {{.Events}}
WHERE at < TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(6)) - ? AND seq < ?
ORDER BY seq LIMIT 10000{{end}}

{{define "lead_lock"}}SELECT owner, expires_at FROM {{.Leases}} WHERE name = ? FOR UPDATE{{end}}

{{define "lead_insert"}}INSERT INTO {{.Leases}} (name, owner, expires_at) VALUES (?, ?, ?){{end}}

{{define "lead_update"}}UPDATE {{.Leases}} SET owner = ?, expires_at = ? WHERE name = ?{{end}}

{{define "lead_give_up"}}DELETE FROM {{.Leases}} WHERE name = ? AND owner = ?{{end}}

{{- /* Controls (controls.go). control_register: the rows of the
controls, appended by the store; a control that exists keeps its paused
and mark, and takes the new spec. */}}
{{define "control_register"}}INSERT INTO {{.Controls}} (kind, name, paused, spec, mark, updated_at) VALUES :values
ON DUPLICATE KEY UPDATE spec = VALUES(spec), updated_at = VALUES(updated_at){{end}}

{{define "control_list"}}SELECT kind, name, paused, spec, mark, updated_at, concurrency, per_key, rate, rate_per_us FROM {{.Controls}} WHERE kind = ? ORDER BY name{{end}}

{{- /* Limits (limits.go). control_limit_lock locks a control's row and
reads its limits and rate window. */}}
{{define "control_limit_lock"}}SELECT paused, concurrency, per_key, rate, rate_per_us, rate_start, rate_count, runs_indexed, {{.Now}}
FROM {{.Controls}} WHERE kind = ? AND name = ? FOR UPDATE{{end}}

{{- /* control_limit: the limits (concurrency, per key, rate, rate per);
a change of the rate limit (the arguments after updated_at: rate, rate
per, twice) starts a new window. The window's columns come first: they
read the rate before it is assigned. */}}
{{define "control_limit"}}UPDATE {{.Controls}} SET
    rate_start = CASE WHEN rate = ? AND rate_per_us = ? THEN rate_start ELSE 0 END,
    rate_count = CASE WHEN rate = ? AND rate_per_us = ? THEN rate_count ELSE 0 END,
    concurrency = ?, per_key = ?, rate = ?, rate_per_us = ?, updated_at = ?,
    runs_indexed = runs_indexed AND NOT ?
WHERE kind = ? AND name = ?{{end}}

{{- /* control_rate_window: a queue's rate window (start, count). */}}
{{define "control_rate_window"}}UPDATE {{.Controls}} SET rate_start = ?, rate_count = ? WHERE kind = 'queue' AND name = ?{{end}}

{{define "limited_queues"}}SELECT name, concurrency, per_key, rate, rate_per_us FROM {{.Controls}}
WHERE kind = 'queue' AND (concurrency > 0 OR per_key > 0 OR rate > 0) AND NOT paused ORDER BY name{{end}}

{{- /* running_key_counts: the running, not sleeping rows of a queue with
a concurrency key, by key. */}}
{{define "running_key_counts"}}SELECT t.concurrency_key, COUNT(*) FROM {{.T}} AS t FORCE INDEX ({{.Running}})
WHERE t.run_queue = ? AND t.run_status = 'running' AND t.sleep_key IS NULL AND t.concurrency_key IS NOT NULL
GROUP BY t.concurrency_key{{end}}

{{- /* running_count: the running, not sleeping rows of a queue, its slots
in use. */}}
{{define "running_count"}}SELECT COUNT(*) FROM {{.T}} AS t FORCE INDEX ({{.Running}})
WHERE t.run_queue = ? AND t.run_status = 'running' AND t.sleep_key IS NULL{{end}}

{{- /* claim_pick_lapsed: the running, not sleeping rows of a queue whose
lease lapsed (rescued or not), oldest first, locked unless another holds
them. Arguments: now, the queue, now, the tasks, the limit. */}}
{{define "claim_pick_lapsed"}}SELECT {{template "cols"}}, {{.Now}} FROM {{.T}} AS t FORCE INDEX ({{.Running}})
WHERE t.run_queue = ? AND t.run_status = 'running' AND t.run_due <= {{.Now}} AND t.task_id IN :list1
    AND t.sleep_key IS NULL
ORDER BY t.run_due, t.seq
LIMIT ?
FOR UPDATE SKIP LOCKED{{end}}

{{- /* claim_pick_limited: claim_pick of a limited queue, its lapsed runs
left out (claim_pick_lapsed takes them). Arguments: now, the queue, now,
the tasks, the limit. */}}
{{define "claim_pick_limited"}}SELECT {{template "cols"}}, {{.Now}} FROM {{.T}} AS t FORCE INDEX ({{.Due}})
WHERE t.queue = ? AND t.priority IN {{.Levels}} AND t.due_at <= {{.Now}} AND t.task_id IN :list1
    AND NOT (t.status = 'running' AND t.sleep_key IS NULL)
ORDER BY t.priority, t.due_at, t.seq
LIMIT ?
FOR UPDATE SKIP LOCKED{{end}}

{{- /* claim_pick_limited_key: claim_pick_limited of a queue limited to ?
running rows per concurrency key: it passes over the rows whose key has
that many (counted through executions_running). Arguments: now, the
queue, now, the tasks, the limit per key, the limit. */}}
{{define "claim_pick_limited_key"}}SELECT {{template "cols"}}, {{.Now}} FROM {{.T}} AS t FORCE INDEX ({{.Due}})
WHERE t.queue = ? AND t.priority IN {{.Levels}} AND t.due_at <= {{.Now}} AND t.task_id IN :list1
    AND NOT (t.status = 'running' AND t.sleep_key IS NULL)
    AND (t.concurrency_key IS NULL OR (SELECT COUNT(*) FROM {{.T}} AS r FORCE INDEX ({{.Running}})
        WHERE r.run_queue = t.queue AND r.run_status = 'running' AND r.sleep_key IS NULL
            AND r.concurrency_key = t.concurrency_key) < ?)
ORDER BY t.priority, t.due_at, t.seq
LIMIT ?
FOR UPDATE SKIP LOCKED{{end}}

{{- /* index_runs_lock and index_runs: the pass of the first limited
claim of a queue after it got a limit (migration 007): lock the queue's
due and running rows, waiting for the claims in flight that took some as
an unlimited queue's, then flag its running rows (run_indexed). */}}
{{define "index_runs_lock"}}SELECT COUNT(*) FROM {{.T}} AS t FORCE INDEX ({{.Due}})
WHERE t.queue = ? AND t.priority IN {{.Levels}} AND t.due_at IS NOT NULL
FOR UPDATE{{end}}

{{define "index_runs"}}UPDATE {{.T}} SET run_indexed = 1
WHERE queue = ? AND priority IN {{.Levels}} AND due_at IS NOT NULL AND status = 'running' AND run_indexed = 0{{end}}

{{define "control_runs_indexed"}}UPDATE {{.Controls}} SET runs_indexed = TRUE WHERE kind = 'queue' AND name = ?{{end}}

{{define "control_lock"}}SELECT paused, {{.Now}} FROM {{.Controls}} WHERE kind = ? AND name = ? FOR UPDATE{{end}}

{{define "control_pause"}}UPDATE {{.Controls}} SET paused = ?, updated_at = ? WHERE kind = ? AND name = ?{{end}}

{{- /* control_advance: the mark moves only from the expected value; the
row's lock orders concurrent callers, and READ COMMITTED makes each
later one compare with the mark its predecessor committed. */}}
{{define "control_advance"}}UPDATE {{.Controls}} SET mark = ?, updated_at = {{.Now}} WHERE kind = ? AND name = ? AND mark = ?{{end}}

{{define "control_mark"}}SELECT mark FROM {{.Controls}} WHERE kind = ? AND name = ?{{end}}

{{- /* Migration statements. The lock is a named lock of the server
(GET_LOCK), held by one connection while it migrates. */}}
{{define "migrate_lock"}}SELECT GET_LOCK(?, ?){{end}}

{{define "migrate_unlock"}}SELECT RELEASE_LOCK(?){{end}}

{{define "migrate_version_table"}}CREATE TABLE IF NOT EXISTS {{.Versions}} (
    version    INT NOT NULL PRIMARY KEY,
    name       VARBINARY(255) NOT NULL,
    checksum   VARBINARY(64) NOT NULL,
    applied_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin{{end}}

{{define "migrate_has_version_table"}}SELECT count(*) FROM information_schema.tables
WHERE table_schema = DATABASE() AND table_name = ?{{end}}

{{define "migrate_applied"}}SELECT version, name, checksum, applied_at FROM {{.Versions}} ORDER BY version{{end}}

{{define "migrate_record"}}INSERT INTO {{.Versions}} (version, name, checksum, applied_at)
VALUES (?, ?, ?, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', UTC_TIMESTAMP(6))){{end}}
