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

// TestClaimOrdered sorts random batches with delays as InClaimOrder sorts
// the same rows with their due times set, and leaves its arguments as
// they were.
func TestClaimOrdered(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []Status{StatusReady, StatusReady, StatusRunning, StatusWaitingForChildren}
	for round := range 200 {
		n := rnd.IntN(40)
		execs := make([]Execution, n)
		delays := make([]time.Duration, n)
		want := make([]Execution, n)
		for i := range execs {
			e := Execution{ID: fmt.Sprintf("r%d", i), Priority: rnd.IntN(PriorityLast + 1), Status: statuses[rnd.IntN(len(statuses))]}
			delays[i] = time.Duration(rnd.IntN(3)) * time.Second
			due := delays[i]
			switch {
			case e.Status == StatusRunning && rnd.IntN(2) == 0:
				e.SleepKey, e.Timeout = "k"+e.ID, time.Duration(rnd.IntN(3))*time.Second
				due = e.Timeout
			case e.Status == StatusRunning:
				e.ExecutorID = "x"
			case e.Status != StatusReady:
				due = 0
			}
			execs[i] = e
			want[i] = e
			want[i].DueAt = now.Add(due)
		}
		before := slices.Clone(execs)
		InClaimOrder(want)
		got, gotDelays := ClaimOrdered(execs, delays)
		for i := range got {
			if got[i].ID != want[i].ID {
				t.Fatalf("round %d: row %d is %s, want %s", round, i, got[i].ID, want[i].ID)
			}
			var from int
			fmt.Sscanf(got[i].ID, "r%d", &from)
			if gotDelays[i] != delays[from] {
				t.Fatalf("round %d: row %d (%s) has delay %v, want %v", round, i, got[i].ID, gotDelays[i], delays[from])
			}
		}
		for i := range execs {
			if execs[i].ID != before[i].ID {
				t.Fatalf("round %d: ClaimOrdered changed its argument at %d", round, i)
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
