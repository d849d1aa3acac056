package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/durable-go/durable/storage"
)

// insertArgs encodes p as the arguments of the "insert" statement.
func (s *Store) insertArgs(p storage.InsertParams) (namedArgs, error) {
	arrays, err := newExecArrays(p.Executions, p.Delays)
	if err != nil {
		return nil, err
	}
	args := namedArgs{"now": s.now(p.Now)}
	arrays.addTo(args)
	return args, nil
}

// Insert inserts p.Executions all or nothing with one multi-row INSERT
// (and the NOTIFY of the new work) sent in one round trip; a large batch of
// plain new executions (a bulk enqueue) goes through COPY instead. A duplicate ID
// or SleepKey fails the call with an error wrapping storage.ErrDuplicate.
func (s *Store) Insert(ctx context.Context, p storage.InsertParams) error {
	if err := s.check("insert"); err != nil {
		return err
	}
	if len(p.Executions) == 0 {
		return nil
	}
	// Each priority's rows together in the table (storage.ClaimOrdered).
	p.Executions, p.Delays = storage.ClaimOrdered(p.Executions, p.Delays)
	ev := storage.Event{Ready: storage.AnyReady(p.Executions)}
	if copyable(p) {
		if err := s.insertCopy(ctx, p); err != nil {
			return wrapErr("insert", err)
		}
		s.publish(ev)
		return nil
	}
	if claimedBy, ok := plainRows(p); ok {
		if err := s.insertPlain(ctx, p, claimedBy, ev); err != nil {
			return wrapErr("insert", err)
		}
		s.publish(ev)
		return nil
	}
	args, err := s.insertArgs(p)
	if err != nil {
		return fmt.Errorf("postgres: insert: %w", err)
	}
	err = withRetry(ctx, func() error {
		// A batch without BEGIN runs in one implicit transaction.
		batch := &pgx.Batch{}
		batch.Queue(s.q.insert, args)
		s.queueNotify(batch, s.tag, ev)
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return s.insertError(ctx, p.Executions, err)
	}
	s.publish(ev)
	return nil
}

// activeKeyIndex is the unique index of the active rows' keys (migration
// 006).
const activeKeyIndex = "executions_active_key_idx"

// insertError is the error of a failed insert of execs: for a violation
// of activeKeyIndex, an *storage.ActiveKeyError naming the key and, when
// it is still active, its holder (read after the insert rolled back: a
// holder that finished meanwhile is not named).
func (s *Store) insertError(ctx context.Context, execs []storage.Execution, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != codeUniqueViolation || pgErr.ConstraintName != activeKeyIndex {
		return wrapErr("insert", err)
	}
	first := ""
	inBatch := make(map[string]*storage.Execution)
	for i := range execs {
		e := &execs[i]
		if e.ActiveKey == "" {
			continue
		}
		if h := inBatch[e.ActiveKey]; h != nil {
			return &storage.ActiveKeyError{Key: e.ActiveKey, ID: h.ID, TaskID: h.TaskID}
		}
		inBatch[e.ActiveKey] = e
		if first == "" {
			first = e.ActiveKey
		}
	}
	for key := range inBatch {
		var id, task string
		qerr := s.pool.QueryRow(context.WithoutCancel(ctx), s.q.activeKeyHolder, namedArgs{"key": key}).Scan(&id, &task)
		if qerr == nil {
			return &storage.ActiveKeyError{Key: key, ID: id, TaskID: task}
		}
	}
	return &storage.ActiveKeyError{Key: first}
}

// insertPlain inserts plain new executions, ready or all claimed at insert
// by claimedBy, and notifies ev (when it says Ready), in one statement
// (insert_plain).
func (s *Store) insertPlain(ctx context.Context, p storage.InsertParams, claimedBy string, ev storage.Event) error {
	n := len(p.Executions)
	ids, tasks, inputs := make([]string, n), make([]string, n), make([][]byte, n)
	maxRetries, baseDelays, maxDelays := make([]int64, n), make([]int64, n), make([]int64, n)
	multipliers, jitters := make([]float64, n), make([]float64, n)
	timeouts, delays := make([]int64, n), make([]int64, n)
	// The extra columns, only when a row has one set (hasExtras); the
	// rows before it have none.
	var tags, metadata []*string
	var retryOf, queues []string
	var priorities []int16
	for i := range p.Executions {
		e := &p.Executions[i]
		ids[i], tasks[i], inputs[i] = e.ID, e.TaskID, e.Input
		if tags == nil && hasExtras(e) {
			tags, retryOf, metadata = make([]*string, n), make([]string, n), make([]*string, n)
			queues, priorities = make([]string, n), make([]int16, n)
			for j := range i {
				queues[j], priorities[j] = storage.DefaultQueue, storage.DefaultPriority
			}
		}
		if tags != nil {
			var err error
			tags[i], retryOf[i] = encodeTags(e.Tags), e.RetryOf
			if metadata[i], err = storage.EncodeMetadata(e.Metadata); err != nil {
				return fmt.Errorf("execution %s: encode metadata: %w", e.ID, err)
			}
			queues[i], priorities[i] = storage.NormalizeQueue(e.Queue), int16(storage.NormalizePriority(e.Priority))
		}
		maxRetries[i], baseDelays[i], maxDelays[i] = int64(e.Retry.MaxRetries), int64(e.Retry.BaseDelay), int64(e.Retry.MaxDelay)
		multipliers[i], jitters[i] = e.Retry.Multiplier, e.Retry.Jitter
		timeouts[i] = int64(e.Timeout)
		if len(p.Delays) != 0 {
			delays[i] = micros(p.Delays[i])
		}
	}
	var channel, payload *string
	if !s.cfg.DisableNotifications && ev.Ready {
		ps := payloads(s.tag, ev)
		channel, payload = &s.channel, &ps[0]
	}
	args := namedArgs{"now": s.now(p.Now), "p_id": ids, "p_task_id": tasks, "p_input": inputs,
		"p_retry_max_retries": maxRetries, "p_retry_base_delay_ns": baseDelays, "p_retry_multiplier": multipliers,
		"p_retry_max_delay_ns": maxDelays, "p_retry_jitter": jitters, "p_timeout_ns": timeouts, "p_delay_us": delays,
		"channel": channel, "payload": payload, "claimed_by": claimedBy}
	sql := s.q.insertPlain
	if tags != nil {
		sql, args["p_tags"], args["p_retry_of"], args["p_metadata"] = s.q.insertPlainExtras, tags, retryOf, metadata
		args["p_queue"], args["p_priority"] = queues, priorities
	}
	return withRetry(ctx, func() error {
		batch := &pgx.Batch{}
		batch.Queue(s.q.genericPlans)
		batch.Queue(sql, args)
		return s.pool.SendBatch(ctx, batch).Close()
	})
}

// hasExtras reports whether e sets a column that insert_plain writes only
// in its Extras form: tags, RetryOf, metadata, or a queue or priority
// other than the defaults (which the columns' defaults give).
func hasExtras(e *storage.Execution) bool {
	return len(e.Tags) > 0 || e.RetryOf != "" || len(e.Metadata) > 0 || queuedRow(*e)
}

// insertSavepoint is the savepoint InsertTx puts around its writes.
const insertSavepoint = "durable_insert"

// InsertTx inserts executions like Insert, but through tx, a transaction
// of the caller on the store's database: the executions exist if and
// only if tx commits (transactional enqueue). The NOTIFY of the new work is
// sent through tx as well, so other processes (and this store's
// subscribers, through its listener) hear of it when tx commits; with
// notifications off, executors find the rows by polling.
//
// The writes run under a savepoint: when InsertTx fails (a duplicate ID or
// SleepKey: an error wrapping storage.ErrDuplicate), it rolls back to it
// and tx remains usable. p.Now is interpreted as by Insert.
func (s *Store) InsertTx(ctx context.Context, tx pgx.Tx, p storage.InsertParams) error {
	if err := s.check("insert"); err != nil {
		return err
	}
	if tx == nil {
		return errors.New("postgres: insert: nil transaction")
	}
	if len(p.Executions) == 0 {
		return nil
	}
	p.Executions, p.Delays = storage.ClaimOrdered(p.Executions, p.Delays)
	args, err := s.insertArgs(p)
	if err != nil {
		return fmt.Errorf("postgres: insert: %w", err)
	}
	batch := &pgx.Batch{}
	batch.Queue("SAVEPOINT " + insertSavepoint)
	batch.Queue(s.q.insert, args)
	batch.Queue("RELEASE SAVEPOINT " + insertSavepoint)
	s.queueNotify(batch, "", storage.Event{Ready: true})
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return s.insertError(ctx, p.Executions, rollbackTo(ctx, tx, insertSavepoint, err))
	}
	return nil
}

