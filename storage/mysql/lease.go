package mysql

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// leaseIDs returns the distinct ids of leases, sorted.
func leaseIDs(leases []storage.Lease) []string {
	ids := make([]string, len(leases))
	for i, l := range leases {
		ids[i] = l.ID
	}
	slices.SortFunc(ids, strings.Compare)
	return slices.Compact(ids)
}

// Heartbeat extends the leases still held: a row matches when its Fence
// is the lease's, it is claimed (DueAt set) and running or waiting. It
// returns the leases that did not match. It never waits for a row lock:
// the rows are locked with SKIP LOCKED, and a row another transaction holds
// at that moment (mostly the executor's own write of the run's outcome) is
// left as it is, neither extended nor lost, until the next heartbeat.
func (s *Store) Heartbeat(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
	if err := s.check("heartbeat"); err != nil {
		return nil, err
	}
	if len(p.Leases) == 0 {
		return nil, nil
	}
	ids := leaseIDs(p.Leases)
	held := make(map[storage.Lease]bool, len(p.Leases))
	err := s.withTx(ctx, func(tx *pipe) error {
		clear(held)
		rows, err := tx.QueryContext(ctx, expand(s.q.heartbeatLock, len(ids)), append([]any{s.nowArg(p.Now)}, stringArgs(ids)...)...)
		if err != nil {
			return err
		}
		var now int64
		locked, err := scanLeases(rows, &now)
		if err != nil {
			return err
		}
		var seqs []int64
		lockedIDs := map[string]bool{}
		for _, l := range locked {
			lockedIDs[l.ID] = true
			if wanted(p.Leases, l.Lease) {
				held[l.Lease] = true
				seqs = append(seqs, l.seq)
			}
		}
		if len(seqs) > 0 {
			args := append([]any{now + durMicros(p.Lease), now}, int64Args(seqs)...)
			if err := tx.Defer(ctx, expand(s.q.heartbeat, len(seqs)), args...); err != nil {
				return err
			}
		}
		var busy []string
		for _, id := range ids {
			if !lockedIDs[id] {
				busy = append(busy, id)
			}
		}
		if len(busy) == 0 {
			return nil
		}
		rows, err = tx.QueryContext(ctx, expand(s.q.heartbeatBusy, len(busy)), stringArgs(busy)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var l storage.Lease
			if err := rows.Scan(&l.ID, &l.Fence); err != nil {
				return err
			}
			held[l] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrapErr("heartbeat", err)
	}
	var lost []storage.Lease
	for _, l := range p.Leases {
		if !held[l] {
			lost = append(lost, l)
		}
	}
	return lost, nil
}

// lockedLease is a leased row a statement locked.
type lockedLease struct {
	storage.Lease
	seq int64
}

// scanLeases reads the locked leases, and extra destinations after them.
func scanLeases(rows *sql.Rows, extra ...any) ([]lockedLease, error) {
	defer rows.Close()
	var out []lockedLease
	for rows.Next() {
		var l lockedLease
		if err := rows.Scan(append([]any{&l.seq, &l.ID, &l.Fence}, extra...)...); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func wanted(leases []storage.Lease, l storage.Lease) bool {
	return slices.Contains(leases, l)
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
	ids := leaseIDs(p.Leases)
	var n int
	err := s.withTx(ctx, func(tx *pipe) error {
		rows, err := tx.QueryContext(ctx, expand(s.q.releaseLock, len(ids)), stringArgs(ids)...)
		if err != nil {
			return err
		}
		locked, err := scanLeases(rows)
		if err != nil {
			return err
		}
		var seqs []int64
		for _, l := range locked {
			if wanted(p.Leases, l.Lease) {
				seqs = append(seqs, l.seq)
			}
		}
		n = len(seqs)
		return s.makeDue(ctx, tx, s.q.release, p.Now, seqs)
	})
	if err != nil {
		return s.wrapErr("release", err)
	}
	if n > 0 {
		s.publish(storage.Event{Ready: true})
	}
	return nil
}

// makeDue runs stmt (release or recover: arguments now, now, then the
// seqs) on the locked rows seqs, and records a Ready event.
func (s *Store) makeDue(ctx context.Context, tx *pipe, stmt string, t time.Time, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	now, err := s.now(ctx, tx, t)
	if err != nil {
		return err
	}
	args := append([]any{now, now}, int64Args(seqs)...)
	if err := tx.Defer(ctx, expand(stmt, len(seqs)), args...); err != nil {
		return err
	}
	return s.recordEvent(ctx, tx, storage.Event{Ready: true})
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
	var n int
	err := s.withTx(ctx, func(tx *pipe) error {
		rows, err := tx.QueryContext(ctx, s.q.recoverLock, p.ExecutorID)
		if err != nil {
			return err
		}
		seqs, err := scanInt64s(rows)
		if err != nil {
			return err
		}
		n = len(seqs)
		for chunk := range slices.Chunk(seqs, lockChunk) {
			if err := s.makeDue(ctx, tx, s.q.recoverRows, p.Now, chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, s.wrapErr("recover", err)
	}
	if n > 0 {
		s.publish(storage.Event{Ready: true})
	}
	return n, nil
}
