package mysql

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
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

// TestInsertTxActiveKey: InsertTx of a key held while active by a
// committed row fails with an *storage.ActiveKeyError naming it, and of a
// key held earlier in the same transaction with ErrDuplicate; tx stays
// usable, and what it inserted commits.
func TestInsertTxActiveKey(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	ctx := testCtx(t)
	keyed := func(id, key string) []storage.Execution {
		e := storagetest.NewExecution(id, "task")
		e.ActiveKey = key
		return []storage.Execution{e}
	}
	if err := s.Insert(ctx, storage.InsertParams{Executions: keyed("holder", "k")}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	err = s.InsertTx(ctx, tx, storage.InsertParams{Executions: keyed("second", "k")})
	var ak *storage.ActiveKeyError
	if !errors.As(err, &ak) || ak.ID != "holder" {
		t.Fatalf("InsertTx of a held key: want an *ActiveKeyError naming holder, got %v", err)
	}
	if err := s.InsertTx(ctx, tx, storage.InsertParams{Executions: keyed("mine", "m")}); err != nil {
		t.Fatal(err)
	}
	err = s.InsertTx(ctx, tx, storage.InsertParams{Executions: keyed("again", "m")})
	if !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("InsertTx of a key held earlier in the transaction: want ErrDuplicate, got %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit after refused keys: %v", err)
	}
	if e, err := s.Get(ctx, storage.GetParams{ID: "mine"}); err != nil || e.ActiveKey != "m" {
		t.Fatalf("committed row: %+v, %v", e, err)
	}
}
