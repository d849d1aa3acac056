package sqlite

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/durable-go/durable/storage"
)

// DeleteExpired deletes up to p.Limit expired trees, oldest first, in one
// request of the writer: it walks durable_executions_created from p.After
// (the plan is named: INDEXED BY), reads the trees of the roots it takes
// through the root index, keeps those with a row that is not terminal,
// and deletes the others' rows and tags by seq. It is a lazy write (as a
// heartbeat is): a batch of the writer that holds only lazy writes commits
// without an fsync, so a power cut may undo it; the cleaner's next pass
// deletes those trees again.
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

// deleteExpired is DeleteExpired inside the writer's transaction.
func (tx *writeTx) deleteExpired(p *storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	var res storage.DeleteExpiredResult
	roots, ids, err := tx.expiredRoots(p, &res)
	if err != nil || len(ids) == 0 {
		return res, err
	}
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
		return res, err
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
	res.Rows, err = tx.deleteRows(&all, &tagged)
	return res, err
}

// expiredRoots reads the roots p selects, in order; it sets res.Roots
// and res.Last.
func (tx *writeTx) expiredRoots(p *storage.DeleteExpiredParams, res *storage.DeleteExpiredResult) (map[string]expiredRoot, []string, error) {
	afterAt, afterID := int64(math.MinInt64), ""
	if p.After != nil {
		// Every row has an ID, so "> (t, "")" is ">= (t, "")".
		afterAt, _, afterID = keysetBound(p.After, false)
	}
	statuses := make([]string, len(p.Statuses))
	for i, st := range p.Statuses {
		statuses[i] = string(st)
	}
	rows, err := tx.query("expired_roots", afterAt, afterID, microsCeil(p.Before), jsonStrings(statuses), p.Limit)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	roots := make(map[string]expiredRoot, p.Limit)
	var ids []string
	for rows.Next() {
		var (
			id      string
			created int64
			r       expiredRoot
		)
		if err := rows.Scan(&r.seq, &id, &created, &r.hasTags); err != nil {
			return nil, nil, err
		}
		roots[id] = r
		ids = append(ids, id)
		res.Last = storage.ListKey{CreatedAt: time.UnixMicro(created).UTC(), ID: id}
	}
	res.Roots = len(ids)
	return roots, ids, rows.Err()
}
