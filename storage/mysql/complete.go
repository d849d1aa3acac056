package mysql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/durable-go/durable/storage"
)

// Complete applies p.Transitions in one READ COMMITTED transaction: it
// locks the transitions' rows in id order (and the parents of those that
// may finish, in id order), applies the transitions in order on the locked
// rows in Go, with their bookkeeping (parents' counters, cascading
// cancellation, which lock the rows they reach), inserts the children of
// each applied transition under a savepoint (so that a duplicate child
// fails that transition alone), and writes every changed row back in one
// statement, with the event of the write. A batch of plain completions
// takes four statements and the commit.
func (s *Store) Complete(ctx context.Context, p storage.CompleteParams) ([]storage.TransitionResult, error) {
	if err := s.check("complete"); err != nil {
		return nil, err
	}
	if err := validateTransitions(p.Transitions); err != nil {
		return nil, fmt.Errorf("mysql: complete: %w", err)
	}
	results := make([]storage.TransitionResult, len(p.Transitions))
	if len(p.Transitions) == 0 {
		return results, nil
	}
	var ev events
	err := s.withTx(ctx, func(tx *pipe) error {
		clear(results)
		w := newTxWrite(s, tx, p.Now)
		if err := w.lockBatch(ctx, p.Transitions); err != nil {
			return err
		}
		for i := range p.Transitions {
			if err := w.apply(ctx, &p.Transitions[i], &results[i]); err != nil {
				return err
			}
		}
		if err := w.write(ctx); err != nil {
			return err
		}
		ev = w.ev
		return w.record(ctx)
	})
	if err != nil {
		return nil, s.wrapErr("complete", err)
	}
	s.publish(ev.event())
	return results, nil
}

// lockBatch locks the rows of the transitions, then the parents of those
// that go to a terminal status.
func (w *txWrite) lockBatch(ctx context.Context, ts []storage.Transition) error {
	ids := make([]string, len(ts))
	for i := range ts {
		ids[i] = ts[i].ID
	}
	if err := w.lock(ctx, ids); err != nil {
		return err
	}
	var parents []string
	for i := range ts {
		if r := w.rows[ts[i].ID]; r != nil && r.parentID != "" && ts[i].To.Terminal() {
			parents = append(parents, r.parentID)
		}
	}
	return w.lock(ctx, parents)
}

// apply applies one transition, if its guard matches, and records its
// outcome in res.
func (w *txWrite) apply(ctx context.Context, t *storage.Transition, res *storage.TransitionResult) error {
	r := w.rows[t.ID]
	if r == nil && w.inserted[t.ID] {
		// A child inserted by an earlier transition of the batch.
		if err := w.lock(ctx, []string{t.ID}); err != nil {
			return err
		}
		r = w.rows[t.ID]
	}
	if r == nil || r.fence != t.Fence || r.status != t.From || r.status.Terminal() {
		return nil
	}
	if len(t.Children) > 0 {
		ok, err := w.insertChildren(ctx, t, res)
		if err != nil || !ok {
			return err
		}
	}
	w.transition(r, t)
	res.Applied = true
	switch {
	case t.To == storage.StatusReady:
		w.ev.ready = true
	case t.To.Terminal():
		return w.finished(ctx, r)
	}
	return nil
}

// transition changes r as t says (see storage.Store.Complete).
func (w *txWrite) transition(r *rowState, t *storage.Transition) {
	from := r.status
	r.status = t.To
	if t.To == storage.StatusCompleted {
		r.outputSet, r.output = true, t.Output
	}
	switch {
	case t.To == storage.StatusWaitingForChildren && from == storage.StatusRunning:
		r.runOutputOp, r.runOutput = setRunOutput, t.RunOutput
	case t.To.Waiting():
	default:
		r.runOutputOp, r.runOutput = clearRunOutput, nil
	}
	r.errJSON, _ = encodeError(t.Error) // validated
	r.attempt, r.iteration = int64(t.Attempt), int64(t.Iteration)
	if t.Attempts != nil {
		r.attemptsSet = true
		r.attempts, _ = encodeAttempts(t.Attempts) // validated
	}
	if t.To.Waiting() {
		r.failFast = t.FailFast
	}
	r.executorID = ""
	r.dueAt = sql.NullInt64{}
	if t.To == storage.StatusReady {
		r.dueAt = w.at(w.now + durMicros(t.Delay))
		r.startedAt = sql.NullInt64{}
	}
	if t.To.Terminal() {
		r.finishedAt = w.at(w.now)
	}
	if t.To == storage.StatusWaitingForChildren && from != storage.StatusWaitingForChildren {
		r.wfcAt = w.at(w.now)
	}
	if t.To == storage.StatusWaitingForFinalize && from != storage.StatusWaitingForFinalize {
		r.wffAt = w.at(w.now)
	}
	r.childrenTotal += int64(len(t.Children))
	r.childrenPending += int64(len(t.Children))
	w.touch(r)
}

// childSavepoint is the savepoint around the children of a transition.
const childSavepoint = "durable_children"

// insertChildren inserts the children of t, whose guard matched, under a
// savepoint. It reports false, with res.Err set, when they cannot be
// inserted (an invalid child, or a duplicate ID or SleepKey): the
// transition is then not applied.
func (w *txWrite) insertChildren(ctx context.Context, t *storage.Transition, res *storage.TransitionResult) (bool, error) {
	for j := range t.Children {
		c := &t.Children[j]
		if err := storage.ValidateExecution(c); err != nil {
			res.Err = fmt.Errorf("mysql: complete %s: child %d: %w", t.ID, j, err)
			return false, nil
		}
		if err := checkLengths(c); err != nil {
			res.Err = fmt.Errorf("mysql: complete %s: child %d: %w", t.ID, j, err)
			return false, nil
		}
	}
	if err := w.tx.Defer(ctx, "SAVEPOINT "+childSavepoint); err != nil {
		return false, err
	}
	err := w.s.insertRows(ctx, w.tx, t.Children, t.ChildDelays, &w.now, false)
	if isDuplicate(err) {
		if _, rerr := w.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+childSavepoint); rerr != nil {
			return false, rerr
		}
		res.Err = w.s.wrapErr(fmt.Sprintf("complete %s: insert children", t.ID), err)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for j := range t.Children {
		w.inserted[t.Children[j].ID] = true
	}
	if storage.AnyReady(t.Children) {
		w.ev.ready = true
	}
	return true, nil
}

// validateTransitions rejects a batch that no store could apply
// meaningfully; nothing is written then.
func validateTransitions(ts []storage.Transition) error {
	for i := range ts {
		t := &ts[i]
		switch {
		case t.ID == "":
			return fmt.Errorf("transition %d has an empty ID", i)
		case !t.From.Valid():
			return fmt.Errorf("transition of %s has an invalid From status %q", t.ID, t.From)
		case !t.To.Valid() || t.To == storage.StatusRunning:
			return fmt.Errorf("transition of %s has an invalid To status %q", t.ID, t.To)
		case len(t.ChildDelays) != 0 && len(t.ChildDelays) != len(t.Children):
			return fmt.Errorf("transition of %s has %d child delays for %d children", t.ID, len(t.ChildDelays), len(t.Children))
		}
		if _, err := encodeError(t.Error); err != nil {
			return fmt.Errorf("transition of %s: encode error: %w", t.ID, err)
		}
		if _, err := encodeAttempts(t.Attempts); err != nil {
			return fmt.Errorf("transition of %s: encode attempts: %w", t.ID, err)
		}
	}
	return nil
}
