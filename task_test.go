package durable_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestPlainTask(t *testing.T) {
	t.Parallel()

	t.Run("Completes", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		var runs atomic.Int32
		task := durable.Must(durable.NewTask(b.ex, "upper", func(ctx context.Context, in string) (string, error) {
			runs.Add(1)
			info, ok := durable.Info(ctx)
			if !ok || info.TaskID != "upper" || info.Attempt != 0 || info.ExecutorID != b.ex.ID() {
				return "", errors.New("bad run info")
			}
			return strings.ToUpper(in), nil
		}))
		h := durable.Must(task.Enqueue(b.ctx, "abc"))
		if !strings.HasPrefix(h.ID(), "te_") {
			t.Errorf("id %q lacks te_ prefix", h.ID())
		}
		x := waitFor(t, b, h)
		if x.Status != durable.StatusCompleted || x.Output != "ABC" {
			t.Fatalf("got %s %q err=%v", x.Status, x.Output, x.Err)
		}
		if runs.Load() != 1 {
			t.Errorf("ran %d times", runs.Load())
		}
		if x.StartedAt.IsZero() || x.FinishedAt.Before(x.StartedAt) {
			t.Errorf("timings: started %v finished %v", x.StartedAt, x.FinishedAt)
		}
		out, err := x.Result()
		if err != nil || out != "ABC" {
			t.Errorf("Result() = %q, %v", out, err)
		}
	})

	t.Run("FailsWithRetryableError", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		task := durable.Must(durable.NewTask(b.ex, "fail", func(ctx context.Context, in int) (int, error) {
			return 0, errors.New("boom")
		}))
		x := waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
		if x.Status != durable.StatusFailed || x.Err == nil || x.Err.Message != "boom" || !x.Err.Retryable {
			t.Fatalf("got %s %+v", x.Status, x.Err)
		}
		if _, err := x.Result(); err == nil {
			t.Error("Result() of a failed execution returned no error")
		}
	})

	t.Run("CompletesAfterRetry", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		var prev atomic.Value
		task := durable.Must(durable.NewTask(b.ex, "flaky", func(ctx context.Context, in int) (int, error) {
			info, _ := durable.Info(ctx)
			if info.Attempt == 0 {
				if info.PrevError != nil {
					return 0, errors.New("first attempt has a previous error")
				}
				return 0, errors.New("first try fails")
			}
			prev.Store(info.PrevError.Message)
			return info.Attempt, nil
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 1})))
		x := waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
		if x.Status != durable.StatusCompleted || x.Output != 1 || x.Attempt != 1 {
			t.Fatalf("got %s out=%d attempt=%d err=%v", x.Status, x.Output, x.Attempt, x.Err)
		}
		if prev.Load() != "first try fails" {
			t.Errorf("PrevError on retry = %v", prev.Load())
		}
	})

	t.Run("FailsAfterRetriesWithLastError", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		var runs atomic.Int32
		task := durable.Must(durable.NewTask(b.ex, "always", func(ctx context.Context, in int) (int, error) {
			n := runs.Add(1)
			return 0, errors.New("attempt " + string(rune('0'+n)))
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 2})))
		x := waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
		if x.Status != durable.StatusFailed || runs.Load() != 3 || x.Err.Message != "attempt 3" {
			t.Fatalf("got %s runs=%d err=%v", x.Status, runs.Load(), x.Err)
		}
	})

	t.Run("NonRetryableFailsAtOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		var runs atomic.Int32
		sentinel := errors.New("bad request")
		task := durable.Must(durable.NewTask(b.ex, "nonretry", func(ctx context.Context, in int) (int, error) {
			runs.Add(1)
			return 0, durable.NonRetryable(sentinel)
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 5})))
		x := waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
		if x.Status != durable.StatusFailed || runs.Load() != 1 || x.Err.Retryable {
			t.Fatalf("got %s runs=%d err=%+v", x.Status, runs.Load(), x.Err)
		}
	})

	t.Run("PanicIsRecoveredWithStack", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		task := durable.Must(durable.NewTask(b.ex, "panics", func(ctx context.Context, in int) (int, error) {
			panic("kaboom")
		}))
		x := waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
		if x.Status != durable.StatusFailed || !errors.Is(x.Err, durable.ErrPanic) || !x.Err.Retryable ||
			!strings.Contains(x.Err.Message, "kaboom") || !strings.Contains(x.Err.Stack, "task_test.go") {
			t.Fatalf("got %s %+v", x.Status, x.Err)
		}
	})

	t.Run("ReturningCancelledEndsCancelled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		task := durable.Must(durable.NewTask(b.ex, "selfcancel", func(ctx context.Context, in int) (int, error) {
			return 0, durable.ErrCancelled
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 3})))
		x := waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
		if x.Status != durable.StatusCancelled || x.Attempt != 0 || !errors.Is(x.Err, durable.ErrCancelled) {
			t.Fatalf("got %s attempt=%d %+v", x.Status, x.Attempt, x.Err)
		}
	})

	t.Run("OutputTooLargeFails", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{MaxPayloadBytes: 1024})
		task := durable.Must(durable.NewTask(b.ex, "big", func(ctx context.Context, in int) (string, error) {
			return strings.Repeat("x", 2000), nil
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 3})))
		x := waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
		if x.Status != durable.StatusFailed || !errors.Is(x.Err, durable.ErrPayloadTooLarge) || x.Attempt != 0 {
			t.Fatalf("got %s attempt=%d %+v", x.Status, x.Attempt, x.Err)
		}
	})
}

