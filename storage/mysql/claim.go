package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// Claim takes up to p.Limit due rows of p.TaskIDs and p.Queues (every
// queue when empty), not of a paused queue, in one READ COMMITTED
// transaction: claim_pick reads and locks them in claim order (Priority,
// then DueAt, then insertion order) from the claim index with FOR UPDATE
// SKIP LOCKED, so concurrent claimers never wait for each other nor share
// a row, and one UPDATE claims them (a second writes the errors of lapsed
// leases taken over, when there are any). Lapsed leases are claimed as of
// their creation time: at most every 250 ms, and on the store's first
// claim, the transaction rescues them first (see package
// internal/rescue). The claim returns once its commit is durable (as
// durable as the server's innodb_flush_log_at_trx_commit makes it: see
// docs/mysql.md).
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
		s.floors.drop() // the rows it picked are due where they were
		return nil, s.wrapErr("claim", err)
	}
	if rescuing {
		s.rescues.Done(time.UnixMicro(rescuedAt))
	}
	return out, nil
}

func (s *Store) claimTx(ctx context.Context, tx *pipe, p storage.ClaimParams) ([]storage.Execution, error) {
	picked, seqs, now, err := s.pickLimited(ctx, tx, p)
	if err != nil {
		return nil, err
	}
	limitedSeqs := seqs
	if len(picked) < p.Limit {
		rest := p
		rest.Limit -= len(picked)
		more, moreSeqs, at, err := s.pick(ctx, tx, rest)
		if err != nil {
			return nil, err
		}
		if len(picked) > 0 && len(more) > 0 {
			picked, seqs = inClaimOrder(append(picked, more...), append(seqs, moreSeqs...))
		} else if len(more) > 0 {
			picked, seqs = more, moreSeqs
		}
		now = max(now, at)
	}
	if len(picked) == 0 {
		return nil, nil
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
	claim := strings.Replace(withInt64s(s.q.claim, seqs), ":flag", runsFlag(limitedSeqs, len(limitedSeqs) == len(seqs)), 1)
	if err := tx.Defer(ctx, claim, now, p.ExecutorID, lease, now); err != nil {
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

// runsFlag is the claim's assignment of run_indexed (migration 007) to
// the rows of limitedSeqs, those it takes from limited queues: "" when
// there are none; all when the claim takes no other row.
func runsFlag(limitedSeqs []int64, all bool) string {
	switch {
	case len(limitedSeqs) == 0:
		return ""
	case all:
		return ",\n    run_indexed = 1"
	}
	return withInt64s(",\n    run_indexed = run_indexed OR seq IN :list1", limitedSeqs)
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

// pick reads and locks the rows a claim takes, and returns them with
// their seqs and the now that judged them. A claim of listed queues reads
// those. A claim of every queue reads the queues the store last saw
// holding rows with a due_at. When that list may be out of date (an event
// said rows became due since it was read: see queueList), the claim reads
// in the same round trip which queues hold such rows now, and when one
// was missing (rows of a new queue), it reads again over all of them (the
// rows read first stay locked by this transaction until it ends, and the
// second read may return them again).
func (s *Store) pick(ctx context.Context, tx *pipe, p storage.ClaimParams) ([]storage.Execution, []int64, int64, error) {
	if len(p.Queues) > 0 {
		return s.pickQueues(ctx, tx, p, distinct(p.Queues), nil)
	}
	plan, gen, current := s.queues.get()
	if current {
		return s.pickQueues(ctx, tx, p, plan, nil)
	}
	var fresh []string
	picked, seqs, now, err := s.pickQueues(ctx, tx, p, plan, &fresh)
	if err != nil {
		return nil, nil, 0, err
	}
	s.queues.set(fresh, gen)
	if subset(fresh, plan) {
		return picked, seqs, now, nil
	}
	return s.pickQueues(ctx, tx, p, fresh, nil)
}

// pickQueues runs claim_pick over queues (nothing when there are none),
// and, when fresh is not nil, claim_queues before it in the same round
// trip, whose queues it stores in *fresh.
func (s *Store) pickQueues(ctx context.Context, tx *pipe, p storage.ClaimParams, queues []string, fresh *[]string) (
	picked []storage.Execution, seqs []int64, now int64, err error) {
	scanPick := func(rows *sql.Rows) error {
		picked, seqs, err = scanExecutions(rows, &now)
		return err
	}
	stmt, args, full, limits, gen := s.pickSQL(p, queues)
	switch {
	case fresh == nil && len(queues) == 0:
		return nil, nil, 0, nil
	case fresh == nil:
		err = tx.query(ctx, stmt, args, scanPick)
	case len(queues) == 0:
		err = tx.query(ctx, s.q.claimQueues, nil, scanQueues(fresh))
	default:
		err = tx.queryTwo(ctx, s.q.claimQueues, nil, scanQueues(fresh), stmt, args, scanPick)
	}
	if err != nil || len(queues) == 0 {
		return picked, seqs, now, err
	}
	var more bool
	picked, seqs, more = cutAtBranchEnds(picked, seqs, queues, limits, p.Limit)
	s.floors.update(queues, tasksKey(p.TaskIDs), full, picked, seqs, p.Limit, more, time.Now(), gen)
	return picked, seqs, now, nil
}

// cutAtBranchEnds keeps of picked (a claim's rows in claim order, of
// queues read up to limits each, n in all; seqs are theirs) the rows up
// to the last of each queue whose read returned its limit, below n, and
// whose rows all came before the claim's end: a row of that queue past
// its limit, unread, may come before the next rows of the others. more
// says that such a queue was found. The rows left out stay locked until
// the claim commits, unclaimed.
func cutAtBranchEnds(picked []storage.Execution, seqs []int64, queues []string, limits []int, n int) ([]storage.Execution, []int64, bool) {
	end, more := len(picked), false
	for i, q := range queues {
		if limits[i] >= n {
			continue
		}
		count, last := 0, -1
		for j := range picked {
			if picked[j].Queue == q {
				count, last = count+1, j
			}
		}
		if count == limits[i] {
			more = true
			end = min(end, last+1)
		}
	}
	return picked[:end], seqs[:end], more
}

// pickSQL is the claim_pick of queues with its arguments: the statement
// itself for one queue, else claim_pick_keys over the claim_pick_key of
// each queue, each read up to limits[i] rows (branchLimit). Each queue is
// read from its floors (claimFloors) when it has some; full[i] says that
// queues[i] is read in full; gen is the floors' generation (update).
func (s *Store) pickSQL(p storage.ClaimParams, queues []string) (stmt string, args []any, full []bool, limits []int, gen uint64) {
	nowArg := s.nowArg(p.Now)
	one := len(queues) == 1
	branch := expand(s.q.claimPickKey, len(p.TaskIDs))
	if one {
		branch = expand(s.q.claimPick, len(p.TaskIDs))
	}
	args = make([]any, 0, len(queues)*(len(p.TaskIDs)+4)+2)
	args = append(args, nowArg) // the row's now, first in either statement
	branches := make([]string, len(queues))
	full, limits = make([]bool, len(queues)), make([]int, len(queues))
	wall, tasks := time.Now(), tasksKey(p.TaskIDs)
	for i, q := range queues {
		limits[i] = p.Limit
		if !one {
			limits[i] = s.floors.branchLimit(q, tasks, p.Limit)
		}
		args = append(args, q, nowArg)
		args = append(args, stringArgs(p.TaskIDs)...)
		args = append(args, q, limits[i])
		due, g := s.floors.get(q, tasks, wall)
		if i == 0 {
			gen = g
		}
		full[i] = due == nil
		branches[i] = strings.Replace(branch, ":levels", levelsCond(s.q.data.Levels, due), 1)
	}
	if one {
		return branches[0], args, full, limits, gen
	}
	var b strings.Builder
	for i := range queues {
		if i > 0 {
			b.WriteString("\nUNION ALL\n")
		}
		b.WriteString("(" + branches[i] + ")")
	}
	return strings.Replace(s.q.claimPickKeys, ":keys", b.String(), 1), append(args, p.Limit), full, limits, gen
}

// scanQueues returns a scan of claim_queues' rows (queue, priority,
// min(due_at)) that stores the queues, sorted and distinct, in *dst.
func scanQueues(dst *[]string) func(*sql.Rows) error {
	return func(rows *sql.Rows) error {
		var out []string
		for rows.Next() {
			var q string
			var priority int
			var first sql.NullInt64
			if err := rows.Scan(&q, &priority, &first); err != nil {
				return err
			}
			out = append(out, q)
		}
		*dst = distinct(out)
		return rows.Err()
	}
}

// distinct returns the strings of ss sorted, each once.
func distinct(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

// subset reports whether every string of a (sorted) is in b (sorted).
func subset(a, b []string) bool {
	for _, s := range a {
		if _, ok := slices.BinarySearch(b, s); !ok {
			return false
		}
	}
	return true
}

// queueList is the store's list of the queues that hold rows with a
// due_at, as a claim of every queue or a rescue last read them (sorted),
// and whether it is current. A queue gains such rows only by a write that
// makes rows due, whose event (Ready) this store publishes, its own
// writes' and, through the events table, other stores': every such event
// makes the list out of date (stale), and the next claim of every queue
// reads it again. Between them, claims read no list: on a table whose
// statistics InnoDB has not refreshed yet (right after a large insert
// into a new table), the server may read the list by a scan of the whole
// claim index rather than one dive per level.
type queueList struct {
	mu    sync.Mutex
	names []string
	gen   uint64 // incremented by stale
	read  uint64 // the gen names were read at; 0 before the first read
}

// get returns the list, the generation to pass to set after reading it
// again, and whether it is current.
func (l *queueList) get() ([]string, uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.names, l.gen + 1, l.read == l.gen+1
}

// set replaces the list with names, read after get returned gen; names
// must not change afterwards. The list stays out of date when stale was
// called since that get.
func (l *queueList) set(names []string, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names, l.read = names, gen
}

// stale says that rows may have become due in a queue the list lacks.
func (l *queueList) stale() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
}

// rescue moves the lapsed leases whose expiry lies in the window (from,
// now] to DueAt = CreatedAt (see rescue_pick in queries.sql), and returns
// the now it used. It reads which queues hold rows with a due_at first
// (with now, in one round trip), and keeps them for the claim.
func (s *Store) rescue(ctx context.Context, tx *pipe, t, from time.Time) (int64, error) {
	var now int64
	var queues []string
	scanNow := func(rows *sql.Rows) error {
		for rows.Next() {
			if err := rows.Scan(&now); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	_, gen, _ := s.queues.get()
	if err := tx.queryTwo(ctx, s.q.now, []any{s.nowArg(t)}, scanNow, s.q.claimQueues, nil, scanQueues(&queues)); err != nil {
		return 0, err
	}
	s.queues.set(queues, gen)
	if len(queues) == 0 {
		return now, nil
	}
	lo := int64(-1 << 63)
	if !from.IsZero() {
		lo = micros(from)
	}
	args := append(stringArgs(queues), lo, now)
	rows, err := tx.QueryContext(ctx, expand(s.q.rescuePick, len(queues)), args...)
	if err != nil {
		return 0, err
	}
	seqs, err := scanInt64s(rows)
	if err != nil || len(seqs) == 0 {
		return now, err
	}
	s.floors.drop() // the rescued rows come due at their creation, behind
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
