package memory

import (
	"context"
	"fmt"
	"slices"

	"github.com/durable-go/durable/storage"
)

// DeleteExpired deletes up to p.Limit expired trees, oldest first; see
// [storage.Lister]. It walks s.byCreated from p.After and stops at the
// rows created at p.Before.
func (s *Store) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	var res storage.DeleteExpiredResult
	if err := p.Validate(); err != nil {
		return res, fmt.Errorf("memory: %w", err)
	}
	if err := s.lock(ctx, "delete expired"); err != nil {
		return res, err
	}
	defer s.mu.Unlock()
	var roots []*row
	s.scan(s.byCreated, storage.OldestFirst, p.After, func(r *row) bool {
		e := &r.e
		if !e.CreatedAt.Before(p.Before) {
			return false
		}
		if e.ParentID != "" || !slices.Contains(p.Statuses, e.Status) || !e.FinishedAt.Before(p.Before) {
			return true
		}
		res.Roots++
		res.Last = storage.KeyOf(e)
		if s.deletable(e.ID, r) != nil {
			res.Kept = append(res.Kept, e.ID)
		} else {
			roots = append(roots, r)
		}
		return res.Roots < p.Limit
	})
	res.Rows = s.removeTrees(roots)
	return res, nil
}
