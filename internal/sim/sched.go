package sim

import (
	"container/heap"
	"time"
)

// event is one step the scheduler will take: fn at time at. Events of an
// executor (node set) belong to one incarnation of it and are dropped once
// it crashed; while it is stalled they wait.
type event struct {
	at   time.Time
	seq  uint64 // ties on at: scheduled first, runs first
	node *node
	inc  int
	what string
	fn   func()
	// dropped, if set, says the event is no longer wanted (a timer
	// stopped): it is dropped without a step.
	dropped func() bool
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return ev
}

// at schedules fn after d, as a step of n (nil: of the world).
func (s *sim) at(d time.Duration, n *node, what string, fn func()) { s.schedule(d, n, what, fn, nil) }

// schedule schedules fn after d, as a step of n, unless dropped says by
// then that it is no longer wanted.
func (s *sim) schedule(d time.Duration, n *node, what string, fn func(), dropped func() bool) {
	s.seq++
	ev := &event{at: s.now.Add(max(d, 0)), seq: s.seq, node: n, what: what, fn: fn, dropped: dropped}
	if n != nil {
		ev.inc = n.inc
	}
	heap.Push(&s.queue, ev)
}

// next pops the next event to run, skipping those of dead incarnations
// and putting off those of stalled executors; nil when none is left.
func (s *sim) next() *event {
	for s.queue.Len() > 0 {
		ev := heap.Pop(&s.queue).(*event)
		if ev.at.After(s.now) {
			s.now = ev.at
		}
		n := ev.node
		switch {
		case ev.dropped != nil && ev.dropped():
			continue
		case n == nil:
			return ev
		case !n.alive || n.inc != ev.inc:
			continue
		case n.stalledUntil.After(s.now):
			s.seq++
			ev.at, ev.seq = n.stalledUntil, s.seq
			heap.Push(&s.queue, ev)
			continue
		}
		return ev
	}
	return nil
}
