package mysql

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

// This file holds the claims of queues with a limit: a concurrency limit,
// one per key or a rate limit (storage.Controls.LimitControl, migrations
// 005 and 006). claim_pick leaves those queues out; the claim's
// transaction claims them first: per queue, control_limit_lock locks its
// control row (claims of the queue take turns) and reads its limits and
// rate window, running_count counts its running rows as last committed
// (READ COMMITTED: a snapshot per statement, taken after the lock), then
// the claim takes, within what is left of the window, its lapsed runs,
// which hold their slots, and as many of its other due rows as slots are
// free; with a limit per key, of keys with free slots only (read twice as
// many, then counted per key in claim order), and counts them in the
// window. Which queues are limited is read at most every
// storage.LimitRefresh (internal/limited).

// limitedQueues returns the limited queues a claim of queues covers.
func (s *Store) limitedQueues(ctx context.Context, queues []string) ([]limited.Queue, error) {
	qs, err := s.limits.Get(time.Now(), func() ([]limited.Queue, error) {
		rows, err := s.db.QueryContext(ctx, s.q.limitedQueues)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []limited.Queue
		for rows.Next() {
			var q limited.Queue
			var per int64
			if err := rows.Scan(&q.Name, &q.Concurrency, &q.PerKey, &q.Rate, &per); err != nil {
				return nil, err
			}
			q.Per = time.Duration(per) * time.Microsecond
			out = append(out, q)
		}
		return out, rows.Err()
	})
	return limited.Of(qs, queues), err
}

// pickLimited reads and locks the rows a claim takes from the limited
// queues it covers, up to p.Limit, with their seqs and the latest now that
// judged them.
func (s *Store) pickLimited(ctx context.Context, tx *pipe, p storage.ClaimParams) ([]storage.Execution, []int64, int64, error) {
	qs, err := s.limitedQueues(ctx, p.Queues)
	if err != nil || len(qs) == 0 {
		return nil, nil, 0, err
	}
	var (
		picked []storage.Execution
		seqs   []int64
		now    int64
	)
	for _, q := range qs {
		left := p.Limit - len(picked)
		if left <= 0 {
			break
		}
		rows, rowSeqs, at, err := s.pickLimitedQueue(ctx, tx, p, q.Name, left)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("queue %q: %w", q.Name, err)
		}
		picked, seqs, now = append(picked, rows...), append(seqs, rowSeqs...), max(now, at)
	}
	return picked, seqs, now, nil
}

// queueLimits is a queue's control row as control_limit_lock reads it,
// with the statement's now.
type queueLimits struct {
	paused                    bool
	concurrency, perKey, rate int
	per                       time.Duration
	window                    limited.Window
	runsIndexed               bool // see migration 007
	now                       int64
}

// lockLimits locks and reads the control row kind/name; nil when there is
// none.
func (s *Store) lockLimits(ctx context.Context, tx *pipe, now any, kind, name string) (*queueLimits, error) {
	var (
		l   queueLimits
		per int64
	)
	err := tx.QueryRowContext(ctx, s.q.controlLimitLock, now, kind, name).Scan(&l.paused, &l.concurrency, &l.perKey,
		&l.rate, &per, &l.window.Start, &l.window.Count, &l.runsIndexed, &l.now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	l.per = time.Duration(per) * time.Microsecond
	return &l, err
}

// pickLimitedQueue reads and locks queue q's rows that a claim takes, at
// most left, and counts them in its rate window.
func (s *Store) pickLimitedQueue(ctx context.Context, tx *pipe, p storage.ClaimParams, q string, left int) ([]storage.Execution, []int64, int64, error) {
	nowArg := s.nowArg(p.Now)
	l, err := s.lockLimits(ctx, tx, nowArg, storage.ControlQueue, q)
	if l == nil || err != nil || l.paused {
		return nil, nil, 0, err
	}
	if !l.runsIndexed {
		if err := s.indexRuns(ctx, tx, q); err != nil {
			return nil, nil, 0, err
		}
	}
	win := l.window.At(l.now, l.per)
	left = min(left, win.Left(l.rate))
	if left <= 0 {
		return nil, nil, 0, nil
	}
	now := l.now
	args := append(append([]any{nowArg, q, nowArg}, stringArgs(p.TaskIDs)...), left)
	var picked []storage.Execution
	var seqs []int64
	scan := func(rows *sql.Rows) error {
		var err error
		picked, seqs, err = scanExecutions(rows, &now)
		return err
	}
	if err := tx.query(ctx, expand(s.q.claimPickLapsed, len(p.TaskIDs)), args, scan); err != nil {
		return nil, nil, 0, err
	}
	lapsed, lapsedSeqs := picked, seqs
	free := left - len(lapsed)
	if l.concurrency > 0 {
		var running int
		if err := tx.QueryRowContext(ctx, s.q.runningCount, q).Scan(&running); err != nil {
			return nil, nil, 0, err
		}
		free = min(free, l.concurrency-running)
	}
	if free > 0 {
		if err := s.pickFresh(ctx, tx, p, l, args, free, scan); err != nil {
			return nil, nil, 0, err
		}
		if l.perKey > 0 {
			if picked, seqs, err = s.withinPerKey(ctx, tx, q, l.perKey, picked, seqs, free); err != nil {
				return nil, nil, 0, err
			}
		}
		lapsed, lapsedSeqs = append(lapsed, picked...), append(lapsedSeqs, seqs...)
	}
	if l.rate > 0 && len(lapsed) > 0 {
		win.Count += len(lapsed)
		if _, err := tx.ExecContext(ctx, s.q.controlRateWindow, win.Start, win.Count, q); err != nil {
			return nil, nil, 0, err
		}
	}
	return lapsed, lapsedSeqs, now, nil
}

// indexRuns flags the running rows of queue q, whose control row tx
// holds, in executions_running, after the queue got its first limit: the
// rows claimed before it, and those that claims in flight when the limit
// committed still take as an unlimited queue's (claim_pick read the
// controls before the commit). Locking every due and running row of the
// queue waits for those claims: they hold the rows they picked, which
// were due. Its cost grows with the queue's backlog, once per limit set
// on an unlimited queue.
func (s *Store) indexRuns(ctx context.Context, tx *pipe, q string) error {
	var locked int64
	if err := tx.QueryRowContext(ctx, s.q.indexRunsLock, q).Scan(&locked); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q.indexRuns, q); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, s.q.controlRunsIndexed, q)
	return err
}

