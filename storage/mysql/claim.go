package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// pacingClock is the clock that paces rescues: params' Now with
// ClockParams (the fixed times of tests), else the wall clock.
func (s *Store) pacingClock(now time.Time) time.Time {
	if s.cfg.Clock == ClockParams && !now.IsZero() {
		return now
	}
	return time.Now()
}

// Claim takes up to p.Limit due rows of p.TaskIDs in one READ COMMITTED
// transaction: claim_pick reads and locks them in claim order (DueAt,
// then insertion order) from the due index with FOR UPDATE SKIP LOCKED,
// so concurrent claimers never wait for each other nor share a row, and
// one UPDATE claims them (a second writes the errors of lapsed leases
// taken over, when there are any). Lapsed leases are claimed as of their
// creation time: at most every 250 ms, and on the store's first claim,
// the transaction rescues them first (see package internal/rescue). The
// claim returns once its commit is durable (as durable as the server's
// innodb_flush_log_at_trx_commit makes it: see docs/mysql.md).
func (s *Store) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	if err := s.check("claim"); err != nil {
		return nil, err
	}
	if p.Limit <= 0 || len(p.TaskIDs) == 0 {
		return nil, nil
	}
	from, rescuing := s.rescues.Start(s.pacingClock(p.Now))
	var out []storage.Execution
	var rescuedAt int64
	err := s.withTx(ctx, func(tx *pipe) error {
		out = nil
		if rescuing {
			var err error
			if rescuedAt, err = s.rescue(ctx, tx, p.Now, from); err != nil {
				return err
			}
		}
		var err error
		out, err = s.claimTx(ctx, tx, p)
		return err
	})
	if err != nil {
		return nil, s.wrapErr("claim", err)
	}
	if rescuing {
		s.rescues.Done(time.UnixMicro(rescuedAt))
	}
	return out, nil
}

func (s *Store) claimTx(ctx context.Context, tx *pipe, p storage.ClaimParams) ([]storage.Execution, error) {
	nowArg := s.nowArg(p.Now)
	args := append([]any{nowArg, nowArg}, stringArgs(p.TaskIDs)...)
	args = append(args, p.Limit)
	rows, err := tx.QueryContext(ctx, expand(s.q.claimPick, len(p.TaskIDs)), args...)
	if err != nil {
		return nil, err
	}
	var now int64
	picked, seqs, err := scanExecutions(rows, &now)
	if err != nil || len(picked) == 0 {
		return nil, err
	}
	lease := now + durMicros(p.Lease)
	var lapsed []any // seq, error JSON pairs
	var lapsedSeqs []int64
	for i := range picked {
		e := &picked[i]
		switch {
		case e.Status == storage.StatusReady:
			e.Status, e.StartedAt = storage.StatusRunning, time.UnixMicro(now).UTC()
		case e.Status == storage.StatusRunning && e.SleepKey == "":
			e.Crashes++
			e.Error = leaseExpired(e, p.ExecutorID)
			errJSON, err := encodeError(e.Error)
			if err != nil {
				return nil, err
			}
			lapsed = append(lapsed, seqs[i], errJSON)
			lapsedSeqs = append(lapsedSeqs, seqs[i])
		}
		e.Fence++
		e.ExecutorID = p.ExecutorID
		e.DueAt, e.UpdatedAt = time.UnixMicro(lease).UTC(), time.UnixMicro(now).UTC()
	}
	claimArgs := append([]any{now, p.ExecutorID, lease, now}, int64Args(seqs)...)
	if err := tx.Defer(ctx, expand(s.q.claim, len(seqs)), claimArgs...); err != nil {
		return nil, err
	}
	if len(lapsedSeqs) > 0 {
		cases := ""
		for range lapsedSeqs {
			cases += "WHEN ? THEN ? "
		}
		stmt := replaceValues(expand(s.q.claimErrors, len(lapsedSeqs)), cases)
		if err := tx.Defer(ctx, stmt, append(lapsed, int64Args(lapsedSeqs)...)...); err != nil {
			return nil, err
		}
	}
	return picked, nil
}

// leaseExpired is the error of a run taken over by executor after its
// lease lapsed. e is the row before the claim: its lease expired at its
// DueAt, or at its UpdatedAt once rescued (DueAt is then its CreatedAt).
func leaseExpired(e *storage.Execution, executor string) *storage.ErrorInfo {
	expiry := e.DueAt
	if e.UpdatedAt.After(expiry) {
		expiry = e.UpdatedAt
	}
	return &storage.ErrorInfo{
		Kind: storage.ErrorKindLeaseExpired,
		Message: fmt.Sprintf("the lease of executor %q (claim %d) expired at %s; the run is taken over by executor %q",
			e.ExecutorID, e.Fence, expiry.Format(time.RFC3339Nano), executor),
		Retryable: true,
	}
}

// rescue moves the lapsed leases whose expiry lies in the window (from,
// now] to DueAt = CreatedAt (see rescue_pick in queries.sql), and returns
// the now it used.
func (s *Store) rescue(ctx context.Context, tx *pipe, t, from time.Time) (int64, error) {
	now, err := s.now(ctx, tx, t)
	if err != nil {
		return 0, err
	}
	lo := int64(-1 << 63)
	if !from.IsZero() {
		lo = micros(from)
	}
	rows, err := tx.QueryContext(ctx, s.q.rescuePick, lo, now)
	if err != nil {
		return 0, err
	}
	seqs, err := scanInt64s(rows)
	if err != nil || len(seqs) == 0 {
		return now, err
	}
	return now, tx.Defer(ctx, expand(s.q.rescue, len(seqs)), int64Args(seqs)...)
}

// scanInt64s reads rows of one integer column.
func scanInt64s(rows *sql.Rows) ([]int64, error) {
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
