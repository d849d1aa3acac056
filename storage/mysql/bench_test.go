package mysql

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// BenchmarkInsertBatch: one Insert of 100, then 1000, rows per op.
func BenchmarkInsertBatch(b *testing.B) {
	storagetest.BenchInsertBatch(b, func(b *testing.B) storage.Store { return openStore(b, Config{}) })
}

// BenchmarkInsertBatchParallel: batches of 1000 from several goroutines.
func BenchmarkInsertBatchParallel(b *testing.B) {
	storagetest.BenchInsertBatchParallel(b, openStore(b, Config{}))
}

// BenchmarkClaimComplete: per op, one Claim of 100 rows and one Complete
// of those 100.
func BenchmarkClaimComplete(b *testing.B) { storagetest.BenchClaimComplete(b, openStore(b, Config{})) }

// BenchmarkDrain: claimers and completers draining no-op tasks, as the
// engine does (storagetest.BenchDrain). Each op is one task.
func BenchmarkDrain(b *testing.B) { storagetest.BenchDrain(b, openStore(b, Config{})) }

// BenchmarkDrainPriorities is BenchmarkDrain with the tasks spread over
// every priority, in the default queue: interleaved (1, 2, ..., 9, 1,
// ...: a claim takes every ninth row of the table, clustered by insertion
// order; inserted nine rows a call, as the store lays each call's rows out
// in claim order, storage.ClaimOrdered), or in blocks (the first ninth has
// priority 1, and so on: claim order is insertion order). Each claim
// reads the nine ranges of the claim index.
func BenchmarkDrainPriorities(b *testing.B) {
	for _, c := range []struct {
		name     string
		priority func(i, n int) int
		batch    int
	}{
		{"interleaved", func(i, _ int) int { return storage.PriorityFirst + i%storage.PriorityLevels }, storage.PriorityLevels},
		{"blocks", func(i, n int) int { return storage.PriorityFirst + i*storage.PriorityLevels/n }, 1000},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := openStore(b, Config{})
			for i := 0; i < b.N; i += c.batch {
				rows := storagetest.BenchRows(fmt.Sprintf("f%d", i), min(c.batch, b.N-i))
				for j := range rows {
					rows[j].Priority = c.priority(i+j, b.N)
				}
				if err := s.Insert(b.Context(), storage.InsertParams{Executions: rows}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			storagetest.DrainTasks(b, s, b.N)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// done is the transition that completes a claimed row.
func done(e storage.Execution) storage.Transition { return storagetest.Done(e) }

// BenchmarkDrainOneClaimer is BenchmarkDrain with one claimer, as the
// engine has one per executor: claims of 300, each taken while the
// completions of earlier ones (batches of up to 400, two completers) run.
// Each op is one task.
func BenchmarkDrainOneClaimer(b *testing.B) {
	s := openStore(b, Config{})
	for i := 0; i < b.N; i += 1000 {
		if err := s.Insert(b.Context(), storage.InsertParams{Executions: storagetest.BenchRows(fmt.Sprintf("f%d", i), min(1000, b.N-i))}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	work := make(chan storage.Execution, 1200)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for r := range work {
				trs := []storage.Transition{done(r)}
				for len(trs) < 400 && len(work) > 0 {
					trs = append(trs, done(<-work))
				}
				if _, err := s.Complete(b.Context(), storage.CompleteParams{Transitions: trs}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	p := storage.ClaimParams{ExecutorID: "e", TaskIDs: []string{"task"}, Limit: 300, Lease: time.Minute}
	for left := b.N; left > 0; {
		rows, err := s.Claim(b.Context(), p)
		if err != nil {
			b.Fatal(err)
		}
		left -= len(rows)
		for _, r := range rows {
			work <- r
		}
	}
	close(work)
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
}
