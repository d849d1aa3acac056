package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/sqlite"
)

// txEngine is an executor on s with one task, "outbox", that counts its
// runs. It polls once an hour: what it runs promptly, it was told of by an
// event. It is shut down when the test ends; it is not started.
type txEngine struct {
	ex   *durable.Executor
	task *durable.Task[string, string]
	runs atomic.Int64
}

func newTxEngine(t *testing.T, s *sqlite.Store) *txEngine {
	t.Helper()
	ex, err := durable.New(s, durable.Config{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ex.Shutdown(ctx)
	})
	e := &txEngine{ex: ex}
	e.task = durable.Must(durable.NewTask(ex, "outbox", func(ctx context.Context, in string) (string, error) {
		e.runs.Add(1)
		return "sent " + in, nil
	}))
	return e
}

func (e *txEngine) start(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := e.ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

func txCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// createOrders creates the application's own table in the store's file.
func createOrders(t *testing.T, ctx context.Context, s *sqlite.Store) {
	t.Helper()
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE orders (id TEXT PRIMARY KEY)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// orderExists reads the orders table on a connection of its own.
func orderExists(t *testing.T, path, id string) bool {
	t.Helper()
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM orders WHERE id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// placeOrder inserts order id and enqueues its mail in one WithTx, and
// returns fail (which rolls it back) or the error of either.
func placeOrder(ctx context.Context, s *sqlite.Store, e *txEngine, id string, fail error) (*durable.Handle[string], error) {
	var h *durable.Handle[string]
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES (?)`, id); err != nil {
			return err
		}
		var err error
		if h, err = e.task.EnqueueTx(ctx, s.Tx(tx), id); err != nil {
			return err
		}
		return fail
	})
	return h, err
}

// TestWithTxCommit: the application's row and the execution commit
// together, and the executor of this process runs it at once (it polls
// once an hour).
func TestWithTxCommit(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := txCtx(t)
	createOrders(t, ctx, s)
	e := newTxEngine(t, s)
	e.start(t, ctx)

	began := time.Now()
	h, err := placeOrder(ctx, s, e, "o-1", nil)
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second) // not PollInterval
	defer cancel()
	x, err := h.Wait(wctx)
	if err != nil || x.Status != durable.StatusCompleted || x.Output != "sent o-1" {
		t.Fatalf("Wait: %+v, %v", x, err)
	}
	t.Logf("committed → completed in %v", time.Since(began))
	if !orderExists(t, path, "o-1") {
		t.Error("the order row is missing after the commit")
	}
}

// TestWithTxRollback: a function that fails, or panics, rolls back both
// the application's row and the execution, and wakes nobody.
func TestWithTxRollback(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := txCtx(t)
	createOrders(t, ctx, s)
	e := newTxEngine(t, s)
	e.start(t, ctx)
	events := make(chan storage.Event, 10)
	defer s.Subscribe(func(ev storage.Event) { events <- ev })()

	errOutOfStock := errors.New("out of stock")
	h, err := placeOrder(ctx, s, e, "o-1", errOutOfStock)
	if !errors.Is(err, errOutOfStock) {
		t.Fatalf("WithTx: %v, want the function's error", err)
	}
	var h2 *durable.Handle[string]
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the function's panic", p)
			}
		}()
		_ = s.WithTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES ('o-2')`); err != nil {
				return err
			}
			h2, err = e.task.EnqueueTx(ctx, s.Tx(tx), "o-2")
			if err != nil {
				return err
			}
			panic("boom")
		})
	}()

	for _, tc := range []struct {
		id string
		h  *durable.Handle[string]
	}{{"o-1", h}, {"o-2", h2}} {
		if orderExists(t, path, tc.id) {
			t.Errorf("order %s exists after the rollback", tc.id)
		}
		if _, err := tc.h.Get(ctx); !errors.Is(err, durable.ErrNotFound) {
			t.Errorf("execution of %s after the rollback: %v, want ErrNotFound", tc.id, err)
		}
	}
	select {
	case ev := <-events:
		t.Fatalf("a rolled-back transaction published %+v", ev)
	case <-time.After(200 * time.Millisecond):
	}
	// The store works on (the connection was given back), and the only
	// execution that ever runs is the committed one.
	h3, err := placeOrder(ctx, s, e, "o-3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h3.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.runs.Load(); n != 1 {
		t.Errorf("%d runs, want 1 (the committed execution only)", n)
	}
}

