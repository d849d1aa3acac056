package mysql

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// floorsFor is how long a queue's claim floors are used before a claim
// reads its levels in full again: the longest a row that came due behind
// a floor waits while the queue holds a backlog.
const floorsFor = 250 * time.Millisecond

// claimFloors keeps, per queue and set of tasks claimed, where in each
// priority level of the claim index a claim starts reading while the
// queue holds a backlog.
//
// A claim changes the due_at of the rows it takes, so their old entries in
// the claim index are delete-marked, and stay until InnoDB's purge removes
// them, which falls behind during a drain. A claim reads each level from
// its first entry, stepping over those marks (with a look at each row):
// over a drain of 20,000 rows the pages a claim read grew from 200 to
// 58,000, and its time from 1 to 18 ms. So, while the claims of a queue
// come back full (a backlog), the next one of the same tasks starts each
// level at the entry of the first row the last one took there (its floor):
// the rows of those tasks before it were taken, or locked by another
// claim, when it read them.
//
// A row can come due behind a floor: a lapsed lease rescued (moved to its
// creation time), a claim rolled back, a row with an earlier due_at
// committed after a later one, a row enqueued to run at a past time. The
// floors of a queue are dropped when a claim of it comes back short (the
// backlog is gone), when this store rescues leases or a claim fails, and
// floorsFor after a claim read the queue in full: such a row waits at most
// that long, and only while the queue holds a backlog.
type claimFloors struct {
	mu     sync.Mutex
	queues map[floorsKey]*floors
}

// floorsKey names the floors of a queue for claims of a set of tasks (the
// task ids as the claim lists them, joined by NUL).
type floorsKey struct{ queue, tasks string }

// maxFloors bounds the floors kept: beyond it, a new queue or set of tasks
// drops them all (a claim reads in full, then starts new ones).
const maxFloors = 1024

// tasksKey is the tasks part of a floorsKey.
func tasksKey(taskIDs []string) string { return strings.Join(taskIDs, "\x00") }

// floors are a queue's floors until its time: per level, the claim index
// entry (due_at, seq) a claim starts at; the zero floor: none, the level
// is read from its start.
type floors struct {
	due   [storage.PriorityLevels]floor
	until time.Time
}

// floor is an entry of a level of the claim index: rows enqueued together
// share their due_at, so the seq is needed to step over those taken.
type floor struct{ due, seq int64 }

// get returns the floors of queue q to read it with for a claim of tasks
// (tasksKey), nil when it is to be read in full.
func (c *claimFloors) get(q, tasks string, now time.Time) *[storage.PriorityLevels]floor {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.queues[floorsKey{q, tasks}]
	if f == nil || !now.Before(f.until) {
		return nil
	}
	due := f.due
	return &due
}

// update records a claim of tasks (tasksKey) of queues that read each
// with the floors get returned (full[i]: none, queues[i] read in full),
// and took picked (in claim order; seqs are theirs) of the limit it asked
// for, at now.
func (c *claimFloors) update(queues []string, tasks string, full []bool, picked []storage.Execution, seqs []int64, limit int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(picked) < limit {
		for _, q := range queues {
			delete(c.queues, floorsKey{q, tasks})
		}
		return
	}
	if c.queues == nil || len(c.queues) >= maxFloors {
		c.queues = make(map[floorsKey]*floors)
	}
	for i, q := range queues {
		k := floorsKey{q, tasks}
		f := c.queues[k]
		if full[i] || f == nil {
			// Read in full: floors from this claim, for floorsFor.
			f = &floors{until: now.Add(floorsFor)}
			c.queues[k] = f
		}
		var seen [storage.PriorityLevels]bool
		for j := range picked {
			e := &picked[j]
			l := e.Priority - storage.PriorityFirst
			if e.Queue != q || l < 0 || l >= storage.PriorityLevels || seen[l] {
				continue
			}
			seen[l] = true
			f.due[l] = floor{e.DueAt.UnixMicro(), seqs[j]}
		}
	}
}

// drop forgets every floor: rows may have come due behind them (this
// store rescued leases, or a claim failed).
func (c *claimFloors) drop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.queues)
}

// levelsCond is claim_pick's condition on the levels: every level
// (t.priority IN (1, ..., 9)) without floors, else the levels without one
// and, for each with one, that level from its floor on.
func levelsCond(all string, due *[storage.PriorityLevels]floor) string {
	if due == nil {
		return "t.priority IN " + all
	}
	var open []string
	var b strings.Builder
	for l, d := range due {
		p := strconv.Itoa(l + storage.PriorityFirst)
		if d == (floor{}) {
			open = append(open, p)
			continue
		}
		if b.Len() > 0 {
			b.WriteString(" OR ")
		}
		due := strconv.FormatInt(d.due, 10)
		b.WriteString("(t.priority = " + p + " AND (t.due_at > " + due + " OR t.due_at = " + due +
			" AND t.seq >= " + strconv.FormatInt(d.seq, 10) + "))")
	}
	if len(open) == 0 {
		return "(" + b.String() + ")"
	}
	if b.Len() == 0 {
		return "t.priority IN (" + strings.Join(open, ", ") + ")"
	}
	return "(t.priority IN (" + strings.Join(open, ", ") + ") OR " + b.String() + ")"
}
