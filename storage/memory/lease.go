package memory

import (
	"context"
	"time"

	"github.com/durable-go/durable/storage"
)

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
