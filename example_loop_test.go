package durable_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// A looping task runs its function once per iteration, with the same
// input, until it returns Done or MaxIterations have run. The whole loop is
// one stored execution, however many iterations it takes.
func ExampleNewLoopTask() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	ex, err := durable.New(store, durable.Config{})
	if err != nil {
		log.Fatal(err)
	}

	poll := durable.Must(durable.NewLoopTask(ex, "poll_job",
		func(ctx context.Context, job string) (durable.LoopResult[string], error) {
			info, _ := durable.Info(ctx)
			if info.Iteration < 3 { // pretend the job needs four looks
				return durable.Continue[string](), nil
			}
			return durable.Done(job + " is finished"), nil
		},
		durable.LoopOptions{MaxIterations: 10, Delay: 5 * time.Millisecond}))

	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	h, err := poll.Enqueue(ctx, "job-7")
	if err != nil {
		log.Fatal(err)
	}
	x, err := h.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(x.Status, x.Output.Done, x.Output.Iterations, x.Output.Output)

	if err := ex.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// completed true 4 job-7 is finished
}
