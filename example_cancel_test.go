package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// Cancel ends an execution that has not finished: a running one has its
// context cancelled, a ready one never runs.
func ExampleHandle_Cancel() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}

	started := make(chan struct{}, 1)
	stopped := make(chan error, 1)
	slow := durable.Must(durable.NewTask(ex, "slow",
		func(ctx context.Context, in int) (int, error) {
			started <- struct{}{}
			<-ctx.Done() // a well-behaved task returns when its context ends
			stopped <- context.Cause(ctx)
			return 0, ctx.Err()
		}))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	running, err := slow.Enqueue(ctx, 1)
	if err != nil {
		log.Fatal(err)
	}
	later, err := slow.Enqueue(ctx, 2, durable.WithDelay(time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	<-started

	for _, h := range []*durable.Handle[int]{running, later} {
		if err := h.Cancel(ctx); err != nil { // returns without waiting for the run
			log.Fatal(err)
		}
		x, err := h.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(x.Status, errors.Is(x.Err, durable.ErrCancelled))
	}
	fmt.Println("run's context ended:", errors.Is(<-stopped, durable.ErrCancelled))

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// cancelled true
	// cancelled true
	// run's context ended: true
}
