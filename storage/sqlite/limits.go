package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/storage"
)

// This file holds the claims of queues with a limit: a concurrency limit,
// one per key or a rate limit (storage.Controls.LimitControl, migrations
// 009 and 010). The usual claim statements leave those queues out
// (unpaused in queries.sql); Claim claims them apart, first, in the same
// write transaction as the others: the candidates are read on a read
// connection (the queue's lapsed runs, then its other due rows up to the
// free slots seen then; of a queue limited per key, only rows whose key
// had free slots, and twice as many, since several may share a key), and
// the write transaction, which no other store on the file runs beside,
// reads the queue's limits and rate window, counts its running rows (per
// key too) again and claims the lapsed runs and as many of the others as
// the limits allow, then counts them in the window. Which queues are
// limited is read at most every storage.LimitRefresh (internal/limited).

// limitedClaim is what a claim read of one limited queue: cands holds its
// lapsed runs (the first lapsed of them), then its other due rows, each
// in claim order.
type limitedClaim struct {
	queue  string
	lapsed int
	cands  []candidate
	limit  int // the most rows to take
}

// limitedQueues returns the limited queues a claim of queues covers.
func (s *Store) limitedQueues(ctx context.Context, queues []string) ([]limited.Queue, error) {
	qs, err := s.limits.Get(time.Now(), func() ([]limited.Queue, error) { return s.readLimited(ctx) })
	return limited.Of(qs, queues), err
}

// readLimited reads the queues with a concurrency limit, not paused.
func (s *Store) readLimited(ctx context.Context) ([]limited.Queue, error) {
	const op = "claim"
	st, err := s.readStmt(op, "limited_queues")
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, s.readError(op, err)
	}
	defer rows.Close()
	var out []limited.Queue
	for rows.Next() {
		var (
			q   limited.Queue
			per int64
		)
		if err := rows.Scan(&q.Name, &q.Concurrency, &q.PerKey, &q.Rate, &per); err != nil {
			return nil, s.readError(op, err)
		}
		q.Per = time.Duration(per) * time.Microsecond
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(op, err)
	}
	return out, nil
}

// limitedCandidates reads the candidates of the limited queues a claim
// covers, up to p.Limit in all, and returns them with their number.
func (s *Store) limitedCandidates(ctx context.Context, p storage.ClaimParams) ([]limitedClaim, int, error) {
	qs, err := s.limitedQueues(ctx, p.Queues)
	if err != nil || len(qs) == 0 {
		return nil, 0, err
	}
	tasks := jsonStrings(p.TaskIDs)
	var out []limitedClaim
	n := 0
	for _, q := range qs {
		left := p.Limit - n
		if left <= 0 {
			break
		}
		lc, err := s.limitedCandidatesOf(ctx, p.Now, tasks, q, left)
		if err != nil {
			return nil, 0, err
		}
		if len(lc.cands) > 0 {
			out = append(out, lc)
			n += min(len(lc.cands), left)
		}
	}
	return out, n, nil
}

// limitedCandidatesOf reads queue q's candidates, at most left.
func (s *Store) limitedCandidatesOf(ctx context.Context, now time.Time, tasks string, q limited.Queue, left int) (limitedClaim, error) {
	lc := limitedClaim{queue: q.Name, limit: left}
	lapsed, err := s.readCandidates(ctx, "limited_lapsed", []any{q.Name, micros(now), tasks, int64(left)}, left)
	if err != nil {
		return lc, err
	}
	running, err := s.runningCount(ctx, q.Name)
	if err != nil {
		return lc, err
	}
	lc.lapsed, lc.cands = len(lapsed), lapsed
	free := left - len(lapsed)
	if q.Concurrency > 0 {
		free = min(free, q.Concurrency-running)
	}
	if free <= 0 {
		return lc, nil
	}
	fresh, err := s.freshCandidates(ctx, now, tasks, q, free, len(lapsed))
	if err != nil {
		return lc, err
	}
	want := free
	if q.PerKey > 0 {
		want = len(fresh) // the write transaction keeps those of free keys
	}
	for _, c := range fresh {
		if len(lc.cands) == lc.lapsed+want {
			break
		}
		if !slices.ContainsFunc(lapsed, func(l candidate) bool { return l.seq == c.seq }) {
			lc.cands = append(lc.cands, c)
		}
	}
	return lc, nil
}

