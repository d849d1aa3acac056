package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// Transactional enqueue. SQLite lets one connection at a time write to a
// file, and the store already owns one write connection, driven by its
// writer goroutine (writer.go). WithTx does not open a second writer to
// compete with it for the lock: it queues a request like any write, and
// when its turn comes the writer lends it the connection. The caller's
// goroutine then begins a transaction on it (taking the write lock at once,
// as BEGIN IMMEDIATE does), runs the caller's function, appends the event
// row of what it inserted, commits, and gives the connection back; the
// writer goroutine waits meanwhile. Inserts through Store.Tx run on the lent
// connection, inside that transaction, with the writer's own statements.
// After the commit the store publishes Ready to its subscribers (this
// process's executor) and signals the other stores on the file (events.go),
// as it does for its own writes; a rolled-back transaction publishes
// nothing.
//
// While a transaction is open the writer runs nothing else: the store's
// other writes wait for it in the queue, as they would for the write lock
// of another process. Once it has held the connection for longer than the
// busy timeout, the writer refuses the writes waiting for it and those
// submitted until it ends (ErrTxTooLong): a function that waits for a
// write of its own store (a nested WithTx, an Enqueue that is not
// EnqueueTx) gets that error instead of waiting forever.

// ErrTxTooLong is wrapped by the error of a write of the store (an Insert,
// a Claim, a Complete, another WithTx, ...) that was refused because a
// transaction of Store.WithTx had held the store's write connection for
// longer than the busy timeout (Config.BusyTimeout) when the write was
// waiting for it. Nothing of the refused write was done. A function given
// to WithTx that calls the store's other write methods (Task.Enqueue
// instead of Task.EnqueueTx, a nested WithTx) waits for itself and gets
// this error after the busy timeout.
var ErrTxTooLong = errors.New("a Store.WithTx transaction held the store's writer longer than the busy timeout")

// codeError is SQLite's generic error code (SQLITE_ERROR), which a BEGIN
// inside a transaction fails with.
const codeError = 1

// lockProbeSQL is run first in a lent transaction: a write statement
// (that writes nothing) takes the write lock, so that a transaction never
// meets SQLITE_BUSY later, when the function has done work, nor upgrades
// a read snapshot that another store's commit made stale.
const lockProbeSQL = `DELETE FROM durable_events WHERE 0`

// loan is the write connection lent to a WithTx call.
type loan struct {
	start chan struct{} // closed by the writer when the connection is the caller's
	end   chan struct{} // closed by the caller when it gives it back

	w  *writer
	tx *sql.Tx // set before the loan is published in writer.loan

	mu   sync.Mutex // serializes inserts, and them with the commit
	done bool       // the function returned: no more inserts
	ev   events     // what the inserts may have caused
}

