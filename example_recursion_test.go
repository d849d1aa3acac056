package durable_test

import (
	"context"
	"fmt"
	"log"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// A parent task may spawn itself: here each level counts down by one until
// zero, and every level's output nests the level below it.
func ExampleNewParentTask_recursion() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}

	var countdown *durable.Task[int, durable.ParentOutput[int]]
	countdown = durable.Must(durable.NewParentTask(ex, "countdown",
		func(ctx context.Context, n int) (durable.Spawn[int], error) {
			sp := durable.Spawn[int]{Output: n}
			if n > 0 {
				sp.Children = []durable.Child{durable.ChildOf(countdown, n-1)}
			}
			return sp, nil
		}))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := countdown.Enqueue(ctx, 3)
	if err != nil {
		log.Fatal(err)
	}
	x, err := h.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for level := x.Output; ; {
		fmt.Println("level", level.Output)
		if len(level.Children) == 0 {
			break
		}
		if level, err = durable.ChildOutput[durable.ParentOutput[int]](level.Children[0]); err != nil {
			log.Fatal(err)
		}
	}

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// level 3
	// level 2
	// level 1
	// level 0
}
