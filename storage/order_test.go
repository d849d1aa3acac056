package storage

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestInClaimOrder sorts random batches and compares them with a stable
// sort by the normalized priority and the due time.
func TestInClaimOrder(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := range 200 {
		rows := make([]Execution, rnd.IntN(60))
		for i := range rows {
			rows[i] = Execution{ID: fmt.Sprintf("r%d", i), Priority: rnd.IntN(PriorityLast + 1),
				DueAt: base.Add(time.Duration(rnd.IntN(3)) * time.Second)}
		}
		want := slices.Clone(rows)
		slices.SortStableFunc(want, func(a, b Execution) int {
			if c := cmp.Compare(NormalizePriority(a.Priority), NormalizePriority(b.Priority)); c != 0 {
				return c
			}
			return a.DueAt.Compare(b.DueAt)
		})
		InClaimOrder(rows)
		for i := range rows {
			if rows[i].ID != want[i].ID {
				t.Fatalf("round %d: row %d is %s, want %s", round, i, rows[i].ID, want[i].ID)
			}
		}
	}
}

// BenchmarkInClaimOrder sorts a batch of 5,000 rows of nine priorities in
// turn (the cost Insert pays for such a batch; one in order pays a pass).
func BenchmarkInClaimOrder(b *testing.B) {
	in := make([]Execution, 5000)
	for i := range in {
		in[i] = Execution{ID: fmt.Sprint(i), Priority: 1 + i%9}
	}
	rows := make([]Execution, len(in))
	for b.Loop() {
		copy(rows, in)
		InClaimOrder(rows)
	}
}
