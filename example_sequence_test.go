package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strconv"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// A sequence runs its steps one after another; each step's output is the
// next step's input. Step types are checked when the sequence is
// registered.
func ExampleNewSequence() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}

	parse := durable.Must(durable.NewTask(ex, "parse",
		func(ctx context.Context, s string) (int, error) { return strconv.Atoi(s) }))
	double := durable.Must(durable.NewTask(ex, "double",
		func(ctx context.Context, n int) (int, error) { return 2 * n, nil }))
	format := durable.Must(durable.NewTask(ex, "format",
		func(ctx context.Context, n int) (string, error) { return fmt.Sprintf("result=%d", n), nil }))
	pipeline := durable.Must(durable.NewSequence[string, string](ex, "pipeline", parse, double, format))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	ok, err := pipeline.Enqueue(ctx, "21")
	if err != nil {
		log.Fatal(err)
	}
	bad, err := pipeline.Enqueue(ctx, "twenty-one")
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range []*durable.Handle[string]{ok, bad} {
		x, err := h.Wait(ctx)
		if err != nil {
			log.Fatal(err)
		}
		// A failing step stops the chain; the error names the step.
		out, err := x.Result()
		fmt.Printf("%s %q %v\n", x.Status, out, errors.Is(err, durable.ErrFinalizeFailed))
	}

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// completed "result=42" false
	// finalize_failed "" true
}
