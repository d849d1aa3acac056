package faulty_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/faulty"
	"github.com/durable-go/durable/storage/memory"
)

// An ambiguous commit: the insert is applied, but the caller is told it
// failed.
func Example() {
	ctx := context.Background()
	inner := memory.New()
	defer inner.Close()
	s, err := faulty.New(inner, faulty.Options{Seed: 1, Rate: 0.05}) // 5% of calls fail at random
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Disable()                                           // no random faults...
	_ = s.FailNext(faulty.MethodInsert, faulty.KindAfter) // ...but one scripted

	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	err = s.Insert(ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{
		{ID: "exec-1", TaskID: "greet", Status: storage.StatusReady},
	}})
	fmt.Println(errors.Is(err, faulty.ErrInjected))
	e, _ := inner.Get(ctx, storage.GetParams{ID: "exec-1"})
	fmt.Println(e.ID, e.Status)
	fmt.Println(s.Stats())
	// Output:
	// true
	// exec-1 ready
	// calls=1 faults=1 (after=1) Insert:after=1
}
