-- The SQL of the store, one statement per "-- name:" section. Sections are
-- templates: {{columns}} is replaced by the columns fragment (the order
-- scanExecution reads), {{insert_columns}} by the columns an insert sets,
-- and {{rows}} by as many parameter tuples as a batch needs.

-- name: columns
seq, id, task_id, root_id, root_task_id, parent_id, parent_task_id, child_index,
is_finalize, sleep_key, status, input, output, run_output, error,
retry_max_retries, retry_base_delay, retry_multiplier, retry_max_delay,
retry_jitter, timeout, attempt, iteration, crashes, fence, executor_id,
fail_fast, children_total, children_pending, due_at, created_at, updated_at,
started_at, finished_at, waiting_for_children_at, waiting_for_finalize_at,
attempts, tags, retry_of, metadata, queue, priority, active_key, concurrency_key

-- name: mutable_columns
-- The columns a write may change after insert, seq first (the order
-- scanMutable reads); the others never change.
seq, status, output, run_output, error, attempt, iteration, crashes, fence,
executor_id, fail_fast, children_total, children_pending, due_at, updated_at,
started_at, finished_at, waiting_for_children_at, waiting_for_finalize_at

-- name: get
SELECT {{columns}} FROM durable_executions WHERE id = ?1

-- name: get_by_sleep_key
SELECT {{columns}} FROM durable_executions WHERE sleep_key = ?1

-- name: list_children
-- ?3 is the limit; -1 means none. "?3 + 0", not "?3": SQLite reads a bare
-- bound LIMIT while planning and prepares the statement again whenever its
-- value changes.
SELECT {{columns}} FROM durable_executions
WHERE parent_id = ?1 AND child_index >= ?2
ORDER BY child_index, seq
LIMIT ?3 + 0

-- name: queue_scan
-- The CTE every(name): each queue that has rows in the due index, then a
-- NULL; a skip scan of the index's first column (one search per queue).
every (name) AS (
	SELECT (SELECT queue FROM durable_executions INDEXED BY durable_executions_due
		WHERE due_at IS NOT NULL ORDER BY queue LIMIT 1)
	UNION ALL
	SELECT (SELECT queue FROM durable_executions INDEXED BY durable_executions_due
		WHERE due_at IS NOT NULL AND queue > every.name ORDER BY queue LIMIT 1)
	FROM every WHERE every.name IS NOT NULL)

