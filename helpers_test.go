package durable_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// testLogger writes the engine's logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

type bundle struct {
	store storage.Store
	ex    *durable.Executor
	ctx   context.Context
}

// setup returns a started executor on a fresh memory store; it is shut down
// at the end of the test.
func setup(t *testing.T, cfg durable.Config) *bundle {
	t.Helper()
	return setupOn(t, memory.New(), cfg, true)
}

func setupOn(t *testing.T, store storage.Store, cfg durable.Config, start bool) *bundle {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	ex, err := durable.New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	b := &bundle{store: store, ex: ex, ctx: ctx}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		if err := ex.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if start {
		b.start(t)
	}
	return b
}

func (b *bundle) start(t *testing.T) {
	t.Helper()
	if err := b.ex.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits for an execution to finish and fails the test if it does
// not within the test context.
func waitFor[O any](t *testing.T, b *bundle, h *durable.Handle[O]) durable.Execution[O] {
	t.Helper()
	x, err := h.Wait(b.ctx)
	if err != nil {
		t.Fatalf("wait %s: %v", h.ID(), err)
	}
	return x
}

// eventually polls cond every millisecond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func listChildren(parentID string) storage.ListChildrenParams {
	return storage.ListChildrenParams{ParentID: parentID}
}
