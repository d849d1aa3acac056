package durableotel_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/durable-go/durable"
	durableotel "github.com/durable-go/durable/otel"
	"github.com/durable-go/durable/storage/memory"
)

// newExecutor returns an executor on store instrumented by inst.
func newExecutor(t *testing.T, store *memory.Store, inst *durableotel.Instrumentation) *durable.Executor {
	t.Helper()
	ex, err := durable.New(store, durable.Config{
		Middleware: []durable.Middleware{inst.Middleware()}, Hooks: []durable.Hooks{inst.Hooks()},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// register registers the fan-out's tasks on ex: a parent spawning n
// children, and a finalize summing their outputs.
func register(t *testing.T, ex *durable.Executor) *durable.Task[int, int] {
	t.Helper()
	child := durable.Must(durable.NewTask(ex, "child", func(ctx context.Context, in int) (int, error) {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			t.Errorf("child %d: no span in the run's context", in)
		}
		return in * 10, nil
	}))
	finalize := durable.Must(durable.NewTask(ex, "sum", func(ctx context.Context, in durable.FinalizeInput[int]) (int, error) {
		total := 0
		for _, c := range in.Children {
			var v int
			if err := c.Decode(&v); err != nil {
				return 0, err
			}
			total += v
		}
		return total, nil
	}))
	return durable.Must(durable.NewParentTaskWithFinalize(ex, "fan_out", func(ctx context.Context, n int) (durable.Spawn[int], error) {
		kids := make([]durable.Child, n)
		for i := range kids {
			kids[i] = durable.ChildOf(child, i+1)
		}
		return durable.Spawn[int]{Output: n, Children: kids}, nil
	}, finalize))
}

// TestFanOutAcrossExecutors enqueues a parent (with a finalize) from one
// executor that runs nothing (a web process, say) while two others on
// the same store run it, its children and its finalize, and checks that
// the spans form one tree: request → enqueue fan_out → run fan_out →
// enqueue child → run child (each), and enqueue fan_out → run sum; then
// the metrics, read with a manual reader.
func TestFanOutAcrossExecutors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	inst, err := durableotel.New(durableotel.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	web, a, b := newExecutor(t, store, inst), newExecutor(t, store, inst), newExecutor(t, store, inst)
	if _, err := inst.Observe(web, 0); err != nil {
		t.Fatal(err)
	}
	fanOut := register(t, web)
	register(t, a)
	register(t, b)

	const n = 4
	reqCtx, req := tp.Tracer("test").Start(ctx, "request")
	h, err := fanOut.Enqueue(reqCtx, n)
	req.End()
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range []*durable.Executor{a, b} {
		if err := ex.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	x, err := h.Wait(ctx)
	if err != nil || x.Status != durable.StatusCompleted || x.Output != 100 {
		t.Fatalf("got %v %v %v, want completed 100", x.Status, x.Output, err)
	}
	for _, ex := range []*durable.Executor{a, b, web} {
		if err := ex.Shutdown(ctx); err != nil { // every hook and span has ended
			t.Fatal(err)
		}
	}

	got := spans.GetSpans()
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range got {
		byName[s.Name] = append(byName[s.Name], s)
	}
	one := func(name string) tracetest.SpanStub {
		t.Helper()
		if len(byName[name]) != 1 {
			t.Fatalf("%d spans %q, want 1 (spans: %v)", len(byName[name]), name, names(got))
		}
		return byName[name][0]
	}
	request, enqParent, runParent := one("request"), one("enqueue fan_out"), one("run fan_out")
	enqChildren, runSum := one("enqueue child"), one("run sum")
	runChildren := byName["run child"]
	if len(runChildren) != n {
		t.Fatalf("%d child runs, want %d", len(runChildren), n)
	}
	childOf := func(what string, s, parent tracetest.SpanStub) {
		t.Helper()
		if s.SpanContext.TraceID() != request.SpanContext.TraceID() {
			t.Errorf("%s: trace %s, want the request's %s", what, s.SpanContext.TraceID(), request.SpanContext.TraceID())
		}
		if s.Parent.SpanID() != parent.SpanContext.SpanID() {
			t.Errorf("%s: parent span %s, want %s (%s)", what, s.Parent.SpanID(), parent.SpanContext.SpanID(), parent.Name)
		}
	}
	childOf("enqueue fan_out", enqParent, request)
	childOf("run fan_out", runParent, enqParent)
	childOf("enqueue child", enqChildren, runParent)
	for _, s := range runChildren {
		childOf("run child", s, enqChildren)
	}
	childOf("run sum", runSum, enqParent)
	if enqParent.SpanKind != trace.SpanKindProducer || runParent.SpanKind != trace.SpanKindConsumer {
		t.Errorf("kinds: enqueue %v, run %v; want producer, consumer", enqParent.SpanKind, runParent.SpanKind)
	}
	if !runParent.Parent.IsRemote() {
		t.Errorf("the run's parent is not a remote span context: it was not read back from the metadata")
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	sums := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				if len(d.DataPoints) > 0 {
					sums[m.Name] += 0 // reported, if only as 0 (durable.run.active)
				}
				for _, p := range d.DataPoints {
					sums[m.Name] += p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					sums[m.Name] += int64(p.Count)
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					sums[m.Name] += p.Sum
				}
			}
		}
	}
	// 1 parent + n children + 1 finalize; the finalize is made by the
	// engine, not enqueued through the middleware.
	for name, want := range map[string]int64{
		"messaging.client.sent.messages":     1 + n,
		"messaging.client.consumed.messages": 1 + n + 1,
		"messaging.process.duration":         1 + n + 1,
		"durable.execution.finished":         1 + n + 1,
		"durable.run.active":                 0,
		"durable.queue.wait":                 1 + n + 1,
	} {
		if got, ok := sums[name]; !ok || got != want {
			t.Errorf("%s: %d, want %d (all: %v)", name, sums[name], want, sums)
		}
	}
	if sums["durable.claim.size"] < 1 || sums["durable.completion.size"] < 1+n+1 || sums["db.client.operation.duration"] == 0 {
		t.Errorf("claims %d, completions %d, store calls %d", sums["durable.claim.size"], sums["durable.completion.size"], sums["db.client.operation.duration"])
	}
}

func names(spans tracetest.SpanStubs) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name
	}
	return out
}

