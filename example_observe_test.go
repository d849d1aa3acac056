package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// Middleware around runs and enqueues, and hooks on outcomes: here they
// count, as a metrics package would, and print what they saw.
func ExampleMiddleware() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	var enqueued, failedAttempts atomic.Int64
	audit := durable.Middleware{
		Enqueue: func(ctx context.Context, call *durable.EnqueueCall, next func(context.Context) error) error {
			err := next(ctx)
			if err == nil {
				enqueued.Add(int64(len(call.Executions)))
			}
			return err
		},
		Run: func(ctx context.Context, next func(context.Context) error) error {
			info, _ := durable.Info(ctx)
			err := next(ctx)
			fmt.Printf("run of %s, attempt %d: error %v\n", info.TaskID, info.Attempt, err)
			return err
		},
	}
	hooks := durable.Hooks{
		AttemptFailed:     func(durable.Outcome) { failedAttempts.Add(1) },
		ExecutionFinished: func(o durable.Outcome) { fmt.Println("finished:", o.TaskID, o.Status) },
	}
	ex, err := durable.New(store, durable.Config{Middleware: []durable.Middleware{audit}, Hooks: []durable.Hooks{hooks}})
	if err != nil {
		log.Fatal(err)
	}
	tries := 0
	charge := durable.Must(durable.NewTask(ex, "charge", func(ctx context.Context, cents int) (int, error) {
		if tries++; tries == 1 {
			return 0, errors.New("card network busy")
		}
		return cents, nil
	}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 1})))
	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := charge.Enqueue(ctx, 500)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	if err := ex.Shutdown(ctx); err != nil { // hooks have run once Shutdown returns
		log.Fatal(err)
	}
	fmt.Println("enqueued:", enqueued.Load(), "failed attempts:", failedAttempts.Load())
	// Output:
	// run of charge, attempt 0: error card network busy
	// run of charge, attempt 1: error <nil>
	// finished: charge completed
	// enqueued: 1 failed attempts: 1
}

// A run's logger names its task, execution and attempt.
func ExampleLogger() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()

	// A handler without the time, so that the output is always the same.
	handler := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "executor" || a.Key == "execution" {
				return slog.Attr{}
			}
			return a
		},
	})
	ex, err := durable.New(store, durable.Config{Logger: slog.New(handler)})
	if err != nil {
		log.Fatal(err)
	}
	ship := durable.Must(durable.NewTask(ex, "ship", func(ctx context.Context, order string) (bool, error) {
		durable.Logger(ctx).Info("shipping", "order", order)
		return true, nil
	}))
	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := ship.Enqueue(ctx, "A-17")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// level=INFO msg=shipping component=durable task=ship attempt=1 order=A-17
}
