package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
)

var _ storage.Leader = (*Store)(nil)

// Lead implements storage.Leader with a row per lease in the schema's
// leases table, judged on the server's clock (or the engine's, when the
// store is configured to use it).
func (s *Store) Lead(ctx context.Context, p storage.LeadParams) (bool, error) {
	if err := s.check("lead"); err != nil {
		return false, err
	}
	if p.Name == "" || p.Owner == "" {
		return false, errors.New("postgres: lead: empty lease name or owner")
	}
	args := namedArgs{"name": p.Name, "owner": p.Owner}
	if p.TTL <= 0 {
		if _, err := s.pool.Exec(ctx, s.q.leadGiveUp, args); err != nil {
			return false, wrapErr("lead", err)
		}
		return false, nil
	}
	args["now"], args["ttl_us"] = s.now(p.Now), p.TTL.Microseconds()
	var owner string
	err := s.pool.QueryRow(ctx, s.q.lead, args).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, wrapErr("lead", err)
	}
	return true, nil
}
