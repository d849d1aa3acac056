package mysql

import (
	"cmp"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestManyClaimersAcrossStores: 16 claimers on two stores (as two
// processes) drain 1,500 rows, 300 of them children of 50 waiting
// parents, claiming at most 7 rows at a time and completing each batch.
// No row is handed to two claimers, no claim exceeds its limit, every
// row and every parent completes, and the transactions InnoDB rolled
// back (deadlocks, lock wait timeouts) are counted.
func TestManyClaimersAcrossStores(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t)
	a, b := openOn(t, prefix, Config{}), openOn(t, prefix, Config{})
	ctx := t.Context()
	var rows []storage.Execution
	for i := range 1200 {
		rows = append(rows, storagetest.NewExecution(fmt.Sprintf("r%04d", i), "task"))
	}
	for i := range 50 {
		rows = append(rows, storagetest.NewExecution(fmt.Sprintf("p%03d", i), "parent"))
	}
	if err := a.Insert(ctx, storage.InsertParams{Executions: rows}); err != nil {
		t.Fatal(err)
	}
	// The parents spawn 6 children each (task "task"), then wait.
	parents, err := a.Claim(ctx, storage.ClaimParams{ExecutorID: "setup", TaskIDs: []string{"parent"}, Limit: 50, Lease: time.Hour})
	if err != nil || len(parents) != 50 {
		t.Fatalf("Claim parents: %d, %v", len(parents), err)
	}
	var trs []storage.Transition
	for _, p := range parents {
		var kids []storage.Execution
		for j := range 6 {
			kids = append(kids, storagetest.NewChild(p, fmt.Sprintf("%s-c%d", p.ID, j), "task", j))
		}
		trs = append(trs, storage.Transition{ID: p.ID, Fence: p.Fence, From: storage.StatusRunning,
			To: storage.StatusWaitingForChildren, Children: kids})
	}
	if _, err := a.Complete(ctx, storage.CompleteParams{Transitions: trs}); err != nil {
		t.Fatal(err)
	}

	const claimers, limit = 16, 7
	var mu sync.Mutex
	claimedBy := map[string]int{}
	var over, errs int
	var firstErr error
	var wg sync.WaitGroup
	for c := range claimers {
		s := []*Store{a, b}[c%2]
		wg.Go(func() {
			for idle := 0; idle < 20; {
				got, err := s.Claim(ctx, storage.ClaimParams{ExecutorID: fmt.Sprintf("c%d", c), TaskIDs: []string{"task", "parent"},
					Limit: limit, Lease: time.Hour})
				if err != nil {
					mu.Lock()
					errs++
					firstErr = cmp.Or(firstErr, fmt.Errorf("claimer %d: Claim: %w", c, err))
					mu.Unlock()
					return
				}
				if len(got) == 0 {
					idle++
					time.Sleep(5 * time.Millisecond)
					continue
				}
				idle = 0
				trs := make([]storage.Transition, len(got))
				for i, e := range got {
					trs[i] = done(e)
				}
				mu.Lock()
				if len(got) > limit {
					over++
				}
				for _, e := range got {
					claimedBy[e.ID]++
				}
				mu.Unlock()
				if _, err := s.Complete(ctx, storage.CompleteParams{Transitions: trs}); err != nil {
					mu.Lock()
					errs++
					firstErr = cmp.Or(firstErr, fmt.Errorf("claimer %d: Complete: %w", c, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	twice := 0
	for _, n := range claimedBy {
		if n > 1 {
			twice++
		}
	}
	ra, rb := a.Retries(), b.Retries()
	t.Logf("claimed %d rows (1,500 plus the 50 parents' continuations); twice %d, claims over the limit %d, errors %d; "+
		"rolled back and run again: deadlocks %d, lock wait timeouts %d",
		len(claimedBy), twice, over, errs, ra.Deadlocks+rb.Deadlocks, ra.LockWaitTimeouts+rb.LockWaitTimeouts)
	if twice != 0 || over != 0 || errs != 0 {
		t.Fatalf("twice %d, over the limit %d, errors %d (the first: %v)", twice, over, errs, firstErr)
	}
	if len(claimedBy) != 1550 {
		t.Fatalf("claimed %d distinct rows, want 1,550", len(claimedBy))
	}
	notDone := missing(t, a, append(ids(rows), func() []string {
		var kids []string
		for _, tr := range trs {
			kids = append(kids, ids(tr.Children)...)
		}
		return kids
	}()...), storage.StatusCompleted)
	if notDone != 0 {
		t.Fatalf("%d rows not completed", notDone)
	}
}
