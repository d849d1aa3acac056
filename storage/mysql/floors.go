package mysql

import (
	"math"
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
// level just past the entry of the last row the last one took there (its
// floor): the rows of those tasks before it were taken, or locked by
// another claim, when it read them.
//
// A level a claim passed through without taking a row of the queue (it
// took rows of the queue from a later level) held no row of those tasks
// due by the claim's now that it could take, and the next claims leave it
// out until an event says rows became due (Event.Ready: stale), then read
// it from its floor again. A locking read of InnoDB does not stop at the
// end of its range while the entries it meets are delete-marked: the
// read of an emptied level went on over the marks its completions left
// (the rows' lease entries, due later), which purge had not removed yet:
// thousands of pages a claim, more with every level a drain over several
// priorities had emptied.
//
// A row can come due behind a floor, or in a level left out: a lapsed
// lease rescued (moved to its creation time), a claim rolled back, a row
// with an earlier due_at committed after a later one, a row enqueued to
// run at a past time, and in a level left out a row whose delay ends. The
// floors of a queue are dropped when a claim of it comes back short (the
// backlog is gone), when this store rescues leases or a claim fails, and
// floorsFor after a claim read the queue in full: such a row waits at most
// that long, and only while the queue holds a backlog.
type claimFloors struct {
	mu     sync.Mutex
	queues map[floorsKey]*floors
	gen    uint64 // incremented by stale
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
// is read from its start. passed[l] says that a claim passed level l:
// it is left out while the generation is passedGen, and read from its
// floor after. share is the part of the last claim's rows that were the
// queue's (branchLimit).
type floors struct {
	due       [storage.PriorityLevels]floor
	passed    [storage.PriorityLevels]bool
	passedGen uint64
	until     time.Time
	share     float64
}

// floor is an entry of a level of the claim index: rows enqueued together
// share their due_at, so the seq is needed to step over those taken.
// skipLevel is the floor of a level left out.
type floor struct{ due, seq int64 }

var skipLevel = floor{math.MaxInt64, 0}

// get returns the floors of queue q to read it with for a claim of tasks
// (tasksKey), nil when it is to be read in full, and the generation to
// pass to update.
func (c *claimFloors) get(q, tasks string, now time.Time) (*[storage.PriorityLevels]floor, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.queues[floorsKey{q, tasks}]
	if f == nil || !now.Before(f.until) {
		return nil, c.gen
	}
	due := f.due
	for l, passed := range f.passed {
		if passed && f.passedGen == c.gen {
			due[l] = skipLevel
		}
	}
	return &due, c.gen
}

// stale says that rows may have become due (Event.Ready): levels passed
// before are read again.
func (c *claimFloors) stale() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
}

// branchLimit is how many rows a claim of n rows over several queues
// reads and locks in queue q for tasks (tasksKey): q's part of the last
// such claim's rows, of n, and an eighth of n more (at least 8), at most
// n; n when there was none (cutAtBranchEnds keeps the claim in claim
// order when q held more). Each queue's read locks what it returns until the claim
// commits, and the claim keeps n rows of all of them: with every queue
// read to n, a claim of two queues locked twice the rows it took, and the
// next claim read the rows it left again.
func (c *claimFloors) branchLimit(q, tasks string, n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.queues[floorsKey{q, tasks}]
	if f == nil {
		return n
	}
	return min(n, int(math.Ceil(f.share*float64(n)))+max(n/8, 8))
}

// update records a claim of tasks (tasksKey) of queues that read each
// with the floors get returned (full[i]: none, queues[i] read in full),
// and took picked (in claim order; seqs are theirs) of the limit it asked
// for, at now; gen is the generation get returned before it read. more
// says that a queue may hold more rows than the claim took (it stopped at
// a queue's branch limit).
func (c *claimFloors) update(queues []string, tasks string, full []bool, picked []storage.Execution, seqs []int64, limit int, more bool, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(picked) < limit && !more {
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
		if f.passedGen != gen {
			// Passed before an event: read again, from the level's floor.
			f.passed = [storage.PriorityLevels]bool{}
		}
		var seen [storage.PriorityLevels]bool
		last, kept := -1, 0 // the last level the claim took a row of q from
		for j := range picked {
			e := &picked[j]
			l := e.Priority - storage.PriorityFirst
			if e.Queue != q {
				continue
			}
			kept++
			if l < 0 || l >= storage.PriorityLevels {
				continue
			}
			seen[l] = true
			last = max(last, l)
			f.due[l] = floor{e.DueAt.UnixMicro(), seqs[j] + 1} // past the last row taken
			f.passed[l] = false
		}
		f.share = float64(kept) / float64(len(picked))
		// The rows of q a claim keeps come first in q's own claim order,
		// so it read every level before the last it took from to its end.
		for l := range last {
			if !seen[l] {
				f.passed[l] = true
			}
		}
		f.passedGen = gen
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
// and, for each with one, that level from its floor on; the levels left
// out (skipLevel) not at all.
func levelsCond(all string, due *[storage.PriorityLevels]floor) string {
	if due == nil {
		return "t.priority IN " + all
	}
	var open []string
	var b strings.Builder
	for l, d := range due {
		p := strconv.Itoa(l + storage.PriorityFirst)
		switch d {
		case skipLevel:
			continue
		case floor{}:
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
	switch {
	case len(open) == 0 && b.Len() == 0:
		return "FALSE" // every level left out
	case len(open) == 0:
		return "(" + b.String() + ")"
	case b.Len() == 0:
		return "t.priority IN (" + strings.Join(open, ", ") + ")"
	}
	return "(t.priority IN (" + strings.Join(open, ", ") + ") OR " + b.String() + ")"
}