// TestWithTxContextEnds: a function that returns nil after its context
// ended is rolled back, and WithTx returns the context's error.
func TestWithTxContextEnds(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := txCtx(t)
	createOrders(t, ctx, s)
	e := newTxEngine(t, s)
	cctx, cancel := context.WithCancel(ctx)
	var h *durable.Handle[string]
	err := s.WithTx(cctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(cctx, `INSERT INTO orders (id) VALUES ('o-1')`); err != nil {
			return err
		}
		var err error
		h, err = e.task.EnqueueTx(cctx, s.Tx(tx), "o-1")
		cancel()
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WithTx: %v, want context.Canceled", err)
	}
	if orderExists(t, path, "o-1") {
		t.Error("the order exists")
	}
	if _, err := h.Get(ctx); !errors.Is(err, durable.ErrNotFound) {
		t.Errorf("the execution: %v, want ErrNotFound", err)
	}
}

// TestWithTxContextEndsInTheQueue: a WithTx whose context ends while it
// waits for the writer returns the context's error, and its function never
// runs.
func TestWithTxContextEndsInTheQueue(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	ctx := txCtx(t)
	err := s.WithTx(ctx, func(*sql.Tx) error {
		qctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := s.WithTx(qctx, func(*sql.Tx) error {
			t.Error("the function of a WithTx whose context ended in the queue ran")
			return nil
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WithTx queued behind another: %v, want context.DeadlineExceeded", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	insert(t, s, ready("after")) // the abandoned request did not stop the writer
}

// TestWithTxIdempotencyKey: EnqueueTx keeps its meaning on SQLite: a key
// already used, in the store or earlier in the same transaction, fails
// with ErrDuplicate and inserts nothing, and the transaction goes on.
func TestWithTxIdempotencyKey(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := txCtx(t)
	createOrders(t, ctx, s)
	e := newTxEngine(t, s)
	var first *durable.Handle[string]
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		if first, err = e.task.EnqueueTx(ctx, s.Tx(tx), "a", durable.WithIdempotencyKey("order-7")); err != nil {
			return err
		}
		if _, err := e.task.EnqueueTx(ctx, s.Tx(tx), "b", durable.WithIdempotencyKey("order-7")); !errors.Is(err, durable.ErrDuplicate) {
			t.Errorf("the key again in the transaction: %v, want ErrDuplicate", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES ('o-7')`)
		return err
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	if !orderExists(t, path, "o-7") {
		t.Error("the order is missing")
	}
	err = s.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := e.task.EnqueueTx(ctx, s.Tx(tx), "c", durable.WithIdempotencyKey("order-7"))
		return err
	})
	if !errors.Is(err, durable.ErrDuplicate) {
		t.Errorf("the key in a later transaction: %v, want ErrDuplicate", err)
	}
	again, err := e.task.Enqueue(ctx, "d", durable.WithIdempotencyKey("order-7"))
	if err != nil || again.ID() != first.ID() {
		t.Errorf("Enqueue with the key: %v, %v, want the execution enqueued in the transaction (%s)", again, err, first.ID())
	}
	e.start(t, ctx)
	x, err := first.Wait(ctx)
	if err != nil || x.Output != "sent a" {
		t.Fatalf("Wait: %+v, %v", x, err)
	}
	if n := e.runs.Load(); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

// TestWithTxBesideTheEngine: while transactions come and go, the engine
// enqueues, claims and completes through the same writer without a
// deadlock, and every execution, enqueued either way, runs once.
func TestWithTxBesideTheEngine(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := txCtx(t)
	createOrders(t, ctx, s)
	e := newTxEngine(t, s)
	e.start(t, ctx)

	const txs, plain = 20, 300
	var wg sync.WaitGroup
	handles := make(chan *durable.Handle[string], txs+plain)
	errs := make(chan error, txs+plain)
	wg.Go(func() {
		for i := range txs {
			var h *durable.Handle[string]
			err := s.WithTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES (?)`, "o-"+strconv.Itoa(i)); err != nil {
					return err
				}
				var err error
				h, err = e.task.EnqueueTx(ctx, s.Tx(tx), "tx")
				time.Sleep(5 * time.Millisecond) // the engine's writes queue meanwhile
				return err
			})
			if err != nil {
				errs <- err
				return
			}
			handles <- h
		}
	})
	for range 3 {
		wg.Go(func() {
			for range plain / 3 {
				h, err := e.task.Enqueue(ctx, "plain")
				if err != nil {
					errs <- err
					return
				}
				handles <- h
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(handles)
	for h := range handles {
		if x, err := h.Wait(ctx); err != nil || x.Status != durable.StatusCompleted {
			t.Fatalf("Wait: %+v, %v", x, err)
		}
	}
	if n := e.runs.Load(); n != txs+plain {
		t.Errorf("%d runs, want %d", n, txs+plain)
	}
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM orders`).Scan(&n); err != nil || n != txs {
		t.Errorf("%d orders (%v), want %d", n, err, txs)
	}
}

// TestWithTxLongerThanTheBusyTimeout: the store's writes wait for a
// transaction up to the busy timeout, then fail with ErrTxTooLong and
// change nothing; a function that calls the store's own write methods
// gets that error instead of waiting for itself forever.
func TestWithTxLongerThanTheBusyTimeout(t *testing.T) {
	t.Parallel()
	const busy = 300 * time.Millisecond
	path := t.TempDir() + "/durable.db"
	s := openAt(t, path, sqlite.Config{BusyTimeout: busy})
	ctx := txCtx(t)

	// A short transaction: the write waits for it and succeeds.
	inserted := make(chan error, 1)
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		go func() {
			inserted <- s.Insert(ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{ready("waited")}})
		}()
		time.Sleep(busy / 3)
		select {
		case err := <-inserted:
			t.Errorf("an Insert returned while a transaction held the writer: %v", err)
		default:
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-inserted; err != nil {
		t.Fatalf("Insert after a short transaction: %v", err)
	}

	// A long one: the write fails after the busy timeout, the transaction
	// goes on and commits. The timeout runs from the start of the loan,
	// which comes after asked: the refusal can come no sooner than asked
	// plus the timeout, however late the goroutines run.
	var waited time.Duration
	asked := time.Now()
	err = s.WithTx(ctx, func(tx *sql.Tx) error {
		go func() {
			err := s.Insert(ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{ready("refused")}})
			waited = time.Since(asked)
			inserted <- err
		}()
		select {
		case err := <-inserted:
			if !errors.Is(err, sqlite.ErrTxTooLong) || !strings.Contains(err.Error(), "sqlite: insert: ") {
				t.Errorf("Insert during a long transaction: %v, want ErrTxTooLong naming the call", err)
			}
		case <-time.After(10 * busy):
			t.Error("Insert during a long transaction did not return")
		}
		// The function's own mistakes: a write of the store, a nested
		// WithTx. Both wait for this transaction; both get the error.
		if err := s.Insert(ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{ready("nested")}}); !errors.Is(err, sqlite.ErrTxTooLong) {
			t.Errorf("Insert inside the function: %v, want ErrTxTooLong", err)
		}
		if err := s.WithTx(ctx, func(*sql.Tx) error { return nil }); !errors.Is(err, sqlite.ErrTxTooLong) {
			t.Errorf("WithTx inside the function: %v, want ErrTxTooLong", err)
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE after_the_wait (x)`)
		return err
	})
	if err != nil {
		t.Fatalf("the long transaction: %v", err)
	}
	t.Logf("the refused Insert returned %v after the transaction was asked for (busy timeout %v)", waited, busy)
	if waited < busy {
		t.Errorf("the refused Insert returned %v after the transaction was asked for, sooner than the busy timeout %v", waited, busy)
	}
	for _, id := range []string{"refused", "nested"} {
		if _, err := s.Get(ctx, storage.GetParams{ID: id}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%s) of a refused Insert: %v, want ErrNotFound", id, err)
		}
	}
	if _, err := rawDB(t, path).Exec(`INSERT INTO after_the_wait VALUES (1)`); err != nil {
		t.Errorf("the long transaction's table: %v", err)
	}
	// The writer serves again.
	insert(t, s, ready("after"))
	get(t, s, "after")
}