-- name: unpaused
-- The condition that the queue named by the expression before it is
-- neither paused nor limited (limits.go claims those apart): one search of
-- durable_controls per queue.
NOT EXISTS (SELECT 1 FROM durable_controls AS k WHERE k.kind = 'queue' AND (k.paused OR k.concurrency > 0 OR k.per_key > 0 OR k.rate > 0) AND k.name =

-- name: level_scan
-- The CTE lv(q, p): each (queue, priority) level of the queues of the CTE
-- qs(name) that has rows in the due index, and a row with p NULL per
-- queue; a skip scan of the index's second column within each queue.
lv (q, p) AS (
	SELECT name, (SELECT priority FROM durable_executions INDEXED BY durable_executions_due
		WHERE queue = qs.name AND due_at IS NOT NULL ORDER BY priority LIMIT 1)
	FROM qs
	UNION ALL
	SELECT q, (SELECT priority FROM durable_executions INDEXED BY durable_executions_due
		WHERE queue = lv.q AND priority > lv.p AND due_at IS NOT NULL ORDER BY priority LIMIT 1)
	FROM lv WHERE p IS NOT NULL)

-- name: next_due_body
-- The earliest due_at of each level of nlv, of a row of the tasks ?1 (a
-- JSON array; the level's range of the due index in due order, up to the
-- first such row; of a limited queue's level, its range after ?2, the time
-- of the last claim, since its rows due before that wait for a slot, not
-- for a time), the end after ?2 of each full rate window of the queues of
-- qs (their rows already due start then), and the earliest of those.
SELECT min(v) FROM (
	SELECT min((SELECT x.due_at FROM durable_executions AS x INDEXED BY durable_executions_due
		WHERE x.queue = nlv.q AND x.priority = nlv.p AND x.due_at IS NOT NULL
			AND x.due_at > CASE WHEN nlv.lim THEN ?2 ELSE -9223372036854775808 END
			AND x.task_id IN (SELECT value FROM json_each(?1))
		ORDER BY x.due_at, x.seq LIMIT 1)) AS v
	FROM nlv WHERE nlv.p IS NOT NULL
	UNION ALL
	SELECT min(k.rate_start + k.rate_per) FROM durable_controls AS k
	WHERE k.kind = 'queue' AND k.name IN (SELECT name FROM qs) AND k.rate > 0
		AND k.rate_start <> 0 AND k.rate_count >= k.rate AND k.rate_start + k.rate_per > ?2)

-- name: next_level_scan
-- The CTE nlv(q, lim, p): level_scan's levels of the queues of the CTE
-- qs(name, lim), each with its queue's lim.
nlv (q, lim, p) AS (
	SELECT name, lim, (SELECT priority FROM durable_executions INDEXED BY durable_executions_due
		WHERE queue = qs.name AND due_at IS NOT NULL ORDER BY priority LIMIT 1)
	FROM qs
	UNION ALL
	SELECT q, lim, (SELECT priority FROM durable_executions INDEXED BY durable_executions_due
		WHERE queue = nlv.q AND priority > nlv.p AND due_at IS NOT NULL ORDER BY priority LIMIT 1)
	FROM nlv WHERE p IS NOT NULL)

-- name: not_paused
-- The condition that the queue named by the expression before it is not
-- paused.
NOT EXISTS (SELECT 1 FROM durable_controls AS k WHERE k.kind = 'queue' AND k.paused AND k.name =

-- name: limited
-- Whether the queue named by the expression before it has a limit.
EXISTS (SELECT 1 FROM durable_controls AS k WHERE k.kind = 'queue' AND (k.concurrency > 0 OR k.per_key > 0 OR k.rate > 0) AND k.name =

-- name: next_due
-- NextDue of every queue but the paused ones. ?1 is a JSON array of task
-- ids, ?2 the time of the last claim (microseconds).
WITH RECURSIVE {{queue_scan}},
qs (name, lim) AS (SELECT name, {{limited}} every.name) FROM every WHERE name IS NOT NULL AND {{not_paused}} every.name)),
{{next_level_scan}}
{{next_due_body}}

-- name: next_due_in
-- NextDue of the queues of ?3 (a JSON array of distinct names) but the
-- paused ones. ?1 is a JSON array of task ids, ?2 the time of the last
-- claim (microseconds).
WITH RECURSIVE qs (name, lim) AS (SELECT value, {{limited}} value) FROM json_each(?3) WHERE {{not_paused}} value)),
{{next_level_scan}}
{{next_due_body}}

-- name: insert
-- Only the columns that some row of the batch sets are listed; the others
-- take their defaults (NULL or 0, the stored form of a zero value).
INSERT INTO durable_executions ({{insert_columns}}) VALUES {{rows}}

-- name: find_ids
-- Which of the ids (?1, a JSON array) exist; used to name a duplicate.
SELECT id FROM durable_executions WHERE id IN (SELECT value FROM json_each(?1))

-- name: find_sleep_keys
SELECT sleep_key FROM durable_executions
WHERE sleep_key IN (SELECT value FROM json_each(?1))

-- name: find_active_key
-- The active execution that holds the key ?1, if any (through the partial
-- index durable_executions_active_key, whose condition this repeats).
SELECT id, task_id FROM durable_executions
WHERE active_key = ?1 AND active_key IS NOT NULL
	AND status IN ('ready', 'running', 'waiting_for_children', 'waiting_for_finalize')

-- name: claim_body
-- The rows a claim would take, in claim order, from the levels of lv: ?1
-- now, ?2 JSON array of task ids, ?3 limit ("+ 0": see list_children).
--
-- Each level gives up to ?3 of its rows due now, of the tasks, from its
-- range of the due index in due order (a correlated subquery per level,
-- which SQLite runs as a range search of the index); c sorts the seqs of
-- those few by priority, due_at and seq and keeps ?3; only then are the
-- rows' columns read. A level whose rows are not due yet costs one
-- search, however many rows it has.
c (c_seq, c_priority, c_due_at) AS (
	SELECT d.seq, d.priority, d.due_at FROM lv CROSS JOIN durable_executions AS d
	WHERE lv.p IS NOT NULL AND d.seq IN (
		SELECT x.seq FROM durable_executions AS x INDEXED BY durable_executions_due
		WHERE x.queue = lv.q AND x.priority = lv.p AND x.due_at IS NOT NULL AND x.due_at <= ?1
			AND x.task_id IN (SELECT value FROM json_each(?2))
		ORDER BY x.due_at, x.seq LIMIT ?3 + 0)
	ORDER BY d.priority, d.due_at, d.seq LIMIT ?3 + 0)
