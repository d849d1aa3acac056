package durableotel

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// FuzzParseTraceparent checks that the runs' own reading of a traceparent
// agrees with the OpenTelemetry propagator's: whenever parseTraceparent
// accepts a header, the propagator reads the same span context from it.
func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-04",
		"00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseTraceparent(s)
		want := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": s}))
		if ok && !got.Equal(want) {
			t.Fatalf("%q: parsed %v, the propagator reads %v", s, got, want)
		}
		if ok != got.IsValid() {
			t.Fatalf("%q: ok %v with a span context valid %v", s, ok, got.IsValid())
		}
	})
}

// TestParseTraceparentReadsWhatInjectWrites checks the fast path against
// what the package writes: every header Inject makes is parsed.
func TestParseTraceparentReadsWhatInjectWrites(t *testing.T) {
	for _, flags := range []trace.TraceFlags{0, trace.FlagsSampled} {
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: trace.TraceID{0x0a, 0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14},
			SpanID:  trace.SpanID{0xb7, 0xad, 1, 2, 3, 4, 5, 6}, TraceFlags: flags})
		carrier := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
		got, ok := parseTraceparent(carrier["traceparent"])
		if !ok || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || got.TraceFlags() != flags || !got.IsRemote() {
			t.Fatalf("%q: parsed %v (ok %v), want %v", carrier["traceparent"], got, ok, sc)
		}
	}
}

// TestExtractParentFallsBack checks that what the fast path does not read
// (a tracestate, another propagator) goes through the propagator.
func TestExtractParentFallsBack(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	i := &Instrumentation{prop: propagation.TraceContext{}, w3c: true}
	ctx := i.extractParent(context.Background(), map[string]string{"traceparent": tp, "tracestate": "vendor=x"})
	if ts := trace.SpanContextFromContext(ctx).TraceState().Get("vendor"); ts != "x" {
		t.Fatalf("tracestate vendor = %q, want x", ts)
	}
	ctx = i.extractParent(context.Background(), map[string]string{"traceparent": tp})
	if !trace.SpanContextFromContext(ctx).IsValid() {
		t.Fatal("no span context from a plain traceparent")
	}
	none := &Instrumentation{prop: propagation.Baggage{}}
	if sc := trace.SpanContextFromContext(none.extractParent(context.Background(), map[string]string{"traceparent": tp})); sc.IsValid() {
		t.Fatalf("a baggage-only propagator read a span context: %v", sc)
	}
}
