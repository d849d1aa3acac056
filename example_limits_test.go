package durable_test

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// A queue's concurrency limit holds across every executor on the store,
// in every process: here two executors of 10 slots each share a store,
// and the queue "reports" is limited to 2 runs at once. Each run notes how many runs of
// the queue are in progress; the most seen is the limit.
func Example_queueLimit() {
	ctx := context.Background()
	store := memory.New()
	var (
		mu          sync.Mutex
		now, most   int
		executors   []*durable.Executor
		reportTasks []*durable.Task[int, int]
	)
	render := func(ctx context.Context, n int) (int, error) {
		mu.Lock()
		now++
		most = max(most, now)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		now--
		mu.Unlock()
		return n, nil
	}
	for i := range 2 {
		ex, err := durable.New(store, durable.Config{Concurrency: 10})
		if err != nil {
			log.Fatal(err)
		}
		task := durable.Must(durable.NewTask(ex, "render", render, durable.WithQueue("reports")))
		if err := ex.Start(ctx); err != nil {
			log.Fatal(err)
		}
		defer ex.Shutdown(ctx)
		executors, reportTasks = append(executors, ex), append(reportTasks, task)
		if i == 0 {
			// The queue is known to the store once an executor serving it
			// started. An executor started later reads the limit at Start;
			// one already started learns of it within its PollInterval
			// (until then it may start what it enqueues itself).
			if _, err := ex.SetQueueLimit(ctx, "reports", durable.QueueLimit{Concurrency: 2}); err != nil {
				log.Fatal(err)
			}
		}
	}
	var hs []*durable.Handle[int]
	for i := range 20 {
		h, err := reportTasks[i%2].Enqueue(ctx, i)
		if err != nil {
			log.Fatal(err)
		}
		hs = append(hs, h)
	}
	for _, h := range hs {
		if _, err := h.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	qs, err := executors[1].Queues(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range qs {
		fmt.Printf("queue %s: limit %d\n", q.Name, q.Concurrency)
	}
	fmt.Println("most runs at once:", most)
	// Output:
	// queue default: limit 0
	// queue reports: limit 2
	// most runs at once: 2
}