SELECT {{columns}} FROM c CROSS JOIN durable_executions ON seq = c_seq
ORDER BY c_priority, c_due_at, c_seq

-- name: claim_candidates
-- The rows a claim of every queue but the paused ones would take (see
-- claim_body for ?1 to ?3). Runs on a read connection, outside the write
-- transaction; claim then takes those of them that are still due.
WITH RECURSIVE {{queue_scan}},
qs (name) AS (SELECT name FROM every WHERE name IS NOT NULL AND {{unpaused}} every.name)),
{{level_scan}},
{{claim_body}}

-- name: claim_candidates_in
-- claim_candidates of the queues of ?4 (a JSON array of distinct names)
-- but the paused ones.
WITH RECURSIVE qs (name) AS (SELECT value FROM json_each(?4) WHERE {{unpaused}} value)),
{{level_scan}},
{{claim_body}}

-- name: claim_levels
-- The (queue, priority) levels of every queue but the paused ones, in
-- claim order (a skip scan; see level_scan).
WITH RECURSIVE {{queue_scan}},
qs (name) AS (SELECT name FROM every WHERE name IS NOT NULL AND {{unpaused}} every.name)),
{{level_scan}}
SELECT q, p FROM lv WHERE p IS NOT NULL ORDER BY p, q

-- name: claim_levels_in
-- claim_levels of the queues of ?1 (a JSON array of distinct names).
WITH RECURSIVE qs (name) AS (SELECT value FROM json_each(?1) WHERE {{unpaused}} value)),
{{level_scan}}
SELECT q, p FROM lv WHERE p IS NOT NULL ORDER BY p, q

-- name: claim_level
-- Up to ?3 rows ("+ 0": see list_children) of the level of queue ?4 and
-- priority ?5 due at ?1, of the tasks ?2 (a JSON array), in due order: a
-- range of the due index (which holds every column the WHERE clause
-- reads, migration 011), and the table's row of each entry it keeps.
SELECT {{columns}} FROM durable_executions INDEXED BY durable_executions_due
WHERE queue = ?4 AND priority = ?5 AND due_at IS NOT NULL AND due_at <= ?1
	AND task_id IN (SELECT value FROM json_each(?2))
ORDER BY due_at, seq LIMIT ?3 + 0

-- name: claim_priority_arms
-- claim_level of the levels of priority ?5 in the queues of ?4 (a JSON
-- array of distinct names), merged: the seqs and due times of up to ?3 of
-- each level's rows, in due order, handed out of its correlated subquery
-- as one JSON array (from the due index alone, one range per level).
-- claim_priority is claim_queues with these in place of its arms
-- (queries.go): the first ?3 of them all by due time and seq, and the
-- table's row of each of those, by rowid.
SELECT j.value ->> 0 AS cs, j.value ->> 1 AS cd FROM json_each(?4) AS q, json_each((
	SELECT json_group_array(json_array(y.seq, y.due_at)) FROM (
		SELECT x.seq, x.due_at FROM durable_executions AS x INDEXED BY durable_executions_due
		WHERE x.queue = q.value AND x.priority = ?5 AND x.due_at IS NOT NULL AND x.due_at <= ?1
			AND x.task_id IN (SELECT value FROM json_each(?2))
		ORDER BY x.due_at, x.seq LIMIT ?3 + 0) AS y)) AS j

-- name: claim_queues
-- The rows of one priority in several queues: {{arms}} gives the seqs
-- (cs) and due times (cd) of up to ?3 rows of each level, from the due
-- index alone; they are merged by due time and seq, the first ?3 kept,
-- and the table's row of each of those read by rowid. For 2 to
-- maxMergedQueues queues the arms are one claim_queue_arm per queue,
-- joined by UNION ALL (claimQueuesQuery; the queues are ?5 onwards, the
-- priority ?4); beyond, claim_priority_arms (claim_priority, queries.go).
SELECT {{columns}} FROM (
	{{arms}}
	ORDER BY 2, 1 LIMIT ?3 + 0) AS c
CROSS JOIN durable_executions ON durable_executions.seq = c.cs
ORDER BY c.cd, c.cs

-- name: claim_queue_arm
SELECT cs, cd FROM (SELECT seq AS cs, due_at AS cd FROM durable_executions INDEXED BY durable_executions_due
	WHERE queue = ?{{q}} AND priority = ?4 AND due_at IS NOT NULL AND due_at <= ?1
		AND task_id IN (SELECT value FROM json_each(?2))
	ORDER BY due_at, seq LIMIT ?3 + 0)