// freshCandidates reads up to free of queue q's due rows that are not
// lapsed runs (of which there are lapsed, read more to skip them); of a
// queue limited per key, rows of keys with free slots only, twice as many.
func (s *Store) freshCandidates(ctx context.Context, now time.Time, tasks string, q limited.Queue, free, lapsed int) ([]candidate, error) {
	if q.PerKey == 0 {
		return s.readCandidates(ctx, "limited_candidates", []any{micros(now), tasks, int64(free + lapsed), q.Name}, free+lapsed)
	}
	n := 2 * free
	return s.readCandidates(ctx, "limited_key_candidates", []any{micros(now), tasks, int64(n), q.Name, int64(q.PerKey)}, n)
}

// runningCount reads how many running, not sleeping rows queue q has.
func (s *Store) runningCount(ctx context.Context, q string) (int, error) {
	const op = "claim"
	st, err := s.readStmt(op, "running_count")
	if err != nil {
		return 0, err
	}
	var n int
	if err := st.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, s.readError(op, err)
	}
	return n, nil
}

// queueLimits is a queue's control row as a limited claim reads it.
type queueLimits struct {
	paused                    bool
	concurrency, perKey, rate int
	per                       time.Duration
	window                    limited.Window
}

// readLimits reads queue q's limits in the write transaction; nil for an
// unknown queue.
func (tx *writeTx) readLimits(q string) (*queueLimits, error) {
	var (
		l   queueLimits
		per int64
	)
	err := tx.queryRow("control_limits", storage.ControlQueue, q).Scan(&l.paused, &l.concurrency, &l.perKey,
		&l.rate, &per, &l.window.Start, &l.window.Count)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the limits of queue %q: %w", q, err)
	}
	l.per = time.Duration(per) * time.Microsecond
	return &l, nil
}

// claimLimited claims, in the write transaction, lc's lapsed runs and as
// many of its other candidates as the queue's limits allow now, and counts
// them in its rate window; a queue paused since the read gets nothing, one
// no longer limited gets them all.
func (tx *writeTx) claimLimited(p storage.ClaimParams, lc *limitedClaim) error {
	l, err := tx.readLimits(lc.queue)
	if l == nil || err != nil || l.paused {
		return err
	}
	win := l.window.At(micros(p.Now), l.per)
	left := min(lc.limit, win.Left(l.rate))
	lapsed := min(lc.lapsed, left)
	fresh, err := tx.freshWithin(lc, l, left-lapsed)
	if err != nil {
		return err
	}
	// The candidates claimed first: lapsed runs, then fresh ones, in
	// place (claim marks them taken).
	n := lapsed
	for _, i := range fresh {
		lc.cands[n], lc.cands[i] = lc.cands[i], lc.cands[n]
		n++
	}
	if n == 0 {
		return nil
	}
	if err := tx.claim(p, lc.cands[:n]); err != nil {
		return err
	}
	return tx.countInWindow(lc, l, win, n)
}

// freshWithin returns the indexes in lc.cands of the candidates past its
// lapsed runs that the queue's limits let a claim take, at most left, in
// claim order.
func (tx *writeTx) freshWithin(lc *limitedClaim, l *queueLimits, left int) ([]int, error) {
	free := min(left, len(lc.cands)-lc.lapsed)
	if l.concurrency > 0 {
		var running int
		if err := tx.queryRow("running_count", lc.queue).Scan(&running); err != nil {
			return nil, fmt.Errorf("counting the running rows of queue %q: %w", lc.queue, err)
		}
		free = min(free, l.concurrency-running)
	}
	running, err := tx.runningKeys(lc, l.perKey)
	if err != nil {
		return nil, err
	}
	keys := limited.NewKeys(l.perKey, running)
	var out []int
	for i := lc.lapsed; i < len(lc.cands) && len(out) < free; i++ {
		if keys.Take(lc.cands[i].e.ConcurrencyKey) {
			out = append(out, i)
		}
	}
	return out, nil
}

