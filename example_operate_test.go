package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"sync/atomic"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// An operator finds the executions that failed, reads why each attempt
// failed, and retries one by hand once the cause is fixed.
func ExampleExecutor_List() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	var gatewayDown atomic.Bool
	gatewayDown.Store(true)
	charge := durable.Must(durable.NewTask(ex, "charge",
		func(ctx context.Context, order string) (string, error) {
			if gatewayDown.Load() {
				return "", errors.New("payment gateway unavailable")
			}
			return "charged " + order, nil
		},
		durable.WithRetry(durable.RetryPolicy{MaxRetries: 1})))
	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := charge.Enqueue(ctx, "B-18", durable.WithIdempotencyKey("order-B-18"), durable.WithTags("customer:7"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	// What failed, for customer 7?
	page, err := ex.List(ctx, durable.ListOptions{Filter: durable.Filter{
		Statuses: []durable.Status{durable.StatusFailed}, Tag: "customer:7"}})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range page.Records {
		full, err := ex.Get(ctx, r.ID) // with its input and attempt history
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %s input %s\n", full.TaskID, full.Status, full.Input)
		for _, a := range full.Attempts {
			fmt.Printf("  attempt %d -> %s: %s\n", a.Attempt, a.Outcome, a.Err.Message)
		}
	}

	// The gateway is back: retry the order by hand.
	gatewayDown.Store(false)
	retry, err := ex.Retry(ctx, h.ID())
	if err != nil {
		log.Fatal(err)
	}
	rh, err := charge.Handle(ctx, retry.ID)
	if err != nil {
		log.Fatal(err)
	}
	x, err := rh.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("retry of", retry.RetryOf, "->", x.Status, x.Output)

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// charge failed input "B-18"
	//   attempt 0 -> ready: payment gateway unavailable
	//   attempt 1 -> failed: payment gateway unavailable
	// retry of ik_order-B-18 -> completed charged B-18
}
