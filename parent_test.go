package durable_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
)

func echoTask(t *testing.T, b *bundle, id string) *durable.Task[string, string] {
	t.Helper()
	return durable.Must(durable.NewTask(b.ex, id, func(ctx context.Context, in string) (string, error) {
		return in + "_out", nil
	}))
}

func failTask(t *testing.T, b *bundle, id string) *durable.Task[string, string] {
	t.Helper()
	return durable.Must(durable.NewTask(b.ex, id, func(ctx context.Context, in string) (string, error) {
		return "", errors.New(id + " failed")
	}))
}

// blockTask runs until its context is cancelled.
func blockTask(t *testing.T, b *bundle, id string, started chan<- string) *durable.Task[string, string] {
	t.Helper()
	return durable.Must(durable.NewTask(b.ex, id, func(ctx context.Context, in string) (string, error) {
		started <- in
		<-ctx.Done()
		return "", ctx.Err()
	}))
}

func TestParentTask(t *testing.T) {
	t.Parallel()

	t.Run("CompletesWithChildrenInOrder", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		child := echoTask(t, b, "child")
		parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Output: in, Children: []durable.Child{
				durable.ChildOf(child, "c1"), durable.ChildOf(child, "c2")}}, nil
		}))
		x := waitFor(t, b, durable.Must(parent.Enqueue(b.ctx, "p")))
		if x.Status != durable.StatusCompleted || x.Output.Output != "p" || len(x.Output.Children) != 2 {
			t.Fatalf("got %s %+v %v", x.Status, x.Output, x.Err)
		}
		for i, c := range x.Output.Children {
			got, err := durable.ChildOutput[string](c)
			if err != nil || got != fmt.Sprintf("c%d_out", i+1) || c.Index != i || c.TaskID != "child" {
				t.Errorf("child %d: %+v %q %v", i, c, got, err)
			}
		}
		if x.WaitingForChildrenAt.IsZero() || !x.WaitingForFinalizeAt.IsZero() {
			t.Errorf("waiting timestamps: children %v finalize %v", x.WaitingForChildrenAt, x.WaitingForFinalizeAt)
		}
	})

	t.Run("CompletesWithNoChildren", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		parent := durable.Must(durable.NewParentTask(b.ex, "lonely", func(ctx context.Context, in int) (durable.Spawn[int], error) {
			return durable.Spawn[int]{Output: in * 2}, nil
		}))
		x := waitFor(t, b, durable.Must(parent.Enqueue(b.ctx, 21)))
		if x.Status != durable.StatusCompleted || x.Output.Output != 42 || x.Output.Children == nil || len(x.Output.Children) != 0 {
			t.Fatalf("got %s %+v", x.Status, x.Output)
		}
	})

	t.Run("FinalizeCombinesOutputs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		child := echoTask(t, b, "child")
		combine := durable.Must(durable.NewTask(b.ex, "combine", func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
			parts := []string{in.Output}
			for _, c := range in.Children {
				s, err := durable.ChildOutput[string](c)
				if err != nil {
					return "", err
				}
				parts = append(parts, s)
			}
			info, _ := durable.Info(ctx)
			if !info.IsFinalize {
				return "", errors.New("finalize run info lacks IsFinalize")
			}
			return strings.Join(parts, "_"), nil
		}))
		parent := durable.Must(durable.NewParentTaskWithFinalize(b.ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Output: "test", Children: []durable.Child{
				durable.ChildOf(child, "child1"), durable.ChildOf(child, "child2")}}, nil
		}, combine))
		x := waitFor(t, b, durable.Must(parent.Enqueue(b.ctx, "")))
		if x.Status != durable.StatusCompleted || x.Output != "test_child1_out_child2_out" {
			t.Fatalf("got %s %q %v", x.Status, x.Output, x.Err)
		}
		if x.WaitingForFinalizeAt.IsZero() {
			t.Error("WaitingForFinalizeAt not set")
		}
	})

	t.Run("FinalizeWithNoChildren", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		combine := durable.Must(durable.NewTask(b.ex, "combine", func(ctx context.Context, in durable.FinalizeInput[int]) (int, error) {
			return in.Output + len(in.Children), nil
		}))
		parent := durable.Must(durable.NewParentTaskWithFinalize(b.ex, "parent", func(ctx context.Context, in int) (durable.Spawn[int], error) {
			return durable.Spawn[int]{Output: in}, nil
		}, combine))
		x := waitFor(t, b, durable.Must(parent.Enqueue(b.ctx, 5)))
		if x.Status != durable.StatusCompleted || x.Output != 5 {
			t.Fatalf("got %s %d %v", x.Status, x.Output, x.Err)
		}
	})

	t.Run("ChildFailureWithoutFinalizeFailsFastAndCancelsSiblings", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		started := make(chan string, 2)
		slow := blockTask(t, b, "slow", started)
		bad := failTask(t, b, "bad")
		parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Children: []durable.Child{durable.ChildOf(slow, "s"), durable.ChildOf(bad, "b")}}, nil
		}))
		h := durable.Must(parent.Enqueue(b.ctx, ""))
		x := waitFor(t, b, h)
		if x.Status != durable.StatusChildrenFailed || !errors.Is(x.Err, durable.ErrChildrenFailed) || !strings.Contains(x.Err.Message, "bad failed") {
			t.Fatalf("got %s %+v", x.Status, x.Err)
		}
		<-started
		sibling := childHandle(t, b, slow, h.ID(), 0)
		if s := waitFor(t, b, sibling); s.Status != durable.StatusCancelled {
			t.Errorf("sibling ended %s, want cancelled", s.Status)
		}
	})

	t.Run("FinalizeSeesEveryChildResult", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		good, bad := echoTask(t, b, "good"), failTask(t, b, "bad")
		var seen atomic.Value
		strict := durable.Must(durable.NewTask(b.ex, "strict", func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
			var st []string
			for _, c := range in.Children {
				st = append(st, string(c.Status))
			}
			seen.Store(strings.Join(st, ","))
			for _, c := range in.Children {
				if c.Status != durable.StatusCompleted {
					return "", durable.NonRetryable(errors.New("children failed"))
				}
			}
			return "ok", nil
		}))
		parent := durable.Must(durable.NewParentTaskWithFinalize(b.ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Children: []durable.Child{durable.ChildOf(good, "1"), durable.ChildOf(bad, "2"), durable.ChildOf(good, "3")}}, nil
		}, strict))
		x := waitFor(t, b, durable.Must(parent.Enqueue(b.ctx, "")))
		if x.Status != durable.StatusFinalizeFailed || !errors.Is(x.Err, durable.ErrFinalizeFailed) || !strings.Contains(x.Err.Message, "children failed") {
			t.Fatalf("got %s %+v", x.Status, x.Err)
		}
		if seen.Load() != "completed,failed,completed" {
			t.Errorf("finalize saw %v", seen.Load())
		}
	})

	t.Run("FinalizeIsAParentItself", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		child := echoTask(t, b, "child")
		join := durable.Must(durable.NewTask(b.ex, "join", func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
			parts := []string{in.Output}
			for _, c := range in.Children {
				s, _ := durable.ChildOutput[string](c)
				parts = append(parts, s)
			}
			return strings.Join(parts, "+"), nil
		}))
		innerFinalize := durable.Must(durable.NewParentTaskWithFinalize(b.ex, "inner_finalize", func(ctx context.Context, in durable.FinalizeInput[string]) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Output: "f", Children: []durable.Child{durable.ChildOf(child, "x")}}, nil
		}, join))
		parent := durable.Must(durable.NewParentTaskWithFinalize(b.ex, "outer", func(ctx context.Context, in string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Output: in, Children: []durable.Child{durable.ChildOf(child, "a")}}, nil
		}, innerFinalize))
		x := waitFor(t, b, durable.Must(parent.Enqueue(b.ctx, "p")))
		if x.Status != durable.StatusCompleted || x.Output != "f+x_out" {
			t.Fatalf("got %s %q %v", x.Status, x.Output, x.Err)
		}
	})

	t.Run("CancelParentCancelsChildren", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		started := make(chan string, 3)
		slow := blockTask(t, b, "slow", started)
		parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Children: []durable.Child{durable.ChildOf(slow, "1"), durable.ChildOf(slow, "2")}}, nil
		}))
		h := durable.Must(parent.Enqueue(b.ctx, ""))
		<-started
		<-started
		if err := h.Cancel(b.ctx); err != nil {
			t.Fatal(err)
		}
		if x := waitFor(t, b, h); x.Status != durable.StatusCancelled {
			t.Fatalf("parent %s", x.Status)
		}
		for i := range 2 {
			if c := waitFor(t, b, childHandle(t, b, slow, h.ID(), i)); c.Status != durable.StatusCancelled {
				t.Errorf("child %d ended %s", i, c.Status)
			}
		}
	})

	t.Run("RecursionCountsDown", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		var count *durable.Task[int, int]
		sum := durable.Must(durable.NewTask(b.ex, "sum", func(ctx context.Context, in durable.FinalizeInput[int]) (int, error) {
			total := in.Output
			for _, c := range in.Children {
				v, err := durable.ChildOutput[int](c)
				if err != nil {
					return 0, err
				}
				total += v
			}
			return total, nil
		}))
		count = durable.Must(durable.NewParentTaskWithFinalize(b.ex, "count", func(ctx context.Context, n int) (durable.Spawn[int], error) {
			if n == 0 {
				return durable.Spawn[int]{Output: 0}, nil
			}
			return durable.Spawn[int]{Output: 1, Children: []durable.Child{durable.ChildOf(count, n-1)}}, nil
		}, sum))
		x := waitFor(t, b, durable.Must(count.Enqueue(b.ctx, 10)))
		if x.Status != durable.StatusCompleted || x.Output != 10 {
			t.Fatalf("got %s %d %v", x.Status, x.Output, x.Err)
		}
	})

	t.Run("FiveHundredChildrenInOrder", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		square := durable.Must(durable.NewTask(b.ex, "square", func(ctx context.Context, in int) (int, error) { return in * in, nil }))
		parent := durable.Must(durable.NewParentTask(b.ex, "many", func(ctx context.Context, n int) (durable.Spawn[int], error) {
			children := make([]durable.Child, n)
			for i := range children {
				children[i] = durable.ChildOf(square, i)
			}
			return durable.Spawn[int]{Output: n, Children: children}, nil
		}))
		x := waitFor(t, b, durable.Must(parent.Enqueue(b.ctx, 500)))
		if x.Status != durable.StatusCompleted || len(x.Output.Children) != 500 {
			t.Fatalf("got %s %d children", x.Status, len(x.Output.Children))
		}
		for i, c := range x.Output.Children {
			if v, _ := durable.ChildOutput[int](c); v != i*i {
				t.Fatalf("child %d = %d", i, v)
			}
		}
	})

	t.Run("TooManyChildrenFailsWithoutRunningAny", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{MaxChildren: 3})
		var runs atomic.Int32
		child := durable.Must(durable.NewTask(b.ex, "child", func(ctx context.Context, in int) (int, error) { runs.Add(1); return in, nil }))
		parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, n int) (durable.Spawn[int], error) {
			var cs []durable.Child
			for i := range n {
				cs = append(cs, durable.ChildOf(child, i))
			}
			return durable.Spawn[int]{Children: cs}, nil
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 2})))
		x := waitFor(t, b, durable.Must(parent.Enqueue(b.ctx, 4)))
		if x.Status != durable.StatusFailed || !errors.Is(x.Err, durable.ErrTooManyChildren) || x.Attempt != 0 || runs.Load() != 0 {
			t.Fatalf("got %s attempt=%d runs=%d %+v", x.Status, x.Attempt, runs.Load(), x.Err)
		}
	})

	t.Run("SleepingChildWokenCompletesParent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		webhook := durable.Must(durable.NewSleepingTask[string](b.ex, "webhook", durable.WithTimeout(time.Hour)))
		parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, key string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Children: []durable.Child{webhook.Child(key)}}, nil
		}))
		h := durable.Must(parent.Enqueue(b.ctx, "order-42"))
		eventually(t, "parent waiting", func() bool { x, _ := h.Get(b.ctx); return x.Status == durable.StatusWaitingForChildren })
		w, err := webhook.Wake(b.ctx, "order-42", durable.Completed("paid"))
		if err != nil || w.Status != durable.StatusCompleted || w.Output != "paid" {
			t.Fatalf("wake: %+v %v", w, err)
		}
		x := waitFor(t, b, h)
		if x.Status != durable.StatusCompleted {
			t.Fatalf("parent %s %v", x.Status, x.Err)
		}
		if v, _ := durable.ChildOutput[string](x.Output.Children[0]); v != "paid" {
			t.Errorf("child output %q", v)
		}
	})
}

// childHandle finds the index-th child of a parent through the store.
func childHandle[I, O any](t *testing.T, b *bundle, task *durable.Task[I, O], parentID string, index int) *durable.Handle[O] {
	t.Helper()
	rows, err := b.store.ListChildren(b.ctx, listChildren(parentID))
	if err != nil || len(rows) <= index {
		t.Fatalf("children of %s: %d rows, %v", parentID, len(rows), err)
	}
	return durable.Must(task.Handle(b.ctx, rows[index].ID))
}
