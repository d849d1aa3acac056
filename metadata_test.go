package durable_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/durable-go/durable"
)

func TestMetadata(t *testing.T) {
	t.Parallel()

	t.Run("StoredSeenInRunsAndInheritedByChildren", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		var mu sync.Mutex
		seen := map[string]map[string]string{}
		child := durable.Must(durable.NewTask(b.ex, "child", func(ctx context.Context, in int) (int, error) {
			info, _ := durable.Info(ctx)
			mu.Lock()
			seen[info.ExecutionID] = info.Metadata
			mu.Unlock()
			return in, nil
		}))
		parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, n int) (durable.Spawn[int], error) {
			return durable.Spawn[int]{Children: []durable.Child{
				durable.ChildOf(child, 1),
				durable.ChildOf(child, 2, durable.WithMetadata(map[string]string{"tenant": "child-own", "step": "2"})),
			}}, nil
		}))
		h := durable.Must(parent.Enqueue(b.ctx, 1,
			durable.WithMetadata(map[string]string{"tenant": "acme"}), durable.WithMetadata(map[string]string{"request.id": "r-1"})))
		if x := waitFor(t, b, h); x.Status != durable.StatusCompleted {
			t.Fatalf("got %s", x.Status)
		}
		rec, err := b.ex.Get(b.ctx, h.ID())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"tenant": "acme", "request.id": "r-1"}
		if !maps.Equal(rec.Metadata, want) {
			t.Errorf("Record.Metadata %v, want %v", rec.Metadata, want)
		}
		kids, err := b.ex.Children(b.ctx, h.ID())
		if err != nil || len(kids) != 2 {
			t.Fatalf("children: %v %v", kids, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if got := seen[kids[0].ID]; !maps.Equal(got, want) {
			t.Errorf("first child's metadata in its run: %v, want the parent's %v", got, want)
		}
		if got := seen[kids[1].ID]; !maps.Equal(got, map[string]string{"tenant": "child-own", "request.id": "r-1", "step": "2"}) {
			t.Errorf("second child's metadata in its run: %v, want the parent's with its own winning", got)
		}
	})

	t.Run("InvalidIsRefused", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		task := durable.Must(durable.NewTask(b.ex, "t", func(ctx context.Context, in int) (int, error) { return in, nil }))
		for name, md := range map[string]map[string]string{
			"KeyWithSpace": {"a key": "v"},
			"TooBig":       {"k": strings.Repeat("v", 5000)},
			"NUL":          {"k": "\x00"},
		} {
			_, err := task.Enqueue(b.ctx, 1, durable.WithMetadata(md))
			if !errors.Is(err, durable.ErrInvalidOption) || !strings.Contains(err.Error(), "metadata") {
				t.Errorf("%s: got %v, want ErrInvalidOption naming the metadata", name, err)
			}
		}
		if n := countAll(t, b); n != 0 {
			t.Errorf("%d executions stored", n)
		}
	})

	t.Run("SetByMiddlewareAndTraceIDLogged", func(t *testing.T) {
		t.Parallel()
		logs := newLogRecorder()
		const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		inject := durable.Middleware{Enqueue: func(ctx context.Context, call *durable.EnqueueCall, next func(context.Context) error) error {
			for i := range call.Executions {
				call.Executions[i].Metadata["traceparent"] = tp
				if call.Executions[i].TaskID == "bad" {
					call.Executions[i].Metadata["bad key"] = "x"
				}
			}
			return next(ctx)
		}}
		b := setup(t, durable.Config{Logger: logs.logger(), Middleware: []durable.Middleware{inject}})
		task := durable.Must(durable.NewTask(b.ex, "traced", func(ctx context.Context, in int) (int, error) {
			durable.Logger(ctx).Info("traced run")
			return in, nil
		}))
		h := durable.Must(task.Enqueue(b.ctx, 1, durable.WithMetadata(map[string]string{"own": "kept"})))
		waitFor(t, b, h)
		rec, err := b.ex.Get(b.ctx, h.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(rec.Metadata, map[string]string{"own": "kept", "traceparent": tp}) {
			t.Errorf("metadata %v", rec.Metadata)
		}
		requireRecord(t, logs.await(t, b.ctx, "traced run", 1)[0], slog.LevelInfo, map[string]any{
			"task": "traced", "execution": h.ID(), "attempt": 1, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
		})

		bad := durable.Must(durable.NewTask(b.ex, "bad", func(ctx context.Context, in int) (int, error) { return in, nil }))
		if _, err := bad.Enqueue(b.ctx, 1); !errors.Is(err, durable.ErrInvalidOption) || !strings.Contains(err.Error(), "bad key") {
			t.Errorf("invalid metadata from a middleware: got %v, want ErrInvalidOption naming the key", err)
		}
		if n := countAll(t, b); n != 1 {
			t.Errorf("%d executions stored, want 1", n)
		}
	})
}
