package storage

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestClaimOrdered sorts random batches with delays as a stable sort by
// the normalized priority and the due time Insert gives each row, moves
// each row's delay with it, and leaves its arguments as they were.
func TestClaimOrdered(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	type row struct {
		id       string
		priority int
		due      time.Duration
	}
	statuses := []Status{StatusReady, StatusReady, StatusRunning, StatusWaitingForChildren}
	for round := range 300 {
		n := rnd.IntN(40)
		execs := make([]Execution, n)
		delays := make([]time.Duration, n)
		want := make([]row, n)
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
			want[i] = row{e.ID, NormalizePriority(e.Priority), due}
		}
		before := slices.Clone(execs)
		slices.SortStableFunc(want, func(a, b row) int {
			if c := cmp.Compare(a.priority, b.priority); c != 0 {
				return c
			}
			return cmp.Compare(a.due, b.due)
		})
		got, gotDelays := ClaimOrdered(execs, delays)
		for i := range got {
			if got[i].ID != want[i].id {
				t.Fatalf("round %d: row %d is %s, want %s", round, i, got[i].ID, want[i].id)
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

// BenchmarkClaimOrdered sorts a batch of 5,000 rows of nine priorities in
// turn (the cost an insert of such a batch pays; one in order pays a
// pass).
func BenchmarkClaimOrdered(b *testing.B) {
	rows := make([]Execution, 5000)
	for i := range rows {
		rows[i] = Execution{ID: fmt.Sprint(i), Priority: 1 + i%9}
	}
	for b.Loop() {
		ClaimOrdered(rows, nil)
	}
}