// pickFresh reads and locks, through scan, up to free of the queue's due
// rows that are not lapsed runs (args: claim_pick_lapsed's); with a limit
// per key, rows of keys with free slots only, twice as many.
func (s *Store) pickFresh(ctx context.Context, tx *pipe, p storage.ClaimParams, l *queueLimits, args []any, free int, scan func(*sql.Rows) error) error {
	if l.perKey == 0 {
		args[len(args)-1] = free
		return tx.query(ctx, expand(s.q.claimPickLimited, len(p.TaskIDs)), args, scan)
	}
	args = append(append([]any(nil), args[:len(args)-1]...), l.perKey, 2*free)
	return tx.query(ctx, expand(s.q.claimPickLimitedKey, len(p.TaskIDs)), args, scan)
}

// withinPerKey keeps, of rows (in claim order), at most free whose key
// has fewer than perKey running rows of queue q, counting those kept.
func (s *Store) withinPerKey(ctx context.Context, tx *pipe, q string, perKey int, rows []storage.Execution, seqs []int64, free int) ([]storage.Execution, []int64, error) {
	running := map[string]int{}
	err := tx.query(ctx, s.q.runningKeyCounts, []any{q}, func(rs *sql.Rows) error {
		defer rs.Close()
		for rs.Next() {
			var k string
			var n int
			if err := rs.Scan(&k, &n); err != nil {
				return err
			}
			running[k] = n
		}
		return rs.Err()
	})
	if err != nil {
		return nil, nil, err
	}
	rows, seqs = inClaimOrder(rows, seqs)
	keys := limited.NewKeys(perKey, running)
	var outRows []storage.Execution
	var outSeqs []int64
	for i := range rows {
		if len(outRows) < free && keys.Take(rows[i].ConcurrencyKey) {
			outRows, outSeqs = append(outRows, rows[i]), append(outSeqs, seqs[i])
		}
	}
	return outRows, outSeqs, nil
}

// inClaimOrder sorts rows and their seqs together in claim order: Priority,
// DueAt (before the claim), seq.
func inClaimOrder(rows []storage.Execution, seqs []int64) ([]storage.Execution, []int64) {
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		if c := cmp.Compare(rows[i].Priority, rows[j].Priority); c != 0 {
			return c
		}
		if c := rows[i].DueAt.Compare(rows[j].DueAt); c != 0 {
			return c
		}
		return cmp.Compare(seqs[i], seqs[j])
	})
	outRows, outSeqs := make([]storage.Execution, len(rows)), make([]int64, len(rows))
	for k, i := range order {
		outRows[k], outSeqs[k] = rows[i], seqs[i]
	}
	return outRows, outSeqs
}

// LimitControl sets a queue's limits in one transaction that locks its
// row, and reports whether they changed; a change of the rate limit starts
// a new window. A change writes Event.Ready in the transaction (every
// store on the tables hears of it) and publishes it after commit.
func (s *Store) LimitControl(ctx context.Context, p storage.LimitControlParams) (bool, error) {
	if err := s.check("limit control"); err != nil {
		return false, err
	}
	if err := storage.ValidateLimitControl(&p); err != nil {
		return false, fmt.Errorf("mysql: limit control: %w", err)
	}
	var changed, found bool
	ev := storage.Event{Ready: true}
	err := s.withTx(ctx, func(tx *pipe) error {
		changed, found = false, false
		l, err := s.lockLimits(ctx, tx, s.nowArg(p.Now), p.Kind, p.Name)
		if l == nil || err != nil {
			return err
		}
		cur := storage.Control{Concurrency: l.concurrency, PerKey: l.perKey, Rate: l.rate, Per: l.per}
		found, changed = true, !p.SameLimits(&cur)
		if !changed {
			return nil
		}
		per := p.Per.Microseconds()
		// A queue's first limit: its running rows are flagged by the next
		// limited claim (indexRuns).
		first := !cur.Limited() && p.Limited()
		if err := tx.Defer(ctx, s.q.controlLimit, p.Rate, per, p.Rate, per,
			p.Concurrency, p.PerKey, p.Rate, per, l.now, first, p.Kind, p.Name); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, ev)
	})
	s.limits.Invalidate()
	if err != nil {
		return false, s.wrapErr("limit control", err)
	}
	if !found {
		return false, fmt.Errorf("mysql: limit control: %s %q: %w", p.Kind, p.Name, storage.ErrNotFound)
	}
	if changed {
		s.publish(ev)
	}
	return changed, nil
}
