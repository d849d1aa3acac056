package memory_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
	"github.com/durable-go/durable/storage/storagetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// benchBatch is the batch size of the benchmarks: what a dispatcher claims
// and a completer writes at once.
const benchBatch = 100

// BenchmarkInsertClaimComplete measures the store work of one batch of no-op
// tasks: insert 100, claim them, complete them. tasks/s is the store's
// ceiling for an engine running on it.
func BenchmarkInsertClaimComplete(b *testing.B) {
	benchCycle(b, 0)
}

// BenchmarkInsertClaimCompleteBacklog is the same with 100,000 rows of
// another task due and 100,000 rows of this task not yet due: the indexes
// keep the cost per batch flat.
func BenchmarkInsertClaimCompleteBacklog(b *testing.B) {
	benchCycle(b, 100_000)
}

func benchCycle(b *testing.B, backlog int) {
	ctx := context.Background()
	s := memory.New()
	defer s.Close()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if backlog > 0 {
		rows := make([]storage.Execution, 0, 2*backlog)
		delays := make([]time.Duration, 0, 2*backlog)
		for i := range backlog {
			rows = append(rows, storagetest.NewExecution("other-"+strconv.Itoa(i), "other"),
				storagetest.NewExecution("later-"+strconv.Itoa(i), "noop"))
			delays = append(delays, 0, time.Hour)
		}
		mustNil(b, s.Insert(ctx, storage.InsertParams{Now: now, Executions: rows, Delays: delays}))
	}
	rows := make([]storage.Execution, benchBatch)
	trs := make([]storage.Transition, benchBatch)
	tasks := []string{"noop"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		for j := range rows {
			rows[j] = storagetest.NewExecution(strconv.Itoa(i*benchBatch+j), "noop")
		}
		mustNil(b, s.Insert(ctx, storage.InsertParams{Now: now, Executions: rows}))
		claimed, err := s.Claim(ctx, storage.ClaimParams{Now: now, ExecutorID: "bench", TaskIDs: tasks, Limit: benchBatch, Lease: time.Minute})
		mustNil(b, err)
		if len(claimed) != benchBatch {
			b.Fatalf("claimed %d rows, want %d", len(claimed), benchBatch)
		}
		for j, e := range claimed {
			trs[j] = storage.Transition{ID: e.ID, Fence: e.Fence, From: e.Status, To: storage.StatusCompleted, Output: []byte(`null`)}
		}
		res, err := s.Complete(ctx, storage.CompleteParams{Now: now, Transitions: trs})
		mustNil(b, err)
		if !res[0].Applied {
			b.Fatal("completion not applied")
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "tasks/s")
}

func mustNil(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