// TestWithTxHeardByAnotherStore: an executor on another store on the file
// (as in another process) runs a committed transaction's execution
// promptly, through the events table; a rolled-back one is never heard.
func TestWithTxHeardByAnotherStore(t *testing.T) {
	t.Parallel()
	client, path := openTemp(t)
	worker := openAt(t, path, sqlite.Config{})
	ctx := txCtx(t)
	createOrders(t, ctx, client)
	ce := newTxEngine(t, client) // never started: it only enqueues
	we := newTxEngine(t, worker)
	heard := make(chan storage.Event, 10)
	defer worker.Subscribe(func(ev storage.Event) { heard <- ev })()
	we.start(t, ctx)

	if _, err := placeOrder(ctx, client, ce, "o-1", errors.New("rolled back")); err == nil {
		t.Fatal("WithTx returned nil for a failing function")
	}
	select {
	case ev := <-heard:
		t.Fatalf("the other store heard %+v of a rolled-back transaction", ev)
	case <-time.After(300 * time.Millisecond):
	}

	began := time.Now()
	h, err := placeOrder(ctx, client, ce, "o-2", nil)
	if err != nil {
		t.Fatal(err)
	}
	for ready := false; !ready; {
		select {
		case ev := <-heard:
			ready = ev.Ready
		case <-time.After(10 * time.Second):
			t.Fatal("the other store heard nothing of the commit in 10 s")
		}
	}
	heardIn := time.Since(began)
	x, err := h.Wait(ctx)
	if err != nil || x.Output != "sent o-2" {
		t.Fatalf("Wait: %+v, %v", x, err)
	}
	t.Logf("the other store heard the commit in %v; completed in %v", heardIn, time.Since(began))
	// The watcher reads the events table at a signal (Linux) or every few
	// milliseconds, and once a second in any case; the executors poll once
	// an hour.
	if heardIn > 5*time.Second {
		t.Errorf("the other store heard the commit after %v", heardIn)
	}
	if n := ce.runs.Load() + we.runs.Load(); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

// TestTxMisuse: an inserter on a transaction WithTx did not give, or gave
// and ended, fails with an error that says so and inserts nothing.
func TestTxMisuse(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	other := openAt(t, path, sqlite.Config{})
	ctx := txCtx(t)
	params := func(id string) storage.InsertParams {
		return storage.InsertParams{Now: now, Executions: []storage.Execution{ready(id)}}
	}
	wantErr := func(name string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, want)
		}
	}

	wantErr("nil tx", s.Tx(nil).Insert(ctx, params("nil")), "nil transaction")
	wantErr("nil function", s.WithTx(ctx, nil), "nil function")

	// A transaction of the application's own *sql.DB on the same file.
	db := rawDB(t, path)
	own, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantErr("a transaction of another *sql.DB", s.Tx(own).Insert(ctx, params("own")), "not one of this store's WithTx")
	_ = own.Rollback()

	// A transaction of another store's WithTx.
	err = other.WithTx(ctx, func(tx *sql.Tx) error {
		wantErr("another store's transaction", s.Tx(tx).Insert(ctx, params("other")), "not one of this store's WithTx")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A transaction used after WithTx returned.
	var kept *sql.Tx
	if err := s.WithTx(ctx, func(tx *sql.Tx) error { kept = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	wantErr("an ended transaction", s.Tx(kept).Insert(ctx, params("late")), "the transaction has ended")

	// A function that ends the transaction itself, before and after an
	// insert.
	err = s.WithTx(ctx, func(tx *sql.Tx) error {
		if err := tx.Commit(); err != nil {
			return err
		}
		wantErr("an insert after tx.Commit", s.Tx(tx).Insert(ctx, params("after-commit")), "the transaction was ended inside the function")
		return nil
	})
	wantErr("WithTx after tx.Commit", err, "the transaction was ended inside the function")
	err = s.WithTx(ctx, func(tx *sql.Tx) error {
		if err := s.Tx(tx).Insert(ctx, params("before-rollback")); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "ROLLBACK")
		return err
	})
	wantErr("WithTx after a ROLLBACK statement", err, "the transaction was ended inside the function")

	for _, id := range []string{"nil", "own", "other", "late", "after-commit", "before-rollback"} {
		if _, err := s.Get(ctx, storage.GetParams{ID: id}); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Get(%s): %v, want ErrNotFound", id, err)
		}
	}

	// A closed store.
	closed, _ := openTemp(t)
	closed.Close()
	if err := closed.WithTx(ctx, func(*sql.Tx) error { return nil }); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("WithTx on a closed store: %v, want ErrClosed", err)
	}
}

