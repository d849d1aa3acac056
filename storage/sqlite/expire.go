package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/durable-go/durable/storage"
)

// DeleteExpired deletes up to p.Limit expired trees, oldest first, in one
// request of the writer: it walks durable_executions_created from p.After
// (the plans are named: INDEXED BY) range by range (deleteExpired). Roots
// without tags or descendants, most of them, are deleted by one statement
// per range, without their rows going back to Go; the others are read
// with their trees through the root index, kept when a row of the tree is
// not terminal, and deleted with their tag rows by seq otherwise. It is a
// lazy write (as a heartbeat is): a batch of the writer that holds only
// lazy writes commits without an fsync, so a power cut may undo it; the
// cleaner's next pass deletes those trees again.
func (s *Store) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	const op = "delete expired"
	if err := p.Validate(); err != nil {
		return storage.DeleteExpiredResult{}, fmt.Errorf("sqlite: %w", err)
	}
	var res storage.DeleteExpiredResult
	err := s.submitLazy(ctx, op, func(tx *writeTx) error {
		var err error
		if res, err = tx.deleteExpired(&p); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		return nil
	})
	if err != nil {
		return storage.DeleteExpiredResult{}, err
	}
	return res, nil
}

// expiredRoot is a root that expired_roots takes.
type expiredRoot struct {
	seq     int64
	hasTags bool
}

// deleteExpired is DeleteExpired inside the writer's transaction. It takes
// the roots range by range along durable_executions_created: each range
// holds as many entries as roots are still to take (expired_end, read
// from the index alone), so it never holds more; the roots in it with
// neither tags nor descendants are deleted by one statement
// (expired_delete_alone), the others as Delete deletes trees. A range
// holding fewer roots than entries (children, rows of other statuses or
// not yet expired) is followed by the next, until the limit is reached or
// no entry is left before p.Before.
func (tx *writeTx) deleteExpired(p *storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	var res storage.DeleteExpiredResult
	before := microsCeil(p.Before)
	lo := expiredKey{at: math.MinInt64}
	if p.After != nil {
		// Every row has an ID, so "> (t, "")" is ">= (t, "")".
		lo.at, _, lo.id = keysetBound(p.After, false)
	}
	statuses := expiredStatuses(p.Statuses)
	for res.Roots < p.Limit {
		hi, end, err := tx.expiredEnd(lo, before, p.Limit-res.Roots)
		if err != nil {
			return res, err
		}
		args := append([]any{lo.at, lo.id, hi.at, hi.id, before}, statuses...)
		if err := tx.deleteExpiredRange(args, &res); err != nil {
			return res, err
		}
		if end {
			break
		}
		lo = hi
	}
	return res, nil
}

// expiredKey is a key of durable_executions_created.
type expiredKey struct {
	at int64
	id string
}

// expiredStatuses returns the six status arguments of expired_match.
func expiredStatuses(ss []storage.Status) []any {
	out := make([]any, 6)
	for i := range out {
		out[i] = string(ss[min(i, len(ss)-1)])
	}
	return out
}

// expiredEnd returns the end of the range of n entries after lo among the
// rows created before before, and whether the range reaches past the last
// of them.
func (tx *writeTx) expiredEnd(lo expiredKey, before int64, n int) (expiredKey, bool, error) {
	var hi expiredKey
	err := tx.queryRow("expired_end", lo.at, lo.id, before, n-1).Scan(&hi.at, &hi.id)
	if errors.Is(err, sql.ErrNoRows) {
		// (before, "") bounds the range's scan at the cutoff: every row
		// has an ID, so "<= (before, "")" is "created_at < before".
		return expiredKey{at: before}, true, nil
	}
	return hi, false, err
}

// deleteExpiredRange deletes the expired trees of one range (args are
// expired_match's) and adds what it did to res. The roots without tags or
// descendants go first, by one statement: without a subquery
// (expired_delete_childless, children_total 0) when every root of the
// range counts its children (rangeCounted), with a probe of the root
// index for each root otherwise (expired_delete_alone).
func (tx *writeTx) deleteExpiredRange(args []any, res *storage.DeleteExpiredResult) error {
	var last expiredKey
	err := tx.queryRow("expired_last", args...).Scan(&last.at, &last.id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // no expired root in the range
	}
	if err != nil {
		return err
	}
	res.Last = storage.ListKey{CreatedAt: time.UnixMicro(last.at).UTC(), ID: last.id}
	del := "expired_delete_alone"
	if counted, err := tx.rangeCounted(args[:4]); err != nil {
		return err
	} else if counted {
		del = "expired_delete_childless"
	}
	r, err := tx.exec(del, args...)
	if err != nil {
		return err
	}
	alone, err := r.RowsAffected()
	if err != nil {
		return err
	}
	res.Roots += int(alone)
	res.Rows += int(alone)
	return tx.deleteExpiredTrees(args, res)
}

// rangeCounted reports whether every root of the range (bounds: the
// first four of expired_match's arguments) that has descendants counts
// its children, so that a root with children_total 0 has none: the
// engine spawns every child through Complete, which counts it, but
// Insert takes rows with a RootID whatever their root's count.
func (tx *writeTx) rangeCounted(bounds []any) (bool, error) {
	var lo, hi sql.NullString
	if err := tx.queryRow("expired_span", bounds...).Scan(&lo, &hi); err != nil {
		return false, err
	}
	if !lo.Valid {
		return true, nil // an empty range
	}
	var uncounted bool
	err := tx.queryRow("expired_uncounted", lo.String, hi.String).Scan(&uncounted)
	return !uncounted, err
}

// deleteExpiredTrees deletes the expired roots of a range that the
// DELETE of deleteExpiredRange left, those with tags or descendants, with their
// trees; a root whose tree holds a row that is not terminal is kept.
func (tx *writeTx) deleteExpiredTrees(args []any, res *storage.DeleteExpiredResult) error {
	roots, ids, err := tx.expiredRoots(args)
	if err != nil || len(ids) == 0 {
		return err
	}
	res.Roots += len(ids)
	// The rows of each tree, and the roots whose trees hold an active row.
	trees := make(map[string][]descendant, len(ids))
	kept := make(map[string]bool)
	err = tx.descendants(jsonStrings(ids), func(d descendant) error {
		if !storage.Status(d.status).Terminal() && !kept[d.root] {
			kept[d.root] = true
			res.Kept = append(res.Kept, d.root)
		}
		trees[d.root] = append(trees[d.root], d)
		return nil
	})
	if err != nil {
		return err
	}
	var all, tagged seqList
	for _, id := range ids {
		if kept[id] {
			continue
		}
		r := roots[id]
		all.add(r.seq)
		if r.hasTags {
			tagged.add(r.seq)
		}
		for _, d := range trees[id] {
			all.add(d.seq)
			if d.hasTags {
				tagged.add(d.seq)
			}
		}
	}
	n, err := tx.deleteRows(&all, &tagged)
	res.Rows += n
	return err
}

// expiredRoots reads the roots expired_roots selects (args are
// expired_match's), in order.
func (tx *writeTx) expiredRoots(args []any) (map[string]expiredRoot, []string, error) {
	rows, err := tx.query("expired_roots", args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	roots := make(map[string]expiredRoot)
	var ids []string
	for rows.Next() {
		var (
			id string
			r  expiredRoot
		)
		if err := rows.Scan(&r.seq, &id, &r.hasTags); err != nil {
			return nil, nil, err
		}
		roots[id] = r
		ids = append(ids, id)
	}
	return roots, ids, rows.Err()
}