// awaitReady waits until the execution is ready for its attempt-th retry
// (or iteration, for loops: attempt counts both) and returns the stored
// row, whose DueAt - UpdatedAt is the delay the engine chose. It nudges
// the fake clock meanwhile: after the test sets the clock to a row's due
// time, the executor may arm its timer for that row a moment later,
// relative to the new time, and would then never claim it.
func awaitReady(t *testing.T, b *bundle, fc *clock.Fake, id string, attempt int) storage.Execution {
	t.Helper()
	var row storage.Execution
	advanceUntil(t, fc, time.Millisecond, "ready again", func() bool {
		var err error
		row, err = b.store.Get(b.ctx, storage.GetParams{ID: id})
		return err == nil && row.Status == durable.StatusReady && row.Attempt+row.Iteration == attempt
	})
	return row
}

// awaitFinished waits until the execution has finished, nudging the fake
// clock as awaitReady does.
func awaitFinished(t *testing.T, b *bundle, fc *clock.Fake, id string) {
	t.Helper()
	advanceUntil(t, fc, time.Millisecond, "the end", func() bool {
		row, err := b.store.Get(b.ctx, storage.GetParams{ID: id})
		return err == nil && row.Status.Terminal()
	})
}

// fakeSetup returns a started executor whose clock is fake.
func fakeSetup(t *testing.T, cfg durable.Config) (*bundle, *clock.Fake) {
	t.Helper()
	fc := clock.NewFake(epoch)
	cfg.Clock = fc
	return setup(t, cfg), fc
}

// advanceUntil advances the fake clock by step until cond holds.
func advanceUntil(t *testing.T, fc *clock.Fake, step time.Duration, what string, cond func() bool) {
	t.Helper()
	eventually(t, what, func() bool {
		if cond() {
			return true
		}
		fc.Advance(step)
		return cond()
	})
}

