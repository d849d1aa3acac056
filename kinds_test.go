package durable_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

func TestSequence(t *testing.T) {
	t.Parallel()

	newChain := func(t *testing.T, b *bundle) (*durable.Task[string, bool], *atomic.Int32) {
		var runs atomic.Int32
		parse := durable.Must(durable.NewTask(b.ex, "parse", func(ctx context.Context, in string) (float64, error) {
			runs.Add(1)
			return strconv.ParseFloat(in, 64)
		}))
		double := durable.Must(durable.NewTask(b.ex, "double", func(ctx context.Context, in float64) (float64, error) {
			runs.Add(1)
			return in * 2, nil
		}))
		over := durable.Must(durable.NewTask(b.ex, "over20", func(ctx context.Context, in float64) (bool, error) {
			runs.Add(1)
			return in > 20, nil
		}))
		return durable.Must(durable.NewSequence[string, bool](b.ex, "chain", parse, double, over)), &runs
	}

	t.Run("OutputFeedsNextInput", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		seq, runs := newChain(t, b)
		for in, want := range map[string]bool{"10.5": true, "9.5": false} {
			x := waitFor(t, b, durable.Must(seq.Enqueue(b.ctx, in)))
			if x.Status != durable.StatusCompleted || x.Output != want {
				t.Fatalf("%s: got %s %v %v", in, x.Status, x.Output, x.Err)
			}
		}
		if runs.Load() != 6 {
			t.Errorf("runs = %d, want 6", runs.Load())
		}
	})

	t.Run("FailingStepStopsChain", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		seq, runs := newChain(t, b)
		x := waitFor(t, b, durable.Must(seq.Enqueue(b.ctx, "not a number")))
		if x.Status != durable.StatusFinalizeFailed || !strings.Contains(x.Err.Message, "step 0 (parse") || runs.Load() != 1 {
			t.Fatalf("got %s runs=%d %+v", x.Status, runs.Load(), x.Err)
		}
	})

	t.Run("MismatchedTypesRejected", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		a := echoTask(t, b, "a")
		n := durable.Must(durable.NewTask(b.ex, "n", func(ctx context.Context, in int) (int, error) { return in, nil }))
		if _, err := durable.NewSequence[string, int](b.ex, "bad", a, n); !errors.Is(err, durable.ErrInvalidTask) {
			t.Fatalf("err = %v", err)
		}
		if _, err := durable.NewSequence[string, string](b.ex, "empty"); !errors.Is(err, durable.ErrInvalidTask) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("SleepingStepsWokenInTurn", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		s1 := durable.Must(durable.NewSleepingTask[string](b.ex, "s1", durable.WithTimeout(time.Hour)))
		s2 := durable.Must(durable.NewSleepingTask[string](b.ex, "s2", durable.WithTimeout(time.Hour)))
		seq := durable.Must(durable.NewSequence[string, string](b.ex, "approvals", s1, s2))
		h := durable.Must(seq.Enqueue(b.ctx, "k1"))
		wake := func(task *durable.SleepingTask[string], key, out string) {
			eventually(t, "sleeping "+key, func() bool {
				x, err := task.Wake(b.ctx, key, durable.Completed(out))
				return err == nil && x.Status == durable.StatusCompleted
			})
		}
		wake(s1, "k1", "k2")
		wake(s2, "k2", "done")
		if x := waitFor(t, b, h); x.Status != durable.StatusCompleted || x.Output != "done" {
			t.Fatalf("got %s %q %v", x.Status, x.Output, x.Err)
		}
	})
}