// TestEnqueueSpanNamesTheKeyHolder: an enqueue that returns the execution
// holding its key while active ends its span naming that execution.
func TestEnqueueSpanNamesTheKeyHolder(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	inst, err := durableotel.New(durableotel.Config{TracerProvider: tp, MeterProvider: sdkmetric.NewMeterProvider()})
	if err != nil {
		t.Fatal(err)
	}
	ex := newExecutor(t, memory.New(), inst) // not started: the first execution stays ready
	task := durable.Must(durable.NewTask(ex, "work", func(ctx context.Context, n int) (int, error) { return n, nil }))
	key := []durable.EnqueueOption{durable.WithIdempotencyKey("k"), durable.WithIdempotencyWhileActive()}
	first := durable.Must(task.Enqueue(context.Background(), 1, key...))
	if again := durable.Must(task.Enqueue(context.Background(), 2, key...)); again.ID() != first.ID() {
		t.Fatalf("the second enqueue returned %s, want the holder %s", again.ID(), first.ID())
	}
	got := spans.GetSpans()
	if len(got) != 2 {
		t.Fatalf("%d spans, want 2 enqueue spans", len(got))
	}
	for i, s := range got {
		var id string
		for _, a := range s.Attributes {
			if a.Key == "messaging.message.id" {
				id = a.Value.AsString() // the last one set wins, as in an exporter
			}
		}
		if id != first.ID() {
			t.Errorf("enqueue span %d names %s, want the holder %s", i, id, first.ID())
		}
	}
}
