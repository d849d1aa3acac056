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

// This file holds the claims of queues with a concurrency limit
// (storage.Controls.LimitControl, migration 009). The usual claim
// statements leave those queues out (unpaused in queries.sql); Claim
// claims them apart, first, in the same write transaction as the others:
// the candidates are read on a read connection (the queue's lapsed runs,
// then its other due rows up to the free slots seen then), and the write
// transaction, which no other store on the file runs beside, counts the
// queue's running rows again and claims the lapsed runs and as many of the
// others as slots are free. Which queues are limited is read at most every
// storage.LimitRefresh (internal/limited).

// limitedClaim is what a claim read of one limited queue: cands holds its
// lapsed runs (the first lapsed of them), then its other due rows, each
// in claim order.
type limitedClaim struct {
	queue  string
	lapsed int
	cands  []candidate
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
		var q limited.Queue
		if err := rows.Scan(&q.Name, &q.Concurrency); err != nil {
			return nil, s.readError(op, err)
		}
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
			n += len(lc.cands)
		}
	}
	return out, n, nil
}

// limitedCandidatesOf reads queue q's candidates, at most left.
func (s *Store) limitedCandidatesOf(ctx context.Context, now time.Time, tasks string, q limited.Queue, left int) (limitedClaim, error) {
	lc := limitedClaim{queue: q.Name}
	lapsed, err := s.readCandidates(ctx, "limited_lapsed", []any{q.Name, micros(now), tasks, int64(left)}, left)
	if err != nil {
		return lc, err
	}
	running, err := s.runningCount(ctx, q.Name)
	if err != nil {
		return lc, err
	}
	lc.lapsed, lc.cands = len(lapsed), lapsed
	free := min(left-len(lapsed), q.Concurrency-running)
	if free <= 0 {
		return lc, nil
	}
	// Read as many more as there are lapsed runs: those are among the
	// queue's due rows too.
	fresh, err := s.readCandidates(ctx, "limited_candidates", []any{micros(now), tasks, int64(free + len(lapsed)), q.Name}, free+len(lapsed))
	if err != nil {
		return lc, err
	}
	for _, c := range fresh {
		if len(lc.cands) == lc.lapsed+free {
			break
		}
		if !slices.ContainsFunc(lapsed, func(l candidate) bool { return l.seq == c.seq }) {
			lc.cands = append(lc.cands, c)
		}
	}
	return lc, nil
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

// claimLimited claims, in the write transaction, lc's lapsed runs and as
// many of its other candidates as the queue has free slots now; a queue
// paused since the read gets nothing, one no longer limited gets them all.
func (tx *writeTx) claimLimited(p storage.ClaimParams, lc *limitedClaim) error {
	var (
		concurrency int
		paused      bool
	)
	err := tx.queryRow("control_concurrency", storage.ControlQueue, lc.queue).Scan(&concurrency, &paused)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("reading the limit of queue %q: %w", lc.queue, err)
	case paused:
		return nil
	}
	n := len(lc.cands)
	if concurrency > 0 {
		var running int
		if err := tx.queryRow("running_count", lc.queue).Scan(&running); err != nil {
			return fmt.Errorf("counting the running rows of queue %q: %w", lc.queue, err)
		}
		n = lc.lapsed + max(0, min(n-lc.lapsed, concurrency-running))
	}
	if n == 0 {
		return nil
	}
	return tx.claim(p, lc.cands[:n])
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

// LimitControl sets a queue's concurrency limit and reports whether it
// changed; an unknown queue fails with storage.ErrNotFound. A change
// publishes Event.Ready to every store on the file.
func (s *Store) LimitControl(ctx context.Context, p storage.LimitControlParams) (bool, error) {
	const op = "limit control"
	if err := storage.ValidateLimitControl(&p); err != nil {
		return false, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	var changed bool
	err := s.submit(ctx, op, func(tx *writeTx) error {
		var (
			concurrency int
			paused      bool
		)
		err := tx.queryRow("control_concurrency", p.Kind, p.Name).Scan(&concurrency, &paused)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: %s: %s %q: %w", op, p.Kind, p.Name, storage.ErrNotFound)
		case err != nil:
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if changed = concurrency != p.Concurrency; !changed {
			return nil
		}
		if _, err := tx.exec("control_limit", p.Kind, p.Name, p.Concurrency, micros(p.Now)); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
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
