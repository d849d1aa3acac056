package storagetest

import (
	"context"

	"github.com/durable-go/durable/storage"
)

// storeWideChecks are the checks of the store as a whole: every call
// honours its context, and Close.
var storeWideChecks = []check{
	{"CancelledContext", checkCancelledContext},
	{"CloseRejectsLaterCalls", checkClose},
}

func checkCancelledContext(b *bundle) {
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	err := b.s.Insert(ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{NewExecution("a", "task")}})
	if err == nil {
		b.t.Fatal("Insert with a cancelled context: want an error, got nil")
	}
	b.requireNotFound("a")
}

func checkClose(b *bundle) {
	b.insert(Base, nil, NewExecution("a", "task"))
	if err := b.s.Close(); err != nil {
		b.t.Fatalf("Close: %v", err)
	}
	err := b.s.Insert(b.ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{NewExecution("b", "task")}})
	requireErrIs(b.t, "Insert after Close", err, storage.ErrClosed)
	_, err = b.s.Get(b.ctx, storage.GetParams{ID: "a"})
	requireErrIs(b.t, "Get after Close", err, storage.ErrClosed)
	_, err = b.s.Claim(b.ctx, storage.ClaimParams{Now: Base, ExecutorID: "e", TaskIDs: []string{"task"}, Limit: 1, Lease: Lease})
	requireErrIs(b.t, "Claim after Close", err, storage.ErrClosed)
	_, err = b.s.Complete(b.ctx, storage.CompleteParams{Now: Base, Transitions: []storage.Transition{
		{ID: "a", From: storage.StatusReady, To: storage.StatusCancelled},
	}})
	requireErrIs(b.t, "Complete after Close", err, storage.ErrClosed)
}
