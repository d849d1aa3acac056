package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/durable-go/durable/storage"
)

// claimKey is where a claimed row stood in the claim order: its priority,
// its DueAt before the claim, then its insertion order.
type claimKey struct {
	priority int
	dueAt    time.Time
	seq      int64
}

func (a claimKey) compare(b claimKey) int {
	if c := cmp.Compare(a.priority, b.priority); c != 0 {
		return c
	}
	if c := a.dueAt.Compare(b.dueAt); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// pacingClock is the clock that paces rescues: params' Now with
// ClockParams (the fixed times of tests), else the wall clock.
func (s *Store) pacingClock(now time.Time) time.Time {
	if s.cfg.Clock == ClockParams && !now.IsZero() {
		return now
	}
	return time.Now()
}

// Claim takes up to p.Limit due rows of p.TaskIDs and p.Queues (every
// queue when empty; never a paused one) in one statement: a MATERIALIZED
// CTE picks the rows (Priority, DueAt, then insertion order; one probe of
// executions_claim_idx per queue and priority level, see queries.sql) with
// FOR UPDATE SKIP LOCKED and LIMIT, and the UPDATE touches exactly those, so
// concurrent claimers never wait for each other nor share a row. It runs
// in one round trip, after claim_settings in the same implicit transaction, which
// keeps the plan on the due index even when the table has no statistics
// yet and makes the update reach the picked rows by TID scans (see
// queries.sql). Lapsed leases are claimed as of their creation time: at
// most every 250 ms, and on the store's first claim, the batch rescues
// them first (rescue in queries.sql), between claim_settings and the claim.
func (s *Store) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	if err := s.check("claim"); err != nil {
		return nil, err
	}
	if p.Limit <= 0 || len(p.TaskIDs) == 0 {
		return nil, nil
	}
	lim, err := s.limitedQueues(ctx, p.Queues)
	if err != nil {
		return nil, err
	}
	var limRows []storage.Execution
	var limKeys []claimKey
	bounds, sum, together := limitedBounds(lim, p.Limit)
	switch {
	case len(lim) == 0:
	case together:
		// One round trip: the limited queues' claims, each within its
		// bound, then the others' claim within the rest of the limit.
		p.Limit -= sum
	default:
		if limRows, limKeys, err = s.claimLimited(ctx, p, lim); err != nil {
			return nil, err
		}
		if p.Limit -= len(limRows); p.Limit == 0 {
			s.indexPendingRuns(ctx)
			return inClaimOrder(limRows, limKeys), nil
		}
	}
	args := namedArgs{
		"now": s.now(p.Now), "task_ids": p.TaskIDs, "limit": p.Limit,
		"executor_id": p.ExecutorID, "lease_us": micros(p.Lease),
	}
	claim := s.q.claim
	if len(p.Queues) > 0 {
		claim, args["queues"] = s.q.claimListed, p.Queues
	}
	var rows []storage.Execution
	var keys []claimKey
	from, rescuing := s.rescues.Start(s.pacingClock(p.Now))
	var rescuedAt time.Time
	err = withRetry(ctx, func() error {
		batch := &pgx.Batch{}
		batch.Queue(s.q.claimSettings)
		if len(lim) > 0 && together {
			limRows, limKeys = limRows[:0], limKeys[:0]
			s.queueLimited(batch, p, lim, bounds, &limRows, &limKeys)
		}
		if rescuing {
			lo := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
			if !from.IsZero() {
				lo = pgtype.Timestamptz{Time: from, Valid: true}
			}
			batch.Queue(s.q.rescue, namedArgs{"now": s.now(p.Now), "rescue_from": lo}).
				QueryRow(func(r pgx.Row) error {
					var n int64
					return r.Scan(&rescuedAt, &n)
				})
		}
		batch.Queue(claim, args).Query(func(r pgx.Rows) error {
			var err error
			last := int(s.lastClaimed.Load())
			rows, keys, err = scanClaims(r, min(p.Limit, max(32, last+last/4)))
			return err
		})
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return nil, wrapErr("claim", err)
	}
	if rescuing {
		s.rescues.Done(rescuedAt)
	}
	s.indexPendingRuns(ctx)
	s.lastClaimed.Store(int64(len(rows)))
	if len(limRows) > 0 {
		rows, keys = append(limRows, rows...), append(limKeys, keys...)
	}
	return inClaimOrder(rows, keys), nil
}

// inClaimOrder returns rows ordered by their keys. The statement mostly
// returns them in that order already (the rows of a backlog lie in the
// table as they were inserted); otherwise it sorts positions, not the
// rows, which are large structs.
func inClaimOrder(rows []storage.Execution, keys []claimKey) []storage.Execution {
	if slices.IsSortedFunc(keys, claimKey.compare) {
		return rows
	}
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int { return keys[i].compare(keys[j]) })
	out := make([]storage.Execution, len(rows))
	for k, i := range order {
		out[k] = rows[i]
	}
	return out
}

// scanClaims reads the claim statement's rows and their claim keys, with
// room for capacity rows at first. One set of scan destinations serves
// every row.
func scanClaims(rows pgx.Rows, capacity int) ([]storage.Execution, []claimKey, error) {
	defer rows.Close()
	out := make([]storage.Execution, 0, capacity)
	keys := make([]claimKey, 0, capacity)
	var r execRow
	var due pgtype.Timestamptz
	var seq int64
	var md storage.MetadataDecoder
	dests := append([]any{&due, &seq}, r.dests()...)
	for rows.Next() {
		r = execRow{}
		if err := rows.Scan(dests...); err != nil {
			return nil, nil, err
		}
		e, err := r.executionWith(&md)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, e)
		keys = append(keys, claimKey{priority: e.Priority, dueAt: fromTS(due), seq: seq})
	}
	return out, keys, rows.Err()
}
