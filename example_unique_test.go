package durable_test

import (
	"context"
	"fmt"
	"log"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// An idempotency key that holds while its execution is active: however
// many times a customer's sync is asked for while one runs, one runs;
// once it has finished, the next request starts a new one.
func ExampleWithIdempotencyWhileActive() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}
	release := make(chan struct{})
	syncCustomer := durable.Must(durable.NewTask(ex, "sync_customer",
		func(ctx context.Context, customer string) (string, error) {
			<-release // a long sync
			return "synced " + customer, nil
		}))
	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	once := []durable.EnqueueOption{
		durable.WithIdempotencyKey("sync:customer-42"), durable.WithIdempotencyWhileActive(),
	}

	first, err := syncCustomer.Enqueue(ctx, "customer-42", once...)
	if err != nil {
		log.Fatal(err)
	}
	again, err := syncCustomer.Enqueue(ctx, "customer-42", once...) // while the first runs
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("while active, the same execution:", again.ID() == first.ID())

	close(release)
	x, err := first.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, x.Output)

	next, err := syncCustomer.Enqueue(ctx, "customer-42", once...) // after it finished
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("once finished, a new execution:", next.ID() != first.ID())
	if _, err := next.Wait(ctx); err != nil {
		log.Fatal(err)
	}

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// while active, the same execution: true
	// completed synced customer-42
	// once finished, a new execution: true
}
