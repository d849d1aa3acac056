package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// CrashHarness gives the crash checks a store on a database server that
// the test can crash.
type CrashHarness struct {
	// Open returns a new store on the database: the same database at every
	// call, its rows kept. It registers the store's cleanup with t.Cleanup.
	Open func(t *testing.T) storage.Store
	// Crash crashes the database server as a power cut would (what was
	// not yet on disk is lost) and starts it again.
	Crash func(t *testing.T)
}

// RunCrash runs the checks of what a store promises across a crash of its
// database server, one after the other (they share the server):
//
//   - FencesSurviveCrash: a fencing token, once a claim returned it, is
//     never handed out again for the same execution, even when the server
//     crashed right after the claim. An asynchronous claim commit breaks it:
//     the claim is lost, and the next claim returns the same token.
//   - AcknowledgedWritesSurviveCrash: rows an Insert acknowledged, and
//     transitions a Complete acknowledged, are there after the crash.
func RunCrash(t *testing.T, h CrashHarness) {
	t.Helper()
	t.Run("FencesSurviveCrash", func(t *testing.T) { fencesSurviveCrash(t, h) })
	t.Run("AcknowledgedWritesSurviveCrash", func(t *testing.T) { acknowledgedWritesSurviveCrash(t, h) })
}

// crashRows inserts n ready rows of task prefix with ids prefix-000...
func crashRows(t *testing.T, ctx context.Context, s storage.Store, prefix string, n int) []storage.Execution {
	t.Helper()
	rows := make([]storage.Execution, n)
	for i := range rows {
		rows[i] = storage.Execution{ID: fmt.Sprintf("%s-%03d", prefix, i), TaskID: prefix, Status: storage.StatusReady, Input: []byte(`1`)}
	}
	if err := s.Insert(ctx, storage.InsertParams{Now: time.Now(), Executions: rows}); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	return rows
}

// claimAll claims up to limit due rows of task, with a lease that lapses
// at once, so that the next claim takes the rows over.
func claimAll(t *testing.T, ctx context.Context, s storage.Store, task, executor string, limit int) []storage.Execution {
	t.Helper()
	got, err := s.Claim(ctx, storage.ClaimParams{
		Now: time.Now(), ExecutorID: executor, TaskIDs: []string{task}, Limit: limit, Lease: time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Claim by %s: %v", executor, err)
	}
	return got
}

func fencesSurviveCrash(t *testing.T, h CrashHarness) {
	ctx := t.Context()
	const n = 50
	for round := range 3 {
		s := h.Open(t)
		prefix := fmt.Sprintf("fence_%d_%d", round, time.Now().UnixNano())
		crashRows(t, ctx, s, prefix, n)
		first := map[string]int64{}
		for _, e := range claimAll(t, ctx, s, prefix, "before-crash", n) {
			first[e.ID] = e.Fence
		}
		if len(first) != n {
			t.Fatalf("round %d: the first claim took %d rows, want %d", round, len(first), n)
		}
		h.Crash(t)
		_ = s.Close()

		s = h.Open(t)
		time.Sleep(5 * time.Millisecond) // the first claim's leases lapse
		var again []storage.Execution
		for len(again) < n {
			got := claimAll(t, ctx, s, prefix, "after-crash", n)
			if len(got) == 0 {
				break
			}
			again = append(again, got...)
		}
		if len(again) != n {
			t.Fatalf("round %d: after the crash %d of %d rows could be claimed", round, len(again), n)
		}
		for _, e := range again {
			if old, ok := first[e.ID]; !ok || e.Fence <= old {
				t.Fatalf("round %d: row %s was claimed with fence %d before the crash and %d after: a fence handed out twice",
					round, e.ID, old, e.Fence)
			}
		}
		_ = s.Close()
	}
}

func acknowledgedWritesSurviveCrash(t *testing.T, h CrashHarness) {
	ctx := t.Context()
	const n = 20
	s := h.Open(t)
	prefix := fmt.Sprintf("ack_%d", time.Now().UnixNano())
	rows := crashRows(t, ctx, s, prefix, n)
	claimed := claimAll(t, ctx, s, prefix, "before-crash", n/2)
	trs := make([]storage.Transition, len(claimed))
	for i, e := range claimed {
		trs[i] = storage.Transition{ID: e.ID, Fence: e.Fence, From: storage.StatusRunning, To: storage.StatusCompleted, Output: []byte(`"ok"`)}
	}
	res, err := s.Complete(ctx, storage.CompleteParams{Now: time.Now(), Transitions: trs})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	done := map[string]bool{}
	for i, r := range res {
		if !r.Applied || r.Err != nil {
			t.Fatalf("Complete of %s: applied=%v err=%v", trs[i].ID, r.Applied, r.Err)
		}
		done[trs[i].ID] = true
	}
	h.Crash(t)
	_ = s.Close()

	s = h.Open(t)
	defer s.Close()
	for _, r := range rows {
		e, err := s.Get(ctx, storage.GetParams{ID: r.ID})
		if err != nil {
			t.Fatalf("after the crash, Get(%s): %v (its Insert was acknowledged)", r.ID, err)
		}
		if done[r.ID] && (e.Status != storage.StatusCompleted || string(e.Output) != `"ok"`) {
			t.Fatalf("after the crash, %s is %s with output %q; its completion was acknowledged", r.ID, e.Status, e.Output)
		}
	}
}
