package mysql

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// benchRows returns n ready rows named prefix-i.
func benchRows(prefix string, n int) []storage.Execution {
	rows := make([]storage.Execution, n)
	for i := range rows {
		rows[i] = storagetest.NewExecution(fmt.Sprintf("%s-%d", prefix, i), "task")
	}
	return rows
}

// fill inserts n ready rows in batches of 1000.
func fill(b *testing.B, s *Store, n int) {
	b.Helper()
	for i := 0; i < n; i += 1000 {
		rows := benchRows(fmt.Sprintf("f%d", i), min(1000, n-i))
		if err := s.Insert(b.Context(), storage.InsertParams{Executions: rows}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertBatch: one Insert of 1000 rows per op (one round trip).
func BenchmarkInsertBatch(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			s := openStore(b, Config{})
			i := 0
			for b.Loop() {
				rows := benchRows(fmt.Sprintf("b%d", i), size)
				i++
				if err := s.Insert(b.Context(), storage.InsertParams{Executions: rows}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkInsertBatchParallel: batches of 1000 from 4 goroutines.
func BenchmarkInsertBatchParallel(b *testing.B) {
	s := openStore(b, Config{})
	var n atomic.Int64
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rows := benchRows(fmt.Sprintf("b%d", n.Add(1)), 1000)
			if err := s.Insert(b.Context(), storage.InsertParams{Executions: rows}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkClaimComplete: per op, one Claim of 100 rows and one Complete
// of those 100 (completed, no parent), sequentially on one goroutine.
func BenchmarkClaimComplete(b *testing.B) {
	s := openStore(b, Config{})
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
			trs[i] = done(r)
		}
		if _, err := s.Complete(b.Context(), storage.CompleteParams{Transitions: trs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkDrain approximates the engine draining no-op tasks: claimers
// take batches of 100 and hand the rows to completers, which complete
// whatever accumulated (up to 400) in one call. Each op is one task.
func BenchmarkDrain(b *testing.B) {
	s := openStore(b, Config{})
	fill(b, s, b.N)
	b.ResetTimer()
	drainTasks(b, s, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// drainTasks drains n ready rows of task "task" as BenchmarkDrain describes.
func drainTasks(b *testing.B, s *Store, n int) {
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
				trs := []storage.Transition{done(r)}
			more:
				for len(trs) < maxComplete {
					select {
					case r, ok := <-work:
						if !ok {
							break more
						}
						trs = append(trs, done(r))
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

// done is the transition that completes a claimed row.
func done(e storage.Execution) storage.Transition {
	return storage.Transition{ID: e.ID, Fence: e.Fence, From: e.Status, To: storage.StatusCompleted, Output: []byte(`"ok"`)}
}
