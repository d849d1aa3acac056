package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/sqlite"
)

func queued(id, queue string, priority int) storage.Execution {
	e := ready(id)
	e.Queue, e.Priority = queue, priority
	return e
}

func claimIDs(t *testing.T, s *sqlite.Store, at time.Time, limit int, queues ...string) []string {
	t.Helper()
	rows, err := s.Claim(context.Background(), storage.ClaimParams{
		Now: at, ExecutorID: "x", TaskIDs: []string{"task"}, Queues: queues, Limit: limit, Lease: time.Minute,
	})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	ids := make([]string, len(rows))
	for i, e := range rows {
		ids[i] = e.ID
	}
	return ids
}

// TestQueuePauseAcrossStores: two stores on one file, as two processes.
// A pause by one holds the other's next claim and NextDue back; the
// resume reaches the other's subscribers as Event.Ready (through
// durable_events), and its next claim takes the queue's rows.
func TestQueuePauseAcrossStores(t *testing.T) {
	t.Parallel()
	a, path := openTemp(t)
	b := openAt(t, path, sqlite.Config{})
	ctx := context.Background()
	err := a.RegisterControls(ctx, storage.RegisterControlsParams{Now: now,
		Controls: []storage.Control{{Kind: storage.ControlQueue, Name: "emails"}}})
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := a.PauseControl(ctx, storage.PauseControlParams{Now: now,
		Kind: storage.ControlQueue, Name: "emails", Paused: true}); err != nil || !changed {
		t.Fatalf("PauseControl: %v, %v", changed, err)
	}
	insert(t, a, queued("e1", "emails", 1), queued("d1", "", 0))
	if got := claimIDs(t, b, now, 10); !slices.Equal(got, []string{"d1"}) {
		t.Fatalf("b's claim with emails paused by a: %v, want [d1]", got)
	}
	if d, ok, err := b.NextDue(ctx, storage.NextDueParams{Now: now, TaskIDs: []string{"task"}}); err != nil || !ok || d != time.Minute {
		t.Fatalf("b's NextDue with emails paused: %v %v %v, want d1's lease", d, ok, err)
	}

	events := make(chan storage.Event, 100)
	defer b.Subscribe(func(ev storage.Event) { events <- ev })()
	if changed, err := a.PauseControl(ctx, storage.PauseControlParams{Now: now,
		Kind: storage.ControlQueue, Name: "emails", Paused: false}); err != nil || !changed {
		t.Fatalf("PauseControl (resume): %v, %v", changed, err)
	}
	for ready := false; !ready; {
		select {
		case ev := <-events:
			ready = ev.Ready
		case <-time.After(10 * time.Second):
			t.Fatal("b heard no Event.Ready of a's resume")
		}
	}
	if got := claimIDs(t, b, now, 10); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("b's claim after the resume: %v, want [e1]", got)
	}
}

// TestClaimMergesQueuesAndLevels: a claim of every queue takes rows in
// priority, then due order, across many queues and levels, each level
// giving at most the limit; a claim of some queues only theirs. With 2
// and 3 queues a priority's levels are merged by claim_queues (up to
// maxMergedQueues), with 5 by claim_priority.
func TestClaimMergesQueuesAndLevels(t *testing.T) {
	t.Parallel()
	for _, queues := range []int{2, 3, 5} {
		t.Run(fmt.Sprintf("queues=%d", queues), func(t *testing.T) {
			t.Parallel()
			checkClaimMerges(t, queues)
		})
	}
}

func checkClaimMerges(t *testing.T, queues int) {
	s, _ := openTemp(t)
	ctx := context.Background()
	var rows []storage.Execution
	var delays []time.Duration
	for i := range 90 {
		// Inserted newest first within each level: the claim orders by
		// due time, not by insertion.
		rows = append(rows, queued(fmt.Sprintf("r%02d", i), fmt.Sprintf("q%d", i%queues), i%9+1))
		delays = append(delays, time.Duration(90-i)*time.Millisecond)
	}
	if err := s.Insert(ctx, storage.InsertParams{Now: now, Executions: rows, Delays: delays}); err != nil {
		t.Fatal(err)
	}
	at := now.Add(time.Second)
	var want []string
	for p := 1; p <= 9; p++ {
		for i := 89; i >= 0; i-- {
			if i%9+1 == p {
				want = append(want, fmt.Sprintf("r%02d", i))
			}
		}
	}
	if got := claimIDs(t, s, at, 25); !slices.Equal(got, want[:25]) {
		t.Fatalf("claim of 25:\n got %v\nwant %v", got, want[:25])
	}
	var wantQ []string
	for _, id := range want[25:] {
		var i int
		fmt.Sscanf(id, "r%d", &i)
		if i%queues == 1 || i%queues == queues-1 {
			wantQ = append(wantQ, id)
		}
	}
	listed := []string{fmt.Sprintf("q%d", queues-1), "q1", fmt.Sprintf("q%d", queues-1)}
	if got := claimIDs(t, s, at, 100, listed...); !slices.Equal(got, wantQ) {
		t.Fatalf("claim of %v:\n got %v\nwant %v", listed, got, wantQ)
	}
}
