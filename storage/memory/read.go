package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/durable-go/durable/storage"
)

// Get returns one execution, or an error wrapping [storage.ErrNotFound].
func (s *Store) Get(ctx context.Context, p storage.GetParams) (storage.Execution, error) {
	if err := s.lock(ctx, "get"); err != nil {
		return storage.Execution{}, err
	}
	defer s.mu.Unlock()
	r := s.rows[p.ID]
	if r == nil {
		return storage.Execution{}, fmt.Errorf("memory: get execution %q: %w", p.ID, storage.ErrNotFound)
	}
	return copyExecution(r.e), nil
}

// GetBySleepKey returns the execution with that SleepKey, or an error
// wrapping [storage.ErrNotFound].
func (s *Store) GetBySleepKey(ctx context.Context, p storage.GetBySleepKeyParams) (storage.Execution, error) {
	if err := s.lock(ctx, "get by sleep key"); err != nil {
		return storage.Execution{}, err
	}
	defer s.mu.Unlock()
	r := s.bySleepKey[p.SleepKey]
	if r == nil || p.SleepKey == "" {
		return storage.Execution{}, fmt.Errorf("memory: get execution by sleep key %q: %w", p.SleepKey, storage.ErrNotFound)
	}
	return copyExecution(r.e), nil
}

// ListChildren returns a parent's children ordered by ChildIndex (ties in
// insertion order); an unknown parent has none.
func (s *Store) ListChildren(ctx context.Context, p storage.ListChildrenParams) ([]storage.Execution, error) {
	if err := s.lock(ctx, "list children"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	list := s.childrenFrom(p.ParentID, p.FromIndex)
	if p.Limit > 0 && len(list) > p.Limit {
		list = list[:p.Limit]
	}
	out := make([]storage.Execution, len(list))
	for i, r := range list {
		out[i] = copyExecution(r.e)
	}
	return out, nil
}

// NextDue returns how long until the earliest DueAt among rows of p.TaskIDs
// and p.Queues, not of a paused queue, and of a limited queue only a DueAt
// after the last claim, p.Now less p.Lookback (its rows due before that
// wait for a slot, not for a time), or until a full rate window of one of
// those queues ends after it, whichever is first; a row already due gives
// 0. ok is false when there is neither.
func (s *Store) NextDue(ctx context.Context, p storage.NextDueParams) (time.Duration, bool, error) {
	if err := s.lock(ctx, "next due"); err != nil {
		return 0, false, err
	}
	defer s.mu.Unlock()
	var first *row
	for _, q := range s.queues(p.TaskIDs, p.Queues) {
		if first == nil || dueBefore(q.top(), first) {
			first = q.top()
		}
	}
	now, since := dbTime(p.Now), dbTime(p.SinceClaim()).UnixMicro()
	for _, q := range s.limitedDueQueues(p.TaskIDs, p.Queues) {
		if r := q.firstAfter(since, nextDueVisits); r != nil && (first == nil || dueBefore(r, first)) {
			first = r
		}
	}
	next, ok := s.windowsEnd(p.Queues, since)
	if first != nil && (!ok || first.due < next) {
		next, ok = first.due, true
	}
	if !ok {
		return 0, false, nil
	}
	return max(time.UnixMicro(next).Sub(now), 0), true, nil
}

// windowsEnd returns the earliest end after since (Unix microseconds) of
// the full rate windows of queues (every queue when empty) that are not
// paused: the rows of such a queue already due start then.
func (s *Store) windowsEnd(queues []string, since int64) (end int64, ok bool) {
	for k, c := range s.controls {
		if k.kind != storage.ControlQueue || c.Paused || c.Rate == 0 || len(queues) > 0 && !slices.Contains(queues, k.name) {
			continue
		}
		w := s.windows[k.name]
		if e := w.Start + c.Per.Microseconds(); w.Start != 0 && w.Count >= c.Rate && e > since && (!ok || e < end) {
			end, ok = e, true
		}
	}
	return end, ok
}
