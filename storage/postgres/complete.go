package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
)

// appliedRow is a row changed by a transition or by Cancel, as the
// bookkeeping needs it.
type appliedRow struct {
	id, parentID, rootID string
	status               storage.Status
	childrenTotal        int64
}

// cascades reports whether the row's unfinished descendants must be
// cancelled: it ended without completing and has children.
func (r appliedRow) cascades() bool {
	return r.status.Terminal() && r.status != storage.StatusCompleted && r.childrenTotal > 0
}

// events accumulates the event of one write.
type events struct {
	ready    bool
	finished []string
}

func (ev *events) event() storage.Event {
	return storage.Event{Ready: ev.ready, Finished: ev.finished}
}

// add records what an applied transition means for subscribers.
func (ev *events) add(r appliedRow) {
	switch {
	case r.status.Terminal():
		ev.finished = append(ev.finished, r.id)
	case r.status == storage.StatusReady:
		ev.ready = true
	}
}

// errConflict aborts a batched Complete whose transitions touch related
// rows (a row and its parent, or a row and a descendant of a row that
// cascades): such a batch is redone one transition at a time, so the
// outcome is exactly that of applying the transitions in order.
var errConflict = errors.New("transitions of one batch touch related rows")

// Complete applies p.Transitions in one transaction. Transitions without
// children are applied by a single UPDATE ... FROM unnest(...) statement;
// each transition with children runs under its own savepoint (so that a
// duplicate child fails that transition alone), its guarded update and the
// insert of its children being one statement. The bookkeeping then takes
// at most two more statements (parents' counters, cascading
// cancellation), and the NOTIFY one. When transitions of the batch touch
// related rows, the batch is redone one transition at a time.
func (s *Store) Complete(ctx context.Context, p storage.CompleteParams) ([]storage.TransitionResult, error) {
	if err := s.check("complete"); err != nil {
		return nil, err
	}
	if err := validateTransitions(p.Transitions); err != nil {
		return nil, fmt.Errorf("postgres: complete: %w", err)
	}
	results := make([]storage.TransitionResult, len(p.Transitions))
	if len(p.Transitions) == 0 {
		return results, nil
	}
	now := s.now(p.Now)
	if allDone(p.Transitions) {
		if res, ok, err := s.completeDone(ctx, p.Transitions, now); ok {
			return res, err
		}
	}
	sequential := needsSequential(p.Transitions)
	var ev events
	for {
		var first *simpleStep // the batch's plain transitions, sent with BEGIN
		prime := func(b *pgx.Batch) {}
		if !sequential {
			var err error
			if first, err = newSimpleStep(p.Transitions, allIndexes(len(p.Transitions)), now); err != nil {
				return nil, fmt.Errorf("postgres: complete: %w", err)
			}
			prime = func(b *pgx.Batch) { first.queue(b, s.q.complete) }
		}
		err := s.withTx(ctx, prime, func(tx pgx.Tx) error {
			clear(results)
			ev = events{}
			return s.completeTx(ctx, tx, p, now, sequential, first, results, &ev)
		})
		if errors.Is(err, errConflict) && !sequential {
			sequential = true
			continue
		}
		if err != nil {
			return nil, wrapErr("complete", err)
		}
		break
	}
	s.publish(ev.event())
	return results, nil
}

// allDone reports whether every transition goes from running to completed
// without an error and keeps the attempt history: the common batch, which
// completeDone applies in one statement.
func allDone(ts []storage.Transition) bool {
	for i := range ts {
		t := &ts[i]
		if t.From != storage.StatusRunning || t.To != storage.StatusCompleted || t.Error != nil || len(t.Children) > 0 ||
			t.Attempts != nil {
			return false
		}
	}
	return true
}