// WithTx runs fn in a write transaction on the store's own write
// connection, and commits it if fn returns nil; if fn returns an error or
// panics, it rolls it back (and returns fn's error, or lets the panic go
// on). Executions inserted in it through s.Tx(tx), typically by
// Task.EnqueueTx, exist if and only if the transaction commits, together
// with fn's own writes to the application's tables in the same file:
//
//	err := store.WithTx(ctx, func(tx *sql.Tx) error {
//		if _, err := tx.ExecContext(ctx, `INSERT INTO orders (id) VALUES (?)`, id); err != nil {
//			return err
//		}
//		_, err := charge.EnqueueTx(ctx, store.Tx(tx), Charge{Order: id})
//		return err
//	})
//
// When WithTx returns nil the transaction committed (as durably as the
// store's Config.Durability says) and this store's subscribers (an
// executor on it) have been told of the new work; the stores of other
// processes hear of it through the events table, as of any write. A
// transaction that rolled back wakes nobody.
//
// The store has one write connection (SQLite lets one connection at a time
// write to a file): WithTx waits its turn among the store's writes and,
// while fn runs, every other write of the store waits for it, as do the
// writes of other processes on the file (for the write lock). Keep fn short.
// Once it has run for longer than Config.BusyTimeout, the writes waiting
// for it fail with an error wrapping ErrTxTooLong (and change nothing)
// until it ends. fn must not call the store's other write methods
// (Task.Enqueue, a nested WithTx, ...): they wait for fn, and fail with
// ErrTxTooLong after the busy timeout. Reads (Get, ...) run on other
// connections and do not see the transaction's writes before it commits.
//
// fn must not call tx.Commit or tx.Rollback, nor run COMMIT, ROLLBACK or
// BEGIN: WithTx ends the transaction. It finds a transaction ended inside
// fn (by those, or by SQLite after a statement interrupted when its context
// ended) at the next s.Tx(tx) insert and when fn returns, and then returns
// an error. If ctx ends before the commit, the transaction is rolled back
// and WithTx returns ctx's error.
func (s *Store) WithTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	const op = "with tx"
	if fn == nil {
		return fmt.Errorf("sqlite: %s: nil function", op)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	l := &loan{start: make(chan struct{}), end: make(chan struct{}), w: s.w}
	req := &writeReq{op: op, loan: l, done: make(chan error, 1)}
	if err := s.enqueue(ctx, op, req); err != nil {
		return err
	}
	select {
	case <-l.start:
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return fmt.Errorf("sqlite: %s: %w", op, ctx.Err())
		}
		// The writer took it: it lends the connection or refuses.
		select {
		case <-l.start:
		case err := <-req.done:
			return err
		}
	}
	// The connection is this goroutine's until l.end is closed, after the
	// transaction ended (the deferred calls of runLoan run first).
	defer close(l.end)
	return s.fatal(s.runLoan(ctx, l, fn))
}

