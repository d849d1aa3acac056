package postgres

import (
	"context"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/durable-go/durable/storage"
)

// leaseArrays splits leases into parallel arrays sorted by ID, so that
// concurrent statements lock rows in the same order.
func leaseArrays(leases []storage.Lease) (ids []string, fences []int64) {
	sorted := slices.Clone(leases)
	slices.SortFunc(sorted, func(a, b storage.Lease) int { return strings.Compare(a.ID, b.ID) })
	ids = make([]string, len(sorted))
	fences = make([]int64, len(sorted))
	for i, l := range sorted {
		ids[i], fences[i] = l.ID, l.Fence
	}
	return ids, fences
}

// Heartbeat extends the leases still held: a row matches when its Fence
// is the lease's, it is claimed (DueAt set) and running or waiting. It
// returns the leases that did not match. It never waits for a row lock
// (see heartbeat in queries.sql): a row another transaction holds at that
// moment (mostly the executor's own write of the run's outcome) is left as
// it is, neither extended nor lost, until the next heartbeat.
func (s *Store) Heartbeat(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
	if err := s.check("heartbeat"); err != nil {
		return nil, err
	}
	if len(p.Leases) == 0 {
		return nil, nil
	}
	ids, fences := leaseArrays(p.Leases)
	args := namedArgs{"now": s.now(p.Now), "lease_us": micros(p.Lease), "ids": ids, "fences": fences}
	held := make(map[storage.Lease]bool, len(p.Leases))
	err := withRetry(ctx, func() error {
		clear(held)
		batch := &pgx.Batch{}
		batch.Queue(s.q.indexPlans)
		batch.Queue(s.q.heartbeat, args).Query(func(rows pgx.Rows) error {
			var l storage.Lease
			_, err := pgx.ForEachRow(rows, []any{&l.ID, &l.Fence}, func() error {
				held[l] = true
				return nil
			})
			return err
		})
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return nil, wrapErr("heartbeat", err)
	}
	var lost []storage.Lease
	for _, l := range p.Leases {
		if !held[l] {
			lost = append(lost, l)
		}
	}
	return lost, nil
}

// Release gives claims back: a matching running row becomes ready and due
// now (ExecutorID and StartedAt cleared); a matching waiting row, or a
// sleeping row claimed past its deadline, stays as it is but becomes due
// now. A row matches when its Fence is the lease's and it is claimed.
func (s *Store) Release(ctx context.Context, p storage.ReleaseParams) error {
	if err := s.check("release"); err != nil {
		return err
	}
	if len(p.Leases) == 0 {
		return nil
	}
	ids, fences := leaseArrays(p.Leases)
	args := namedArgs{"now": s.now(p.Now), "ids": ids, "fences": fences}
	n, err := s.execNotify(ctx, s.q.release, args)
	if err != nil {
		return wrapErr("release", err)
	}
	if n > 0 {
		s.publish(storage.Event{Ready: true})
	}
	return nil
}

// Recover makes every row claimed by p.ExecutorID (DueAt set, running or
// waiting) due now and returns how many.
func (s *Store) Recover(ctx context.Context, p storage.RecoverParams) (int, error) {
	if err := s.check("recover"); err != nil {
		return 0, err
	}
	if p.ExecutorID == "" {
		return 0, nil
	}
	args := namedArgs{"now": s.now(p.Now), "executor_id": p.ExecutorID}
	n, err := s.execNotify(ctx, s.q.recover, args)
	if err != nil {
		return 0, wrapErr("recover", err)
	}
	if n > 0 {
		s.publish(storage.Event{Ready: true})
	}
	return int(n), nil
}

// execNotify runs one statement that may make rows due and, in the same
// transaction, notifies Ready when it affected any. It returns the number
// of rows affected.
func (s *Store) execNotify(ctx context.Context, sql string, args namedArgs) (int64, error) {
	var n int64
	prime := func(b *pgx.Batch) {
		b.Queue(sql, args).Exec(func(tag pgconn.CommandTag) error {
			n = tag.RowsAffected()
			return nil
		})
	}
	err := s.withTx(ctx, prime, func(tx pgx.Tx) error {
		if n == 0 {
			return nil
		}
		batch := &pgx.Batch{}
		s.queueNotify(batch, s.tag, storage.Event{Ready: true})
		if batch.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, batch).Close()
	})
	return n, err
}
