package sqlite_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/sqlite"
)

var benchNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// benchRows returns n ready rows of task "noop" with ids prefix-0...
func benchRows(prefix string, n int) []storage.Execution {
	rows := make([]storage.Execution, n)
	for i := range rows {
		rows[i] = storage.Execution{
			ID:      fmt.Sprintf("%s-%09d", prefix, i),
			TaskID:  "noop",
			Status:  storage.StatusReady,
			Input:   []byte(`{"n":1}`),
			Retry:   storage.RetryPolicy{MaxRetries: 3, BaseDelay: time.Second, Multiplier: 2},
			Timeout: time.Minute,
		}
	}
	return rows
}

func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), b.TempDir()+"/bench.db", sqlite.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkInsertBatch inserts b.N rows in Insert calls of size rows each,
// with the default durability (synchronous=FULL). rows/s is the figure.
func BenchmarkInsertBatch(b *testing.B) {
	for _, size := range []int{100, 1000} {
		b.Run(fmt.Sprintf("rows=%d", size), func(b *testing.B) {
			s := benchStore(b)
			ctx := context.Background()
			rows := benchRows("b", b.N)
			b.ResetTimer()
			c0 := cpuTime()
			for start := 0; start < len(rows); start += size {
				batch := rows[start:min(start+size, len(rows))]
				if err := s.Insert(ctx, storage.InsertParams{Now: benchNow, Executions: batch}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/row")
		})
	}
}

// BenchmarkInsertConcurrent inserts b.N rows one per Insert call from
// callers concurrent callers (an API server's single enqueues), with the
// default durability: their calls share the writer's transactions.
// rows/s and the process's CPU time per row are the figures.
func BenchmarkInsertConcurrent(b *testing.B) {
	for _, callers := range []int{50} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			benchInsertConcurrent(b, benchRows("i", b.N), callers, 1)
		})
	}
}

// BenchmarkInsertBatchConcurrent inserts b.N rows in Insert calls of 1,000
// rows from 8 concurrent callers (an API server's enqueues of many), with
// the default durability: the writer is the bottleneck, and rows/s its
// rate.
func BenchmarkInsertBatchConcurrent(b *testing.B) {
	benchInsertConcurrent(b, benchRows("c", b.N), 8, 1000)
}

