package storagetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// The store-level benchmarks of the SQL stores: each store's tests call
// them with a store of their own.

// BenchRows returns n ready rows of task "task" named prefix-i.
func BenchRows(prefix string, n int) []storage.Execution {
	rows := make([]storage.Execution, n)
	for i := range rows {
		rows[i] = NewExecution(fmt.Sprintf("%s-%d", prefix, i), "task")
	}
	return rows
}

// Done is the transition that completes a claimed row with the output
// "ok".
func Done(e storage.Execution) storage.Transition {
	return storage.Transition{ID: e.ID, Fence: e.Fence, From: e.Status, To: storage.StatusCompleted, Output: []byte(`"ok"`)}
}

// fill inserts n ready rows in batches of 1000.
func fill(b *testing.B, s storage.Store, n int) {
	b.Helper()
	for i := 0; i < n; i += 1000 {
		rows := BenchRows(fmt.Sprintf("f%d", i), min(1000, n-i))
		if err := s.Insert(b.Context(), storage.InsertParams{Executions: rows}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchInsertBatch measures one Insert of 100, then 1000, rows per op, on
// stores made by open.
func BenchInsertBatch(b *testing.B, open func(b *testing.B) storage.Store) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := open(b)
			i := 0
			for b.Loop() {
				rows := BenchRows(fmt.Sprintf("b%d", i), size)
				i++
				if err := s.Insert(b.Context(), storage.InsertParams{Executions: rows}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchInsertBatchParallel measures batches of 1000 from 2 goroutines per
// GOMAXPROCS.
func BenchInsertBatchParallel(b *testing.B, s storage.Store) {
	var n atomic.Int64
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rows := BenchRows(fmt.Sprintf("b%d", n.Add(1)), 1000)
			if err := s.Insert(b.Context(), storage.InsertParams{Executions: rows}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchClaimComplete measures, per op, one Claim of 100 rows and one Complete of
// those 100 (completed, no parent), sequentially on one goroutine.
func BenchClaimComplete(b *testing.B, s storage.Store) {
	const batch = 100
	fill(b, s, b.N*batch)
	claimP := storage.ClaimParams{ExecutorID: "e", TaskIDs: []string{"task"}, Limit: batch, Lease: time.Minute}
	b.ResetTimer()
	for range b.N {
		rows, err := s.Claim(b.Context(), claimP)
		if err != nil || len(rows) != batch {
			b.Fatalf("Claim: %d rows, %v", len(rows), err)
		}
		trs := make([]storage.Transition, len(rows))
		for i, r := range rows {
			trs[i] = Done(r)
		}
		if _, err := s.Complete(b.Context(), storage.CompleteParams{Transitions: trs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchDrain approximates the engine draining no-op tasks: claimers take
// batches of 100 and hand the rows to completers, which complete whatever
// accumulated (up to 400) in one call. Each op is one task.
func BenchDrain(b *testing.B, s storage.Store) {
	fill(b, s, b.N)
	b.ResetTimer()
	DrainTasks(b, s, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// DrainTasks drains n ready rows of task "task" as BenchDrain describes.
func DrainTasks(b *testing.B, s storage.Store, n int) {
	const claimers, completers, claimBatch, maxComplete = 2, 2, 100, 400
	work := make(chan storage.Execution, 4*maxComplete)
	var remaining atomic.Int64
	remaining.Store(int64(n))
	var cwg, dwg sync.WaitGroup
	for range claimers {
		cwg.Go(func() {
			p := storage.ClaimParams{ExecutorID: "e", TaskIDs: []string{"task"}, Limit: claimBatch, Lease: time.Minute}
			for remaining.Load() > 0 {
				rows, err := s.Claim(b.Context(), p)
				if err != nil {
					b.Error(err)
					return
				}
				remaining.Add(-int64(len(rows)))
				for _, r := range rows {
					work <- r
				}
			}
		})
	}
	for range completers {
		dwg.Go(func() {
			for r := range work {
				trs := []storage.Transition{Done(r)}
			more:
				for len(trs) < maxComplete {
					select {
					case r, ok := <-work:
						if !ok {
							break more
						}
						trs = append(trs, Done(r))
					default:
						break more
					}
				}
				if _, err := s.Complete(b.Context(), storage.CompleteParams{Transitions: trs}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	cwg.Wait()
	close(work)
	dwg.Wait()
}