func TestLoop(t *testing.T) {
	t.Parallel()

	t.Run("CompletesWhenDone", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		loop := durable.Must(durable.NewLoopTask(b.ex, "poll", func(ctx context.Context, in int) (durable.LoopResult[int], error) {
			info, _ := durable.Info(ctx)
			if info.Iteration < 2 {
				return durable.Continue[int](), nil
			}
			return durable.Done(in + info.Iteration), nil
		}, durable.LoopOptions{MaxIterations: 10}))
		x := waitFor(t, b, durable.Must(loop.Enqueue(b.ctx, 40)))
		if x.Status != durable.StatusCompleted || !x.Output.Done || x.Output.Output != 42 || x.Output.Iterations != 3 {
			t.Fatalf("got %s %+v %v", x.Status, x.Output, x.Err)
		}
	})

	t.Run("GivesUpAfterMaxIterations", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		loop := durable.Must(durable.NewLoopTask(b.ex, "never", func(ctx context.Context, in int) (durable.LoopResult[int], error) {
			return durable.Continue[int](), nil
		}, durable.LoopOptions{MaxIterations: 2}))
		x := waitFor(t, b, durable.Must(loop.Enqueue(b.ctx, 1)))
		if x.Status != durable.StatusCompleted || x.Output.Done || x.Output.Iterations != 2 {
			t.Fatalf("got %s %+v", x.Status, x.Output)
		}
	})

	t.Run("DelayBetweenIterations", func(t *testing.T) {
		t.Parallel()
		b, fc := fakeSetup(t, durable.Config{})
		loop := durable.Must(durable.NewLoopTask(b.ex, "spaced", func(ctx context.Context, in int) (durable.LoopResult[int], error) {
			if info, _ := durable.Info(ctx); info.Iteration == 2 {
				return durable.Done(1), nil
			}
			return durable.Continue[int](), nil
		}, durable.LoopOptions{MaxIterations: 5, DelayFunc: func(n int) time.Duration { return time.Duration(n) * time.Second }}))
		h := durable.Must(loop.Enqueue(b.ctx, 0))
		for i, want := range []time.Duration{time.Second, 2 * time.Second} {
			row := awaitReady(t, b, fc, h.ID(), i+1)
			if got := row.DueAt.Sub(row.UpdatedAt); got != want {
				t.Errorf("delay before iteration %d = %s, want %s", i+1, got, want)
			}
			fc.Set(row.DueAt)
		}
		awaitFinished(t, b, fc, h.ID())
		if x := waitFor(t, b, h); x.Output.Iterations != 3 {
			t.Fatalf("got %+v", x.Output)
		}
	})

	t.Run("LongLoopIsOneRow", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		loop := durable.Must(durable.NewLoopTask(b.ex, "long", func(ctx context.Context, in int) (durable.LoopResult[int], error) {
			return durable.Continue[int](), nil
		}, durable.LoopOptions{MaxIterations: 2000}))
		h := durable.Must(loop.Enqueue(b.ctx, 0))
		x := waitFor(t, b, h)
		if x.Output.Iterations != 2000 || x.ParentID != "" {
			t.Fatalf("got %+v", x.Output)
		}
		children, _ := b.store.ListChildren(b.ctx, listChildren(h.ID()))
		if len(children) != 0 {
			t.Errorf("loop spawned %d rows", len(children))
		}
	})

	t.Run("FailingIterationFailsLoop", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		loop := durable.Must(durable.NewLoopTask(b.ex, "breaks", func(ctx context.Context, in int) (durable.LoopResult[int], error) {
			if info, _ := durable.Info(ctx); info.Iteration == 1 {
				return durable.LoopResult[int]{}, errors.New("upstream down")
			}
			return durable.Continue[int](), nil
		}, durable.LoopOptions{MaxIterations: 5}))
		x := waitFor(t, b, durable.Must(loop.Enqueue(b.ctx, 0)))
		if x.Status != durable.StatusFailed || !strings.Contains(x.Err.Message, "iteration 1: upstream down") {
			t.Fatalf("got %s %+v", x.Status, x.Err)
		}
	})
}

func TestSleepingTask(t *testing.T) {
	t.Parallel()

	t.Run("WakeCompletedAndIdempotent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		task := durable.Must(durable.NewSleepingTask[int](b.ex, "approval", durable.WithTimeout(time.Hour)))
		h := durable.Must(task.Enqueue(b.ctx, "req-1"))
		x := durable.Must(h.Get(b.ctx))
		if x.Status != durable.StatusRunning || x.SleepKey != "req-1" {
			t.Fatalf("sleeping execution is %s key %q", x.Status, x.SleepKey)
		}
		if _, err := durable.Wake(b.ctx, task, "req-1", durable.Completed(7)); err != nil {
			t.Fatal(err)
		}
		again, err := task.Wake(b.ctx, "req-1", durable.Failed[int](errors.New("late")))
		if err != nil || again.Status != durable.StatusCompleted || again.Output != 7 {
			t.Fatalf("second wake: %+v %v", again, err)
		}
		if x := waitFor(t, b, h); x.Output != 7 {
			t.Fatalf("got %d", x.Output)
		}
	})

	t.Run("WakeFailed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		task := durable.Must(durable.NewSleepingTask[int](b.ex, "approval"))
		h := durable.Must(task.Enqueue(b.ctx, "req-2"))
		durable.Must(task.Wake(b.ctx, "req-2", durable.Failed[int](errors.New("rejected"))))
		if x := waitFor(t, b, h); x.Status != durable.StatusFailed || x.Err.Message != "rejected" {
			t.Fatalf("got %s %+v", x.Status, x.Err)
		}
	})

	t.Run("TimesOut", func(t *testing.T) {
		t.Parallel()
		b, fc := fakeSetup(t, durable.Config{})
		task := durable.Must(durable.NewSleepingTask[int](b.ex, "approval", durable.WithTimeout(time.Minute)))
		h := durable.Must(task.Enqueue(b.ctx, "req-3"))
		advanceUntil(t, fc, 10*time.Second, "sleeping timeout", func() bool {
			x, _ := h.Get(b.ctx)
			return x.Status.Terminal()
		})
		if x := waitFor(t, b, h); x.Status != durable.StatusTimedOut || !errors.Is(x.Err, durable.ErrTimedOut) {
			t.Fatalf("got %s %+v", x.Status, x.Err)
		}
	})

	t.Run("CancelThenWakeReturnsCancelled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		task := durable.Must(durable.NewSleepingTask[int](b.ex, "approval"))
		h := durable.Must(task.Enqueue(b.ctx, "req-4"))
		if err := h.Cancel(b.ctx); err != nil {
			t.Fatal(err)
		}
		x, err := task.Wake(b.ctx, "req-4", durable.Completed(1))
		if err != nil || x.Status != durable.StatusCancelled {
			t.Fatalf("got %+v %v", x, err)
		}
	})
}

// claimAs claims due rows directly in the store, as a foreign executor.
func claimAs(t *testing.T, b *bundle, now time.Time, executor string, lease time.Duration, taskIDs ...string) []storage.Execution {
	t.Helper()
	rows, err := b.store.Claim(b.ctx, storage.ClaimParams{Now: now, ExecutorID: executor, TaskIDs: taskIDs, Limit: 10, Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