// completeDone applies a batch of running -> completed transitions in one
// statement (complete_done): the updates, the bookkeeping of their parents
// and the notifications, in one round trip and one commit. It reports
// false, having done nothing, when an ID appears twice: such a batch is
// applied one transition at a time.
func (s *Store) completeDone(ctx context.Context, ts []storage.Transition, now any) ([]storage.TransitionResult, bool, error) {
	d, ok := s.newDoneStep(ts, now)
	if !ok {
		return nil, false, nil
	}
	err := withRetry(ctx, func() error {
		batch := &pgx.Batch{}
		d.queue(batch)
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return nil, true, wrapErr("complete", err)
	}
	s.publish(d.ev.event())
	return d.results, true, nil
}

// doneStep is complete_done for one batch of transitions: its arguments,
// and the results and events its rows fill in.
type doneStep struct {
	plans   string // generic_plans
	stmt    string // complete_done
	args    namedArgs
	ids     []string // sorted
	order   []int    // ids[k] is the ID of transition order[k]
	results []storage.TransitionResult
	ev      events
}

// newDoneStep prepares complete_done for ts, given in ID order (the order
// in which the rows are locked); false when an ID appears twice.
func (s *Store) newDoneStep(ts []storage.Transition, now any) (*doneStep, bool) {
	order := allIndexes(len(ts))
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(ts[a].ID, ts[b].ID) })
	for k := 1; k < len(order); k++ {
		if ts[order[k]].ID == ts[order[k-1]].ID {
			return nil, false // the same row twice: applied one at a time
		}
	}
	ids := make([]string, len(ts))
	fences, attempts, iterations := make([]int64, len(ts)), make([]int64, len(ts)), make([]int64, len(ts))
	outputs := make([][]byte, len(ts))
	for k, i := range order {
		t := &ts[i]
		ids[k], fences[k], outputs[k] = t.ID, t.Fence, t.Output
		attempts[k], iterations[k] = int64(t.Attempt), int64(t.Iteration)
	}
	var channel *string
	if !s.cfg.DisableNotifications {
		channel = &s.channel
	}
	args := namedArgs{"now": now, "d_id": ids, "d_fence": fences, "d_output": outputs,
		"d_attempt": attempts, "d_iteration": iterations, "channel": channel, "sender": s.tag}
	return &doneStep{plans: s.q.genericPlans, stmt: s.q.completeDone, args: args, ids: ids, order: order, results: make([]storage.TransitionResult, len(ts))}, true
}

// queue adds the step's statements to batch (generic_plans, then
// complete_done), clearing what an earlier try filled in.
func (d *doneStep) queue(batch *pgx.Batch) {
	clear(d.results)
	d.ev = events{}
	batch.Queue(d.plans)
	batch.Queue(d.stmt, d.args).Query(func(rows pgx.Rows) error {
		var id string
		var ready bool
		var notes int64
		_, err := pgx.ForEachRow(rows, []any{&id, &ready, &notes}, func() error {
			// ids is sorted and distinct: the row's transition is
			// ts[order[k]].
			k, found := slices.BinarySearch(d.ids, id)
			if !found {
				return fmt.Errorf("complete returned unknown execution %q", id)
			}
			d.results[d.order[k]].Applied = true
			d.ev.finished = append(d.ev.finished, id)
			d.ev.ready = d.ev.ready || ready
			return nil
		})
		return err
	})
}

func allIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// completeTx applies the transitions: all at once (first holds the result
// of their plain transitions) or, when sequential, one at a time.
func (s *Store) completeTx(ctx context.Context, tx pgx.Tx, p storage.CompleteParams, now any, sequential bool,
	first *simpleStep, results []storage.TransitionResult, ev *events) error {
	if !sequential {
		applied, err := s.applyTransitions(ctx, tx, now, p.Transitions, allIndexes(len(p.Transitions)), first, results, ev)
		if err != nil {
			return err
		}
		if conflicts(applied) {
			return errConflict
		}
		if err := s.bookkeep(ctx, tx, now, applied, ev); err != nil {
			return err
		}
		return s.sendNotify(ctx, tx, ev)
	}
	for i := range p.Transitions {
		applied, err := s.applyTransitions(ctx, tx, now, p.Transitions, []int{i}, nil, results, ev)
		if err != nil {
			return err
		}
		if err := s.bookkeep(ctx, tx, now, applied, ev); err != nil {
			return err
		}
	}
	return s.sendNotify(ctx, tx, ev)
}

