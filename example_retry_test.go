package durable_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// A failed run is retried per the task's RetryPolicy. RunInfo tells the run
// which attempt it is and what the previous one failed with.
func ExampleRetryPolicy() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}

	flaky := durable.Must(durable.NewTask(ex, "flaky_call",
		func(ctx context.Context, in string) (string, error) {
			info, _ := durable.Info(ctx)
			if info.PrevError != nil {
				fmt.Println("retrying after:", info.PrevError.Message)
			}
			if info.Attempt < 2 {
				return "", fmt.Errorf("attempt %d: service unavailable", info.Attempt)
			}
			return in + " done", nil
		},
		// Delays: 10ms, 20ms, 40ms, ... capped at 1s. A plain error is
		// retried; wrap it with durable.NonRetryable to fail at once.
		durable.WithRetry(durable.RetryPolicy{
			MaxRetries: 5, BaseDelay: 10 * time.Millisecond, Multiplier: 2, MaxDelay: time.Second,
		})))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := flaky.Enqueue(ctx, "call")
	if err != nil {
		log.Fatal(err)
	}
	x, err := h.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, x.Output, "after", x.Attempt, "retries")

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// retrying after: attempt 0: service unavailable
	// retrying after: attempt 1: service unavailable
	// completed call done after 2 retries
}
