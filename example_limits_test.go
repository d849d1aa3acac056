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

// A queue's limit per key runs at most that many executions with one
// concurrency key at once, across every process, without holding back the
// other keys; here the key is taken from the input (a customer id) and at
// most one charge per customer runs at once. Its rate limit starts at most
// that many executions per window; both are declared in Config.QueueLimits
// and set in the store when the executor starts.
func Example_queueLimitPerKey() {
	ctx := context.Background()
	type charge struct {
		Customer string
		Cents    int
	}
	ex, err := durable.New(memory.New(), durable.Config{Concurrency: 10,
		QueueLimits: map[string]durable.QueueLimit{
			"billing": {PerKey: 1, Rate: 1000, Per: time.Second},
		}})
	if err != nil {
		log.Fatal(err)
	}
	var (
		mu        sync.Mutex
		now, most = map[string]int{}, map[string]int{}
	)
	chargeTask := durable.Must(durable.NewTask(ex, "charge",
		func(ctx context.Context, c charge) (int, error) {
			mu.Lock()
			now[c.Customer]++
			most[c.Customer] = max(most[c.Customer], now[c.Customer])
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			now[c.Customer]--
			mu.Unlock()
			return c.Cents, nil
		},
		durable.WithQueue("billing"),
		durable.WithConcurrencyKeyFunc(func(c charge) string { return c.Customer })))
	if err := ex.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer ex.Shutdown(ctx)
	var hs []*durable.Handle[int]
	for i := range 12 {
		h, err := chargeTask.Enqueue(ctx, charge{Customer: fmt.Sprintf("cust-%d", i%3), Cents: 100 * i})
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
	rec, err := ex.Get(ctx, hs[4].ID())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("concurrency key of the fifth charge:", rec.ConcurrencyKey)
	fmt.Println("most runs at once per customer:", most["cust-0"], most["cust-1"], most["cust-2"])
	qs, err := ex.Queues(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == "billing" {
			fmt.Printf("queue %s: %d per key, %d per %v\n", q.Name, q.PerKey, q.Rate, q.Per)
		}
	}
	// Output:
	// concurrency key of the fifth charge: cust-1
	// most runs at once per customer: 1 1 1
	// queue billing: 1 per key, 1000 per 1s
}