// benchInsertConcurrent inserts rows from callers concurrent callers, in
// Insert calls of size rows, and reports rows/s and the process's CPU
// time per row.
func benchInsertConcurrent(b *testing.B, rows []storage.Execution, callers, size int) {
	s := benchStore(b)
	ctx := context.Background()
	b.ResetTimer()
	c0 := cpuTime()
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for k := range callers {
		wg.Go(func() {
			for start := k * size; start < len(rows) && errs[k] == nil; start += callers * size {
				batch := rows[start:min(start+size, len(rows))]
				errs[k] = s.Insert(ctx, storage.InsertParams{Now: benchNow, Executions: batch})
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/row")
}

// BenchmarkClaimComplete drains b.N ready rows with claims of 100 and one
// Complete call per claim (each row to completed, with an output), with the
// default durability. workers claim and complete concurrently, so their
// writes share commits. tasks/s is the figure.
func BenchmarkClaimComplete(b *testing.B) {
	for _, workers := range []int{1, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			benchDrain(b, workers, benchRows("c", b.N))
		})
	}
}

// BenchmarkClaimCompletePriorities is BenchmarkClaimComplete with 4
// workers over rows of several priorities: levels=1, every row of the
// default priority (as BenchmarkClaimComplete); levels=9, row i of
// priority i%9+1, so that each claim merges the due rows of nine levels of
// the due index. future=N first inserts N rows of the highest priority due
// in an hour, which no claim may walk past (see migration 007). queues=2
// puts row i in queue spread-(i%2), as durable bench --spread does, so
// that each priority's claim merges two levels (claim_queues).
func BenchmarkClaimCompletePriorities(b *testing.B) {
	for _, c := range []struct{ levels, future, queues int }{{1, 0, 1}, {9, 0, 1}, {1, 100000, 1}, {9, 0, 2}} {
		name := fmt.Sprintf("levels=%d/future=%d", c.levels, c.future)
		if c.queues > 1 {
			name += fmt.Sprintf("/queues=%d", c.queues)
		}
		b.Run(name, func(b *testing.B) {
			rows := benchRows("c", b.N)
			for i := range rows {
				rows[i].Priority = storage.DefaultPriority
				if c.levels > 1 {
					rows[i].Priority = i%c.levels + 1
				}
				if c.queues > 1 {
					rows[i].Queue = fmt.Sprintf("spread-%d", i%c.queues)
				}
			}
			benchDrain(b, 4, rows, benchFuture(c.future)...)
		})
	}
}

// benchFuture returns n ready rows of priority 1, of a task the drain
// claims, to insert due in an hour.
func benchFuture(n int) []storage.Execution {
	rows := benchRows("f", n)
	for i := range rows {
		rows[i].Priority = storage.PriorityFirst
	}
	return rows
}

// benchDrain inserts future, due in an hour, and rows, due now, then
// times the drain of rows by workers concurrent drain loops.
func benchDrain(b *testing.B, workers int, rows []storage.Execution, future ...storage.Execution) {
	s := benchStore(b)
	ctx := context.Background()
	insertAll := func(rows []storage.Execution, delay time.Duration) {
		for len(rows) > 0 {
			n := min(len(rows), 10000)
			delays := make([]time.Duration, n)
			for i := range delays {
				delays[i] = delay
			}
			if err := s.Insert(ctx, storage.InsertParams{Now: benchNow, Executions: rows[:n], Delays: delays}); err != nil {
				b.Fatal(err)
			}
			rows = rows[n:]
		}
	}
	insertAll(future, time.Hour)
	insertAll(rows, 0)
	b.ResetTimer()
	c0 := cpuTime()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- drain(ctx, s, fmt.Sprintf("worker-%d", w))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
	b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/task")
}

// drain claims and completes rows until none is due.
func drain(ctx context.Context, s *sqlite.Store, executor string) error {
	out := []byte(`{"ok":true}`)
	for {
		claimed, err := s.Claim(ctx, storage.ClaimParams{
			Now: benchNow, ExecutorID: executor, TaskIDs: []string{"noop"}, Limit: 100, Lease: time.Minute,
		})
		if err != nil || len(claimed) == 0 {
			return err
		}
		ts := make([]storage.Transition, len(claimed))
		for i, e := range claimed {
			ts[i] = storage.Transition{
				ID: e.ID, Fence: e.Fence, From: storage.StatusRunning, To: storage.StatusCompleted, Output: out,
			}
		}
		res, err := s.Complete(ctx, storage.CompleteParams{Now: benchNow, Transitions: ts})
		if err != nil {
			return err
		}
		for i, r := range res {
			if !r.Applied {
				return fmt.Errorf("transition of %s did not apply", ts[i].ID)
			}
		}
	}
}

// BenchmarkClaimReadManyQueues times the read of a claim of every queue
// (its candidates, not the write), 10 rows, over 20,000 due rows spread
// evenly over N queues of one priority: one level per queue.
func BenchmarkClaimReadManyQueues(b *testing.B) {
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("queues=%d", n), func(b *testing.B) {
			s := benchStore(b)
			rows := benchRows("r", 20000)
			for i := range rows {
				rows[i].Queue = fmt.Sprintf("q%04d", i%n)
			}
			if err := s.Insert(b.Context(), storage.InsertParams{Now: benchNow, Executions: rows}); err != nil {
				b.Fatal(err)
			}
			p := storage.ClaimParams{Now: benchNow, ExecutorID: "x", TaskIDs: []string{"noop"}, Limit: 10, Lease: time.Minute}
			b.ResetTimer()
			c0 := cpuTime()
			for b.Loop() {
				if n, err := s.ClaimRead(b.Context(), p); err != nil || n != 10 {
					b.Fatalf("%d candidates, %v", n, err)
				}
			}
			b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
		})
	}
}
