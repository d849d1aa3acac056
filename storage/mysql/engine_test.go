package mysql

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/storagetest"
)

// engineOn returns an executor on s, shut down when the test ends.
func engineOn(t *testing.T, s *Store) *durable.Executor {
	t.Helper()
	ex, err := durable.New(s, durable.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ex.Shutdown(ctx)
	})
	return ex
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestEnqueueTx checks transactional enqueue: the execution exists if and
// only if the caller's transaction commits.
func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	ctx := testCtx(t)
	ex := engineOn(t, s)
	task := durable.Must(durable.NewTask(ex, "outbox", func(ctx context.Context, in string) (string, error) { return "sent " + in, nil }))
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}

	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rolledBack, err := task.EnqueueTx(ctx, s.Tx(tx), "never")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := rolledBack.Get(ctx); !errors.Is(err, durable.ErrNotFound) {
		t.Fatalf("rolled-back enqueue is visible: %v", err)
	}

	tx, err = s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := task.EnqueueTx(ctx, s.Tx(tx), "mail")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	x, err := committed.Wait(ctx)
	if err != nil || x.Output != "sent mail" {
		t.Fatalf("got %+v %v", x, err)
	}
}

// TestAcrossProcesses uses two stores on one set of tables, as two
// processes would: work enqueued on one runs on the other, and Wait, Cancel
// and Wake reach across through the events table
// (storagetest.CheckAcrossProcesses).
func TestAcrossProcesses(t *testing.T) {
	t.Parallel()
	prefix := testPrefix(t)
	storagetest.CheckAcrossProcesses(t, openOn(t, prefix, Config{}), openOn(t, prefix, Config{}))
}
