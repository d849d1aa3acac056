package durable

import (
	"context"
	"log/slog"
)

type loggerKey struct{}

// Logger returns the logger for the code running in ctx. In a run (a
// task function, or a run middleware) it is Config.Logger with the
// run's task, execution, root and parent (in a tree) and attempt (from
// 1) attached, under the keys of the engine's own logs
// (docs/semantics.md, Logs), and trace_id when the execution carries a
// W3C traceparent in its metadata (the trace of the code that enqueued
// it), unless a middleware gave the run another
// one with WithLogger (the OpenTelemetry module adds the trace and span
// ids so). Outside a run it is the logger WithLogger put in ctx, or
// slog.Default(). It never returns nil.
//
// The run's logger is made the first time it is asked for: a run that
// does not log pays nothing for it.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	if r, ok := ctx.Value(runInfoKey{}).(*activeRun); ok {
		return r.logger()
	}
	return slog.Default()
}

// WithLogger returns a copy of ctx whose Logger is l (a nil l leaves ctx
// as it is).
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	if l == nil {
		return ctx
	}
	return context.WithValue(ctx, loggerKey{}, l)
}

// logger returns the run's logger, made once.
func (r *activeRun) logger() *slog.Logger {
	if l := r.log.Load(); l != nil {
		return l
	}
	attrs := executionAttrs(make([]slog.Attr, 0, 6), r.row, r.row.ID)
	if id := traceID(r.row.Metadata); id != "" {
		attrs = append(attrs, slog.String(keyTraceID, id))
	}
	l := slog.New(r.e.log.Handler().WithAttrs(attrs))
	if !r.log.CompareAndSwap(nil, l) {
		return r.log.Load()
	}
	return l
}

// keyTraceID is the attribute of the trace id in a run's logger.
const keyTraceID = "trace_id"

// traceID returns the trace id of the W3C traceparent in md
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"), or "" when
// there is none or it is malformed.
func traceID(md map[string]string) string {
	tp := md["traceparent"]
	if len(tp) != 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' {
		return ""
	}
	id := tp[3:35]
	zero := true
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return ""
		}
		zero = zero && c == '0'
	}
	if zero {
		return ""
	}
	return id
}
