package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// A row is inserted, claimed by an executor and completed.
func Example() {
	ctx := context.Background()
	s := memory.New() // not durable: everything is lost when the process exits
	defer s.Close()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	_ = s.Insert(ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{
		{ID: "exec-1", TaskID: "greet", Status: storage.StatusReady, Input: []byte(`"world"`)},
	}})
	rows, _ := s.Claim(ctx, storage.ClaimParams{
		Now: now, ExecutorID: "worker-1", TaskIDs: []string{"greet"}, Limit: 10, Lease: time.Minute,
	})
	fmt.Println(rows[0].ID, rows[0].Status, "fence", rows[0].Fence)

	res, _ := s.Complete(ctx, storage.CompleteParams{Now: now.Add(time.Second), Transitions: []storage.Transition{{
		ID: "exec-1", Fence: rows[0].Fence, From: storage.StatusRunning,
		To: storage.StatusCompleted, Output: []byte(`"hello, world"`),
	}}})
	e, _ := s.Get(ctx, storage.GetParams{ID: "exec-1"})
	fmt.Println(res[0].Applied, e.Status, string(e.Output))
	// Output:
	// exec-1 running fence 1
	// true completed "hello, world"
}
