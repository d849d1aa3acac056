package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestInClaimOrder checks the ordering of claimed rows by their priority,
// their pre-claim DueAt, then seq, whether or not the statement returned
// them in order.
func TestInClaimOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rows := []storage.Execution{{ID: "c"}, {ID: "a"}, {ID: "e"}, {ID: "d"}, {ID: "b"}, {ID: "x"}}
	keys := []claimKey{{5, t0.Add(time.Second), 1}, {5, t0, 7}, {7, t0, 3}, {5, t0.Add(time.Second), 2}, {5, t0, 9},
		{1, t0.Add(time.Hour), 10}}
	got := inClaimOrder(rows, keys)
	var ids string
	for _, r := range got {
		ids += r.ID
	}
	if ids != "xabcde" {
		t.Fatalf("order %q, want xabcde", ids)
	}
	sorted := []storage.Execution{{ID: "a"}, {ID: "b"}}
	if got := inClaimOrder(sorted, []claimKey{{5, t0, 1}, {5, t0, 2}}); &got[0] != &sorted[0] {
		t.Fatal("rows already in order were copied")
	}
}

// TestCompleteDoneNotifiesEveryID completes, in one batch, more rows than
// one notification can name (long ids): another store on the schema (as
// another process) must hear of every one of them.
func TestCompleteDoneNotifiesEveryID(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	s, other := openOn(t, schema, Config{}), openOn(t, schema, Config{})
	finished := make(chan []string, 64)
	defer other.Subscribe(func(ev storage.Event) {
		if len(ev.Finished) > 0 {
			finished <- ev.Finished
		}
	})()
	const n = 500
	rows := make([]storage.Execution, n)
	for i := range rows {
		rows[i] = storagetest.NewExecution(fmt.Sprintf("%s-%04d", strings.Repeat("x", 60), i), "task")
	}
	insert(t, s, base, rows...)
	claimed := claim(t, s, base, n, "task")
	trs := make([]storage.Transition, len(claimed))
	for i, r := range claimed {
		trs[i] = done(r)
	}
	for i, r := range complete(t, s, base, trs...) {
		if !r.Applied {
			t.Fatalf("transition %d not applied: %+v", i, r)
		}
	}
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case ids := <-finished:
			for _, id := range ids {
				seen[id] = true
			}
		case <-deadline:
			t.Fatalf("the other store heard of %d of %d finished ids", len(seen), n)
		}
	}
}
