package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/durable-go/durable/storage"
)

// rowState is a row a write transaction locked: the columns it may change
// ("state_cols" in queries.sql), and what it changed. Complete and Cancel
// decide every change in Go, on rows they locked, as the memory store
// does, and write the changed rows back in one statement: MySQL has no
// UPDATE ... RETURNING, and the outcome of a batch is that of its
// transitions applied in order, whatever rows they touch.
type rowState struct {
	seq                                                   int64
	id, parentID, rootID, sleepKey, executorID            string
	status                                                storage.Status
	errJSON                                               []byte
	attempt, iteration, childrenTotal, childrenPending    int64
	fence                                                 int64
	failFast                                              bool
	updatedAt, dueAt, startedAt, finishedAt, wfcAt, wffAt sql.NullInt64

	// read is the row as the transaction read it (nil for none): the
	// write-back leaves out the columns no row changed.
	read  *rowState
	dirty bool
	// The payloads written: output when outputSet; run_output by
	// runOutputOp (keep, set, clear); attempts when attemptsSet.
	outputSet, attemptsSet bool
	runOutputOp            int
	output, runOutput      []byte
	attempts               []byte
}

// The values of rowState.runOutputOp.
const (
	keepRunOutput  = 0
	setRunOutput   = 1
	clearRunOutput = 2
)

func (r *rowState) dests(parentID, rootID, sleepKey *sql.NullString, status *string) []any {
	return []any{&r.seq, &r.id, parentID, rootID, sleepKey, status, &r.errJSON, &r.attempt, &r.iteration,
		&r.failFast, &r.executorID, &r.updatedAt, &r.dueAt, &r.startedAt, &r.finishedAt,
		&r.wfcAt, &r.wffAt, &r.childrenTotal, &r.childrenPending, &r.fence}
}

// size estimates the bytes the row adds to a write statement.
func (r *rowState) size() int {
	return 256 + 2*(len(r.output)+len(r.runOutput)+len(r.attempts)+len(r.errJSON))
}

// events accumulates the event of one write.
type events struct {
	ready    bool
	finished []string
}

func (ev *events) event() storage.Event {
	return storage.Event{Ready: ev.ready, Finished: ev.finished}
}

// txWrite is one write transaction on locked rows.
type txWrite struct {
	s  *Store
	tx *pipe
	// nowArg is the .Now argument of the locking statements; now is the
	// instant of the write: params' Now with ClockParams, else the
	// server's clock as the first locking statement read it (no
	// transition applies before a row is locked, so no write needs it
	// earlier).
	nowArg any
	now    int64
	rows   map[string]*rowState
	dirty  []*rowState // in the order they first changed
	// inserted are the ids of the rows this transaction inserted.
	inserted map[string]bool
	ev       events
}

func newTxWrite(s *Store, tx *pipe, t time.Time) *txWrite {
	w := &txWrite{s: s, tx: tx, nowArg: s.nowArg(t), rows: map[string]*rowState{}, inserted: map[string]bool{}}
	if v, ok := w.nowArg.(int64); ok {
		w.now = v
	}
	return w
}

// lockChunk bounds the ids of one locking statement.
const lockChunk = 1000

// lock locks the rows of ids not locked yet, in id order, and adds them
// to w.rows. An unknown id is not added.
func (w *txWrite) lock(ctx context.Context, ids []string) error {
	todo := make([]string, 0, len(ids))
	for _, id := range ids {
		if _, ok := w.rows[id]; !ok {
			todo = append(todo, id)
		}
	}
	slices.Sort(todo)
	todo = slices.Compact(todo) // a batch may name a row twice
	for chunk := range slices.Chunk(todo, lockChunk) {
		rows, err := w.tx.QueryContext(ctx, withStrings(w.s.q.lock, chunk), w.nowArg)
		if err != nil {
			return err
		}
		if _, err := w.scan(rows); err != nil {
			return err
		}
	}
	return nil
}

// scan reads locked rows into w.rows (a row already there keeps the state
// this transaction gave it) and returns them.
func (w *txWrite) scan(rows *sql.Rows) ([]*rowState, error) {
	defer rows.Close()
	var out []*rowState
	// Every row is scanned through the same destinations, then copied.
	var scanned rowState
	var parentID, rootID, sleepKey sql.NullString
	var status string
	var now int64
	dests := append(scanned.dests(&parentID, &rootID, &sleepKey, &status), &now)
	for rows.Next() {
		if err := rows.Scan(dests...); err != nil {
			return nil, err
		}
		if w.now == 0 {
			w.now = now
		}
		r := w.rows[scanned.id]
		if r == nil {
			scanned.parentID, scanned.rootID, scanned.sleepKey = parentID.String, rootID.String, sleepKey.String
			scanned.status = storage.Status(status)
			read := scanned
			r = &rowState{}
			*r = scanned
			r.read = &read
			w.rows[r.id] = r
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// touch marks r changed at now.
func (w *txWrite) touch(r *rowState) {
	r.updatedAt = sql.NullInt64{Int64: w.now, Valid: true}
	if !r.dirty {
		r.dirty = true
		w.dirty = append(w.dirty, r)
	}
}

func (w *txWrite) at(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: true} }

// finished does what r reaching a terminal status implies for other rows:
// its waiting parent is decremented (and made due), and, when r did not
// complete, its unfinished descendants are cancelled.
func (w *txWrite) finished(ctx context.Context, r *rowState) error {
	w.ev.finished = append(w.ev.finished, r.id)
	if r.parentID != "" {
		if err := w.lock(ctx, []string{r.parentID}); err != nil {
			return err
		}
		if p := w.rows[r.parentID]; p != nil && p.status.Waiting() {
			p.childrenPending--
			if p.childrenPending <= 0 || (r.status != storage.StatusCompleted && p.failFast) {
				p.dueAt = w.at(w.now)
				w.ev.ready = true
			}
			w.touch(p)
		}
	}
	if r.status != storage.StatusCompleted && r.childrenTotal > 0 {
		return w.cancelDescendants(ctx, r)
	}
	return nil
}

// cancelDescendants cancels every unfinished descendant of root, level by
// level, without touching counters: their ancestors are finished.
func (w *txWrite) cancelDescendants(ctx context.Context, root *rowState) error {
	info := storage.ErrorInfo{Kind: storage.ErrorKindCancelled,
		Message: fmt.Sprintf("cancelled because ancestor %s ended with status %s", root.id, root.status)}
	errJSON, err := encodeError(&info)
	if err != nil {
		return err
	}
	frontier := []string{root.id}
	for len(frontier) > 0 {
		var next []string
		for chunk := range slices.Chunk(frontier, lockChunk) {
			rows, err := w.tx.QueryContext(ctx, withStrings(w.s.q.lockChildren, chunk), w.nowArg)
			if err != nil {
				return err
			}
			kids, err := w.scan(rows)
			if err != nil {
				return err
			}
			for _, k := range kids {
				if !k.status.Terminal() {
					k.status = storage.StatusCancelled
					k.finishedAt, k.dueAt = w.at(w.now), sql.NullInt64{}
					k.errJSON = errJSON
					w.touch(k)
					w.ev.finished = append(w.ev.finished, k.id)
				}
				if k.childrenTotal > 0 {
					next = append(next, k.id)
				}
			}
		}
		frontier = next
	}
	return nil
}

// record appends the transaction's event to the events table.
func (w *txWrite) record(ctx context.Context) error {
	return w.s.recordEvent(ctx, w.tx, w.ev.event())
}
