package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/durable-go/durable/internal/rescue"
	"github.com/durable-go/durable/storage"
)

// The writer owns the store's only write connection. Write calls do not run
// SQL themselves: each becomes a writeReq on a queue, and the writer
// goroutine drains the queue in batches, running every request of a batch in
// one BEGIN IMMEDIATE transaction (one fsync), each inside its own SAVEPOINT
// so that a failing request is rolled back alone (the small Insert calls of
// a batch share one savepoint: insertTogether). This is group commit: the
// more concurrent writers, the more requests share a commit.

// writeFunc is the body of a write call. It runs on the writer goroutine,
// inside the batch transaction, and must use only tx. An error rolls back
// everything the function did (and only that).
type writeFunc func(tx *writeTx) error

// Request states. A queued request may be abandoned by its caller (its
// context ended); once the writer has taken it, the caller waits for the
// outcome, so that a call never returns an error after its write committed.
const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

type writeReq struct {
	op string // the call's name, for errors
	fn writeFunc
	// loan, when set, asks for the write connection itself (WithTx, tx.go)
	// instead of a place in a batch.
	loan *loan
	// lazy marks a write that need not survive a power cut (a heartbeat;
	// not a claim, whose fencing tokens must never be handed out twice): a
	// batch of only lazy writes commits without an fsync.
	lazy bool
	// rows, when set, are the rows fn inserts and all fn does (an Insert
	// call): the writer may insert the rows of several such requests
	// together instead of calling their fns (insertTogether).
	rows  []storage.Execution
	vals  rowValues // the column values of rows
	state atomic.Int32
	ev    events     // what fn's writes may have caused, published after commit
	done  chan error // buffered: the writer never blocks on it
}

// events accumulates the Event of a batch.
type events struct {
	ready    bool
	finished []string
}

func (e *events) add(o events) {
	e.ready = e.ready || o.ready
	e.finished = append(e.finished, o.finished...)
}

// writer runs batches on conn.
type writer struct {
	conn        *sql.Conn
	stmts       map[string]*sql.Stmt
	queue       chan *writeReq
	maxBatch    int
	busyTimeout time.Duration
	publish     func(events)
	stopped     chan struct{}
	commits     atomic.Int64 // transactions committed, for tests
	together    atomic.Int64 // Insert calls carried out together, for tests
	// full is true when the store's durability is synchronous=FULL: batches
	// of lazy writes then commit with synchronous=NORMAL.
	full bool
	// seqs remembers the seqs of the rows this writer claimed, by id, so
	// that their completions find them by rowid. Only the writer goroutine
	// uses it. A seq never changes, so an entry is never wrong; entries of
	// claims never completed here are dropped when the map grows large.
	seqs map[string]int64
	// events appends the events of each transaction to durable_events,
	// for the stores of other processes (events.go).
	events eventLog
	// rescues paces the claims' rescues of lapsed leases (claim.go). It
	// lives here, with the store's other per-store write state; claims use
	// it on their own goroutines.
	rescues rescue.Pacer
	// loan is the WithTx call the connection is lent to, nil when none
	// (tx.go).
	loan atomic.Pointer[loan]
}

// maxSeqs bounds writer.seqs.
const maxSeqs = 1 << 16

// rememberSeq records the seq of a row the writer claimed.
func (w *writer) rememberSeq(id string, seq int64) {
	if len(w.seqs) >= maxSeqs {
		clear(w.seqs)
	}
	w.seqs[id] = seq
}

func newWriter(conn *sql.Conn, cfg Config, publish func(events)) *writer {
	return &writer{
		conn:        conn,
		stmts:       map[string]*sql.Stmt{},
		queue:       make(chan *writeReq, 2*cfg.MaxBatch),
		maxBatch:    cfg.MaxBatch,
		busyTimeout: cfg.BusyTimeout,
		publish:     publish,
		stopped:     make(chan struct{}),
		full:        cfg.Durability == DurabilityFull,
		seqs:        map[string]int64{},
		events:      eventLog{tag: newTag()},
	}
}

// lazyBatch reports whether every request of the batch is lazy.
func lazyBatch(reqs []*writeReq) bool {
	for _, r := range reqs {
		if !r.lazy {
			return false
		}
	}
	return true
}