// rollbackTo undoes the work since savepoint sp after err. It only tries
// when the server reported err (the connection is still in sync); the
// returned error is err, joined with any rollback failure.
func rollbackTo(ctx context.Context, tx pgx.Tx, sp string, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	// The simple protocol: an aborted transaction refuses to prepare.
	_, rerr := tx.Exec(context.WithoutCancel(ctx),
		"ROLLBACK TO SAVEPOINT "+sp+"; RELEASE SAVEPOINT "+sp, pgx.QueryExecModeSimpleProtocol)
	if rerr != nil {
		return errors.Join(err, fmt.Errorf("rollback to savepoint %s: %w", sp, rerr))
	}
	return err
}

// Tx returns an inserter bound to tx, for durable's Task.EnqueueTx: the
// executions it inserts exist if and only if tx commits.
//
//	tx, _ := pool.Begin(ctx)
//	// ... the caller's own writes ...
//	h, err := sendEmail.EnqueueTx(ctx, store.Tx(tx), Email{To: "a@b.c"})
//	// ...
//	err = tx.Commit(ctx)
func (s *Store) Tx(tx pgx.Tx) storage.Inserter {
	return txInserter{s: s, tx: tx}
}

type txInserter struct {
	s  *Store
	tx pgx.Tx
}

func (t txInserter) Insert(ctx context.Context, p storage.InsertParams) error {
	return t.s.InsertTx(ctx, t.tx, p)
}
