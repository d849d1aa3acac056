package durableotel_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/durable-go/durable"
	durableotel "github.com/durable-go/durable/otel"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

// BenchmarkDrainObserved is issue #15's cost check, the throughput
// workload of durable bench (20,000 no-op tasks enqueued in batches of
// 1,000 with no executor running, then drained by one executor with
// Concurrency 100) without and with this module's tracing and metrics
// (an SDK tracer provider with a batch span processor, every span
// sampled, exporting to a no-op exporter; an SDK meter provider with a
// manual reader; the store-call, outcome and claim hooks; the queue
// gauges registered). Each op runs both drains on fresh stores, in an
// order that alternates from op to op, and reports both rates and their
// ratio (on/off, the mean of the ops' ratios). SQLite always;
// PostgreSQL with DURABLE_TEST_POSTGRES_URL.
func BenchmarkDrainObserved(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		drainPairs(b, func(b *testing.B) (storage.Store, func()) {
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlite.Config{})
			if err != nil {
				b.Fatal(err)
			}
			return s, func() { s.Close() }
		})
	})
	b.Run("postgres", func(b *testing.B) {
		dsn := os.Getenv("DURABLE_TEST_POSTGRES_URL")
		if dsn == "" {
			b.Skip("set DURABLE_TEST_POSTGRES_URL to benchmark PostgreSQL")
		}
		drainPairs(b, func(b *testing.B) (storage.Store, func()) {
			schema := fmt.Sprintf("bench_otel_%d", time.Now().UnixNano())
			s, err := postgres.Open(context.Background(), dsn, postgres.Config{Schema: schema})
			if err != nil {
				b.Fatal(err)
			}
			return s, func() {
				_, _ = s.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
				s.Close()
			}
		})
	})
}

const benchTasks = 20000

func drainPairs(b *testing.B, open func(*testing.B) (storage.Store, func())) {
	var off, on, ratios float64
	for i := range b.N {
		var rates [2]float64
		for k := range 2 {
			observed := (i+k)%2 == 1
			store, closeStore := open(b)
			rate := drainOnce(b, store, observed)
			closeStore()
			if observed {
				rates[1] = rate
			} else {
				rates[0] = rate
			}
		}
		off, on, ratios = off+rates[0], on+rates[1], ratios+rates[1]/rates[0]
		b.Logf("pair %d: off %.0f tasks/s, on %.0f tasks/s, ratio %.3f", i, rates[0], rates[1], rates[1]/rates[0])
	}
	n := float64(b.N)
	b.ReportMetric(off/n, "off-tasks/s")
	b.ReportMetric(on/n, "on-tasks/s")
	b.ReportMetric(ratios/n, "on/off")
}

// drainOnce enqueues benchTasks no-op tasks, then times their drain; with
// observed, tracing and metrics are on.
func drainOnce(b *testing.B, store storage.Store, observed bool) float64 {
	ctx := context.Background()
	cfg := durable.Config{Concurrency: 100, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var shutdown func()
	var inst *durableotel.Instrumentation
	if observed {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		var err error
		if inst, err = durableotel.New(durableotel.Config{TracerProvider: tp, MeterProvider: mp}); err != nil {
			b.Fatal(err)
		}
		cfg.Middleware, cfg.Hooks = []durable.Middleware{inst.Middleware()}, []durable.Hooks{inst.Hooks()}
		shutdown = func() { _ = tp.Shutdown(ctx); _ = mp.Shutdown(ctx) }
	}
	ex, err := durable.New(store, cfg)
	if err != nil {
		b.Fatal(err)
	}
	if inst != nil {
		if _, err := inst.Observe(ex, 0); err != nil {
			b.Fatal(err)
		}
	}
	task := durable.Must(durable.NewTask(ex, "noop", func(ctx context.Context, in int) (struct{}, error) { return struct{}{}, nil }))
	inputs := make([]int, 1000)
	var last *durable.Handle[struct{}]
	for done := 0; done < benchTasks; done += len(inputs) {
		hs, err := task.EnqueueMany(ctx, inputs)
		if err != nil {
			b.Fatal(err)
		}
		last = hs[len(hs)-1]
	}
	start := time.Now()
	if err := ex.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := last.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	if err := ex.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	if shutdown != nil {
		shutdown()
	}
	return benchTasks / elapsed.Seconds()
}