// TestWithTxIdempotencyWhileActive: EnqueueTx of a key held while active
// fails with ErrDuplicate, in the same transaction or a later one while
// the holder is active, and the transaction goes on; Enqueue returns the
// holder; once the holder has finished, EnqueueTx makes a new execution.
func TestWithTxIdempotencyWhileActive(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	ctx := txCtx(t)
	createOrders(t, ctx, s)
	e := newTxEngine(t, s)
	key := []durable.EnqueueOption{durable.WithIdempotencyKey("order-8"), durable.WithIdempotencyWhileActive()}
	var first *durable.Handle[string]
	err := s.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		if first, err = e.task.EnqueueTx(ctx, s.Tx(tx), "a", key...); err != nil {
			return err
		}
		if _, err := e.task.EnqueueTx(ctx, s.Tx(tx), "b", key...); !errors.Is(err, durable.ErrDuplicate) {
			t.Errorf("the key again in the transaction: %v, want ErrDuplicate", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES ('o-8')`)
		return err
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	if !orderExists(t, path, "o-8") {
		t.Error("the order is missing")
	}
	err = s.WithTx(ctx, func(tx *sql.Tx) error {
		_, err := e.task.EnqueueTx(ctx, s.Tx(tx), "c", key...)
		return err
	})
	if !errors.Is(err, durable.ErrDuplicate) {
		t.Errorf("the key in a later transaction while it is held: %v, want ErrDuplicate", err)
	}
	if again, err := e.task.Enqueue(ctx, "d", key...); err != nil || again.ID() != first.ID() {
		t.Errorf("Enqueue with the held key: %v, %v, want the execution enqueued in the transaction (%s)", again, err, first.ID())
	}
	e.start(t, ctx)
	if x, err := first.Wait(ctx); err != nil || x.Output != "sent a" {
		t.Fatalf("Wait: %+v, %v", x, err)
	}
	var next *durable.Handle[string]
	err = s.WithTx(ctx, func(tx *sql.Tx) error {
		var err error
		next, err = e.task.EnqueueTx(ctx, s.Tx(tx), "e", key...)
		return err
	})
	if err != nil || next.ID() == first.ID() {
		t.Fatalf("EnqueueTx once the holder finished: %v, %v, want a new execution", next, err)
	}
	if x, err := next.Wait(ctx); err != nil || x.Output != "sent e" {
		t.Fatalf("Wait: %+v, %v", x, err)
	}
	if n := e.runs.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
}
