package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage/memory"
)

// Completed executions are kept an hour here: the executor's cleaner
// deletes them at its first pass after that (it looks every minute), and
// while it has a backlog it spends at most a fifth of its time deleting.
// A fake clock stands in for the two hours.
func ExampleRetention() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	fc := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	ex, err := durable.New(store, durable.Config{Clock: fc, Logger: slog.New(slog.DiscardHandler),
		Retention: durable.Retention{Completed: time.Hour, Interval: time.Minute, Share: 0.2}})
	if err != nil {
		log.Fatal(err)
	}
	greet := durable.Must(durable.NewTask(ex, "greet", func(ctx context.Context, name string) (string, error) {
		return "hello " + name, nil
	}))
	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := greet.Enqueue(ctx, "ada")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = ex.Get(ctx, h.ID())
	fmt.Println("just finished, kept:", err == nil)

	start, deadline := fc.Now(), time.Now().Add(10*time.Second)
	for time.Now().Before(deadline) {
		fc.Advance(time.Minute)
		time.Sleep(time.Millisecond) // the cleaner's pass runs on its own goroutine
		if _, err := ex.Get(ctx, h.ID()); errors.Is(err, durable.ErrNotFound) {
			fmt.Println("deleted more than an hour after:", fc.Now().Sub(start) > time.Hour)
			break
		}
	}
	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// just finished, kept: true
	// deleted more than an hour after: true
}
