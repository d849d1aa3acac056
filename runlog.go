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
// (docs/semantics.md, Logs), unless a middleware gave the run another
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
	l := slog.New(r.e.log.Handler().WithAttrs(attrs))
	if !r.log.CompareAndSwap(nil, l) {
		return r.log.Load()
	}
	return l
}
