package mysql

import (
	"context"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// DeleteExpired deletes up to p.Limit expired trees, oldest first, in one
// READ COMMITTED transaction: it reads the roots (a plain read, in list
// order from the created index after p.After), locks those still there
// and terminal by id (SKIP LOCKED: a root a concurrent Delete holds is
// that Delete's), reads their trees from the root index, keeps the trees
// with a row that is not terminal, and deletes the others with their tags.
// It locks no row an executor may need: only terminal roots.
func (s *Store) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	var res storage.DeleteExpiredResult
	if err := s.check("delete expired"); err != nil {
		return res, err
	}
	if err := p.Validate(); err != nil {
		return res, fmt.Errorf("mysql: %w", err)
	}
	err := s.withTx(ctx, func(tx *pipe) error {
		res = storage.DeleteExpiredResult{}
		ids, err := s.expiredRoots(ctx, tx, &p, &res)
		if err != nil || len(ids) == 0 {
			return err
		}
		roots, err := s.readTree(ctx, tx, "t.id IN %s AND t.parent_id IS NULL AND t.status IN "+s.q.data.Terminal+
			" ORDER BY t.id FOR UPDATE SKIP LOCKED", ids)
		if err != nil {
			return err
		}
		locked := make([]string, len(roots))
		for i, r := range roots {
			locked[i] = r.id
		}
		desc, err := s.readTree(ctx, tx, "t.root_id IN %s AND t.root_id <> ''", locked)
		if err != nil {
			return err
		}
		kept := map[string]bool{}
		for _, d := range desc {
			if !d.status.Terminal() && !kept[d.rootID] {
				kept[d.rootID] = true
				res.Kept = append(res.Kept, d.rootID)
			}
		}
		var gone []treeRow
		for _, r := range append(roots, desc...) {
			if root := r.rootID; !kept[r.id] && (root == "" || !kept[root]) {
				gone = append(gone, r)
			}
		}
		res.Rows = len(gone)
		return s.deleteRows(ctx, tx, gone)
	})
	if err != nil {
		return storage.DeleteExpiredResult{}, s.wrapErr("delete expired", err)
	}
	return res, nil
}

// expiredRoots reads the ids of the roots p selects, in list order (a
// plain read); it sets res.Roots and res.Last.
func (s *Store) expiredRoots(ctx context.Context, tx *pipe, p *storage.DeleteExpiredParams, res *storage.DeleteExpiredResult) ([]string, error) {
	statuses := make([]string, len(p.Statuses))
	for i, st := range p.Statuses {
		statuses[i] = string(st)
	}
	before := micros(ceilMicro(p.Before))
	where := "t.created_at < ? AND t.parent_id IS NULL AND t.finished_at < ? AND t.status IN " + placeholders(len(statuses))
	args := append([]any{before, before}, stringArgs(statuses)...)
	if p.After != nil {
		at, id := micros(ceilMicro(p.After.CreatedAt)), p.After.ID
		if !ceilMicro(p.After.CreatedAt).Equal(p.After.CreatedAt) {
			id = "" // every row has an ID: after (at, "") is from it on
		}
		where += " AND (t.created_at > ? OR (t.created_at = ? AND t.id > ?))"
		args = append(args, at, at, id)
	}
	rows, err := tx.QueryContext(ctx, "SELECT t.id, t.created_at FROM "+s.q.data.T+" AS t WHERE "+where+
		" ORDER BY t.created_at, t.id LIMIT ?", append(args, p.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		var created int64
		if err := rows.Scan(&id, &created); err != nil {
			return nil, err
		}
		ids = append(ids, id)
		res.Last = storage.ListKey{CreatedAt: time.UnixMicro(created).UTC(), ID: id}
	}
	res.Roots = len(ids)
	return ids, rows.Err()
}
