package mysql

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/durable-go/durable/storage"
)

// Cancel moves a non-terminal row to cancelled, cancels its unfinished
// descendants and decrements its waiting parent, in one transaction.
func (s *Store) Cancel(ctx context.Context, p storage.CancelParams) (bool, error) {
	if err := s.check("cancel"); err != nil {
		return false, err
	}
	errJSON, err := encodeError(&p.Error)
	if err != nil {
		return false, fmt.Errorf("mysql: cancel %q: encode error: %w", p.ID, err)
	}
	var cancelled, found bool
	var ev events
	err = s.withTx(ctx, func(tx *pipe) error {
		cancelled, found, ev = false, false, events{}
		w := newTxWrite(s, tx, p.Now)
		if err := w.lock(ctx, []string{p.ID}); err != nil {
			return err
		}
		r := w.rows[p.ID]
		if found = r != nil; !found || r.status.Terminal() {
			return nil
		}
		r.status, r.errJSON = storage.StatusCancelled, errJSON
		r.finishedAt, r.dueAt = w.at(w.now), sql.NullInt64{}
		w.touch(r)
		if err := w.finished(ctx, r); err != nil {
			return err
		}
		if err := w.write(ctx); err != nil {
			return err
		}
		cancelled, ev = true, w.ev
		return w.record(ctx)
	})
	if err != nil {
		return false, s.wrapErr(fmt.Sprintf("cancel %q", p.ID), err)
	}
	if !found {
		return false, fmt.Errorf("mysql: cancel %q: %w", p.ID, storage.ErrNotFound)
	}
	s.publish(ev.event())
	return cancelled, nil
}
