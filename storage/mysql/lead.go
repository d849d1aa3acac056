package mysql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/durable-go/durable/storage"
)

var _ storage.Leader = (*Store)(nil)

// Lead implements storage.Leader with a row per lease in the leases table,
// judged on the server's clock (or the engine's, when the store is
// configured to use it), in one transaction that locks the lease's row.
func (s *Store) Lead(ctx context.Context, p storage.LeadParams) (bool, error) {
	if err := s.check("lead"); err != nil {
		return false, err
	}
	if p.Name == "" || p.Owner == "" {
		return false, errors.New("mysql: lead: empty lease name or owner")
	}
	if p.TTL <= 0 {
		if _, err := s.db.ExecContext(ctx, s.q.leadGiveUp, p.Name, p.Owner); err != nil {
			return false, s.wrapErr("lead", err)
		}
		return false, nil
	}
	var held bool
	err := s.withRetry(ctx, func() error {
		return s.runTx(ctx, func(tx *pipe) error {
			now, err := s.now(ctx, tx, p.Now)
			if err != nil {
				return err
			}
			expires := now + durMicros(p.TTL)
			var owner string
			var at int64
			err = tx.QueryRowContext(ctx, s.q.leadLock, p.Name).Scan(&owner, &at)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				_, err = tx.ExecContext(ctx, s.q.leadInsert, p.Name, p.Owner, expires)
				if isDuplicate(err) {
					// Taken by another at the same moment: it holds it.
					held = false
					return nil
				}
				held = err == nil
				return err
			case err != nil:
				return err
			case owner != p.Owner && at > now:
				held = false
				return nil
			}
			_, err = tx.ExecContext(ctx, s.q.leadUpdate, p.Owner, expires, p.Name)
			held = err == nil
			return err
		})
	})
	if err != nil {
		return false, s.wrapErr("lead", err)
	}
	return held, nil
}
