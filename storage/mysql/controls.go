package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

var _ storage.Controls = (*Store)(nil)

// RegisterControls creates the controls that do not exist and gives those
// that do the Spec given (they keep Paused and Mark), in one statement
// (INSERT ... ON DUPLICATE KEY UPDATE): all or nothing. Every control is
// validated before anything is written.
func (s *Store) RegisterControls(ctx context.Context, p storage.RegisterControlsParams) error {
	if err := s.check("register controls"); err != nil {
		return err
	}
	if err := storage.ValidateControls(p.Controls); err != nil {
		return fmt.Errorf("mysql: register controls: %w", err)
	}
	if len(p.Controls) == 0 {
		return nil
	}
	row := "(?, ?, FALSE, ?, ?, " + s.q.data.Now + ")"
	rows := strings.TrimSuffix(strings.Repeat(row+", ", len(p.Controls)), ", ")
	args := make([]any, 0, 5*len(p.Controls))
	for _, c := range p.Controls {
		args = append(args, c.Kind, c.Name, c.Spec, c.Mark, s.nowArg(p.Now)) // a nil Spec is NULL
	}
	stmt := replaceValues(s.q.controlRegister, rows)
	err := s.withRetry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, stmt, args...)
		return err
	})
	if err != nil {
		return s.wrapErr("register controls", err)
	}
	return nil
}

// ListControls returns the controls of p.Kind, by name.
func (s *Store) ListControls(ctx context.Context, p storage.ListControlsParams) ([]storage.Control, error) {
	if err := s.check("list controls"); err != nil {
		return nil, err
	}
	var out []storage.Control
	err := s.withRetry(ctx, func() error {
		out = nil
		rows, err := s.db.QueryContext(ctx, s.q.controlList, p.Kind)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c storage.Control
			var updated sql.NullInt64
			var per int64
			if err := rows.Scan(&c.Kind, &c.Name, &c.Paused, &c.Spec, &c.Mark, &updated, &c.Concurrency, &c.PerKey, &c.Rate, &per); err != nil {
				return err
			}
			c.UpdatedAt, c.Per = fromMicros(updated), time.Duration(per)*time.Microsecond
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrapErr("list controls", err)
	}
	return out, nil
}

// PauseControl sets a control's Paused in one transaction that locks its
// row, and reports whether it changed. Resuming a queue writes Event.Ready
// in the transaction (every store on the tables hears of it) and publishes
// it after commit. A claim reads the controls as last committed when it
// starts, so a pause binds every claim that starts after PauseControl
// returned.
func (s *Store) PauseControl(ctx context.Context, p storage.PauseControlParams) (bool, error) {
	if err := s.check("pause control"); err != nil {
		return false, err
	}
	var changed, found bool
	ev := storage.Event{Ready: !p.Paused && p.Kind == storage.ControlQueue}
	err := s.withTx(ctx, func(tx *pipe) error {
		changed, found = false, false
		var paused bool
		var now int64
		err := tx.QueryRowContext(ctx, s.q.controlLock, s.nowArg(p.Now), p.Kind, p.Name).Scan(&paused, &now)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		found, changed = true, paused != p.Paused
		if !changed {
			return nil
		}
		if err := tx.Defer(ctx, s.q.controlPause, p.Paused, now, p.Kind, p.Name); err != nil {
			return err
		}
		return s.recordEvent(ctx, tx, ev)
	})
	if err != nil {
		return false, s.wrapErr("pause control", err)
	}
	if !found {
		return false, fmt.Errorf("mysql: pause control: %s %q: %w", p.Kind, p.Name, storage.ErrNotFound)
	}
	if changed {
		s.publish(ev)
	}
	return changed, nil
}

// AdvanceControl sets a control's Mark to p.To if it is p.From, in one
// UPDATE: concurrent callers from the same mark queue on the row's lock,
// and each later one finds the mark the first committed, so one wins.
func (s *Store) AdvanceControl(ctx context.Context, p storage.AdvanceControlParams) (bool, error) {
	if err := s.check("advance control"); err != nil {
		return false, err
	}
	var moved, found bool
	err := s.withRetry(ctx, func() error {
		res, err := s.db.ExecContext(ctx, s.q.controlAdvance, p.To, s.nowArg(p.Now), p.Kind, p.Name, p.From)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n > 0 {
			moved, found = true, true
			return nil
		}
		// Nothing changed: the control is unknown, its mark is not
		// p.From, or it is and p.To is the same (MySQL counts changed
		// rows only).
		var mark int64
		err = s.db.QueryRowContext(ctx, s.q.controlMark, p.Kind, p.Name).Scan(&mark)
		if err == sql.ErrNoRows {
			moved, found = false, false
			return nil
		}
		moved, found = err == nil && mark == p.From && p.From == p.To, true
		return err
	})
	if err != nil {
		return false, s.wrapErr("advance control", err)
	}
	if !found {
		return false, fmt.Errorf("mysql: advance control: %s %q: %w", p.Kind, p.Name, storage.ErrNotFound)
	}
	return moved, nil
}