-- name: rescue_candidates
-- The lapsed leases a claim rescues (see rescue in claim.go): running rows
-- that are not sleeping, whose due_at (the lease expiry) lies in the window
-- (?1, ?2], ?2 being now, in every queue (paused ones too). Reads that
-- range of each level of the due index, not the backlog before it.
WITH RECURSIVE {{queue_scan}}, qs (name) AS (SELECT name FROM every WHERE name IS NOT NULL), {{level_scan}}
SELECT x.seq FROM lv CROSS JOIN durable_executions AS x INDEXED BY durable_executions_due
WHERE lv.p IS NOT NULL AND x.queue = lv.q AND x.priority = lv.p
	AND x.due_at IS NOT NULL AND x.due_at > ?1 AND x.due_at <= ?2
	AND x.status = 'running' AND x.sleep_key IS NULL

-- name: rescue
-- Moves the lapsed leases among the seqs in ?1 (a JSON array) still lapsed
-- at ?2 to due_at = created_at, so that claims take them as of their
-- creation, and keeps the lease expiry in updated_at for the claim's
-- lease_expired error. SET expressions see the row before the update.
UPDATE durable_executions SET due_at = created_at, updated_at = due_at
WHERE seq IN (SELECT value FROM json_each(?1)) AND due_at IS NOT NULL
	AND due_at <= ?2 AND due_at > created_at
	AND status = 'running' AND sleep_key IS NULL

-- name: claim
-- Claims, for executor ?1 until ?2, at ?3, the rows whose seqs are in ?4 (a
-- JSON array) that are still due, and returns their columns that may have
-- changed since the candidates were read (the others never change). SET
-- expressions see the row before the update: a running row that is not
-- sleeping had a lease that lapsed, so it counts one more crash and gets
-- the lease_expired error; its lease expired at due_at, or at updated_at
-- once rescued (due_at is then its created_at, before updated_at).
UPDATE durable_executions SET
	fence = fence + 1,
	executor_id = ?1,
	due_at = ?2,
	updated_at = ?3,
	status = CASE WHEN status = 'ready' THEN 'running' ELSE status END,
	started_at = CASE WHEN status = 'ready' THEN ?3 ELSE started_at END,
	crashes = crashes + (status = 'running' AND sleep_key IS NULL),
	error = CASE WHEN status = 'running' AND sleep_key IS NULL THEN json_object(
		'kind', 'lease_expired',
		'message', printf('the lease of executor "%w" expired at %s without a heartbeat (attempt %d); executor "%w" took the run over',
			executor_id, strftime('%Y-%m-%dT%H:%M:%fZ', max(due_at, updated_at) / 1000000.0, 'unixepoch'), attempt, ?1),
		'retryable', json('true'))
		ELSE error END,
	run_indexed = run_indexed OR queue IN (SELECT name FROM durable_controls
		WHERE kind = 'queue' AND (concurrency > 0 OR per_key > 0 OR rate > 0))
WHERE seq IN (SELECT value FROM json_each(?4)) AND due_at IS NOT NULL AND due_at <= ?3
RETURNING {{mutable_columns}}

-- name: complete
-- Applies a batch of guarded transitions. Each {{rows}} tuple is: id, fence,
-- from, to, output, run_output, error, attempt, iteration, due_at, fail_fast,
-- children added, terminal (0/1), now, attempts (NULL keeps the row's, ''
-- clears them). SET expressions see the row before the update.
WITH t (id, fence, from_status, to_status, output, run_output, error, attempt,
	iteration, due_at, fail_fast, n_children, terminal, now, attempts) AS (VALUES {{rows}})
