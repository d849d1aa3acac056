package sqlite

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// Claim takes up to p.Limit due rows of p.TaskIDs and p.Queues (every
// queue when there is none), not of a paused queue, Priority ascending,
// then DueAt ascending (ties in insertion order), lapsed leases as of their
// creation time, and returns them as they are after the claim, in that
// order.
//
// At most every 250 ms (rescue.Interval), and on the store's first claim,
// the claim first rescues the leases that lapsed since the last rescue
// (see Store.rescue and package internal/rescue).
//
// The candidates are chosen on a read connection, outside the write
// transaction (the writer is the store's bottleneck, and reads run beside
// it); the write then claims, in one statement, those candidates that are
// still due. A queue paused before the candidates are read is left out: a
// pause takes effect for every claim that starts after PauseControl
// returned. No row goes to two callers, in this process or another: a
// candidate taken by someone else in between is no longer due and is
// skipped, so a claim may return fewer rows than were due.
func (s *Store) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	const op = "claim"
	if len(p.TaskIDs) == 0 || p.Limit <= 0 {
		if s.isClosed() {
			return nil, errClosed(op)
		}
		return nil, nil
	}
	if err := s.rescue(ctx, p.Now); err != nil {
		return nil, err
	}
	lim, n, err := s.limitedCandidates(ctx, p)
	if err != nil {
		return nil, err
	}
	var cands []candidate
	if n < p.Limit {
		rest := p
		rest.Limit -= n
		if cands, err = s.claimCandidates(ctx, rest); err != nil {
			return nil, err
		}
	}
	if n == 0 && len(cands) == 0 {
		return nil, nil
	}
	// A claim commits as durably as the store's inserts: with
	// DurabilityFull a claim lost to a power cut would hand its fencing
	// tokens out again at the next claim.
	err = s.submit(ctx, op, func(tx *writeTx) error {
		for i := range lim {
			if err := tx.claimLimited(p, &lim[i]); err != nil {
				return fmt.Errorf("sqlite: %s: %w", op, err)
			}
		}
		if len(cands) == 0 {
			return nil
		}
		if err := tx.claim(p, cands); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return taken(lim, cands), nil
}

// taken returns the rows claimed among the candidates, in claim order.
func taken(lim []limitedClaim, cands []candidate) []storage.Execution {
	if len(lim) > 0 {
		for _, lc := range lim {
			cands = append(cands, lc.cands...)
		}
		byClaimOrder(cands)
	}
	out := make([]storage.Execution, 0, len(cands))
	for i := range cands {
		if cands[i].taken {
			out = append(out, cands[i].e)
		}
	}
	return out
}

// candidate is a row a claim would take, as read before the claim.
type candidate struct {
	seq int64
	e   storage.Execution
	// priority and due (DueAt in microseconds) are the row's before the
	// claim: with seq, its place in the claim order.
	priority int
	due      int64
	taken    bool // claimed; e is then the row after the claim
}

// claimCandidates returns the rows due now, in claim order. With one
// priority level in use it is one statement; with several, one statement
// per priority in order, until the limit is reached: a statement over
// every level reads up to the limit of due rows in each level before it
// keeps the limit, nine times the rows it takes when the nine priorities
// are in use, where this reads at most those of the last level it needs
// beyond them.
func (s *Store) claimCandidates(ctx context.Context, p storage.ClaimParams) ([]candidate, error) {
	name, args := "claim_candidates", []any{micros(p.Now), jsonStrings(p.TaskIDs), int64(p.Limit)}
	levelsName, levelsArgs := "claim_levels", []any{}
	if len(p.Queues) > 0 {
		queues := jsonStrings(distinct(p.Queues))
		name, args = "claim_candidates_in", append(args, queues)
		levelsName, levelsArgs = "claim_levels_in", []any{queues}
	}
	levels, err := s.claimLevels(ctx, levelsName, levelsArgs)
	if err != nil {
		return nil, err
	}
	if len(levels) <= 1 {
		return s.readCandidates(ctx, name, args, p.Limit)
	}
	out := make([]candidate, 0, p.Limit)
	limit := &args[2]
	for _, level := range levels {
		left := p.Limit - len(out)
		if left == 0 {
			break
		}
		*limit = int64(left)
		cands, err := s.readCandidates(ctx, name+"_at", append(args, level), left)
		if err != nil {
			return nil, err
		}
		out = append(out, cands...)
	}
	return out, nil
}

// claimLevels returns the priorities of the levels a claim reads, in order.
func (s *Store) claimLevels(ctx context.Context, name string, args []any) ([]int64, error) {
	const op = "claim"
	st, err := s.readStmt(op, name)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, s.readError(op, err)
	}
	defer rows.Close()
	var levels []int64
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			return nil, s.readError(op, err)
		}
		levels = append(levels, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(op, err)
	}
	return levels, nil
}

