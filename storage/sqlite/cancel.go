package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/durable-go/durable/storage"
)

// Cancel moves a non-terminal row to cancelled, cancels its unfinished
// descendants and propagates to its parent as a terminal transition does. It
// reports whether this call cancelled the row; unknown ID: ErrNotFound.
func (s *Store) Cancel(ctx context.Context, p storage.CancelParams) (bool, error) {
	const op = "cancel"
	errJSON, err := encodeError(&p.Error)
	if err != nil {
		return false, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	var cancelled bool
	err = s.submit(ctx, op, func(tx *writeTx) error {
		var err error
		cancelled, err = tx.cancel(p, errJSON)
		if err != nil {
			return fmt.Errorf("sqlite: %s %q: %w", op, p.ID, err)
		}
		return nil
	})
	return cancelled, err
}

func (tx *writeTx) cancel(p storage.CancelParams, errJSON any) (bool, error) {
	var (
		seq           int64
		status        string
		parent        sql.NullString
		childrenTotal int
	)
	st, err := tx.named("cancel_select")
	if err != nil {
		return false, err
	}
	err = st.QueryRow(p.ID).Scan(&seq, &status, &parent, &childrenTotal)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, storage.ErrNotFound
	case err != nil:
		return false, err
	case storage.Status(status).Terminal():
		return false, nil
	}
	if _, err := tx.exec("cancel_update", seq, micros(p.Now), errJSON); err != nil {
		return false, err
	}
	tx.finished(p.ID)
	if childrenTotal > 0 {
		msg := fmt.Sprintf("cancelled because ancestor execution %s was cancelled", p.ID)
		if p.Error.Message != "" {
			msg += ": " + p.Error.Message
		}
		if err := tx.cancelDescendants(p.Now, p.ID, msg); err != nil {
			return false, err
		}
	}
	if parent.Valid {
		if err := tx.childrenFinished(p.Now, parent.String, childrenDone{n: 1, failed: true}); err != nil {
			return false, err
		}
	}
	return true, nil
}
