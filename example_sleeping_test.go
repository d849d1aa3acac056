package durable_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// A sleeping task has no function: its execution waits under a unique key
// until Wake ends it (from any process on the same store) or its timeout
// passes. Waking is idempotent.
func ExampleWake() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}

	approval := durable.Must(durable.NewSleepingTask[string](ex, "approval",
		durable.WithTimeout(24*time.Hour)))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := approval.Enqueue(ctx, "order-42")
	if err != nil {
		log.Fatal(err)
	}
	x, err := h.Get(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, x.SleepKey)

	// Later, when the outside event happens (a webhook, a human click):
	x, err = durable.Wake(ctx, approval, "order-42", durable.Completed("approved by alice"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, x.Output)

	// Waking again changes nothing: the execution has finished.
	x, err = durable.Wake(ctx, approval, "order-42", durable.Completed("approved by bob"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, x.Output)

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// running order-42
	// completed approved by alice
	// completed approved by alice
}
