package postgres

import (
	"context"
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestErrorWithNULIsStored checks that an error whose message holds the
// character NUL, which the jsonb error column cannot hold, is stored (NUL
// as U+FFFD) instead of failing the write: a result write that fails is
// retried for ever.
func TestErrorWithNULIsStored(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	ctx := context.Background()
	row := storagetest.NewExecution("prev", "task")
	row.Error = &storage.ErrorInfo{Kind: "generic", Message: "attempt\x00one", Stack: "goroutine\x001", Retryable: true}
	insert(t, s, base, row, storagetest.NewExecution("cancelled", "task"))
	if _, err := s.Cancel(ctx, storage.CancelParams{Now: base, ID: "cancelled",
		Error: storage.ErrorInfo{Kind: storage.ErrorKindCancelled, Message: "cancelled by\x00me"}}); err != nil {
		t.Fatalf("Cancel with a NUL in the message: %v", err)
	}
	for id, want := range map[string]string{"prev": "attempt\uFFFDone", "cancelled": "cancelled by\uFFFDme"} {
		got, err := s.Get(ctx, storage.GetParams{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		if got.Error == nil || got.Error.Message != want {
			t.Errorf("%s: error %+v, want message %q", id, got.Error, want)
		}
	}
	if got, _ := s.Get(ctx, storage.GetParams{ID: "prev"}); got.Error == nil || got.Error.Stack != "goroutine\uFFFD1" || !got.Error.Retryable {
		t.Errorf("prev: error %+v", got.Error)
	}
}
