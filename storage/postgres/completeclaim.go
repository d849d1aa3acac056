package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/storage"
)

var _ storage.CompleteClaimer = (*Store)(nil)

// CompleteClaim applies p and claims from the limited queues c.Queues in
// one round trip and one transaction (storage.CompleteClaimer): the batch
// of complete_done (see completeDone), then claim_settings and, for each
// queue, claim_limit_lock, claim_limited and claim_limit_yield, as Claim's
// batch has them for limited queues. claim_limited counts the queue's
// running rows after the lock, in a snapshot that sees this transaction's
// completions: the slots they free are claimed again at once, unless it is
// another executor's turn at them (see limits.go). Each queue's claim takes at most its
// concurrency limit or rate (the lower, as limitedBounds says), and
// together they take at most c.Limit. It does so for the common batch
// (every transition from running to completed, IDs distinct) when every
// queue of c.Queues has a concurrency limit and no limit per key;
// otherwise it applies p as Complete does and claims nothing (claimed
// false).
func (s *Store) CompleteClaim(ctx context.Context, p storage.CompleteParams, c storage.ClaimParams) ([]storage.TransitionResult, []storage.Execution, bool, error) {
	if err := s.check("complete"); err != nil {
		return nil, nil, false, err
	}
	if err := validateTransitions(p.Transitions); err != nil {
		return nil, nil, false, fmt.Errorf("postgres: complete: %w", err)
	}
	lim, bounds, err := s.claimableWithCompletion(ctx, p, c)
	if err != nil {
		return nil, nil, false, err
	}
	var d *doneStep
	if bounds != nil {
		d, _ = s.newDoneStep(p.Transitions, s.now(p.Now))
	}
	if d == nil {
		res, err := s.Complete(ctx, p)
		return res, nil, false, err
	}
	var rows []storage.Execution
	var keys []claimKey
	err = withRetry(ctx, func() error {
		rows, keys = rows[:0], keys[:0]
		batch := &pgx.Batch{}
		d.queue(batch)
		batch.Queue(s.q.claimSettings)
		s.queueLimited(batch, c, lim, bounds, &rows, &keys)
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return nil, nil, false, wrapErr("complete", err)
	}
	s.publish(d.ev.event())
	s.indexPendingRuns(ctx)
	return d.results, inClaimOrder(rows, keys), true, nil
}

// claimableWithCompletion returns the limited queues of c and the bound of
// each one's claim when CompleteClaim can claim them with p's completion:
// p is the common batch, and every queue of c.Queues has a concurrency
// limit and no limit per key (the other queues take no turns, see
// claim_limited: a slot a run's end frees would go to its own process's
// claim, in the same transaction, nearly always). The bounds (limitedBounds) are cut, in order, so that
// together they take at most c.Limit. Nil bounds: it cannot.
func (s *Store) claimableWithCompletion(ctx context.Context, p storage.CompleteParams, c storage.ClaimParams) ([]limited.Queue, []int, error) {
	if len(p.Transitions) == 0 || !allDone(p.Transitions) || c.Limit <= 0 || len(c.TaskIDs) == 0 || len(c.Queues) == 0 {
		return nil, nil, nil
	}
	lim, err := s.limitedQueues(ctx, c.Queues)
	if err != nil {
		return nil, nil, err
	}
	for _, q := range c.Queues {
		if !slices.ContainsFunc(lim, func(l limited.Queue) bool { return l.Name == q && l.Concurrency > 0 && l.PerKey == 0 }) {
			return nil, nil, nil
		}
	}
	all, _, _ := limitedBounds(lim, c.Limit)
	if all == nil {
		return nil, nil, nil
	}
	var qs []limited.Queue
	var bounds []int
	left := c.Limit
	for i := 0; i < len(lim) && left > 0; i++ {
		b := min(all[i], left)
		qs, bounds, left = append(qs, lim[i]), append(bounds, b), left-b
	}
	return qs, bounds, nil
}
