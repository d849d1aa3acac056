package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/storage"
)

// This file holds the controls (storage.Controls): queues that can be
// paused and schedules, one row each in durable_controls (migration 007),
// shared by every store on the file. Claim and NextDue read the paused
// queues in the same statement as the due rows (claimable_queues in
// queries.sql), so a pause needs no cache and no message: a claim that
// starts after PauseControl committed reads it.

var _ storage.Controls = (*Store)(nil)

// RegisterControls creates or updates controls, all or nothing, in one
// write transaction; see storage.Controls.
func (s *Store) RegisterControls(ctx context.Context, p storage.RegisterControlsParams) error {
	const op = "register controls"
	if err := storage.ValidateControls(p.Controls); err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if len(p.Controls) == 0 {
		if s.isClosed() {
			return errClosed(op)
		}
		return nil
	}
	return s.submit(ctx, op, func(tx *writeTx) error {
		for _, c := range p.Controls {
			if _, err := tx.exec("control_register", c.Kind, c.Name, nullBytes(c.Spec), c.Mark, micros(p.Now)); err != nil {
				return fmt.Errorf("sqlite: %s: %s %q: %w", op, c.Kind, c.Name, err)
			}
		}
		return nil
	})
}

// ListControls returns the controls of p.Kind, by name, from a read
// connection.
func (s *Store) ListControls(ctx context.Context, p storage.ListControlsParams) ([]storage.Control, error) {
	const op = "list controls"
	st, err := s.readStmt(op, "control_list")
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, p.Kind)
	if err != nil {
		return nil, s.readError(op, err)
	}
	defer rows.Close()
	var out []storage.Control
	for rows.Next() {
		var (
			c       storage.Control
			updated sql.NullInt64
			per     int64
		)
		if err := rows.Scan(&c.Kind, &c.Name, &c.Paused, &c.Spec, &c.Mark, &updated, &c.Concurrency, &c.PerKey, &c.Rate, &per); err != nil {
			return nil, s.readError(op, err)
		}
		c.UpdatedAt, c.Per = timeOf(updated), time.Duration(per)*time.Microsecond
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(op, err)
	}
	return out, nil
}

// PauseControl sets a control's paused and reports whether it changed; an
// unknown control fails with storage.ErrNotFound. Resuming a queue
// publishes Event.Ready to every store on the file (through
// durable_events), since its rows may be due.
func (s *Store) PauseControl(ctx context.Context, p storage.PauseControlParams) (bool, error) {
	const op = "pause control"
	var changed bool
	err := s.submit(ctx, op, func(tx *writeTx) error {
		var paused bool
		err := tx.queryRow("control_paused", p.Kind, p.Name).Scan(&paused)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: %s: %s %q: %w", op, p.Kind, p.Name, storage.ErrNotFound)
		case err != nil:
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if changed = paused != p.Paused; !changed {
			return nil
		}
		if _, err := tx.exec("control_pause", p.Kind, p.Name, p.Paused, micros(p.Now)); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if !p.Paused && p.Kind == storage.ControlQueue {
			tx.ready()
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

// AdvanceControl moves a control's mark from p.From to p.To and reports
// whether it did; an unknown control fails with storage.ErrNotFound. The
// write transactions of every store on the file are serial, so of several
// callers racing from one mark exactly one wins.
func (s *Store) AdvanceControl(ctx context.Context, p storage.AdvanceControlParams) (bool, error) {
	const op = "advance control"
	var moved bool
	err := s.submit(ctx, op, func(tx *writeTx) error {
		var one int
		err := tx.queryRow("control_advance", p.Kind, p.Name, p.From, p.To, micros(p.Now)).Scan(&one)
		if err == nil {
			moved = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		err = tx.queryRow("control_exists", p.Kind, p.Name).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: %s: %s %q: %w", op, p.Kind, p.Name, storage.ErrNotFound)
		case err != nil:
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return moved, nil
}
