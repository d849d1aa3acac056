package durable_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

type noop struct{}

func benchExecutor(b *testing.B, store storage.Store, cfg durable.Config) *durable.Executor {
	b.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ex, err := durable.New(store, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ex.Shutdown(context.Background()) })
	return ex
}

// BenchmarkThroughput is the throughput workload on the memory store: one
// op enqueues 20,000 no-op tasks in batches of 1,000 with no executor
// running, then starts an executor with concurrency 100 and waits until all
// are completed. It reports the end-to-end rate.
func BenchmarkThroughput(b *testing.B) {
	const n = 20000
	for range b.N {
		throughputRun(b, memory.New(), durable.Config{}, n)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// throughputRun is one op of the throughput workload on store, with the
// executor configured by cfg (its Concurrency and Logger set here).
func throughputRun(b *testing.B, store storage.Store, cfg durable.Config, n int) {
	ctx := context.Background()
	cfg.Concurrency, cfg.Logger = benchConcurrency, slog.New(slog.NewTextHandler(io.Discard, nil))
	ex, err := durable.New(store, cfg)
	if err != nil {
		b.Fatal(err)
	}
	task := durable.Must(durable.NewTask(ex, "noop", func(ctx context.Context, in int) (noop, error) { return noop{}, nil }))
	inputs := make([]int, 1000)
	var last *durable.Handle[noop]
	for done := 0; done < n; done += len(inputs) {
		hs, err := task.EnqueueMany(ctx, inputs)
		if err != nil {
			b.Fatal(err)
		}
		last = hs[len(hs)-1]
	}
	if err := ex.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := last.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	if err := ex.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLatency measures enqueue-to-Wait-returns for one task at a time
// on an idle executor and reports the median.
func BenchmarkLatency(b *testing.B) {
	ctx := context.Background()
	ex := benchExecutor(b, memory.New(), durable.Config{})
	task := durable.Must(durable.NewTask(ex, "noop", func(ctx context.Context, in int) (noop, error) { return noop{}, nil }))
	if err := ex.Start(ctx); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		h, err := task.Enqueue(ctx, i)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkFanout runs a parent with 1,000 children and a finalize that
// sums them on the memory store; one op is one whole tree.
func BenchmarkFanout(b *testing.B) { fanoutBench(b, memory.New()) }

// BenchmarkFanoutSQLite is BenchmarkFanout on a SQLite file (fan-in: every
// child's completion updates its parent in the same transaction).
func BenchmarkFanoutSQLite(b *testing.B) {
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	fanoutBench(b, store)
}

// BenchmarkFanoutPostgres is BenchmarkFanout on PostgreSQL; it needs
// DURABLE_TEST_POSTGRES_URL and uses a fresh schema.
func BenchmarkFanoutPostgres(b *testing.B) {
	dsn := os.Getenv("DURABLE_TEST_POSTGRES_URL")
	if dsn == "" {
		b.Skip("set DURABLE_TEST_POSTGRES_URL to benchmark PostgreSQL")
	}
	schema := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	store, err := postgres.Open(context.Background(), dsn, postgres.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		_, _ = store.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		store.Close()
	}()
	fanoutBench(b, store)
}

func fanoutBench(b *testing.B, store storage.Store) {
	ctx := context.Background()
	ex := benchExecutor(b, store, durable.Config{})
	child := durable.Must(durable.NewTask(ex, "child", func(ctx context.Context, in int) (int, error) { return in, nil }))
	sum := durable.Must(durable.NewTask(ex, "sum", func(ctx context.Context, in durable.FinalizeInput[int]) (int, error) {
		total := 0
		for _, c := range in.Children {
			v, err := durable.ChildOutput[int](c)
			if err != nil {
				return 0, err
			}
			total += v
		}
		return total, nil
	}))
	parent := durable.Must(durable.NewParentTaskWithFinalize(ex, "fanout", func(ctx context.Context, n int) (durable.Spawn[int], error) {
		cs := make([]durable.Child, n)
		for i := range cs {
			cs[i] = durable.ChildOf(child, i)
		}
		return durable.Spawn[int]{Children: cs}, nil
	}, sum))
	if err := ex.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		h, err := parent.Enqueue(ctx, 1000)
		if err != nil {
			b.Fatal(err)
		}
		x, err := h.Wait(ctx)
		if err != nil || x.Output != 499500 {
			b.Fatalf("got %d %v %v", x.Output, x.Err, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/tree")
}

var benchConcurrency = 100

// BenchmarkThroughputSQLite is the throughput workload on a SQLite file
// with the default durability (synchronous=FULL).
func BenchmarkThroughputSQLite(b *testing.B) {
	const n = 20000
	for range b.N {
		store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Config{})
		if err != nil {
			b.Fatal(err)
		}
		throughputRun(b, store, durable.Config{}, n)
		store.Close()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkThroughputPostgres is the throughput workload on PostgreSQL; it
// needs DURABLE_TEST_POSTGRES_URL and uses a fresh schema per op.
func BenchmarkThroughputPostgres(b *testing.B) {
	dsn := os.Getenv("DURABLE_TEST_POSTGRES_URL")
	if dsn == "" {
		b.Skip("set DURABLE_TEST_POSTGRES_URL to benchmark PostgreSQL")
	}
	const n = 20000
	for i := range b.N {
		schema := fmt.Sprintf("bench_%d_%d", time.Now().UnixNano(), i)
		store, err := postgres.Open(context.Background(), dsn, postgres.Config{Schema: schema})
		if err != nil {
			b.Fatal(err)
		}
		throughputRun(b, store, durable.Config{}, n)
		_, _ = store.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		store.Close()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tasks/s")
}
