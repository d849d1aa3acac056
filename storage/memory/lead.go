package memory

import (
	"context"
	"errors"
	"time"

	"github.com/durable-go/durable/storage"
)

// lead is one named lease: its holder and when it lapses.
type lead struct {
	owner   string
	expires time.Time
}

var _ storage.Leader = (*Store)(nil)

// Lead implements storage.Leader.
func (s *Store) Lead(ctx context.Context, p storage.LeadParams) (bool, error) {
	if p.Name == "" || p.Owner == "" {
		return false, errors.New("memory: lead: empty lease name or owner")
	}
	if err := s.lock(ctx, "lead"); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	cur, ok := s.leads[p.Name]
	mine := ok && cur.owner == p.Owner
	free := !ok || mine || !p.Now.Before(cur.expires)
	switch {
	case p.TTL <= 0:
		if mine {
			delete(s.leads, p.Name)
		}
		return false, nil
	case !free:
		return false, nil
	}
	s.leads[p.Name] = lead{owner: p.Owner, expires: p.Now.Add(p.TTL)}
	return true, nil
}
