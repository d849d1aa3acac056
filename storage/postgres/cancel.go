package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
)

// Cancel moves a non-terminal row to cancelled, cancels its unfinished
// descendants and decrements its waiting parent, in one transaction.
func (s *Store) Cancel(ctx context.Context, p storage.CancelParams) (bool, error) {
	if err := s.check("cancel"); err != nil {
		return false, err
	}
	errText, err := encodeError(&p.Error)
	if err != nil {
		return false, fmt.Errorf("postgres: cancel %q: encode error: %w", p.ID, err)
	}
	now := s.now(p.Now)
	var cancelled bool
	var ev events
	var rows []appliedRow
	prime := func(b *pgx.Batch) {
		b.Queue(s.q.cancel, namedArgs{"now": now, "id": p.ID, "error": errText}).Query(func(r pgx.Rows) error {
			var err error
			rows, err = pgx.CollectRows(r, func(row pgx.CollectableRow) (appliedRow, error) {
				a := appliedRow{id: p.ID, status: storage.StatusCancelled}
				return a, row.Scan(&a.parentID, &a.childrenTotal)
			})
			return err
		})
	}
	err = s.withTx(ctx, prime, func(tx pgx.Tx) error {
		cancelled, ev = false, events{}
		if len(rows) == 0 {
			return s.checkExists(ctx, tx, p.ID)
		}
		cancelled = true
		ev.add(rows[0])
		if err := s.bookkeep(ctx, tx, now, rows, &ev); err != nil {
			return err
		}
		return s.sendNotify(ctx, tx, &ev)
	})
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return false, err
		}
		return false, wrapErr(fmt.Sprintf("cancel %q", p.ID), err)
	}
	s.publish(ev.event())
	return cancelled, nil
}

// checkExists returns an error wrapping storage.ErrNotFound when no row
// has that id.
func (s *Store) checkExists(ctx context.Context, tx pgx.Tx, id string) error {
	var exists bool
	if err := tx.QueryRow(ctx, s.q.exists, namedArgs{"id": id}).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("postgres: cancel %q: %w", id, storage.ErrNotFound)
	}
	return nil
}
