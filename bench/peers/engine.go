package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
)

// engine runs the benchmark workloads on one peer engine.
type engine interface {
	// name is "river", "dbos" or "goworkflows".
	name() string
	// version names the engine module and its version, e.g. "river v0.51.2".
	version() string
	// settings lists the engine settings used for workload w on store.
	settings(store, w string, concurrency int) map[string]string
	// unsupported returns why workload w cannot run on this engine and
	// store, or "" when it can.
	unsupported(store, w string) string
	// prepare creates the engine's tables in the fresh store st.
	prepare(ctx context.Context, st *runStore) error
	// throughput, latency and fanout run those workloads on the prepared st.
	throughput(ctx context.Context, st *runStore, n, concurrency int) (Metrics, error)
	latency(ctx context.Context, st *runStore, rounds, concurrency int) (Metrics, error)
	fanout(ctx context.Context, st *runStore, n, concurrency int) (Metrics, error)
	// recoveryClient opens the orchestrator's side of the recovery workload.
	recoveryClient(ctx context.Context, st *runStore) (recoveryClient, error)
	// recoveryWorker works recovery jobs with the given concurrency until
	// ctx ends, calling ready once it is accepting work.
	recoveryWorker(ctx context.Context, st *runStore, concurrency int, log *appendLog, ready func()) error
}

// recoveryClient enqueues recovery jobs and counts the completed ones.
type recoveryClient interface {
	// enqueue enqueues recovery jobs 0..n-1.
	enqueue(ctx context.Context, n int) error
	// completed returns the number of recovery jobs completed in the store.
	completed(ctx context.Context) (int, error)
	close()
}

// newEngine returns the engine called name.
func newEngine(name string) (engine, error) {
	switch name {
	case engineRiver:
		return riverEngine{}, nil
	case engineDBOS:
		return dbosEngine{}, nil
	case engineGoWorkflows:
		return gowfEngine{}, nil
	}
	return nil, fmt.Errorf("unknown engine %q", name)
}

// moduleVersion returns the version of module path linked into this binary.
func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "unknown"
}

// quietLogger is the logger given to the engines: warnings and errors only,
// on stderr, so that stdout carries nothing but results. Records caused by a
// cancelled context (the engines' shutdown noise) are dropped.
func quietLogger() *slog.Logger {
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
	return slog.New(dropCanceled{h})
}

// dropCanceled is a slog.Handler that drops records with an error attribute
// wrapping context.Canceled, and passes the others to the wrapped handler.
type dropCanceled struct{ slog.Handler }

func (h dropCanceled) Handle(ctx context.Context, r slog.Record) error {
	canceled := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && (errors.Is(err, context.Canceled) || strings.Contains(err.Error(), context.Canceled.Error())) {
			canceled = true
			return false
		}
		return true
	})
	if canceled {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h dropCanceled) WithAttrs(attrs []slog.Attr) slog.Handler {
	return dropCanceled{h.Handler.WithAttrs(attrs)}
}

func (h dropCanceled) WithGroup(name string) slog.Handler {
	return dropCanceled{h.Handler.WithGroup(name)}
}
