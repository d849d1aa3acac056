package durable_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// Executions go into named queues with priorities. This executor serves
// the queue "emails" only, one run at a time: of the executions waiting,
// the one of priority 1 runs first, then the default priority 5, then 9;
// while the queue is paused, nothing of it runs.
func Example_queues() {
	ctx := context.Background()
	ex, err := durable.New(memory.New(), durable.Config{Queues: []string{"emails"}, Concurrency: 1, ClaimAhead: -1})
	if err != nil {
		log.Fatal(err)
	}
	send := durable.Must(durable.NewTask(ex, "send", func(ctx context.Context, to string) (string, error) {
		fmt.Println("sent to", to)
		return to, nil
	}, durable.WithQueue("emails")))

	// Enqueued before Start: the order they run in is the claims'.
	var hs []*durable.Handle[string]
	for _, e := range []struct {
		to       string
		priority int
	}{{"newsletter@example.com", 9}, {"receipt@example.com", 0}, {"password-reset@example.com", 1}} {
		var opts []durable.EnqueueOption
		if e.priority != 0 {
			opts = append(opts, durable.WithPriority(e.priority))
		}
		h, err := send.Enqueue(ctx, e.to, opts...)
		if err != nil {
			log.Fatal(err)
		}
		hs = append(hs, h)
	}
	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer ex.Shutdown(ctx)
	for _, h := range hs {
		if _, err := h.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}

	// Paused, the queue keeps what is enqueued into it until resumed.
	if _, err := ex.PauseQueue(ctx, "emails"); err != nil {
		log.Fatal(err)
	}
	h, err := send.Enqueue(ctx, "later@example.com")
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	x, _ := h.Get(ctx)
	fmt.Println("while paused:", x.Status)
	if _, err := ex.ResumeQueue(ctx, "emails"); err != nil {
		log.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// sent to password-reset@example.com
	// sent to receipt@example.com
	// sent to newsletter@example.com
	// while paused: ready
	// sent to later@example.com
}