// runLoan begins the transaction on the lent connection, runs fn and ends
// the transaction.
func (s *Store) runLoan(ctx context.Context, l *loan, fn func(tx *sql.Tx) error) error {
	const op = "with tx"
	w := s.w
	if err := ctx.Err(); err != nil { // it ended while the call waited its turn
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	tx, err := w.beginLoan(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", op, err)
	}
	l.tx = tx
	w.loan.Store(l)
	committed := false
	defer func() {
		w.loan.Store(nil)
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
		if !committed {
			// Rolls back fn's writes and the inserts; an error means the
			// transaction was gone already.
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	l.mu.Lock()
	l.done = true
	ev := l.ev
	l.mu.Unlock()
	if err := w.inTransaction(); err != nil {
		if ev.ready {
			// Inserts may have committed with whatever ended the
			// transaction: a spurious Ready costs nothing.
			w.publish(ev)
		}
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if ev.ready {
		if err := w.recordEvents(&ev); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: commit: %w", op, err)
	}
	committed = true
	w.commits.Add(1)
	if ev.ready {
		w.events.signalCommit()
		w.publish(ev)
	}
	return nil
}

// beginLoan begins a transaction on the write connection and takes the
// write lock, retrying while another store holds it, up to the busy
// timeout. ctx is not the transaction's: database/sql would roll it back
// on another goroutine when ctx ends, between statements of the writer;
// runLoan checks ctx itself before the commit.
func (w *writer) beginLoan(ctx context.Context) (*sql.Tx, error) {
	var tx *sql.Tx
	err := retryBusy(ctx, w.busyTimeout, func() error {
		t, err := w.conn.BeginTx(context.WithoutCancel(ctx), nil)
		if err != nil {
			return err
		}
		if err := w.execControl(lockProbeSQL); err != nil {
			_ = t.Rollback()
			return err
		}
		tx = t
		return nil
	})
	return tx, err
}

// inTransaction reports an error unless the write connection is inside a
// transaction: BEGIN fails inside one (and changes nothing), and succeeds
// in autocommit mode, where it is rolled back at once.
func (w *writer) inTransaction() error {
	err := w.execControl("BEGIN")
	if err == nil {
		w.rollback()
		return errors.New("the transaction was ended inside the function " +
			"(by tx.Commit, tx.Rollback, a COMMIT or ROLLBACK statement, or a statement interrupted when its context ended); " +
			"let WithTx end it")
	}
	if sqliteCode(err) == codeError {
		return nil // "cannot start a transaction within a transaction"
	}
	return err
}

// lend gives the write connection to the WithTx call of r and waits until
// it gives it back. Once the loan has lasted the busy timeout, it refuses
// the writes waiting in the queue, and those queued until the loan ends,
// with ErrTxTooLong.
func (w *writer) lend(r *writeReq) {
	if !r.state.CompareAndSwap(reqQueued, reqTaken) {
		return
	}
	l := r.loan
	close(l.start)
	t := time.NewTimer(w.busyTimeout)
	defer t.Stop()
	select {
	case <-l.end:
		return
	case <-t.C:
	}
	queue := w.queue
	for {
		select {
		case <-l.end:
			return
		case q, ok := <-queue:
			if !ok {
				queue = nil // closed: Close waits for the loan
				continue
			}
			if q.state.CompareAndSwap(reqQueued, reqTaken) {
				q.done <- fmt.Errorf("sqlite: %s: %w (%v)", q.op, ErrTxTooLong, w.busyTimeout)
			}
		}
	}
}

// Tx returns an inserter bound to tx, a transaction that WithTx passed to
// its function, for durable's Task.EnqueueTx: the executions it inserts
// exist if and only if that transaction commits. On a duplicate ID or
// SleepKey (an idempotency key already used, in the store or earlier in
// the transaction) its Insert fails with an error wrapping
// storage.ErrDuplicate and inserts nothing; the transaction stays usable.
//
// Its Insert fails with a clear error, and changes nothing, when tx is nil,
// is not a transaction of this store's WithTx (a transaction of another
// *sql.DB, even on the same file, or of another store), or has ended
// (WithTx returned, or the transaction was ended inside its function).
func (s *Store) Tx(tx *sql.Tx) storage.Inserter {
	return txInserter{s: s, tx: tx}
}

type txInserter struct {
	s  *Store
	tx *sql.Tx
}

func (t txInserter) Insert(ctx context.Context, p storage.InsertParams) error {
	const op = "insert"
	if t.tx == nil {
		return fmt.Errorf("sqlite: %s: nil transaction", op)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	execs, delays := storage.ClaimOrdered(p.Executions, p.Delays)
	rows, err := prepareRows(p.Now, execs, delays)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	l := t.s.w.loan.Load()
	if l == nil || l.tx != t.tx {
		return fmt.Errorf("sqlite: %s: %w", op, foreignTx(ctx, t.tx))
	}
	if err := l.insert(rows, storage.AnyReady(p.Executions)); err != nil {
		return t.s.fatal(fmt.Errorf("sqlite: %s: %w", op, err))
	}
	return nil
}

// foreignTx says why tx is not the transaction of the loan in progress.
func foreignTx(ctx context.Context, tx *sql.Tx) error {
	var one int
	if err := tx.QueryRowContext(ctx, "SELECT 1").Scan(&one); errors.Is(err, sql.ErrTxDone) {
		return errors.New("the transaction has ended: insert through Store.Tx(tx) inside the function given to Store.WithTx, before it returns")
	}
	return errors.New("the transaction is not one of this store's WithTx: on SQLite, enqueue in a transaction " +
		"that Store.WithTx passed to its function (on the store's own write connection), " +
		"not in a transaction of another *sql.DB or another store")
}

// insertSavepoint is the savepoint an insert of a lent transaction puts
// around its writes, so that a failed insert leaves the transaction as it
// was.
const insertSavepoint = "durable_insert"

// insert inserts rows in the lent transaction.
func (l *loan) insert(rows []storage.Execution, ready bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return errors.New("the transaction has ended: insert through Store.Tx(tx) inside the function given to Store.WithTx, before it returns")
	}
	if len(rows) == 0 {
		return nil
	}
	// l.tx is on the store's writer, which is lent: the writer's own
	// statements run inside the transaction.
	w := l.w
	if err := w.inTransaction(); err != nil {
		return err
	}
	if err := w.execControl("SAVEPOINT " + insertSavepoint); err != nil {
		return err
	}
	var ev events
	err := (&writeTx{w: w, ev: &ev}).insert(rows)
	if err != nil {
		if rerr := w.execControl("ROLLBACK TO " + insertSavepoint); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	if rerr := w.execControl("RELEASE " + insertSavepoint); rerr != nil {
		return errors.Join(err, rerr)
	}
	if err == nil && ready {
		l.ev.ready = true
	}
	return err
}
