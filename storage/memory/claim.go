package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// Claim takes up to p.Limit due rows of p.TaskIDs, DueAt ascending then
// insertion order, lapsed leases as of their creation time (see rescue);
// see [storage.Store]. Rows of other tasks are skipped and stay due.
func (s *Store) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	if err := s.lock(ctx, "claim"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if p.Limit <= 0 || len(p.TaskIDs) == 0 {
		return nil, nil
	}
	now := dbTime(p.Now)
	s.rescue(now)
	picked := s.popDue(p.TaskIDs, now, p.Limit)
	out := make([]storage.Execution, len(picked))
	for i, r := range picked {
		s.claimRow(r, p.ExecutorID, now, dbTime(now.Add(p.Lease)))
		out[i] = copyExecution(r.e)
	}
	return out, nil
}

// claimRow hands r to executor with a new fence and a lease until leaseEnd.
// r must have been popped from its due queue.
func (s *Store) claimRow(r *row, executor string, now, leaseEnd time.Time) {
	e := &r.e
	switch {
	case e.Status == storage.StatusReady:
		e.Status = storage.StatusRunning
		e.StartedAt = now
	case e.Status == storage.StatusRunning && e.SleepKey == "":
		e.Crashes++
		e.Error = &storage.ErrorInfo{
			Kind:      storage.ErrorKindLeaseExpired,
			Message:   leaseExpiredMessage(e.ExecutorID, leaseExpiry(e)),
			Retryable: true,
		}
	}
	e.Fence++
	e.ExecutorID = executor
	e.UpdatedAt = now
	s.setDue(r, leaseEnd)
}

func leaseExpiredMessage(executor string, expiry time.Time) string {
	return fmt.Sprintf("lease of executor %q expired at %s without a heartbeat; the executor is presumed dead",
		executor, expiry.Format(time.RFC3339Nano))
}

// NextDue returns how long until the earliest DueAt among rows of p.TaskIDs;
// a row already due gives 0. ok is false when no such row has a DueAt.
func (s *Store) NextDue(ctx context.Context, p storage.NextDueParams) (time.Duration, bool, error) {
	if err := s.lock(ctx, "next due"); err != nil {
		return 0, false, err
	}
	defer s.mu.Unlock()
	var first *row
	for _, q := range s.queues(p.TaskIDs) {
		if first == nil || dueBefore(q.top(), first) {
			first = q.top()
		}
	}
	if first == nil {
		return 0, false, nil
	}
	return max(first.e.DueAt.Sub(dbTime(p.Now)), 0), true, nil
}

// leased returns the row a lease names if it still holds it: same fence, a
// running or waiting status, and a DueAt (a claimed row always has one; a row
// completed into waiting has none, and must not be made due by a late
// heartbeat or release).
func (s *Store) leased(l storage.Lease) *row {
	r := s.rows[l.ID]
	if r == nil || r.e.Fence != l.Fence || r.e.DueAt.IsZero() {
		return nil
	}
	if r.e.Status != storage.StatusRunning && !r.e.Status.Waiting() {
		return nil
	}
	return r
}

// Heartbeat extends the leases still held and returns the others.
func (s *Store) Heartbeat(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
	if err := s.lock(ctx, "heartbeat"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	leaseEnd := dbTime(dbTime(p.Now).Add(p.Lease))
	s.rescue(dbTime(p.Now))
	var lost []storage.Lease
	for _, l := range p.Leases {
		r := s.leased(l)
		if r == nil {
			lost = append(lost, l)
			continue
		}
		s.setDue(r, leaseEnd)
	}
	return lost, nil
}

// Release gives leases back: a running row becomes ready and due now, a
// waiting or sleeping row becomes due now keeping its status. ExecutorID is
// cleared. Leases no longer held are ignored.
func (s *Store) Release(ctx context.Context, p storage.ReleaseParams) error {
	if err := s.lock(ctx, "release"); err != nil {
		return err
	}
	now := dbTime(p.Now)
	released := 0
	for _, l := range p.Leases {
		r := s.leased(l)
		if r == nil {
			continue
		}
		if r.e.Status == storage.StatusRunning && r.e.SleepKey == "" {
			r.e.Status = storage.StatusReady
			r.e.StartedAt = time.Time{}
		}
		r.e.ExecutorID = ""
		r.e.UpdatedAt = now
		s.setDue(r, now)
		released++
	}
	s.mu.Unlock()
	s.publish(events{ready: released > 0})
	return nil
}

// Recover makes every row claimed by p.ExecutorID due now and returns how
// many. It scans every row. An empty ExecutorID recovers nothing: unclaimed
// rows (sleeping rows among them) have no executor.
func (s *Store) Recover(ctx context.Context, p storage.RecoverParams) (int, error) {
	if err := s.lock(ctx, "recover"); err != nil {
		return 0, err
	}
	now := dbTime(p.Now)
	n := 0
	for _, r := range s.rows {
		e := &r.e
		if p.ExecutorID == "" || e.ExecutorID != p.ExecutorID || e.DueAt.IsZero() {
			continue
		}
		if e.Status != storage.StatusRunning && !e.Status.Waiting() {
			continue
		}
		e.UpdatedAt = now
		s.setDue(r, now)
		n++
	}
	s.mu.Unlock()
	s.publish(events{ready: n > 0})
	return n, nil
}
