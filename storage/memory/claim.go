package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/durable-go/durable/storage"
)

// Claim takes up to p.Limit due rows of p.TaskIDs and p.Queues, not of a
// paused queue, Priority then DueAt ascending then insertion order, lapsed
// leases as of their creation time (see rescue), within the concurrency
// limits of queues (claimLimited); see [storage.Store]. Rows of other
// tasks and queues are skipped and stay due.
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
	picked := s.claimLimited(p, now, p.Limit)
	if len(picked) < p.Limit {
		picked = append(picked, s.popDue(p.TaskIDs, p.Queues, now, p.Limit-len(picked))...)
		slices.SortFunc(picked, claimOrder)
	}
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
