package durable_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// EnqueueMany stores many executions in one transaction: all or none.
// Executor.EnqueueMany does the same for executions of different tasks.
func ExampleTask_EnqueueMany() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}

	square := durable.Must(durable.NewTask(ex, "square",
		func(ctx context.Context, n int) (int, error) { return n * n, nil }))
	shout := durable.Must(durable.NewTask(ex, "shout",
		func(ctx context.Context, s string) (string, error) { return strings.ToUpper(s) + "!", nil }))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	handles, err := square.EnqueueMany(ctx, []int{1, 2, 3})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range handles {
		x, err := h.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(x.Status, x.Output)
	}

	// Mixed tasks in one batch: the ids come back in order.
	ids, err := ex.EnqueueMany(ctx, durable.ChildOf(square, 12), durable.ChildOf(shout, "hey"))
	if err != nil {
		log.Fatal(err)
	}
	hs, err := shout.Handle(ctx, ids[1])
	if err != nil {
		log.Fatal(err)
	}
	x, err := hs.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, x.Output)

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// completed 1
	// completed 4
	// completed 9
	// completed HEY!
}
