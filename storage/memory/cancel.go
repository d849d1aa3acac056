package memory

import (
	"context"
	"fmt"

	"github.com/durable-go/durable/storage"
)

// Cancel moves a non-terminal row to cancelled; see [storage.Store].
func (s *Store) Cancel(ctx context.Context, p storage.CancelParams) (bool, error) {
	if err := s.lock(ctx, "cancel"); err != nil {
		return false, err
	}
	r := s.rows[p.ID]
	if r == nil {
		s.mu.Unlock()
		return false, fmt.Errorf("memory: cancel execution %q: %w", p.ID, storage.ErrNotFound)
	}
	if r.e.Status.Terminal() {
		s.mu.Unlock()
		return false, nil
	}
	now := dbTime(p.Now)
	var ev events
	s.cancelRow(r, p.Error, now)
	s.finish(r, now, &ev)
	s.mu.Unlock()
	s.publish(ev)
	return true, nil
}
