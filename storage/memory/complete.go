package memory

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// Complete applies guarded transitions in order; see [storage.Store]. A
// transition whose guard matches but which is malformed (To is running or
// unknown, ChildDelays does not match Children, a child is invalid) or
// whose children clash with existing rows gets a TransitionResult.Err and
// changes nothing.
func (s *Store) Complete(ctx context.Context, p storage.CompleteParams) ([]storage.TransitionResult, error) {
	if err := s.lock(ctx, "complete"); err != nil {
		return nil, err
	}
	now := dbTime(p.Now)
	var ev events
	results := make([]storage.TransitionResult, len(p.Transitions))
	for i := range p.Transitions {
		results[i] = s.apply(&p.Transitions[i], now, &ev)
	}
	s.mu.Unlock()
	s.publish(ev)
	return results, nil
}

// apply checks one transition completely, then applies it.
func (s *Store) apply(t *storage.Transition, now time.Time, ev *events) storage.TransitionResult {
	r := s.rows[t.ID]
	if r == nil || r.e.Fence != t.Fence || r.e.Status != t.From || r.e.Status.Terminal() {
		return storage.TransitionResult{}
	}
	if t.To == storage.StatusRunning || !t.To.Valid() {
		return storage.TransitionResult{Err: fmt.Errorf("memory: transition of execution %q to status %q: not a target status", t.ID, t.To)}
	}
	children, err := s.prepareRows(t.Children, t.ChildDelays, now)
	if err != nil {
		return storage.TransitionResult{Err: fmt.Errorf("memory: children of execution %q: %w", t.ID, err)}
	}
	s.transition(r, t, now, ev)
	for _, c := range children {
		s.insertRow(c)
	}
	if len(children) > 0 {
		r.e.ChildrenTotal += len(children)
		r.e.ChildrenPending += len(children)
		ev.ready = true
	}
	if r.e.Status.Terminal() {
		s.finish(r, now, ev)
	}
	return storage.TransitionResult{Applied: true}
}

// transition writes the fields a transition sets on its own row.
func (s *Store) transition(r *row, t *storage.Transition, now time.Time, ev *events) {
	e := &r.e
	from := e.Status
	e.Status = t.To
	e.ExecutorID = ""
	e.UpdatedAt = now
	e.Error = cloneError(t.Error)
	e.Attempt, e.Iteration = t.Attempt, t.Iteration
	if t.Attempts != nil {
		e.Attempts = copyAttempts(t.Attempts)
	}
	switch {
	case t.To == storage.StatusReady:
		e.StartedAt = time.Time{}
		e.RunOutput = nil
		s.setDue(r, dbTime(now.Add(t.Delay)))
		ev.ready = true
	case t.To.Waiting():
		s.enterWaiting(r, t, from, now)
	default:
		e.FinishedAt = now
		e.RunOutput = nil
		if t.To == storage.StatusCompleted {
			e.Output = bytes.Clone(t.Output)
		}
		s.setDue(r, time.Time{})
	}
}

// enterWaiting writes a transition to waiting_for_children or
// waiting_for_finalize (already set as e.Status).
func (s *Store) enterWaiting(r *row, t *storage.Transition, from storage.Status, now time.Time) {
	e := &r.e
	e.FailFast = t.FailFast
	if from != t.To {
		if t.To == storage.StatusWaitingForChildren {
			e.WaitingForChildrenAt = now
		} else {
			e.WaitingForFinalizeAt = now
		}
	}
	if t.To == storage.StatusWaitingForChildren && from == storage.StatusRunning {
		e.RunOutput = bytes.Clone(t.RunOutput)
	}
	s.setDue(r, time.Time{})
}

// finish does the bookkeeping of a row that just became terminal: the event,
// the cancellation of its unfinished descendants when it did not complete,
// and its parent's counters.
func (s *Store) finish(r *row, now time.Time, ev *events) {
	ev.finished = append(ev.finished, r.e.ID)
	if r.e.Status != storage.StatusCompleted && !s.keepDescendants {
		s.cancelDescendants(r, now, ev)
	}
	s.notifyParent(r, now, ev)
}

// cancelDescendants cancels every unfinished descendant of root, walking the
// whole subtree (through finished rows too). Cancelled rows do not notify
// their parents: those are root or descendants being cancelled themselves.
func (s *Store) cancelDescendants(root *row, now time.Time, ev *events) {
	stack := append([]*row(nil), s.children[root.e.ID]...)
	if len(stack) == 0 {
		return
	}
	cause := storage.ErrorInfo{
		Kind: storage.ErrorKindCancelled,
		Message: fmt.Sprintf("cancelled because ancestor %s (task %s) ended with status %s",
			root.e.ID, root.e.TaskID, root.e.Status),
	}
	for len(stack) > 0 {
		r := stack[len(stack)-1]
		stack = append(stack[:len(stack)-1], s.children[r.e.ID]...)
		if !r.e.Status.Terminal() {
			s.cancelRow(r, cause, now)
			ev.finished = append(ev.finished, r.e.ID)
		}
	}
}

// cancelRow moves a non-terminal row to cancelled, keeping ExecutorID.
func (s *Store) cancelRow(r *row, cause storage.ErrorInfo, now time.Time) {
	r.e.Status = storage.StatusCancelled
	r.e.FinishedAt = now
	r.e.UpdatedAt = now
	r.e.Error = &cause
	s.setDue(r, time.Time{})
}

// notifyParent updates the counters of r's parent, if it is waiting, after r
// became terminal, and makes it due when its continuation must run.
func (s *Store) notifyParent(r *row, now time.Time, ev *events) {
	if r.e.ParentID == "" {
		return
	}
	p := s.rows[r.e.ParentID]
	if p == nil || !p.e.Status.Waiting() {
		return
	}
	p.e.ChildrenPending--
	p.e.UpdatedAt = now
	if p.e.ChildrenPending <= 0 || (r.e.Status != storage.StatusCompleted && p.e.FailFast) {
		s.setDue(p, now)
		ev.ready = true
	}
}
