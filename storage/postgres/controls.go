package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/durable-go/durable/storage"
)

var _ storage.Controls = (*Store)(nil)

// RegisterControls creates the controls of p that do not exist and sets
// the Spec of those that do (keeping their pause and mark), all or nothing,
// in one statement. A control named twice is registered once, with the
// last Spec given.
func (s *Store) RegisterControls(ctx context.Context, p storage.RegisterControlsParams) error {
	if err := s.check("register controls"); err != nil {
		return err
	}
	if err := storage.ValidateControls(p.Controls); err != nil {
		return fmt.Errorf("postgres: register controls: %w", err)
	}
	if len(p.Controls) == 0 {
		return nil
	}
	// ON CONFLICT cannot update one row twice in a statement.
	type key struct{ kind, name string }
	at := make(map[key]int, len(p.Controls))
	var kinds, names []string
	var specs [][]byte
	var marks []int64
	for _, c := range p.Controls {
		if i, ok := at[key{c.Kind, c.Name}]; ok {
			specs[i] = c.Spec
			continue
		}
		at[key{c.Kind, c.Name}] = len(kinds)
		kinds, names = append(kinds, c.Kind), append(names, c.Name)
		specs, marks = append(specs, c.Spec), append(marks, c.Mark)
	}
	args := namedArgs{"now": s.now(p.Now), "c_kind": kinds, "c_name": names, "c_spec": specs, "c_mark": marks}
	err := withRetry(ctx, func() error {
		_, err := s.pool.Exec(ctx, s.q.registerControls, args)
		return err
	})
	return wrapErr("register controls", err)
}

// ListControls returns the controls of p.Kind, by name.
func (s *Store) ListControls(ctx context.Context, p storage.ListControlsParams) ([]storage.Control, error) {
	if err := s.check("list controls"); err != nil {
		return nil, err
	}
	var out []storage.Control
	err := withRetry(ctx, func() error {
		rows, err := s.pool.Query(ctx, s.q.listControls, namedArgs{"kind": p.Kind})
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Control, error) {
			var c storage.Control
			var updated pgtype.Timestamptz
			var per int64
			err := row.Scan(&c.Kind, &c.Name, &c.Paused, &c.Spec, &c.Mark, &updated, &c.Concurrency, &c.PerKey, &c.Rate, &per)
			c.UpdatedAt, c.Per = fromTS(updated), time.Duration(per)*time.Microsecond
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, wrapErr("list controls", err)
	}
	return out, nil
}

// PauseControl sets a control's Paused and reports whether it changed. A
// queue resumed publishes Event.Ready to this store's subscribers and,
// through a notification sent by the same statement, to every other
// process on the schema. A pause is committed when PauseControl returns,
// so every claim that starts after it (whose statement reads the controls
// in its own snapshot) leaves the queue alone.
func (s *Store) PauseControl(ctx context.Context, p storage.PauseControlParams) (bool, error) {
	if err := s.check("pause control"); err != nil {
		return false, err
	}
	changed, err := s.setControl(ctx, "pause control", s.q.pauseControl, namedArgs{
		"now": s.now(p.Now), "kind": p.Kind, "name": p.Name, "paused": p.Paused})
	if err != nil {
		return false, err
	}
	if changed && !p.Paused && p.Kind == storage.ControlQueue {
		s.publish(storage.Event{Ready: true})
	}
	return changed, nil
}

// AdvanceControl sets a control's Mark to p.To if it is p.From, and
// reports whether it did.
func (s *Store) AdvanceControl(ctx context.Context, p storage.AdvanceControlParams) (bool, error) {
	if err := s.check("advance control"); err != nil {
		return false, err
	}
	args := namedArgs{"now": s.now(p.Now), "kind": p.Kind, "name": p.Name, "from": p.From, "to": p.To}
	var exists, moved bool
	err := withRetry(ctx, func() error {
		return s.pool.QueryRow(ctx, s.q.advanceControl, args).Scan(&exists, &moved)
	})
	if err != nil {
		return false, wrapErr("advance control", err)
	}
	if !exists {
		return false, fmt.Errorf("postgres: advance control: %s %q: %w", p.Kind, p.Name, storage.ErrNotFound)
	}
	return moved, nil
}

// setControl runs sql, one of the statements that set a field of one
// control (pause_control, limit_control), with args naming the control and
// the field's value (it adds the notification's channel and payload, which
// the statement sends when the control changed), and reports whether it
// changed. An unknown control is ErrNotFound.
func (s *Store) setControl(ctx context.Context, op, sql string, args namedArgs) (bool, error) {
	args["channel"], args["payload"] = (*string)(nil), (*string)(nil)
	if !s.cfg.DisableNotifications {
		ps := payloads(s.tag, storage.Event{Ready: true})
		args["channel"], args["payload"] = &s.channel, &ps[0]
	}
	var exists, changed bool
	err := withRetry(ctx, func() error {
		var notes int64
		return s.pool.QueryRow(ctx, sql, args).Scan(&exists, &changed, &notes)
	})
	if err != nil {
		return false, wrapErr(op, err)
	}
	if !exists {
		return false, fmt.Errorf("postgres: %s: %s %q: %w", op, args["kind"], args["name"], storage.ErrNotFound)
	}
	return changed, nil
}
