package durableotel_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/durable-go/durable"
	durableotel "github.com/durable-go/durable/otel"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
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
	b.Run("memory", func(b *testing.B) {
		drainPairs(b, func(b *testing.B) (storage.Store, func()) {
			s := memory.New()
			return s, func() { s.Close() }
		})
	})
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
	var off, on, ratios, cpuOff, cpuOn, allocsOff, allocsOn float64
	for i := range b.N {
		var runs [2]drain
		for k := range 2 {
			observed := (i+k)%2 == 1
			store, closeStore := open(b)
			d := drainOnce(b, store, observed)
			closeStore()
			if observed {
				runs[1] = d
			} else {
				runs[0] = d
			}
		}
		off, on, ratios = off+runs[0].rate, on+runs[1].rate, ratios+runs[1].rate/runs[0].rate
		cpuOff, cpuOn = cpuOff+runs[0].cpu, cpuOn+runs[1].cpu
		allocsOff, allocsOn = allocsOff+runs[0].allocs, allocsOn+runs[1].allocs
		b.Logf("pair %d: off %.0f tasks/s %.1f cpu-µs/task %.0f allocs/task, on %.0f tasks/s %.1f cpu-µs/task %.0f allocs/task, ratio %.3f",
			i, runs[0].rate, runs[0].cpu, runs[0].allocs, runs[1].rate, runs[1].cpu, runs[1].allocs, runs[1].rate/runs[0].rate)
	}
	n := float64(b.N)
	b.ReportMetric(off/n, "off-tasks/s")
	b.ReportMetric(on/n, "on-tasks/s")
	b.ReportMetric(ratios/n, "on/off")
	b.ReportMetric(cpuOff/n, "off-cpu-µs/task")
	b.ReportMetric(cpuOn/n, "on-cpu-µs/task")
	b.ReportMetric(allocsOff/n, "off-allocs/task")
	b.ReportMetric(allocsOn/n, "on-allocs/task")
}

// drain is what one drain measured: its rate (tasks/s), and the
// process's CPU time (µs) and heap allocations per task while it ran.
type drain struct{ rate, cpu, allocs float64 }

func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// drainOnce enqueues benchTasks no-op tasks, then times their drain; with
// observed, tracing and metrics are on.
func drainOnce(b *testing.B, store storage.Store, observed bool) drain {
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
	start, cpu0, mallocs0 := time.Now(), cpuTime(), mallocs()
	if err := ex.Start(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := last.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed, cpu, allocs := time.Since(start), cpuTime()-cpu0, mallocs()-mallocs0
	if err := ex.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	if shutdown != nil {
		shutdown()
	}
	return drain{rate: benchTasks / elapsed.Seconds(), cpu: float64(cpu.Microseconds()) / benchTasks, allocs: float64(allocs) / benchTasks}
}
