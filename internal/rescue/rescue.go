// Package rescue paces the stores' rescue of lapsed leases.
//
// A running row whose owner died becomes due when its lease lapses, with
// DueAt the lease expiry. Claims take due rows oldest DueAt first, so behind
// a backlog of ready rows enqueued before that expiry the run would wait for
// the whole backlog. Before claiming, a store therefore moves the lapsed
// leases to DueAt = CreatedAt (UpdatedAt = the lease expiry, which the
// claim's lease_expired error reports), and claims take them as of their
// creation time, like the work they are.
//
// A rescue looks only at the rows whose DueAt lies in the window since the
// store's last rescue (less a slack for the clocks of other processes), so
// it reads an index range as long as what became due since, not the
// backlog; the first rescue of a store has no lower bound. A row the window
// misses (a clock further off than the slack, a rescue lost) is still
// claimed, in DueAt order, as it was before rescues: a rescue only ever
// moves work forward.
package rescue

import (
	"sync"
	"time"
)

// Interval is the least time between two rescues of a store.
const Interval = 250 * time.Millisecond

// Slack widens each window back in time, for rows made due with a DueAt
// already past when they committed (Recover makes its rows due at its now)
// and for a clock a little behind this one's. It can be short: a lease's
// expiry is written as the writer's now plus the lease, in the future of
// every window that had started, so a window misses it only when the
// writer's clock is behind by more than the lease plus Slack (and leases
// themselves mean nothing between clocks further apart than a lease). It
// costs: each window reads again the index entries of the last Slack, and
// under a heavy enqueue most of those are new ready rows.
const Slack = 100 * time.Millisecond

// Pacer decides when a store rescues and from where. The zero value is
// ready: its first rescue is due at once and has no lower bound.
type Pacer struct {
	mu   sync.Mutex
	done bool      // a rescue completed
	at   time.Time // pacing clock at the last rescue started
	from time.Time // lower bound of the next window (exclusive)
}

// Start reports whether a rescue is due at t (the pacing clock: the claim's
// Now when it is the store's clock, else the wall clock) and, if so, the
// lower bound of its window (exclusive), zero for none. A due rescue is
// reserved: Start returns false for the next Interval.
func (p *Pacer) Start(t time.Time) (from time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Claims of concurrent goroutines may bring their times a little out
	// of order; only a clock that went back further than Slack (fixed
	// times in tests) restarts the windows.
	back := p.at.Sub(t) > Slack
	if !p.at.IsZero() && !back && t.Sub(p.at) < Interval {
		return time.Time{}, false
	}
	p.at = t
	if !p.done || back {
		// No rescue completed yet, or the clock went back: no lower
		// bound.
		return time.Time{}, true
	}
	return p.from, true
}

// Done records a rescue that completed at now (the store's clock, as the
// rows' DueAt): the next window starts at now less Slack.
func (p *Pacer) Done(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	p.from = now.Add(-Slack)
}
