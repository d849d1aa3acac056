package memory

import (
	"container/heap"
	"slices"
	"sort"
	"time"

	"github.com/durable-go/durable/storage"
)

// dueKey names a due queue: the rows of one task, queue and priority.
type dueKey struct {
	task, queue string
	priority    int
}

// dueQueue is a min-heap of the rows of one dueKey whose DueAt is set,
// ordered by (DueAt, insertion order). Rows track their position in heapIdx
// so they can be fixed or removed when their DueAt changes.
type dueQueue struct {
	key  dueKey
	rows []*row
	// mark is the Store.gen of the last Claim or NextDue that visited the
	// queue; it skips task ids listed twice.
	mark uint64
}

func (q *dueQueue) Len() int           { return len(q.rows) }
func (q *dueQueue) Less(i, j int) bool { return dueBefore(q.rows[i], q.rows[j]) }

func (q *dueQueue) Swap(i, j int) {
	q.rows[i], q.rows[j] = q.rows[j], q.rows[i]
	q.rows[i].heapIdx = i
	q.rows[j].heapIdx = j
}

// Push is for container/heap only.
func (q *dueQueue) Push(x any) {
	r := x.(*row)
	r.heapIdx = len(q.rows)
	q.rows = append(q.rows, r)
}

// Pop is for container/heap only.
func (q *dueQueue) Pop() any {
	n := len(q.rows) - 1
	r := q.rows[n]
	q.rows[n] = nil
	q.rows = q.rows[:n]
	r.heapIdx = -1
	return r
}

// top returns the row with the earliest DueAt, or nil.
func (q *dueQueue) top() *row {
	if len(q.rows) == 0 {
		return nil
	}
	return q.rows[0]
}

// dueBefore orders rows by DueAt, then insertion order.
func dueBefore(a, b *row) bool {
	if a.due != b.due {
		return a.due < b.due
	}
	return a.seq < b.seq
}

// mergeQueue is a min-heap of due queues ordered by priority, then by their
// top rows. Claim uses it to take due rows of several tasks and queues in
// global (Priority, DueAt, seq) order.
type mergeQueue []*dueQueue

func (m mergeQueue) Len() int { return len(m) }
func (m mergeQueue) Less(i, j int) bool {
	if pi, pj := m[i].key.priority, m[j].key.priority; pi != pj {
		return pi < pj
	}
	return dueBefore(m[i].top(), m[j].top())
}
func (m mergeQueue) Swap(i, j int) { m[i], m[j] = m[j], m[i] }

// Push is for container/heap only.
func (m *mergeQueue) Push(x any) { *m = append(*m, x.(*dueQueue)) }

// Pop is for container/heap only.
func (m *mergeQueue) Pop() any {
	old := *m
	q := old[len(old)-1]
	*m = old[:len(old)-1]
	return q
}

// setDue sets r's DueAt (already normalised) and keeps its task's due queue
// in step, and the lease heap: a running, non-sleeping row's DueAt is its
// lease expiry. The caller sets the row's status first.
func (s *Store) setDue(r *row, t time.Time) {
	r.e.DueAt = t
	r.due = t.UnixMicro()
	key := dueKey{r.e.TaskID, r.e.Queue, r.e.Priority}
	q := s.due[key]
	switch {
	case t.IsZero() && r.heapIdx >= 0:
		heap.Remove(q, r.heapIdx)
	case t.IsZero():
	case r.heapIdx >= 0:
		heap.Fix(q, r.heapIdx)
	default:
		if q == nil {
			q = &dueQueue{key: key}
			s.due[key] = q
			s.dueKeys[key.task] = append(s.dueKeys[key.task], key)
		}
		heap.Push(q, r)
	}
	if !t.IsZero() && r.e.Status == storage.StatusRunning && r.e.SleepKey == "" {
		s.leaseTaken(r)
	}
}

// queues returns the non-empty due queues of the given task ids and
// queues (every queue when there is none), each once, leaving out the
// paused queues and the limited ones (claimLimited claims those).
func (s *Store) queues(taskIDs, queues []string) []*dueQueue {
	return s.dueQueues(taskIDs, queues, false)
}

// limitedDueQueues returns the due queues queues leaves out for their
// limits: those of the queues with a limit that are not paused.
func (s *Store) limitedDueQueues(taskIDs, queues []string) []*dueQueue {
	return s.dueQueues(taskIDs, queues, true)
}

// dueQueues returns the non-empty due queues of the given task ids and
// queues (every queue when there is none), each once, of the queues not
// paused whose having a limit is limited.
func (s *Store) dueQueues(taskIDs, queues []string, limited bool) []*dueQueue {
	s.gen++
	var qs []*dueQueue
	for _, id := range taskIDs {
		for _, key := range s.dueKeys[id] {
			q := s.due[key]
			if q.mark == s.gen || q.Len() == 0 || (len(queues) > 0 && !slices.Contains(queues, key.queue)) {
				continue
			}
			if paused, lim := s.queueState(key.queue); paused || lim != limited {
				continue
			}
			q.mark = s.gen
			qs = append(qs, q)
		}
	}
	return qs
}

// nextDueVisits bounds the rows NextDue visits in each limited due queue
// to find its first row due after now: the rows already due come first in
// the heap (a full queue's backlog), and past this many NextDue leaves the
// queue out, as if it had no such row.
const nextDueVisits = 4096

// firstAfter returns the first row of q, in (DueAt, seq) order, whose due
// time is after now (microseconds), or nil when there is none or finding
// it would visit more than visits rows. A heap's row precedes its
// children, so the search skips the subtrees of rows after now (their
// root is the first of them) and of rows after the best found so far.
func (q *dueQueue) firstAfter(now int64, visits int) *row {
	var best *row
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(q.rows) {
			continue
		}
		r := q.rows[i]
		if best != nil && !dueBefore(r, best) {
			continue
		}
		if visits--; visits < 0 {
			return nil
		}
		if r.due > now {
			best = r
			continue
		}
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return best
}

// popDue removes and returns up to limit rows of the given tasks and
// queues that are due at now, in (Priority, DueAt, seq) order. The caller
// must give each a new DueAt.
func (s *Store) popDue(taskIDs, queues []string, now time.Time, limit int) []*row {
	nowKey := now.UnixMicro()
	var m mergeQueue
	for _, q := range s.queues(taskIDs, queues) {
		if q.top().due <= nowKey {
			m = append(m, q)
		}
	}
	heap.Init(&m)
	var picked []*row
	for len(picked) < limit && m.Len() > 0 {
		q := m[0]
		picked = append(picked, heap.Pop(q).(*row))
		if next := q.top(); next != nil && next.due <= nowKey {
			heap.Fix(&m, 0)
		} else {
			heap.Pop(&m)
		}
	}
	return picked
}

// addChild records r under its parent, keeping (ChildIndex, seq) order.
func (s *Store) addChild(r *row) {
	pid := r.e.ParentID
	if pid == "" {
		return
	}
	list := s.children[pid]
	i := len(list)
	if i > 0 && list[i-1].e.ChildIndex > r.e.ChildIndex {
		i = sort.Search(len(list), func(i int) bool { return list[i].e.ChildIndex > r.e.ChildIndex })
	}
	list = append(list, nil)
	copy(list[i+1:], list[i:])
	list[i] = r
	s.children[pid] = list
}

// childrenFrom returns the parent's children with ChildIndex >= from.
func (s *Store) childrenFrom(parentID string, from int) []*row {
	list := s.children[parentID]
	i := sort.Search(len(list), func(i int) bool { return list[i].e.ChildIndex >= from })
	return list[i:]
}