UPDATE durable_executions AS e SET
	status = t.to_status,
	output = CASE WHEN t.to_status = 'completed' THEN t.output ELSE e.output END,
	run_output = CASE
		WHEN t.to_status = 'waiting_for_children' AND e.status = 'running' THEN t.run_output
		WHEN t.to_status IN ('waiting_for_children', 'waiting_for_finalize') THEN e.run_output
		ELSE NULL END,
	error = t.error,
	attempt = t.attempt,
	iteration = t.iteration,
	executor_id = NULL,
	due_at = t.due_at,
	started_at = CASE WHEN t.to_status = 'ready' THEN NULL ELSE e.started_at END,
	finished_at = CASE WHEN t.terminal THEN t.now ELSE e.finished_at END,
	fail_fast = CASE
		WHEN t.to_status IN ('waiting_for_children', 'waiting_for_finalize')
		THEN t.fail_fast ELSE e.fail_fast END,
	waiting_for_children_at = CASE
		WHEN t.to_status = 'waiting_for_children' AND e.status <> 'waiting_for_children'
		THEN t.now ELSE e.waiting_for_children_at END,
	waiting_for_finalize_at = CASE
		WHEN t.to_status = 'waiting_for_finalize' AND e.status <> 'waiting_for_finalize'
		THEN t.now ELSE e.waiting_for_finalize_at END,
	children_total = e.children_total + t.n_children,
	children_pending = e.children_pending + t.n_children,
	attempts = nullif(coalesce(t.attempts, e.attempts), ''),
	updated_at = t.now
FROM t
WHERE e.id = t.id AND e.fence = t.fence AND e.status = t.from_status
RETURNING id, parent_id, children_total

-- name: done_set
-- The SET list of complete_done and complete_done_seq: what a transition
-- from running to completed without an error changes (t is the tuple, n
-- holds now).
	status = 'completed',
	output = t.output,
	run_output = NULL,
	error = NULL,
	attempt = t.attempt,
	iteration = t.iteration,
	executor_id = NULL,
	due_at = NULL,
	finished_at = n.now,
	updated_at = n.now

-- name: complete_done
-- The complete query for the common case, kept lean: every transition of
-- the batch goes from running to completed without an error. ?1 is now;
-- each {{rows}} tuple is id, fence, output, attempt, iteration. The result
-- is the complete query's for the same transitions.
WITH n (now) AS (SELECT ?),
t (id, fence, output, attempt, iteration) AS (VALUES {{rows}})
UPDATE durable_executions AS e SET
{{done_set}}
FROM t, n
WHERE e.id = t.id AND e.fence = t.fence AND e.status = 'running'
RETURNING id, parent_id, children_total

-- name: complete_done_seq
-- complete_done for transitions whose rows' seqs the writer knows (it
-- claimed them): each {{rows}} tuple starts with the seq, so the row is
-- found by its rowid instead of through the id index.
WITH n (now) AS (SELECT ?),
t (seq, id, fence, output, attempt, iteration) AS (VALUES {{rows}})
UPDATE durable_executions AS e SET
{{done_set}}
FROM t, n
WHERE e.seq = t.seq AND e.id = t.id AND e.fence = t.fence AND e.status = 'running'
RETURNING id, parent_id, children_total

-- name: guard
-- Whether a transition's guard matches.
SELECT 1 FROM durable_executions WHERE id = ?1 AND fence = ?2 AND status = ?3

-- name: child_finished
-- Bookkeeping on a waiting parent when ?2 of its children became terminal:
-- ?1 parent id, ?3 1 when one of them did not complete, ?4 now. Returns the
-- parent's due_at, which is ?4 when it became due.
UPDATE durable_executions SET
	children_pending = children_pending - ?2,
	due_at = CASE WHEN children_pending - ?2 <= 0 OR (?3 AND fail_fast)
		THEN ?4 ELSE due_at END,
	updated_at = ?4
WHERE id = ?1 AND status IN ('waiting_for_children', 'waiting_for_finalize')
RETURNING due_at

-- name: cancel_descendants
-- Cancels every unfinished descendant of ?1. ?2 now, ?3 the error message.
WITH RECURSIVE d (seq, id) AS (
	SELECT seq, id FROM durable_executions WHERE parent_id = ?1
	UNION ALL
	SELECT e.seq, e.id FROM durable_executions AS e JOIN d ON e.parent_id = d.id
)
UPDATE durable_executions SET
	status = 'cancelled',
	finished_at = ?2,
	updated_at = ?2,
	due_at = NULL,
	error = json_object('kind', 'cancelled', 'message', ?3)
WHERE seq IN (SELECT seq FROM d)
	AND status IN ('ready', 'running', 'waiting_for_children', 'waiting_for_finalize')
RETURNING id

-- name: cancel_select
SELECT seq, status, parent_id, children_total FROM durable_executions WHERE id = ?1

-- name: cancel_update
UPDATE durable_executions SET
	status = 'cancelled',
	finished_at = ?2,
	updated_at = ?2,
	due_at = NULL,
	error = ?3
WHERE seq = ?1