// readCandidates runs the claim statement name.
func (s *Store) readCandidates(ctx context.Context, name string, args []any, limit int) ([]candidate, error) {
	const op = "claim"
	st, err := s.readStmt(op, name)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, s.readError(op, err)
	}
	defer rows.Close()
	out := make([]candidate, 0, limit)
	sc := newExecScanner()
	for rows.Next() {
		e, seq, err := sc.scan(rows)
		if err != nil {
			return nil, s.readError(op, err)
		}
		out = append(out, candidate{seq: seq, e: e, priority: e.Priority, due: micros(e.DueAt)})
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(op, err)
	}
	return out, nil
}

// claim claims the candidates still due, marks them taken and updates
// their changed columns.
func (tx *writeTx) claim(p storage.ClaimParams, cands []candidate) error {
	var list strings.Builder
	list.WriteByte('[')
	bySeq := make(map[int64]*candidate, len(cands))
	for i := range cands {
		c := &cands[i]
		if i > 0 {
			list.WriteByte(',')
		}
		list.WriteString(strconv.FormatInt(c.seq, 10))
		c.taken = false
		bySeq[c.seq] = c
	}
	list.WriteByte(']')
	rs, err := tx.query("claim", p.ExecutorID, micros(p.Now.Add(p.Lease)), micros(p.Now), list.String())
	if err != nil {
		return err
	}
	defer rs.Close()
	var m mutableRow
	dest := m.dest()
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return err
		}
		c := bySeq[m.seq]
		if c == nil {
			return fmt.Errorf("claimed row %d, which is not a candidate", m.seq)
		}
		if err := m.apply(&c.e); err != nil {
			return err
		}
		c.taken = true
		tx.w.rememberSeq(c.e.ID, c.seq)
	}
	return rs.Err()
}

// rescue moves the running, non-sleeping rows whose lease lapsed in the
// window since the store's last rescue to due_at = created_at (see package
// rescue), when a rescue is due at now. The rows are looked for on a read
// connection, by a range of the due index; only when there are some does
// it write, through the writer, lazily (no fsync: a rescue lost to a power
// cut only leaves the rows in lease expiry order). The write re-checks
// that each row is still lapsed: a live owner's heartbeat in between keeps
// its lease, and one that comes after moves due_at on as usual.
func (s *Store) rescue(ctx context.Context, now time.Time) error {
	const op = "claim"
	from, ok := s.w.rescues.Start(now)
	if !ok {
		return nil
	}
	lo := int64(math.MinInt64)
	if !from.IsZero() {
		lo = micros(from)
	}
	st, err := s.readStmt(op, "rescue_candidates")
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, lo, micros(now))
	if err != nil {
		return s.readError(op, err)
	}
	var list strings.Builder
	list.WriteByte('[')
	n := 0
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return s.readError(op, err)
		}
		if n > 0 {
			list.WriteByte(',')
		}
		list.WriteString(strconv.FormatInt(seq, 10))
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.readError(op, err)
	}
	if n > 0 {
		list.WriteByte(']')
		err := s.submitLazy(ctx, op, func(tx *writeTx) error {
			if _, err := tx.exec("rescue", list.String(), micros(now)); err != nil {
				return fmt.Errorf("sqlite: %s: rescue lapsed leases: %w", op, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	s.w.rescues.Done(now)
	return nil
}