func TestTimeAndRetries(t *testing.T) {
	t.Parallel()

	t.Run("RetryDelaysFollowPolicy", func(t *testing.T) {
		t.Parallel()
		b, fc := fakeSetup(t, durable.Config{})
		task := durable.Must(durable.NewTask(b.ex, "backoff", func(ctx context.Context, in int) (int, error) {
			return 0, errors.New("again")
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 4, BaseDelay: time.Second, Multiplier: 2, MaxDelay: 5 * time.Second})))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		for k, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second} {
			row := awaitReady(t, b, fc, h.ID(), k+1)
			if got := row.DueAt.Sub(row.UpdatedAt); got != want {
				t.Errorf("delay before retry %d = %s, want %s", k+1, got, want)
			}
			fc.Set(row.DueAt)
		}
		awaitFinished(t, b, fc, h.ID())
		x := waitFor(t, b, h)
		if x.Status != durable.StatusFailed || x.Attempt != 4 {
			t.Fatalf("got %s attempt %d", x.Status, x.Attempt)
		}
	})

	t.Run("DelayBeforeFirstRun", func(t *testing.T) {
		t.Parallel()
		store := &watched{Store: memory.New()}
		fc := clock.NewFake(epoch)
		b := setupOn(t, store, durable.Config{Clock: fc}, true)
		var ran atomic.Bool
		task := durable.Must(durable.NewTask(b.ex, "later", func(ctx context.Context, in int) (int, error) {
			ran.Store(true)
			return in, nil
		}))
		h := durable.Must(task.Enqueue(b.ctx, 7, durable.WithDelay(time.Hour)))
		fc.Advance(59 * time.Minute)
		at := fc.Now()
		// The executor claims at 59 minutes and takes nothing. (Its poll
		// timer may have been armed after the advance: nudge the clock.)
		var c claimCall
		advanceUntil(t, fc, time.Millisecond, "a claim at 59 minutes", func() bool {
			c = store.lastClaim()
			return !c.now.Before(at)
		})
		if c.rows != 0 || ran.Load() {
			t.Fatalf("ran before its delay (a claim at %v took %d rows)", c.now.Sub(epoch), c.rows)
		}
		advanceUntil(t, fc, time.Minute, "delayed run", ran.Load)
		x := waitFor(t, b, h)
		if x.StartedAt.Sub(x.CreatedAt) < time.Hour {
			t.Errorf("started %s after creation, want >= 1h", x.StartedAt.Sub(x.CreatedAt))
		}
	})

	t.Run("SequenceStepKeepsItsTaskDelay", func(t *testing.T) {
		// A task registered WithDelay waits that long before its first run
		// wherever it starts: enqueued, as a child, or as a sequence step.
		t.Parallel()
		b, fc := fakeSetup(t, durable.Config{})
		var ran atomic.Bool
		first := durable.Must(durable.NewTask(b.ex, "step_now", func(ctx context.Context, in int) (int, error) { return in + 1, nil }))
		later := durable.Must(durable.NewTask(b.ex, "step_later", func(ctx context.Context, in int) (int, error) {
			ran.Store(true)
			return in * 10, nil
		}, durable.WithDelay(time.Hour)))
		seq := durable.Must(durable.NewSequence[int, int](b.ex, "delayed_seq", first, later))
		h := durable.Must(seq.Enqueue(b.ctx, 1))
		advanceUntil(t, fc, time.Minute, "the delayed step's run", ran.Load)
		x := waitFor(t, b, h)
		if x.Status != durable.StatusCompleted || x.FinishedAt.Sub(x.CreatedAt) < time.Hour {
			t.Fatalf("got %s after %s, want completed after >= 1h", x.Status, x.FinishedAt.Sub(x.CreatedAt))
		}
	})

	t.Run("TimeoutCancelsContextAndRetries", func(t *testing.T) {
		t.Parallel()
		b, fc := fakeSetup(t, durable.Config{})
		var runs atomic.Int32
		task := durable.Must(durable.NewTask(b.ex, "slow", func(ctx context.Context, in int) (int, error) {
			runs.Add(1)
			<-ctx.Done()
			if !errors.Is(context.Cause(ctx), durable.ErrTimedOut) {
				return 0, errors.New("context cancelled for another reason")
			}
			return 0, ctx.Err()
		}, durable.WithTimeout(time.Second), durable.WithRetry(durable.RetryPolicy{MaxRetries: 1})))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		advanceUntil(t, fc, 500*time.Millisecond, "two timed out attempts", func() bool {
			x, _ := h.Get(b.ctx)
			return x.Status.Terminal()
		})
		x := waitFor(t, b, h)
		if x.Status != durable.StatusTimedOut || !errors.Is(x.Err, durable.ErrTimedOut) || runs.Load() != 2 {
			t.Fatalf("got %s runs=%d %+v", x.Status, runs.Load(), x.Err)
		}
	})

	t.Run("EnqueueTimeoutOverridesDefault", func(t *testing.T) {
		t.Parallel()
		b, fc := fakeSetup(t, durable.Config{})
		release := make(chan struct{})
		task := durable.Must(durable.NewTask(b.ex, "override", func(ctx context.Context, in int) (int, error) {
			select {
			case <-release:
				return in, nil
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}, durable.WithTimeout(time.Second)))
		h := durable.Must(task.Enqueue(b.ctx, 3, durable.WithTimeout(time.Hour)))
		eventually(t, "running", func() bool { x, _ := h.Get(b.ctx); return x.Status == durable.StatusRunning })
		fc.Advance(30 * time.Minute)
		close(release)
		if x := waitFor(t, b, h); x.Status != durable.StatusCompleted {
			t.Fatalf("got %s %+v", x.Status, x.Err)
		}
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()

	t.Run("ReadyNeverRuns", func(t *testing.T) {
		t.Parallel()
		store := &watched{Store: memory.New()}
		b := setupOn(t, store, durable.Config{}, false)
		var ran atomic.Bool
		task := durable.Must(durable.NewTask(b.ex, "never", func(ctx context.Context, in int) (int, error) {
			ran.Store(true)
			return in, nil
		}))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		for range 3 { // idempotent
			if err := h.Cancel(b.ctx); err != nil {
				t.Fatal(err)
			}
		}
		b.start(t)
		x := waitFor(t, b, h)
		// The executor has claimed since it started, and taken nothing.
		c := store.awaitClaim(t, 0)
		if x.Status != durable.StatusCancelled || ran.Load() || c.rows != 0 || !errors.Is(x.Err, durable.ErrCancelled) {
			t.Fatalf("got %s ran=%v claimed=%d err=%v", x.Status, ran.Load(), c.rows, x.Err)
		}
	})

	t.Run("RunningGetsContextCancelled", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		started := make(chan struct{})
		stopped := make(chan error, 1)
		task := durable.Must(durable.NewTask(b.ex, "long", func(ctx context.Context, in int) (int, error) {
			close(started)
			<-ctx.Done()
			stopped <- context.Cause(ctx)
			return 0, ctx.Err()
		}))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		<-started
		done := make(chan struct{})
		for range 3 {
			go func() { _ = h.Cancel(b.ctx); done <- struct{}{} }()
		}
		for range 3 {
			<-done
		}
		if cause := <-stopped; !errors.Is(cause, durable.ErrCancelled) {
			t.Errorf("context cause = %v", cause)
		}
		x := waitFor(t, b, h)
		if x.Status != durable.StatusCancelled {
			t.Fatalf("got %s", x.Status)
		}
	})
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{})
	var runs atomic.Int32
	task := durable.Must(durable.NewTask(b.ex, "charge", func(ctx context.Context, in int) (int, error) {
		runs.Add(1)
		return in, nil
	}))
	other := durable.Must(durable.NewTask(b.ex, "other", func(ctx context.Context, in int) (int, error) { return in, nil }))
	ids := make(chan string, 100)
	done := make(chan struct{})
	for range 100 {
		go func() {
			defer func() { done <- struct{}{} }()
			h, err := task.Enqueue(b.ctx, 7, durable.WithIdempotencyKey("order-7"))
			if err != nil {
				t.Error(err)
				return
			}
			ids <- h.ID()
		}()
	}
	for range 100 {
		<-done
	}
	close(ids)
	first := ""
	for id := range ids {
		if first == "" {
			first = id
		}
		if id != first {
			t.Fatalf("two executions for one key: %s and %s", first, id)
		}
	}
	h := durable.Must(task.Handle(b.ctx, first))
	waitFor(t, b, h)
	if runs.Load() != 1 {
		t.Errorf("ran %d times", runs.Load())
	}
	if _, err := other.Enqueue(b.ctx, 1, durable.WithIdempotencyKey("order-7")); !errors.Is(err, durable.ErrDuplicate) {
		t.Errorf("key reused by another task: %v", err)
	}
	if _, err := task.Enqueue(b.ctx, 1, durable.WithIdempotencyKey("bad key!")); !errors.Is(err, durable.ErrInvalidOption) {
		t.Errorf("bad key: %v", err)
	}
}