// applyTransitions applies the transitions ts[idx] (whose IDs are
// distinct), records the outcomes in results and returns the rows changed.
// The plain ones (without children) are applied by one statement, unless
// done already holds its result.
func (s *Store) applyTransitions(ctx context.Context, tx pgx.Tx, now any, ts []storage.Transition, idx []int,
	done *simpleStep, results []storage.TransitionResult, ev *events) ([]appliedRow, error) {
	if done == nil {
		step, err := newSimpleStep(ts, idx, now)
		if err != nil {
			return nil, err
		}
		if step != nil {
			batch := &pgx.Batch{}
			step.queue(batch, s.q.complete)
			if err := tx.SendBatch(ctx, batch).Close(); err != nil {
				return nil, err
			}
		}
		done = step
	}
	var applied []appliedRow
	if done != nil {
		applied = done.record(results)
	}
	for _, i := range idx {
		if len(ts[i].Children) == 0 {
			continue
		}
		if err := validateChildren(&ts[i]); err != nil {
			// Nothing to apply; an error for the transition if its guard
			// matches.
			matched, gerr := s.guardMatches(ctx, tx, &ts[i])
			if gerr != nil {
				return nil, gerr
			}
			if matched {
				results[i].Err = fmt.Errorf("postgres: complete %s: %w", ts[i].ID, err)
			}
			continue
		}
		rows, err := s.applyWithChildren(ctx, tx, now, &ts[i])
		var dup *duplicateChildError
		if errors.As(err, &dup) {
			results[i].Err = err
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(rows) > 0 {
			results[i].Applied = true
			applied = append(applied, rows...)
			ev.ready = true // children were inserted
		}
	}
	for _, r := range applied {
		ev.add(r)
	}
	return applied, nil
}

// simpleStep is the single statement that applies the transitions without
// children of a batch. The rows are given in ID order, the order in which
// they are locked.
type simpleStep struct {
	args    namedArgs
	byID    map[string]int
	applied []appliedRow
}

// newSimpleStep prepares the step for the transitions ts[idx] without
// children; it returns nil when there are none.
func newSimpleStep(ts []storage.Transition, idx []int, now any) (*simpleStep, error) {
	var sorted []int
	for _, i := range idx {
		if len(ts[i].Children) == 0 {
			sorted = append(sorted, i)
		}
	}
	if len(sorted) == 0 {
		return nil, nil
	}
	slices.SortFunc(sorted, func(a, b int) int { return strings.Compare(ts[a].ID, ts[b].ID) })
	var arrays transitionArrays
	st := &simpleStep{byID: make(map[string]int, len(sorted))}
	for _, i := range sorted {
		if err := arrays.add(&ts[i]); err != nil {
			return nil, err
		}
		st.byID[ts[i].ID] = i
	}
	st.args = namedArgs{"now": now}
	arrays.addTo(st.args)
	return st, nil
}

// queue queues the step's statement on b; its rows land in st.applied.
func (st *simpleStep) queue(b *pgx.Batch, sql string) {
	if st == nil {
		return
	}
	b.Queue(sql, st.args).Query(func(rows pgx.Rows) error {
		var err error
		st.applied, err = pgx.CollectRows(rows, scanApplied)
		return err
	})
}

// record marks the applied transitions in results and returns their rows.
func (st *simpleStep) record(results []storage.TransitionResult) []appliedRow {
	for _, r := range st.applied {
		results[st.byID[r.id]].Applied = true
	}
	return st.applied
}

func scanApplied(row pgx.CollectableRow) (appliedRow, error) {
	var r appliedRow
	var status string
	err := row.Scan(&r.id, &r.parentID, &r.rootID, &status, &r.childrenTotal)
	r.status = storage.Status(status)
	return r, err
}

// duplicateChildError reports a transition whose children could not be
// inserted because an ID or SleepKey exists; it wraps storage.ErrDuplicate.
type duplicateChildError struct{ err error }

func (e *duplicateChildError) Error() string { return e.err.Error() }
func (e *duplicateChildError) Unwrap() error { return e.err }

// childSavepoint is the savepoint around a transition with children.
const childSavepoint = "durable_children"

// applyWithChildren applies one transition and inserts its children, in
// one statement under a savepoint. A duplicate child rolls back to the
// savepoint and returns a *duplicateChildError.
func (s *Store) applyWithChildren(ctx context.Context, tx pgx.Tx, now any, t *storage.Transition) ([]appliedRow, error) {
	children, err := newExecArrays(t.Children, t.ChildDelays)
	if err != nil {
		return nil, err
	}
	var arrays transitionArrays
	if err := arrays.add(t); err != nil {
		return nil, err
	}
	args := namedArgs{"now": now}
	arrays.addTo(args)
	children.addTo(args)

	batch := &pgx.Batch{}
	batch.Queue("SAVEPOINT " + childSavepoint)
	var applied []appliedRow
	batch.Queue(s.q.completeWithChildren, args).Query(func(rows pgx.Rows) error {
		var err error
		applied, err = pgx.CollectRows(rows, scanApplied)
		return err
	})
	batch.Queue("RELEASE SAVEPOINT " + childSavepoint)
	err = tx.SendBatch(ctx, batch).Close()
	if err == nil {
		return applied, nil
	}
	if !isUniqueViolation(err) {
		return nil, err
	}
	if rerr := rollbackTo(ctx, tx, childSavepoint, err); rerr != err {
		return nil, rerr
	}
	return nil, &duplicateChildError{err: wrapErr(fmt.Sprintf("complete %s: insert children", t.ID), err)}
}

// conflicts reports whether the bookkeeping of some applied row touches
// another row of the batch: its parent, or (for a row that cascades) a row
// of the same tree. Applying such a batch at once could differ from
// applying its transitions in order.
func conflicts(applied []appliedRow) bool {
	ids := make(map[string]bool, len(applied))
	for _, r := range applied {
		ids[r.id] = true
	}
	for _, r := range applied {
		if r.parentID != "" && ids[r.parentID] {
			return true
		}
	}
	for _, x := range applied {
		if !x.cascades() {
			continue
		}
		tree := x.rootID
		if tree == "" {
			tree = x.id
		}
		for _, y := range applied {
			if y.id != x.id && y.rootID == tree {
				return true
			}
		}
	}
	return false
}

// bookkeep does what the applied rows' terminal transitions imply for
// other rows: their waiting parents are decremented (and made due), and
// the unfinished descendants of those that ended without completing are
// cancelled. Both statements go in one round trip.
func (s *Store) bookkeep(ctx context.Context, tx pgx.Tx, now any, applied []appliedRow, ev *events) error {
	var parents, cascIDs, cascStatus []string
	var completed []bool
	for _, r := range applied {
		if !r.status.Terminal() {
			continue
		}
		if r.parentID != "" {
			parents = append(parents, r.parentID)
			completed = append(completed, r.status == storage.StatusCompleted)
		}
		if r.cascades() {
			cascIDs = append(cascIDs, r.id)
			cascStatus = append(cascStatus, string(r.status))
		}
	}
	batch := &pgx.Batch{}
	if len(parents) > 0 {
		args := namedArgs{"now": now, "p_parent": parents, "p_completed": completed}
		batch.Queue(s.q.completeParents, args).Query(func(rows pgx.Rows) error {
			var id string
			var due bool
			_, err := pgx.ForEachRow(rows, []any{&id, &due}, func() error {
				ev.ready = ev.ready || due
				return nil
			})
			return err
		})
	}
	if len(cascIDs) > 0 {
		args := namedArgs{"now": now, "c_id": cascIDs, "c_status": cascStatus}
		batch.Queue(s.q.cancelDescendants, args).Query(func(rows pgx.Rows) error {
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
				ev.finished = append(ev.finished, id)
				return nil
			})
			return err
		})
	}
	if batch.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, batch).Close()
}

