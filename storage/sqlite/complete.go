package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// completeWidth is the number of parameters of one tuple of the complete
// query; maxRun is the most transitions one run applies at once.
const (
	completeWidth = 15
	doneWidth     = 5
	maxRun        = 128
)

// Complete applies transitions in one transaction; results align with
// p.Transitions. Transitions apply as if one after the other, in order.
//
// Transitions without children are applied in runs, one UPDATE statement per
// run (up to 128 transitions); when a run turns out to interact with itself
// (a transition cascades a cancellation, or a row and its parent are both in
// the run) it is rolled back and applied one transition at a time, so the
// outcome is always that of the sequential order.
func (s *Store) Complete(ctx context.Context, p storage.CompleteParams) ([]storage.TransitionResult, error) {
	const op = "complete"
	plans := planTransitions(p)
	res := make([]storage.TransitionResult, len(p.Transitions))
	if len(res) == 0 {
		if s.isClosed() {
			return nil, errClosed(op)
		}
		return res, nil
	}
	err := s.submit(ctx, op, func(tx *writeTx) error {
		clear(res)
		if err := tx.complete(p.Now, p.Transitions, plans, res); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// plan is what Complete prepares for one transition before the write.
type plan struct {
	kids []storage.Execution // the children, ready for insertion
	// invalid is set when the transition can never apply (a bad target
	// status, a bad child); it becomes the transition's Err if its guard
	// matches.
	invalid error
}

// planTransitions validates the transitions and prepares their children.
func planTransitions(p storage.CompleteParams) []plan {
	plans := make([]plan, len(p.Transitions))
	for i, t := range p.Transitions {
		if !t.To.Valid() || t.To == storage.StatusRunning {
			plans[i].invalid = fmt.Errorf("sqlite: complete %q: %q is not a target status: %w", t.ID, t.To, errInvalidTransition)
			continue
		}
		kids, err := prepareRows(p.Now, t.Children, t.ChildDelays)
		if err == nil {
			err = distinctKeys(kids)
		}
		if err != nil {
			plans[i].invalid = fmt.Errorf("sqlite: complete %q: children: %w", t.ID, err)
			continue
		}
		plans[i].kids = kids
	}
	return plans
}

// errInvalidTransition is wrapped by the Err of a transition to a status
// that is not a target (running, or unknown).
var errInvalidTransition = errors.New("invalid transition")

// appliedRow is what the complete query returns of an applied transition.
type appliedRow struct {
	parentID      string
	childrenTotal int
}

// complete applies ts in order, filling res.
func (tx *writeTx) complete(now time.Time, ts []storage.Transition, plans []plan, res []storage.TransitionResult) error {
	for i := 0; i < len(ts); {
		n, err := tx.completeNext(now, ts[i:], plans[i:], res[i:])
		if err != nil {
			return err
		}
		i += n
	}
	return nil
}

// completeNext applies the first transition of ts, or the run of plain
// transitions it starts, and returns how many it applied.
func (tx *writeTx) completeNext(now time.Time, ts []storage.Transition, plans []plan, res []storage.TransitionResult) (int, error) {
	switch t := &ts[0]; {
	case !t.From.Valid() || t.From.Terminal():
		// The guard cannot match: no row has an unknown status, and a
		// terminal row never moves.
		return 1, nil
	case plans[0].invalid != nil:
		return 1, tx.rejectIfGuarded(t, plans[0].invalid, &res[0])
	case len(t.Children) > 0:
		return 1, tx.completeWithChildren(now, ts[:1], plans[0].kids, res[:1])
	}
	n := runLen(ts, plans)
	return n, tx.completeRun(now, ts[:n], res[:n])
}

// plain reports whether a transition can go into a run: valid, from an
// active status, without children.
func plain(t *storage.Transition, p *plan) bool {
	return p.invalid == nil && len(t.Children) == 0 && t.From.Valid() && !t.From.Terminal()
}

// runLen returns the length of the run at the start of ts: plain
// transitions with distinct IDs, at most maxRun.
func runLen(ts []storage.Transition, plans []plan) int {
	seen := map[string]bool{}
	n := 0
	for n < len(ts) && n < maxRun && plain(&ts[n], &plans[n]) && !seen[ts[n].ID] {
		seen[ts[n].ID] = true
		n++
	}
	return n
}

// rejectIfGuarded sets res.Err to invalid when t's guard matches: the
// transition would apply but cannot.
func (tx *writeTx) rejectIfGuarded(t *storage.Transition, invalid error, res *storage.TransitionResult) error {
	rows, err := tx.query("guard", t.ID, t.Fence, string(t.From))
	if err != nil {
		return err
	}
	defer rows.Close()
	if rows.Next() {
		res.Err = invalid
	}
	return rows.Err()
}

// completeRun applies a run of transitions without children.
func (tx *writeTx) completeRun(now time.Time, ts []storage.Transition, res []storage.TransitionResult) error {
	if len(ts) == 1 {
		applied, err := tx.applyTransitions(now, ts)
		if err != nil {
			return err
		}
		return tx.afterRun(now, ts, applied, res)
	}
	if err := tx.savepoint("run"); err != nil {
		return err
	}
	applied, err := tx.applyTransitions(now, ts)
	if err != nil {
		return err // the request's savepoint or transaction is rolled back
	}
	if interacts(ts, applied) {
		if err := tx.rollbackTo("run"); err != nil {
			return err
		}
		if err := tx.release("run"); err != nil {
			return err
		}
		for k := range ts {
			if err := tx.completeRun(now, ts[k:k+1], res[k:k+1]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := tx.release("run"); err != nil {
		return err
	}
	return tx.afterRun(now, ts, applied, res)
}

// interacts reports whether applying the run at once may differ from
// applying it in order: an applied transition cascades a cancellation, or an
// applied row's parent is in the run.
func interacts(ts []storage.Transition, applied map[string]appliedRow) bool {
	inRun := make(map[string]bool, len(ts))
	for _, t := range ts {
		inRun[t.ID] = true
	}
	for _, t := range ts {
		a, ok := applied[t.ID]
		if ok && (cascades(t.To, a) || inRun[a.parentID]) {
			return true
		}
	}
	return false
}

// cascades reports whether a row reaching status to cancels descendants.
func cascades(to storage.Status, a appliedRow) bool {
	return to.Terminal() && to != storage.StatusCompleted && a.childrenTotal > 0
}

// applyTransitions runs the guarded updates of ts (distinct IDs) and returns
// the applied ones by ID.
func (tx *writeTx) applyTransitions(now time.Time, ts []storage.Transition) (map[string]appliedRow, error) {
	applied := make(map[string]appliedRow, len(ts))
	args := make([]any, 0, 1+min(len(ts), maxRun)*completeWidth)
	for start := 0; start < len(ts); {
		n := chunkSize(len(ts)-start, maxRun)
		chunk := ts[start : start+n]
		var st *sql.Stmt
		var err error
		if allDone(chunk) {
			st, args, err = tx.doneChunk(now, chunk, args[:0])
		} else {
			st, args, err = tx.transitionChunk(now, chunk, args[:0])
		}
		if err != nil {
			return nil, err
		}
		if err := applyChunk(st, args, applied); err != nil {
			return nil, err
		}
		start += n
	}
	return applied, nil
}

// allDone reports whether every transition goes from running to
// completed without an error, keeping the attempt history: the lean
// complete_done query applies them.
func allDone(ts []storage.Transition) bool {
	for i := range ts {
		t := &ts[i]
		if t.From != storage.StatusRunning || t.To != storage.StatusCompleted || t.Error != nil || t.Attempts != nil {
			return false
		}
	}
	return true
}

// doneChunk returns the complete_done statement for ts and its arguments.
// When the writer knows every row's seq (it claimed them), it uses
// complete_done_seq, which finds the rows by rowid.
func (tx *writeTx) doneChunk(now time.Time, ts []storage.Transition, args []any) (*sql.Stmt, []any, error) {
	bySeq := true
	for i := range ts {
		if _, ok := tx.w.seqs[ts[i].ID]; !ok {
			bySeq = false
			break
		}
	}
	name, width := "complete_done", doneWidth
	if bySeq {
		name, width = "complete_done_seq", doneWidth+1
	}
	st, err := tx.sized(name, len(ts), width)
	if err != nil {
		return nil, nil, err
	}
	args = append(args, micros(now))
	for i := range ts {
		t := &ts[i]
		if bySeq {
			args = append(args, tx.w.seqs[t.ID])
			delete(tx.w.seqs, t.ID)
		}
		args = append(args, t.ID, t.Fence, nullBytes(t.Output), int64(t.Attempt), int64(t.Iteration))
	}
	return st, args, nil
}

// transitionChunk returns the complete statement for ts and its arguments.
func (tx *writeTx) transitionChunk(now time.Time, ts []storage.Transition, args []any) (*sql.Stmt, []any, error) {
	st, err := tx.sized("complete", len(ts), completeWidth)
	if err != nil {
		return nil, nil, err
	}
	for i := range ts {
		if args, err = appendTransitionArgs(args, now, &ts[i]); err != nil {
			return nil, nil, err
		}
	}
	return st, args, nil
}

func applyChunk(st *sql.Stmt, args []any, applied map[string]appliedRow) error {
	rows, err := st.Query(args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var parent sql.NullString
		var a appliedRow
		if err := rows.Scan(&id, &parent, &a.childrenTotal); err != nil {
			return err
		}
		a.parentID = parent.String
		applied[id] = a
	}
	return rows.Err()
}

// appendTransitionArgs appends the tuple of t, in the order of the complete
// query's t columns.
func appendTransitionArgs(args []any, now time.Time, t *storage.Transition) ([]any, error) {
	errJSON, err := encodeError(t.Error)
	if err != nil {
		return nil, err
	}
	var attempts any // nil keeps the row's history
	if t.Attempts != nil {
		if attempts, err = encodeAttempts(t.Attempts); err != nil {
			return nil, err
		}
		if attempts == nil {
			attempts = "" // an empty history clears it
		}
	}
	var due any
	if t.To == storage.StatusReady {
		due = micros(now.Add(t.Delay))
	}
	return append(args,
		t.ID, t.Fence, string(t.From), string(t.To),
		nullBytes(t.Output), nullBytes(t.RunOutput), errJSON,
		int64(t.Attempt), int64(t.Iteration), due, t.FailFast,
		int64(len(t.Children)), t.To.Terminal(), micros(now), attempts,
	), nil
}

// afterRun records the results of an applied run and does its bookkeeping:
// cascading cancellations, then the parents of rows that finished. The run
// does not interact with itself, so parents are updated once per parent.
func (tx *writeTx) afterRun(now time.Time, ts []storage.Transition, applied map[string]appliedRow, res []storage.TransitionResult) error {
	var parents []string
	done := map[string]*childrenDone{}
	for i, t := range ts {
		a, ok := applied[t.ID]
		if !ok {
			continue
		}
		res[i].Applied = true
		if err := tx.afterApplied(now, t, a); err != nil {
			return err
		}
		if !t.To.Terminal() || a.parentID == "" {
			continue
		}
		d := done[a.parentID]
		if d == nil {
			d = &childrenDone{}
			done[a.parentID] = d
			parents = append(parents, a.parentID)
		}
		d.n++
		d.failed = d.failed || t.To != storage.StatusCompleted
	}
	for _, p := range parents {
		if err := tx.childrenFinished(now, p, *done[p]); err != nil {
			return err
		}
	}
	return nil
}

// afterApplied records the events of an applied transition and cascades a
// cancellation to the descendants of a row that ended without completing.
func (tx *writeTx) afterApplied(now time.Time, t storage.Transition, a appliedRow) error {
	switch {
	case t.To == storage.StatusReady:
		tx.ready()
	case t.To.Terminal():
		tx.finished(t.ID)
	}
	if !cascades(t.To, a) {
		return nil
	}
	return tx.cancelDescendants(now, t.ID,
		fmt.Sprintf("cancelled because ancestor execution %s ended with status %s", t.ID, t.To))
}

// childrenDone counts the children of one parent that became terminal.
type childrenDone struct {
	n      int
	failed bool // one of them did not complete
}

// childrenFinished does the bookkeeping of a waiting parent whose children
// finished: the pending counter drops, and the parent becomes due when it
// reaches zero, or at once when a child failed and the parent fails fast.
func (tx *writeTx) childrenFinished(now time.Time, parentID string, d childrenDone) error {
	rows, err := tx.query("child_finished", parentID, int64(d.n), d.failed, micros(now))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var due sql.NullInt64
		if err := rows.Scan(&due); err != nil {
			return err
		}
		if due.Valid && due.Int64 == micros(now) {
			tx.ready()
		}
	}
	return rows.Err()
}

// cancelDescendants cancels every unfinished descendant of id.
func (tx *writeTx) cancelDescendants(now time.Time, id, message string) error {
	rows, err := tx.query("cancel_descendants", id, micros(now), message)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cid string
		if err := rows.Scan(&cid); err != nil {
			return err
		}
		tx.finished(cid)
	}
	return rows.Err()
}

// completeWithChildren applies one transition that spawns children: the
// children are inserted if and only if the transition applies, and a
// duplicate child leaves everything as it was and sets the result's Err.
// ts, kids and res are those of the one transition.
func (tx *writeTx) completeWithChildren(now time.Time, ts []storage.Transition, kids []storage.Execution, res []storage.TransitionResult) error {
	t := &ts[0]
	if err := tx.savepoint("spawn"); err != nil {
		return err
	}
	applied, err := tx.applyTransitions(now, ts)
	if err != nil {
		return err
	}
	if _, ok := applied[t.ID]; !ok {
		return tx.release("spawn")
	}
	if err := tx.insert(kids); err != nil {
		if !errors.Is(err, storage.ErrDuplicate) {
			return err
		}
		res[0].Err = fmt.Errorf("sqlite: complete %s: children: %w", t.ID, err)
		if err := tx.rollbackTo("spawn"); err != nil {
			return err
		}
		return tx.release("spawn")
	}
	if err := tx.release("spawn"); err != nil {
		return err
	}
	tx.ready()
	return tx.afterRun(now, ts, applied, res)
}

func (tx *writeTx) savepoint(name string) error { return tx.w.execControl("SAVEPOINT " + name) }

func (tx *writeTx) rollbackTo(name string) error { return tx.w.execControl("ROLLBACK TO " + name) }

func (tx *writeTx) release(name string) error { return tx.w.execControl("RELEASE " + name) }
