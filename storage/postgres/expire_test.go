package postgres

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestDeleteExpiredBesideDelete: DeleteExpired does not lock the roots it
// reads, so it may meet a Delete of the same trees (the two may even wait
// for each other, which PostgreSQL ends and withRetry runs again). Run
// together on 400 expired trees of 5 rows, the cleaner's batches and
// Deletes of the same roots all succeed, each tree goes
// once, whole, and a Delete fails only on a root that is gone already.
func TestDeleteExpiredBesideDelete(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	ctx := t.Context()
	const trees = 400
	if err := insertBigTrees(ctx, s, "t", trees, base, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, trees)
	wg.Go(func() {
		var after *storage.ListKey
		for {
			res, err := s.DeleteExpired(ctx, storage.DeleteExpiredParams{Statuses: []storage.Status{storage.StatusCompleted},
				Before: base.Add(time.Hour), After: after, Limit: 10})
			if err != nil {
				errs <- fmt.Errorf("DeleteExpired: %w", err)
				return
			}
			if res.Roots < 10 {
				return
			}
			after = &res.Last
		}
	})
	wg.Go(func() {
		// Oldest first, as the cleaner, ten roots a call, overlapping
		// the cleaner's batches.
		for lo := 5; lo <= trees; lo += 10 {
			var ids []string
			for j := lo; j < min(lo+10, trees+1); j++ {
				ids = append(ids, fmt.Sprintf("t%09d", j))
			}
			if _, err := s.Delete(ctx, storage.DeleteParams{IDs: ids}); err != nil && !errors.Is(err, storage.ErrNotFound) {
				errs <- fmt.Errorf("Delete: %w", err)
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var left int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.q.table).Scan(&left); err != nil {
		t.Fatal(err)
	}
	// A Delete that failed on a root the cleaner took first left its
	// other trees; the cleaner ran out of roots only after passing them
	// all, so every tree is gone.
	if left != 0 {
		t.Fatalf("%d rows left, want none", left)
	}
}
