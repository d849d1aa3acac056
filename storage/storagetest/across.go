package storagetest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// CheckAcrossProcesses checks two stores on one database, as two processes
// would have: work enqueued through client runs on an executor on worker,
// and Wait, Cancel and Wake reach across, through the stores' events
// alone (the executors poll only every second, their default). Each
// executor is shut down when the test ends.
func CheckAcrossProcesses(t *testing.T, worker, client storage.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	engineOn := func(t *testing.T, s storage.Store) *durable.Executor {
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