-- name: heartbeat
-- ?1 new lease expiry, ?2 JSON array of [id, fence] pairs. Returns the leases
-- still held.
UPDATE durable_executions AS e SET due_at = ?1
FROM (SELECT value ->> 0 AS id, value ->> 1 AS fence FROM json_each(?2)) AS l
WHERE e.id = l.id AND e.fence = l.fence AND e.due_at IS NOT NULL
	AND e.status IN ('running', 'waiting_for_children', 'waiting_for_finalize')
RETURNING id, fence

-- name: release
-- ?1 now, ?2 JSON array of [id, fence] pairs. A running row that is not
-- sleeping goes back to ready; a sleeping or waiting row only becomes due.
UPDATE durable_executions AS e SET
	status = CASE WHEN e.status = 'running' AND e.sleep_key IS NULL
		THEN 'ready' ELSE e.status END,
	executor_id = NULL,
	started_at = CASE WHEN e.status = 'running' AND e.sleep_key IS NULL
		THEN NULL ELSE e.started_at END,
	due_at = ?1,
	updated_at = ?1
FROM (SELECT value ->> 0 AS id, value ->> 1 AS fence FROM json_each(?2)) AS l
WHERE e.id = l.id AND e.fence = l.fence AND e.due_at IS NOT NULL
	AND e.status IN ('running', 'waiting_for_children', 'waiting_for_finalize')

-- name: recover
-- ?1 executor, ?2 now. Scans the due index only: claimed rows have a due_at.
UPDATE durable_executions INDEXED BY durable_executions_due SET due_at = ?2, updated_at = ?2
WHERE due_at IS NOT NULL AND executor_id = ?1
	AND status IN ('running', 'waiting_for_children', 'waiting_for_finalize')

-- name: finished_early
-- Whether a row finished before ?1 and before it was created (a partial
-- index, normally empty: see listQuery in list.go).
SELECT 1 FROM durable_executions
WHERE finished_at < created_at AND finished_at < ?1
LIMIT 1

-- name: delete_roots
-- The roots a Delete names (?1, a JSON array of distinct ids), with what
-- decides whether each may be deleted; an unknown id has no row.
SELECT e.id, e.seq, e.status, e.parent_id, e.tags IS NOT NULL
FROM json_each(?1) AS j JOIN durable_executions AS e ON e.id = j.value

-- name: delete_descendants
-- The descendants of the roots in ?1 (a JSON array of ids), read to be
-- checked and deleted by seq (a range of the root index per root).
SELECT e.seq, e.root_id, e.id, e.status, e.tags IS NOT NULL
FROM json_each(?1) AS j JOIN durable_executions AS e ON e.root_id = j.value

-- name: delete_tags
-- Deletes the tag rows of the rows whose seqs are in ?1 (a JSON array).
DELETE FROM durable_execution_tags WHERE (tag, created_at, id) IN (
	SELECT j.value, e.created_at, e.id
	FROM durable_executions AS e, json_each(e.tags) AS j
	WHERE e.seq IN (SELECT value FROM json_each(?1)))

-- name: insert_tags
-- Inserts the tag rows of the executions whose ids are in ?1 (a JSON
-- array), just inserted.
INSERT INTO durable_execution_tags (tag, created_at, id, seq)
SELECT j.value, e.created_at, e.id, e.seq
FROM json_each(?1) AS i JOIN durable_executions AS e ON e.id = i.value, json_each(e.tags) AS j

-- name: delete_rows
-- Deletes the rows whose seqs are in ?1 (a JSON array).
DELETE FROM durable_executions WHERE seq IN (SELECT value FROM json_each(?1))

-- name: root_of
SELECT root_id FROM durable_executions WHERE id = ?1

