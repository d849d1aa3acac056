package memory

import (
	"container/heap"
	"time"

	"github.com/durable-go/durable/storage"
)

// leaseEntry is a lease some row took: the row and its lease expiry (its
// due key then). An entry is stale once the row's due key changed (a
// heartbeat pushes a new entry) or the row is no longer running without
// sleeping; rescue skips stale entries.
type leaseEntry struct {
	r   *row
	due int64
}

// leaseHeap is a min-heap of lease entries by expiry.
type leaseHeap []leaseEntry

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h leaseHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }

// Push is for container/heap only.
func (h *leaseHeap) Push(x any) { *h = append(*h, x.(leaseEntry)) }

// Pop is for container/heap only.
func (h *leaseHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = leaseEntry{}
	*h = old[:len(old)-1]
	return e
}

// leaseTaken records that r, running and not sleeping, holds a lease until
// its due key. setDue calls it.
func (s *Store) leaseTaken(r *row) {
	heap.Push(&s.leases, leaseEntry{r: r, due: r.due})
}

// rescue moves every running, non-sleeping row whose lease lapsed at now
// to DueAt = CreatedAt, so that claims take it as of its creation time and
// not behind the rows that became due before its lease expiry; UpdatedAt
// keeps the lease expiry, which the claim's lease_expired error reports.
// The SQL stores do the same at most every 250 ms over the window since
// their last rescue; here the lease heap makes it exact and cheap, so
// every Claim (and Heartbeat, which keeps the heap short) does it.
func (s *Store) rescue(now time.Time) {
	nowKey := now.UnixMicro()
	for len(s.leases) > 0 && s.leases[0].due <= nowKey {
		l := heap.Pop(&s.leases).(leaseEntry)
		r := l.r
		if r.heapIdx < 0 || r.due != l.due || r.e.Status != storage.StatusRunning || r.e.SleepKey != "" {
			continue
		}
		if s.rows[r.e.ID] != r || !r.e.CreatedAt.Before(r.e.DueAt) {
			continue
		}
		r.e.UpdatedAt = r.e.DueAt
		s.setDue(r, r.e.CreatedAt)
	}
}

// leaseExpiry is when the lapsed lease of a running, non-sleeping row
// expired: its DueAt, or its UpdatedAt once rescued.
func leaseExpiry(e *storage.Execution) time.Time {
	if e.UpdatedAt.After(e.DueAt) {
		return e.UpdatedAt
	}
	return e.DueAt
}
