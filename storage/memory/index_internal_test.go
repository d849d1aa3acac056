package memory

import (
	"container/heap"
	"math/rand/v2"
	"testing"
)

// TestFirstAfter: a due queue's first row after now, found in the heap by
// skipping the subtrees that cannot hold it, is the first by (due, seq)
// of those after now; past its bound of visits it gives none.
func TestFirstAfter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		q := &dueQueue{}
		n := 1 + rng.IntN(300)
		for i := range n {
			heap.Push(q, &row{due: rng.Int64N(100), seq: uint64(i)})
		}
		now := rng.Int64N(110)
		var want *row
		for _, r := range q.rows {
			if r.due > now && (want == nil || dueBefore(r, want)) {
				want = r
			}
		}
		if got := q.firstAfter(now, len(q.rows)); got != want {
			t.Fatalf("round %d: firstAfter(%d) of %d rows: got %+v, want %+v", round, now, n, got, want)
		}
	}
	q := &dueQueue{}
	for i := range 100 {
		heap.Push(q, &row{due: 1, seq: uint64(i)})
	}
	heap.Push(q, &row{due: 5, seq: 100})
	if got := q.firstAfter(2, 10); got != nil {
		t.Fatalf("firstAfter past its bound of visits: got %+v, want none", got)
	}
	if got := q.firstAfter(2, 200); got == nil || got.seq != 100 {
		t.Fatalf("firstAfter within its bound: got %+v, want the row of seq 100", got)
	}
}