-- name: lead_take
-- Takes the lease ?1 for owner ?2 until ?3 when it is free, lapsed (its
-- expiry at or before now, ?4) or already the owner's: one row changed
-- then, none otherwise.
INSERT INTO durable_leases (name, owner, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE durable_leases.owner = excluded.owner OR durable_leases.expires_at <= ?4

-- name: lead_give_up
DELETE FROM durable_leases WHERE name = ?1 AND owner = ?2

-- name: expired_end
-- Where a batch of DeleteExpired ends: the key of the (?4 + 1)th entry of
-- durable_executions_created after (?1, ?2) among the rows created before
-- ?3, read from the index alone. "?4 + 0", not "?4": see list_children.
SELECT created_at, id FROM durable_executions INDEXED BY durable_executions_created
WHERE (created_at, id) > (?1, ?2) AND created_at < ?3
ORDER BY created_at, id
LIMIT 1 OFFSET ?4 + 0

-- name: expired_match
-- The condition on an expired root of a batch of DeleteExpired: a
-- top-level row between (?1, ?2) (excluded) and (?3, ?4) in list order,
-- created and finished before ?5, in one of the statuses ?6 to ?11 (the
-- statuses asked, repeated to fill the six). An OR chain: see the status
-- CHECK of 001.
(e.created_at, e.id) > (?1, ?2) AND (e.created_at, e.id) <= (?3, ?4)
	AND e.created_at < ?5 AND e.parent_id IS NULL AND e.finished_at < ?5
	AND (e.status = ?6 OR e.status = ?7 OR e.status = ?8 OR e.status = ?9
		OR e.status = ?10 OR e.status = ?11)

-- name: expired_last
-- The key of the last expired root of a batch (expired_match), read
-- backwards from its end.
SELECT e.created_at, e.id FROM durable_executions AS e INDEXED BY durable_executions_created
WHERE {{expired_match}}
ORDER BY e.created_at DESC, e.id DESC
LIMIT 1

-- name: expired_delete_alone
-- Deletes the expired roots of a batch (expired_match) that have neither
-- tags nor descendants: most roots, in one statement, without their rows
-- ever leaving SQLite (the probe of the root index is a subquery, so
-- SQLite collects the range's rowids first, then deletes them).
DELETE FROM durable_executions AS e INDEXED BY durable_executions_created
WHERE {{expired_match}} AND e.tags IS NULL
	AND NOT EXISTS (SELECT 1 FROM durable_executions AS d WHERE d.root_id = e.id)

-- name: expired_span
-- The smallest and the largest id of a batch of DeleteExpired (the
-- entries between (?1, ?2) excluded and (?3, ?4)), read from the index
-- alone.
SELECT min(e.id), max(e.id) FROM durable_executions AS e INDEXED BY durable_executions_created
WHERE (e.created_at, e.id) > (?1, ?2) AND (e.created_at, e.id) <= (?3, ?4)

-- name: expired_uncounted
-- Whether a row whose root's id is between ?1 and ?2 has a root that does
-- not count its children (children_total 0): a row inserted with a
-- RootID by Insert, not spawned by Complete. When there is none, a root
-- of that span with children_total 0 has no descendants.
SELECT EXISTS (SELECT 1 FROM durable_executions AS d INDEXED BY durable_executions_root
	JOIN durable_executions AS r ON r.id = d.root_id
	WHERE d.root_id >= ?1 AND d.root_id <= ?2 AND r.children_total = 0)

-- name: expired_delete_childless
-- expired_delete_alone when no root of the batch has descendants it does
-- not count (expired_uncounted): a root with children_total 0 has none,
-- so the statement has no subquery, and SQLite deletes each row as it
-- walks the range, and a row costs less (docs/sqlite.md).
DELETE FROM durable_executions AS e INDEXED BY durable_executions_created
WHERE {{expired_match}} AND e.tags IS NULL AND e.children_total = 0

-- name: expired_roots
-- The expired roots of a batch (expired_match) that expired_delete_alone
-- or expired_delete_childless left: those with tags or descendants (or,
-- after expired_delete_childless, a children_total above 0), in list
-- order.
SELECT e.seq, e.id, e.tags IS NOT NULL
FROM durable_executions AS e INDEXED BY durable_executions_created
WHERE {{expired_match}}
ORDER BY e.created_at, e.id

-- name: control_register
-- Creates the control ?1 ?2 with spec ?3 and mark ?4 at ?5, not paused;
-- one that exists gets the spec and keeps its paused and mark.
INSERT INTO durable_controls (kind, name, paused, spec, mark, updated_at) VALUES (?1, ?2, 0, ?3, ?4, ?5)
ON CONFLICT (kind, name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at

-- name: control_list
SELECT kind, name, paused, spec, mark, updated_at, concurrency, per_key, rate, rate_per
FROM durable_controls WHERE kind = ?1 ORDER BY name

-- name: control_limits
-- The control's limits and rate window, and whether it is paused.
SELECT paused, concurrency, per_key, rate, rate_per, rate_start, rate_count
FROM durable_controls WHERE kind = ?1 AND name = ?2

-- name: control_limit
-- Sets the control's limits to ?3 (concurrency), ?4 (per key), ?5 per ?6
-- (rate) at ?7; a change of the rate limit starts a new window.
UPDATE durable_controls SET concurrency = ?3, per_key = ?4,
	rate_start = CASE WHEN rate <> ?5 OR rate_per <> ?6 THEN 0 ELSE rate_start END,
	rate_count = CASE WHEN rate <> ?5 OR rate_per <> ?6 THEN 0 ELSE rate_count END,
	rate = ?5, rate_per = ?6, updated_at = ?7
WHERE kind = ?1 AND name = ?2

-- name: index_runs
-- Flags the running rows of queue ?1 in durable_executions_running (see
-- migration 012), when it gets its first limit.
UPDATE durable_executions SET run_indexed = 1
WHERE queue = ?1 AND due_at IS NOT NULL AND status = 'running' AND NOT run_indexed

-- name: control_rate_window
-- Sets the rate window of queue ?1 to start ?2, count ?3.
UPDATE durable_controls SET rate_start = ?2, rate_count = ?3 WHERE kind = 'queue' AND name = ?1

-- name: limited_queues
-- The queues with a limit, not paused, by name.
SELECT name, concurrency, per_key, rate, rate_per FROM durable_controls
WHERE kind = 'queue' AND (concurrency > 0 OR per_key > 0 OR rate > 0) AND NOT paused ORDER BY name

-- name: running_key_count
-- The running, not sleeping rows of queue ?1 with concurrency key ?2.
SELECT count(*) FROM durable_executions INDEXED BY durable_executions_running_key
WHERE queue = ?1 AND concurrency_key = ?2 AND status = 'running' AND sleep_key IS NULL
	AND concurrency_key IS NOT NULL

-- name: running_count
-- The running, not sleeping rows of queue ?1: its slots in use.
SELECT count(*) FROM durable_executions INDEXED BY durable_executions_running
WHERE queue = ?1 AND status = 'running' AND sleep_key IS NULL AND run_indexed

-- name: limited_lapsed
-- The running, not sleeping rows of queue ?1 whose lease lapsed at ?2
-- (rescued or not), of the tasks ?3 (a JSON array), oldest first, at most
-- ?4 ("+ 0": see list_children).
SELECT {{columns}} FROM durable_executions INDEXED BY durable_executions_running
WHERE queue = ?1 AND status = 'running' AND sleep_key IS NULL AND run_indexed AND due_at <= ?2
	AND task_id IN (SELECT value FROM json_each(?3))
ORDER BY due_at, seq LIMIT ?4 + 0

-- name: limited_candidates
-- claim_candidates of the one queue ?4, limited or not (see claim_body for
-- ?1 to ?3).
WITH RECURSIVE qs (name) AS (SELECT ?4),
{{level_scan}},
{{claim_body}}

-- name: limited_key_candidates
-- The rows due at ?1 of the tasks ?2 (a JSON array) of the queue ?4,
-- limited to ?5 running rows per concurrency key, that are not running
-- and whose key (if any) has fewer than ?5 running rows, in claim order,
-- at most ?3: a walk of the queue's range of the due index in
-- (priority, due_at) order, which passes over the rows of a full key
-- (one search of durable_executions_running_key each) and the rows not
-- due yet.
SELECT {{columns}} FROM durable_executions AS x INDEXED BY durable_executions_due
WHERE x.queue = ?4 AND x.due_at IS NOT NULL AND x.due_at <= ?1
	AND x.task_id IN (SELECT value FROM json_each(?2))
	AND NOT (x.status = 'running' AND x.sleep_key IS NULL)
	AND (x.concurrency_key IS NULL OR (SELECT count(*) FROM durable_executions AS r
		INDEXED BY durable_executions_running_key
		WHERE r.queue = x.queue AND r.concurrency_key = x.concurrency_key
			AND r.status = 'running' AND r.sleep_key IS NULL AND r.concurrency_key IS NOT NULL) < ?5)
ORDER BY x.priority, x.due_at, x.seq LIMIT ?3 + 0

-- name: control_paused
SELECT paused FROM durable_controls WHERE kind = ?1 AND name = ?2

-- name: control_pause
-- Sets the control's paused to ?3 at ?4.
UPDATE durable_controls SET paused = ?3, updated_at = ?4 WHERE kind = ?1 AND name = ?2

-- name: control_advance
-- Moves the control's mark from ?3 to ?4 at ?5; returns a row when it did.
UPDATE durable_controls SET mark = ?4, updated_at = ?5 WHERE kind = ?1 AND name = ?2 AND mark = ?3
RETURNING 1

-- name: control_exists
SELECT 1 FROM durable_controls WHERE kind = ?1 AND name = ?2
