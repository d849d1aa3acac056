package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/durable-go/durable/storage"
)

var _ storage.Leader = (*Store)(nil)

// Lead implements storage.Leader with a row per lease in durable_leases,
// written through the writer (so it is ordered with every other write of
// every process on the file).
func (s *Store) Lead(ctx context.Context, p storage.LeadParams) (bool, error) {
	const op = "lead"
	if p.Name == "" || p.Owner == "" {
		return false, errors.New("sqlite: lead: empty lease name or owner")
	}
	var held bool
	err := s.submit(ctx, op, func(tx *writeTx) error {
		if p.TTL <= 0 {
			_, err := tx.exec("lead_give_up", p.Name, p.Owner)
			return err
		}
		res, err := tx.exec("lead_take", p.Name, p.Owner, micros(p.Now.Add(p.TTL)), micros(p.Now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("sqlite: %s %q: %w", op, p.Name, err)
	}
	return held, nil
}
