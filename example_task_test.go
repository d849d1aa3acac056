package durable_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// A plain task: registered once, enqueued, run by the executor, waited for.
func Example() {
	ctx := context.Background()
	store := memory.New() // not durable: use storage/sqlite or storage/postgres in production
	defer store.Close()

	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}
	greet := durable.Must(durable.NewTask(ex, "greet",
		func(ctx context.Context, name string) (string, error) {
			return "hello, " + name, nil
		},
		durable.WithTimeout(10*time.Second)))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := greet.Enqueue(ctx, "world")
	if err != nil {
		log.Fatal(err)
	}
	x, err := h.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, x.Output)

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// completed hello, world
}
