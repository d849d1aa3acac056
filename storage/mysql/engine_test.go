package mysql

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/durable-go/durable"
)

// engineOn returns an executor on s, shut down when the test ends.
func engineOn(t *testing.T, s *Store) *durable.Executor {
	t.Helper()
	ex, err := durable.New(s, durable.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ex.Shutdown(ctx)
	})
	return ex
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestEnqueueTx checks transactional enqueue: the execution exists if and
// only if the caller's transaction commits.
func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	ctx := testCtx(t)
	ex := engineOn(t, s)
	task := durable.Must(durable.NewTask(ex, "outbox", func(ctx context.Context, in string) (string, error) { return "sent " + in, nil }))
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}

	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rolledBack, err := task.EnqueueTx(ctx, s.Tx(tx), "never")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := rolledBack.Get(ctx); !errors.Is(err, durable.ErrNotFound) {
		t.Fatalf("rolled-back enqueue is visible: %v", err)
	}

	tx, err = s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := task.EnqueueTx(ctx, s.Tx(tx), "mail")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	x, err := committed.Wait(ctx)
	if err != nil || x.Output != "sent mail" {
		t.Fatalf("got %+v %v", x, err)
	}
}

// TestAcrossProcesses uses two stores on one set of tables, as two
// processes would: work enqueued on one runs on the other, and Wait, Cancel
// and Wake reach across through the events table.
func TestAcrossProcesses(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t)
	worker, client := openOn(t, prefix, Config{}), openOn(t, prefix, Config{})
	ctx := testCtx(t)
	started := make(chan struct{}, 1)
	stopped := make(chan error, 1)
	register := func(ex *durable.Executor) (*durable.Task[int, int], *durable.Task[int, int], *durable.SleepingTask[string]) {
		echo := durable.Must(durable.NewTask(ex, "echo", func(ctx context.Context, in int) (int, error) { return in, nil }))
		block := durable.Must(durable.NewTask(ex, "block", func(ctx context.Context, in int) (int, error) {
			started <- struct{}{}
			<-ctx.Done()
			stopped <- context.Cause(ctx)
			return 0, ctx.Err()
		}))
		hook := durable.Must(durable.NewSleepingTask[string](ex, "hook", durable.WithTimeout(time.Hour)))
		return echo, block, hook
	}
	wex := engineOn(t, worker)
	_, _, workerHook := register(wex)
	if err := wex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cex := engineOn(t, client) // never started: it only enqueues, waits, cancels and wakes
	echo, block, hook := register(cex)

	t.Run("WaitOnWorkRunElsewhere", func(t *testing.T) {
		for i := range 20 {
			h, err := echo.Enqueue(ctx, i)
			if err != nil {
				t.Fatal(err)
			}
			if x, err := h.Wait(ctx); err != nil || x.Output != i {
				t.Fatalf("got %+v %v", x, err)
			}
		}
	})

	t.Run("CancelRunElsewhere", func(t *testing.T) {
		h, err := block.Enqueue(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		<-started
		if err := h.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case cause := <-stopped:
			if !errors.Is(cause, durable.ErrCancelled) {
				t.Errorf("run stopped with %v", cause)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the run in the other process was not cancelled")
		}
	})

	t.Run("WakeFromElsewhere", func(t *testing.T) {
		h, err := workerHook.Enqueue(ctx, "k-1")
		if err != nil {
			t.Fatal(err)
		}
		x, err := hook.Wake(ctx, "k-1", durable.Completed("hello"))
		if err != nil || x.Status != durable.StatusCompleted {
			t.Fatalf("wake: %+v %v", x, err)
		}
		if got, err := h.Wait(ctx); err != nil || got.Output != "hello" {
			t.Fatalf("got %+v %v", got, err)
		}
	})
}
