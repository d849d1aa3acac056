package durableotel

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// extractParent returns ctx with the remote span context the enqueuing
// code left in md. A traceparent of version 00 with no tracestate, which
// is what this package writes with the default propagator, is parsed here
// (half the time of propagation.TraceContext's Extract, which every run
// would pay); anything else goes through the configured propagator.
func (i *Instrumentation) extractParent(ctx context.Context, md map[string]string) context.Context {
	if i.w3c && md["tracestate"] == "" {
		if sc, ok := parseTraceparent(md["traceparent"]); ok {
			return trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	return i.prop.Extract(ctx, propagation.MapCarrier(md))
}

// parseTraceparent parses a W3C traceparent of version 00:
// "00-<32 lowercase hex trace id>-<16 lowercase hex span id>-<2 hex
// flags, at most 03>", neither id all zeros. ok is false for anything
// else, which the propagator then reads (or refuses) as the specification
// says. What it returns is what propagation.TraceContext reads from the
// same header (FuzzParseTraceparent).
func parseTraceparent(s string) (sc trace.SpanContext, ok bool) {
	if len(s) != 55 || s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return sc, false
	}
	var cfg trace.SpanContextConfig
	var flags [1]byte
	if !decodeHex(cfg.TraceID[:], s[3:35]) || !decodeHex(cfg.SpanID[:], s[36:52]) || !decodeHex(flags[:], s[53:55]) {
		return sc, false
	}
	if flags[0] > 3 { // version 00 reserves the other bits
		return sc, false
	}
	cfg.TraceFlags = trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	cfg.Remote = true
	sc = trace.NewSpanContext(cfg)
	return sc, sc.IsValid()
}

// decodeHex decodes the lowercase hexadecimal s into dst (len(s) ==
// 2*len(dst)).
func decodeHex(dst []byte, s string) bool {
	for k := range dst {
		hi, ok1 := hexValue(s[2*k])
		lo, ok2 := hexValue(s[2*k+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[k] = hi<<4 | lo
	}
	return true
}

func hexValue(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
