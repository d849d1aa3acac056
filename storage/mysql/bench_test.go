package mysql

import (
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

// done is the transition that completes a claimed row.
func done(e storage.Execution) storage.Transition { return storagetest.Done(e) }