// run drains the queue until it is closed and empty. A request for the
// connection itself (WithTx) ends the batch before it and runs alone.
func (w *writer) run() {
	defer close(w.stopped)
	batch := make([]*writeReq, 0, w.maxBatch)
	var next *writeReq // a loan met while filling a batch
	for {
		req := next
		next = nil
		if req == nil {
			var ok bool
			if req, ok = <-w.queue; !ok {
				return
			}
		}
		if req.loan != nil {
			w.lend(req)
			continue
		}
		batch = append(batch[:0], req)
	fill:
		for len(batch) < w.maxBatch {
			select {
			case r, ok := <-w.queue:
				if !ok {
					break fill
				}
				if r.loan != nil {
					next = r
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.runBatch(batch)
		clear(batch)
	}
}

// runBatch runs the requests its callers still wait for in one transaction
// and answers each.
func (w *writer) runBatch(batch []*writeReq) {
	live := make([]*writeReq, 0, len(batch))
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	errs, ev, err := w.transact(live)
	if err != nil {
		for _, r := range live {
			r.done <- err
		}
		return
	}
	// Publish before answering: when a write call returns, its events have
	// been delivered.
	if ev.ready || len(ev.finished) > 0 {
		w.publish(ev)
	}
	for i, r := range live {
		r.done <- errs[i]
	}
}

// transact runs reqs in one transaction. It returns each request's own
// error and the merged events of those that succeeded, or a single error
// when the transaction as a whole failed (then nothing of it committed).
// The events are appended to durable_events in the transaction, for the
// stores of other processes.
func (w *writer) transact(reqs []*writeReq) ([]error, events, error) {
	var ev events
	if w.full && lazyBatch(reqs) {
		// Heartbeats need not be durable: one lost to a power cut only
		// makes its lease lapse sooner. They commit without waiting for an
		// fsync; the next synchronous commit flushes them with it.
		if err := w.execControl("PRAGMA synchronous = NORMAL"); err != nil {
			return nil, ev, fmt.Errorf("sqlite: %w", err)
		}
		defer func() { _ = w.execControl("PRAGMA synchronous = FULL") }()
	}
	err := retryBusy(context.Background(), w.busyTimeout, func() error { return w.execControl("BEGIN IMMEDIATE") })
	if err != nil {
		return nil, ev, fmt.Errorf("sqlite: begin write transaction: %w", err)
	}
	errs := make([]error, len(reqs))
	if len(reqs) == 1 {
		// No savepoint needed: the request's failure is the transaction's.
		if errs[0] = w.call(reqs[0]); errs[0] != nil {
			w.rollback()
			return errs, ev, nil
		}
	} else {
		together, err := w.insertTogether(reqs)
		if err != nil {
			w.rollback()
			return nil, ev, err
		}
		for i, r := range reqs {
			if together[i] {
				continue
			}
			if err := w.execControl("SAVEPOINT req"); err != nil {
				w.rollback()
				return nil, ev, fmt.Errorf("sqlite: savepoint: %w", err)
			}
			errs[i] = w.call(r)
			if err := w.endSavepoint(errs[i] != nil); err != nil {
				// SQLite rolled the whole transaction back (an I/O error, a
				// full disk): nothing of the batch stands.
				w.rollback()
				if errs[i] != nil {
					err = errs[i]
				}
				return nil, ev, fmt.Errorf("sqlite: write transaction aborted: %w", err)
			}
		}
	}
	if len(reqs) == 1 {
		ev = reqs[0].ev // it succeeded
	} else {
		for i, r := range reqs {
			if errs[i] == nil {
				ev.add(r.ev)
			}
		}
	}
	if ev.ready || len(ev.finished) > 0 {
		if err := w.recordEvents(&ev); err != nil {
			w.rollback()
			return nil, ev, err
		}
	}
	if err := w.execControl("COMMIT"); err != nil {
		w.rollback()
		return nil, ev, fmt.Errorf("sqlite: commit: %w", err)
	}
	w.commits.Add(1)
	if ev.ready || len(ev.finished) > 0 {
		w.events.signalCommit()
	}
	return errs, ev, nil
}

// insertTogether inserts the rows of the small Insert calls among reqs
// (of at most togetherRows rows), when there are two or more, with one run
// of multi-row statements inside one savepoint instead of a savepoint and
// statements for each call: the writer's cost per single-row enqueue is
// mostly its statements. (A larger call is a multi-row insert already:
// merging it would only copy its rows.) It
// reports which requests it carried out (and sets their events). When
// the rows conflict (a duplicate id or key) it rolls back to its savepoint
// and carries out none: each call then runs alone, so that the conflict
// fails only the call it belongs to. An error means the transaction as a
// whole failed.
func (w *writer) insertTogether(reqs []*writeReq) ([]bool, error) {
	together := make([]bool, len(reqs))
	var rows []storage.Execution
	var vals rowValues
	calls := 0
	for i, r := range reqs {
		if r.rows != nil && len(r.rows) <= togetherRows && len(r.vals.vals) == len(r.rows) {
			together[i] = true
			rows = append(rows, r.rows...)
			vals.vals = append(vals.vals, r.vals.vals...)
			vals.mask |= r.vals.mask
			calls++
		}
	}
	if calls < 2 {
		clear(together)
		return together, nil
	}
	if err := w.execControl("SAVEPOINT req"); err != nil {
		return nil, fmt.Errorf("sqlite: savepoint: %w", err)
	}
	failed := w.call(&writeReq{fn: func(tx *writeTx) error { return tx.insertRows(rows, vals) }}) != nil
	if err := w.endSavepoint(failed); err != nil {
		return nil, fmt.Errorf("sqlite: write transaction aborted: %w", err)
	}
	if failed {
		clear(together)
		return together, nil
	}
	for i, r := range reqs {
		if together[i] {
			r.ev = events{ready: storage.AnyReady(r.rows)}
		}
	}
	w.together.Add(int64(calls))
	return together, nil
}

// togetherRows is the most rows of an Insert call that insertTogether
// merges with others.
const togetherRows = 16

// endSavepoint releases the request savepoint, rolling back to it first when
// the request failed.
func (w *writer) endSavepoint(failed bool) error {
	if failed {
		if err := w.execControl("ROLLBACK TO req"); err != nil {
			return err
		}
	}
	return w.execControl("RELEASE req")
}

// call runs r.fn, turning a panic into an error so that one bad request
// cannot stop the writer.
func (w *writer) call(r *writeReq) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlite: internal error in write: %v", p)
		}
	}()
	r.ev = events{}
	return r.fn(&writeTx{w: w, ev: &r.ev})
}