// runningKeys counts the running, not sleeping rows of lc's queue for each
// key of its candidates past the lapsed runs (nil without a limit per key).
func (tx *writeTx) runningKeys(lc *limitedClaim, perKey int) (map[string]int, error) {
	if perKey == 0 {
		return nil, nil
	}
	out := map[string]int{}
	for _, c := range lc.cands[lc.lapsed:] {
		k := c.e.ConcurrencyKey
		if _, ok := out[k]; ok || k == "" {
			continue
		}
		var n int
		if err := tx.queryRow("running_key_count", lc.queue, k).Scan(&n); err != nil {
			return nil, fmt.Errorf("counting the running rows of queue %q with key %q: %w", lc.queue, k, err)
		}
		out[k] = n
	}
	return out, nil
}

// countInWindow adds the rows taken of lc.cands[:n] to the queue's rate
// window win (when it has a rate limit).
func (tx *writeTx) countInWindow(lc *limitedClaim, l *queueLimits, win limited.Window, n int) error {
	if l.rate == 0 {
		return nil
	}
	taken := 0
	for _, c := range lc.cands[:n] {
		if c.taken {
			taken++
		}
	}
	if taken == 0 {
		return nil // a new window starts with a claim that takes a row
	}
	win.Count += taken
	if _, err := tx.exec("control_rate_window", lc.queue, win.Start, win.Count); err != nil {
		return fmt.Errorf("counting claims in the rate window of queue %q: %w", lc.queue, err)
	}
	return nil
}

// byClaimOrder sorts taken candidates as Claim returns rows: Priority,
// DueAt before the claim, then insertion order.
func byClaimOrder(cs []candidate) {
	slices.SortFunc(cs, func(a, b candidate) int {
		if c := cmp.Compare(a.priority, b.priority); c != 0 {
			return c
		}
		if c := cmp.Compare(a.due, b.due); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
}

// LimitControl sets a queue's limits and reports whether they changed;
// an unknown queue fails with storage.ErrNotFound. A change publishes
// Event.Ready to every store on the file; a change of the rate limit
// starts a new window.
func (s *Store) LimitControl(ctx context.Context, p storage.LimitControlParams) (bool, error) {
	const op = "limit control"
	if err := storage.ValidateLimitControl(&p); err != nil {
		return false, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	var changed bool
	err := s.submit(ctx, op, func(tx *writeTx) error {
		l, err := tx.readLimits(p.Name)
		switch {
		case err != nil:
			return fmt.Errorf("sqlite: %s: %w", op, err)
		case l == nil:
			return fmt.Errorf("sqlite: %s: %s %q: %w", op, p.Kind, p.Name, storage.ErrNotFound)
		}
		cur := storage.Control{Concurrency: l.concurrency, PerKey: l.perKey, Rate: l.rate, Per: l.per}
		if changed = !p.SameLimits(&cur); !changed {
			return nil
		}
		if _, err := tx.exec("control_limit", p.Kind, p.Name, p.Concurrency, p.PerKey, p.Rate, p.Per.Microseconds(), micros(p.Now)); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if !cur.Limited() && p.Limited() {
			// Its first limit: its rows running now count against it
			// (migration 012; later claims flag their rows themselves).
			if _, err := tx.exec("index_runs", p.Name); err != nil {
				return fmt.Errorf("sqlite: %s: %w", op, err)
			}
		}
		tx.ready()
		return nil
	})
	s.limits.Invalidate()
	if err != nil {
		return false, err
	}
	return changed, nil
}
