package mysql

import (
	"fmt"
	"testing"

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
// order), or in blocks (the first ninth has priority 1, and so on: claim
// order is insertion order). Each claim reads the nine ranges of the
// claim index.
func BenchmarkDrainPriorities(b *testing.B) {
	for _, c := range []struct {
		name     string
		priority func(i, n int) int
	}{
		{"interleaved", func(i, _ int) int { return storage.PriorityFirst + i%storage.PriorityLevels }},
		{"blocks", func(i, n int) int { return storage.PriorityFirst + i*storage.PriorityLevels/n }},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := openStore(b, Config{})
			for i := 0; i < b.N; i += 1000 {
				rows := storagetest.BenchRows(fmt.Sprintf("f%d", i), min(1000, b.N-i))
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
