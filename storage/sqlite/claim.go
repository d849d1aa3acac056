package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// Claim takes up to p.Limit due rows of p.TaskIDs, DueAt ascending (ties in
// insertion order), and returns them as they are after the claim, in that
// order. It runs in the write transaction, so no row goes to two callers,
// in this process or another.
func (s *Store) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	const op = "claim"
	if len(p.TaskIDs) == 0 || p.Limit <= 0 {
		if s.isClosed() {
			return nil, errClosed(op)
		}
		return nil, nil
	}
	tasks := jsonStrings(p.TaskIDs)
	var out []storage.Execution
	err := s.submitLazy(ctx, op, func(tx *writeTx) error {
		var err error
		out, err = tx.claim(p, tasks)
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// claim reads the rows the claim takes, updates them in one statement (plus
// one per row whose lease lapsed), and returns them as updated.
func (tx *writeTx) claim(p storage.ClaimParams, tasks string) ([]storage.Execution, error) {
	rows, seqs, err := tx.claimable(p, tasks)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	leaseEnd := p.Now.Add(p.Lease)
	var list strings.Builder
	list.WriteByte('[')
	for i, seq := range seqs {
		if i > 0 {
			list.WriteByte(',')
		}
		list.WriteString(strconv.FormatInt(seq, 10))
	}
	list.WriteByte(']')
	res, err := tx.exec("claim_update", p.ExecutorID, micros(leaseEnd), micros(p.Now), list.String())
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(rows)) {
		return nil, fmt.Errorf("claimed %d rows of the %d selected (%v)", n, len(rows), err)
	}
	for i := range rows {
		lapsed := claimed(&rows[i], p.ExecutorID, p.Now, leaseEnd)
		if lapsed {
			if err := tx.recordLapse(seqs[i], rows[i].Error); err != nil {
				return nil, err
			}
		}
	}
	return rows, nil
}

// claimable returns the rows a claim takes, in claim order, and their seqs.
func (tx *writeTx) claimable(p storage.ClaimParams, tasks string) ([]storage.Execution, []int64, error) {
	rs, err := tx.query("claim_select", micros(p.Now), tasks, int64(p.Limit))
	if err != nil {
		return nil, nil, err
	}
	defer rs.Close()
	var rows []storage.Execution
	var seqs []int64
	for rs.Next() {
		e, seq, err := scanExecution(rs)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, e)
		seqs = append(seqs, seq)
	}
	return rows, seqs, rs.Err()
}

// claimed applies to e what claim_update (and claim_lapsed) do to its row,
// and reports whether e's lease had lapsed: a running row that is not
// sleeping, whose owner is presumed dead.
func claimed(e *storage.Execution, executor string, now, leaseEnd time.Time) (lapsed bool) {
	switch {
	case e.Status == storage.StatusReady:
		e.Status = storage.StatusRunning
		e.StartedAt = dbTime(now)
	case e.Status == storage.StatusRunning && e.SleepKey == "":
		lapsed = true
		e.Crashes++
		e.Error = &storage.ErrorInfo{
			Kind: storage.ErrorKindLeaseExpired,
			Message: fmt.Sprintf("the lease of executor %q expired at %s without a heartbeat (attempt %d); executor %q took the run over",
				e.ExecutorID, e.DueAt.Format(time.RFC3339Nano), e.Attempt, executor),
			Retryable: true,
		}
	}
	e.Fence++
	e.ExecutorID = executor
	e.DueAt = dbTime(leaseEnd)
	e.UpdatedAt = dbTime(now)
	return lapsed
}

// recordLapse writes the crash count and error of a lapsed claim.
func (tx *writeTx) recordLapse(seq int64, info *storage.ErrorInfo) error {
	errJSON, err := encodeError(info)
	if err != nil {
		return err
	}
	_, err = tx.exec("claim_lapsed", seq, errJSON)
	return err
}
