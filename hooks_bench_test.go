package durable_test

import (
	"context"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// BenchmarkHooks drains 20,000 no-op tasks on the memory store (as
// BenchmarkThroughput) with no hook or middleware installed ("none"), and
// with hooks of every kind and both middleware installed, each doing
// nothing ("noop"): the cost of calling them. What "none" costs against
// the engine without hooks is its tasks/s against BenchmarkThroughput's
// on the code before them (docs/performance.md, Observability).
func BenchmarkHooks(b *testing.B) {
	noop := durable.Hooks{
		Claimed: func(int) {}, BatchWritten: func(int) {}, LeasesLost: func(int) {},
		AttemptFailed: func(durable.Outcome) {}, ExecutionFinished: func(durable.Outcome) {},
		LeaseTakenOver: func(durable.Takeover) {}, StorageCall: func(durable.StorageCall) {},
	}
	mw := durable.Middleware{
		Enqueue: func(ctx context.Context, _ *durable.EnqueueCall, next func(context.Context) error) error {
			return next(ctx)
		},
		Run: func(ctx context.Context, next func(context.Context) error) error { return next(ctx) },
	}
	for _, c := range []struct {
		name string
		cfg  durable.Config
	}{
		{"none", durable.Config{}},
		{"noop", durable.Config{Hooks: []durable.Hooks{noop}, Middleware: []durable.Middleware{mw}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			const n = 20000
			for range b.N {
				throughputRun(b, memory.New(), c.cfg, n)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}