func (w *writer) rollback() {
	// The error is of no use: either the transaction is gone already
	// (SQLite rolled it back), or the connection is broken and the next
	// BEGIN will say so.
	_ = w.execControl("ROLLBACK")
}

func (w *writer) execControl(q string) error {
	st, err := w.stmt(q, func() string { return q })
	if err != nil {
		return err
	}
	_, err = st.Exec()
	return err
}

// stmt returns the statement cached under key, preparing build() on the
// write connection the first time. Only the writer goroutine (and Open,
// before it starts) calls it.
func (w *writer) stmt(key string, build func() string) (*sql.Stmt, error) {
	if st, ok := w.stmts[key]; ok {
		return st, nil
	}
	if len(w.stmts) >= maxCachedStmts {
		// Inserts of unusual shapes can multiply statements: start over
		// rather than grow without bound.
		w.closeStmts()
	}
	st, err := w.conn.PrepareContext(context.Background(), build())
	if err != nil {
		return nil, fmt.Errorf("sqlite: prepare %s: %w", key, err)
	}
	w.stmts[key] = st
	return st, nil
}

// maxCachedStmts bounds the writer's statement cache.
const maxCachedStmts = 512

func (w *writer) closeStmts() {
	for _, st := range w.stmts {
		st.Close()
	}
	clear(w.stmts)
}

// close closes the cached statements and the connection. The writer
// goroutine must have stopped.
func (w *writer) close() error {
	w.closeStmts()
	return w.conn.Close()
}

// writeTx is what a writeFunc works with: the statements of queries.sql on
// the write connection, inside the batch transaction, and the events of its
// request.
type writeTx struct {
	w  *writer
	ev *events
}

// named returns the named statement of queries.sql.
func (tx *writeTx) named(name string) (*sql.Stmt, error) {
	return tx.w.stmt(name, func() string { return query(name) })
}

// sized returns the named statement with {{rows}} expanded to n tuples of
// width parameters.
func (tx *writeTx) sized(name string, n, width int) (*sql.Stmt, error) {
	return tx.w.stmt(name+"/"+strconv.Itoa(n), func() string { return withRows(query(name), n, width) })
}

func (tx *writeTx) exec(name string, args ...any) (sql.Result, error) {
	st, err := tx.named(name)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

func (tx *writeTx) query(name string, args ...any) (*sql.Rows, error) {
	st, err := tx.named(name)
	if err != nil {
		return nil, err
	}
	return st.Query(args...)
}

// queryRow runs the named query for at most one row.
func (tx *writeTx) queryRow(name string, args ...any) scanner {
	st, err := tx.named(name)
	if err != nil {
		return errScanner{err}
	}
	return st.QueryRow(args...)
}

// errScanner is a row whose query could not be prepared.
type errScanner struct{ err error }

func (e errScanner) Scan(...any) error { return e.err }

// ready records that the request's writes may have made rows due.
func (tx *writeTx) ready() { tx.ev.ready = true }

// finished records executions that became terminal.
func (tx *writeTx) finished(ids ...string) { tx.ev.finished = append(tx.ev.finished, ids...) }

// submit queues fn and waits for its outcome.
func (s *Store) submit(ctx context.Context, op string, fn writeFunc) error {
	return s.submitReq(ctx, op, &writeReq{op: op, fn: fn, done: make(chan error, 1)})
}

// submitLazy is submit for a write that need not survive a power cut.
func (s *Store) submitLazy(ctx context.Context, op string, fn writeFunc) error {
	return s.submitReq(ctx, op, &writeReq{op: op, fn: fn, lazy: true, done: make(chan error, 1)})
}

func (s *Store) submitReq(ctx context.Context, op string, req *writeReq) error {
	return s.fatal(s.submitReqErr(ctx, op, req))
}

func (s *Store) submitReqErr(ctx context.Context, op string, req *writeReq) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if err := s.enqueue(ctx, op, req); err != nil {
		return err
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return fmt.Errorf("sqlite: %s: %w", op, ctx.Err())
		}
		// The writer has it: its outcome is the call's.
		return <-req.done
	}
}

func (s *Store) enqueue(ctx context.Context, op string, req *writeReq) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed(op)
	}
	select {
	case s.w.queue <- req:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sqlite: %s: %w", op, ctx.Err())
	}
}

var _ storage.Store = (*Store)(nil)
