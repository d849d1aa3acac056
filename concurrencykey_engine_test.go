package durable_test

import (
	"context"
	"strings"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// TestConcurrencyKeyOfEngineMadeExecutions: a task's
// WithConcurrencyKeyFunc gives its key to the executions the engine makes
// of it from an encoded input, as to those enqueued or spawned: a
// sequence's steps and a parent's finalize.
func TestConcurrencyKeyOfEngineMadeExecutions(t *testing.T) {
	b := setupOn(t, memory.New(), durable.Config{}, true)
	keyed := durable.WithConcurrencyKeyFunc(func(in string) string { return "k-" + strings.SplitN(in, "/", 2)[0] })
	first := durable.Must(durable.NewTask(b.ex, "first", func(ctx context.Context, in string) (string, error) { return in + "/1", nil }, keyed))
	second := durable.Must(durable.NewTask(b.ex, "second", func(ctx context.Context, in string) (string, error) { return in + "/2", nil }, keyed))
	seq := durable.Must(durable.NewSequence[string, string](b.ex, "seq", first, second))
	fin := durable.Must(durable.NewTask(b.ex, "fin", func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) { return in.Output, nil },
		durable.WithConcurrencyKeyFunc(func(in durable.FinalizeInput[string]) string { return "fin-" + in.Output })))
	parent := durable.Must(durable.NewParentTaskWithFinalize(b.ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
		return durable.Spawn[string]{Output: in}, nil
	}, fin))

	h := durable.Must(seq.Enqueue(b.ctx, "cust7"))
	if x := waitFor(t, b, h); x.Status != durable.StatusCompleted || x.Output != "cust7/1/2" {
		t.Fatalf("sequence: %s %q %v", x.Status, x.Output, x.Err)
	}
	steps, err := b.ex.Children(b.ctx, h.ID())
	if err != nil || len(steps) != 2 {
		t.Fatalf("steps: %v %v", steps, err)
	}
	for i, s := range steps {
		if s.ConcurrencyKey != "k-cust7" {
			t.Errorf("step %d (%s): key %q, want k-cust7", i, s.TaskID, s.ConcurrencyKey)
		}
	}

	p := durable.Must(parent.Enqueue(b.ctx, "p1"))
	if x := waitFor(t, b, p); x.Status != durable.StatusCompleted {
		t.Fatalf("parent: %s %v", x.Status, x.Err)
	}
	kids, err := b.ex.Children(b.ctx, p.ID())
	if err != nil || len(kids) != 1 || !kids[0].IsFinalize {
		t.Fatalf("the parent's finalize: %+v %v", kids, err)
	}
	if kids[0].ConcurrencyKey != "fin-p1" {
		t.Errorf("finalize: key %q, want fin-p1", kids[0].ConcurrencyKey)
	}
}
