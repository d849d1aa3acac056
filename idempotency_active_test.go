package durable_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/faulty"
	"github.com/durable-go/durable/storage/memory"
)

// TestIdempotencyWhileActiveRefusesBadInput: the options that make no
// sense with a key held while active are refused at enqueue, naming what
// is wrong, and store nothing; a parent that gives one to a child fails.
func TestIdempotencyWhileActiveRefusesBadInput(t *testing.T) {
	b := setupOn(t, memory.New(), durable.Config{}, false)
	task := durable.Must(durable.NewTask(b.ex, "t", func(ctx context.Context, in string) (string, error) { return in, nil }))
	sleeper := durable.Must(durable.NewSleepingTask[string](b.ex, "sleeper"))
	active := durable.WithIdempotencyWhileActive()
	for name, c := range map[string]struct {
		opts []durable.EnqueueOption
		want string
	}{
		"without a key":     {[]durable.EnqueueOption{active}, "WithIdempotencyWhileActive without WithIdempotencyKey"},
		"with an empty key": {[]durable.EnqueueOption{durable.WithIdempotencyKey(""), active}, "idempotency key"},
		"with a window": {[]durable.EnqueueOption{durable.WithIdempotencyKey("k"), active, durable.WithIdempotencyWindow(3600e9)},
			"either while active or within a window"},
	} {
		_, err := task.Enqueue(b.ctx, "x", c.opts...)
		if !errors.Is(err, durable.ErrInvalidOption) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want ErrInvalidOption naming %q, got %v", name, c.want, err)
		}
	}
	// A sleeping task's key is unique already: an idempotency key, of
	// either kind, is refused rather than ignored.
	for _, opts := range [][]durable.EnqueueOption{{durable.WithIdempotencyKey("k"), active}, {durable.WithIdempotencyKey("k")}} {
		_, err := sleeper.Enqueue(b.ctx, "wake-1", opts...)
		if !errors.Is(err, durable.ErrInvalidOption) || !strings.Contains(err.Error(), "sleeping task sleeper") {
			t.Errorf("a sleeping task with %d options: want ErrInvalidOption naming it, got %v", len(opts), err)
		}
	}
	if n, err := b.ex.Count(b.ctx, durable.Filter{}); err != nil || len(n) != 0 {
		t.Fatalf("refused enqueues stored %+v (%v)", n, err)
	}

	parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
		return durable.Spawn[string]{Children: []durable.Child{durable.ChildOf(task, "c", durable.WithIdempotencyKey("k"), active)}}, nil
	}))
	b.start(t)
	h := durable.Must(parent.Enqueue(b.ctx, "p"))
	x := waitFor(t, b, h)
	if x.Status != durable.StatusFailed || x.Err == nil ||
		!strings.Contains(x.Err.Error(), "WithIdempotencyWhileActive on a child") {
		t.Fatalf("a parent spawning a child with WithIdempotencyWhileActive: %s %v", x.Status, x.Err)
	}
}

// TestIdempotencyWhileActiveAmbiguousInsert: an insert that commits but
// reports an error is retried; the retry is refused for the key its own
// row now holds, and the enqueue returns that row, once: one execution,
// one run. An enqueue of the key while it runs returns it too.
func TestIdempotencyWhileActiveAmbiguousInsert(t *testing.T) {
	store, err := faulty.New(memory.New(), faulty.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := setupOn(t, store, durable.Config{}, true)
	release := make(chan struct{})
	var runs atomic.Int32
	task := durable.Must(durable.NewTask(b.ex, "work", func(ctx context.Context, n int) (int, error) {
		runs.Add(1)
		<-release
		return n, nil
	}))
	key := []durable.EnqueueOption{durable.WithIdempotencyKey("k"), durable.WithIdempotencyWhileActive()}
	if err := store.FailNext(faulty.MethodInsert, faulty.KindAfter); err != nil {
		t.Fatal(err)
	}
	h, err := task.Enqueue(b.ctx, 1, key...)
	if err != nil {
		t.Fatalf("Enqueue through an ambiguous commit: %v", err)
	}
	if got := store.Stats().Injected[faulty.KindAfter]; got != 1 {
		t.Fatalf("%d ambiguous commits injected, want 1", got)
	}
	if again, err := task.Enqueue(b.ctx, 2, key...); err != nil || again.ID() != h.ID() {
		t.Fatalf("Enqueue while %s is active: %v, %v", h.ID(), again, err)
	}
	close(release)
	if x, err := h.Wait(b.ctx); err != nil || x.Output != 1 {
		t.Fatalf("Wait: %v, %v", x, err)
	}
	if n, err := b.ex.Count(b.ctx, durable.Filter{}); err != nil || len(n) != 1 || n[0].N != 1 {
		t.Fatalf("executions stored: %+v (%v), want one", n, err)
	}
	if r := runs.Load(); r != 1 {
		t.Fatalf("%d runs, want 1", r)
	}
}

// TestIdempotencyWhileActiveMiddlewareSeesHolder: an enqueue that returns
// the execution holding the key shows that execution's id to the enqueue
// middleware once next returned (before next, the id of the row it tried
// to store).
func TestIdempotencyWhileActiveMiddlewareSeesHolder(t *testing.T) {
	var before, after []string
	mw := durable.Middleware{Enqueue: func(ctx context.Context, call *durable.EnqueueCall, next func(context.Context) error) error {
		before = append(before, call.Executions[0].ID)
		err := next(ctx)
		after = append(after, call.Executions[0].ID)
		return err
	}}
	b := setupOn(t, memory.New(), durable.Config{Middleware: []durable.Middleware{mw}}, false)
	task := durable.Must(durable.NewTask(b.ex, "work", func(ctx context.Context, n int) (int, error) { return n, nil }))
	key := []durable.EnqueueOption{durable.WithIdempotencyKey("k"), durable.WithIdempotencyWhileActive()}
	first := durable.Must(task.Enqueue(b.ctx, 1, key...))
	second := durable.Must(task.Enqueue(b.ctx, 2, key...)) // not started: the first is still ready
	if second.ID() != first.ID() {
		t.Fatalf("the second enqueue returned %s, want the holder %s", second.ID(), first.ID())
	}
	if len(after) != 2 || after[0] != first.ID() || after[1] != first.ID() {
		t.Fatalf("the middleware saw %v after next, want the holder %s twice", after, first.ID())
	}
	if before[1] == first.ID() {
		t.Fatalf("before next the middleware saw the holder's id %s, want the new row's", before[1])
	}
}