// sendNotify sends the notifications of ev through tx.
func (s *Store) sendNotify(ctx context.Context, tx pgx.Tx, ev *events) error {
	batch := &pgx.Batch{}
	s.queueNotify(batch, s.tag, ev.event())
	if batch.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, batch).Close()
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
	}
	return nil
}

// validateChildren rejects the children of t that no store can insert. A
// transition with such a child is not applied; its result holds the error
// when its guard matches (as for a duplicate child).
func validateChildren(t *storage.Transition) error {
	for j := range t.Children {
		if err := storage.ValidateExecution(&t.Children[j]); err != nil {
			return fmt.Errorf("child %d: %w", j, err)
		}
	}
	return nil
}

// guardMatches reports whether t's guard matches its row (see
// transition_update in queries.sql), through tx.
func (s *Store) guardMatches(ctx context.Context, tx pgx.Tx, t *storage.Transition) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, s.q.guard, namedArgs{"id": t.ID, "fence": t.Fence, "from": string(t.From)}).Scan(&ok)
	return ok, err
}

// needsSequential reports whether the batch must be applied one
// transition at a time from the start: an ID appears twice, or a
// transition targets a child inserted by the batch.
func needsSequential(ts []storage.Transition) bool {
	seen := make(map[string]bool, len(ts))
	for i := range ts {
		if seen[ts[i].ID] {
			return true
		}
		seen[ts[i].ID] = true
	}
	for i := range ts {
		for j := range ts[i].Children {
			if seen[ts[i].Children[j].ID] {
				return true
			}
		}
	}
	return false
}
