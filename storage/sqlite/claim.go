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
// priority in use it is one statement over the levels of every queue;
// with several, the levels are read one priority after the other, until
// the limit is reached (see claimByLevels): a statement over every level
// reads up to the limit of due rows in each level before it keeps the
// limit, nine times the rows it takes when the nine priorities are in
// use, where this reads at most those of the last priority it needs
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
	if len(levels) == 0 || levels[0].priority == levels[len(levels)-1].priority {
		return s.readCandidates(ctx, name, args, p.Limit)
	}
	return s.claimByLevels(ctx, p, levels)
}

// level is one (queue, priority) level of the due index.
type level struct {
	queue    string
	priority int
}

// claimLevels returns the levels a claim reads, in claim order: by
// priority, then queue.
func (s *Store) claimLevels(ctx context.Context, name string, args []any) ([]level, error) {
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
	var levels []level
	for rows.Next() {
		var lv level
		if err := rows.Scan(&lv.queue, &lv.priority); err != nil {
			return nil, s.readError(op, err)
		}
		levels = append(levels, lv)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(op, err)
	}
	return levels, nil
}

// claimByLevels returns up to p.Limit rows due now of the levels (in
// claim order), in claim order. It reads the levels of one priority
// after the other until it has the limit: up to the rows still wanted,
// of the priority's one level (claim_level) or of its levels in several
// queues merged by due time and seq (claim_queues, one arm per queue, up
// to maxMergedQueues queues; claim_priority, through JSON, beyond). Each
// statement picks its rows from the due index alone and reads from the
// table only the rows it keeps: when several levels are in use, a level's
// rows are scattered over the table, and reading each row a level gives,
// to check its task and sort it, cost one table page per row.
func (s *Store) claimByLevels(ctx context.Context, p storage.ClaimParams, levels []level) ([]candidate, error) {
	now, tasks := micros(p.Now), jsonStrings(p.TaskIDs)
	out := make([]candidate, 0, p.Limit)
	for i := 0; i < len(levels) && len(out) < p.Limit; {
		j := i + 1
		for j < len(levels) && levels[j].priority == levels[i].priority {
			j++
		}
		name, args := "claim_level", []any{now, tasks, int64(p.Limit - len(out)), levels[i].queue, int64(levels[i].priority)}
		switch k := j - i; {
		case k > maxMergedQueues:
			queues := make([]string, 0, k)
			for _, lv := range levels[i:j] {
				queues = append(queues, lv.queue)
			}
			name, args[3] = "claim_priority", jsonStrings(queues)
		case k > 1:
			name, args = claimQueuesName(k), append(args[:3], int64(levels[i].priority))
			for _, lv := range levels[i:j] {
				args = append(args, lv.queue)
			}
		}
		var err error
		if out, err = s.readCandidatesTo(ctx, name, args, out); err != nil {
			return nil, err
		}
		i = j
	}
	return out, nil
}

// jsonSeqs returns the seqs of the candidates as a JSON array.
func jsonSeqs(cands []candidate) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range cands {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(cands[i].seq, 10))
	}
	b.WriteByte(']')
	return b.String()
}

// readCandidates runs the claim statement name, which returns rows in
// claim order, up to limit.
func (s *Store) readCandidates(ctx context.Context, name string, args []any, limit int) ([]candidate, error) {
	return s.readCandidatesTo(ctx, name, args, make([]candidate, 0, limit))
}

// readCandidatesTo runs the claim statement name, which returns rows in
// claim order, and appends them to out.
func (s *Store) readCandidatesTo(ctx context.Context, name string, args []any, out []candidate) ([]candidate, error) {
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
	bySeq := make(map[int64]*candidate, len(cands))
	for i := range cands {
		c := &cands[i]
		c.taken = false
		bySeq[c.seq] = c
	}
	rs, err := tx.query("claim", p.ExecutorID, micros(p.Now.Add(p.Lease)), micros(p.Now), jsonSeqs(cands))
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
