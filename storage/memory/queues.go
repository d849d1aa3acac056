package memory

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/durable-go/durable/storage"
)

// controlKey names a control.
type controlKey struct{ kind, name string }

var _ storage.Controls = (*Store)(nil)

// queueState reports whether queue q is paused and whether it has a limit:
// the ordinary claim path (popDue) takes the rows of the queues that are
// neither.
func (s *Store) queueState(q string) (paused, limited bool) {
	c := s.controls[controlKey{storage.ControlQueue, q}]
	if c == nil {
		return false, false
	}
	return c.Paused, c.Limited()
}

// LimitControl implements storage.Controls.
func (s *Store) LimitControl(ctx context.Context, p storage.LimitControlParams) (bool, error) {
	if err := storage.ValidateLimitControl(&p); err != nil {
		return false, fmt.Errorf("memory: limit control: %w", err)
	}
	changed, err := s.setControl(ctx, "limit control", p.Kind, p.Name, func(c *storage.Control) bool {
		if p.SameLimits(c) {
			return false
		}
		if c.Rate != p.Rate || c.Per != p.Per {
			delete(s.windows, c.Name)
		}
		c.Concurrency, c.PerKey, c.Rate, c.Per, c.UpdatedAt = p.Concurrency, p.PerKey, p.Rate, p.Per, dbTime(p.Now)
		return true
	})
	if changed {
		s.subs.Publish(storage.Event{Ready: true})
	}
	return changed, err
}

// setControl applies set to the control kind/name under the store's lock,
// set reporting whether it changed it. An unknown control is ErrNotFound.
func (s *Store) setControl(ctx context.Context, op, kind, name string, set func(*storage.Control) bool) (bool, error) {
	if err := s.lock(ctx, op); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	c := s.controls[controlKey{kind, name}]
	if c == nil {
		return false, fmt.Errorf("memory: %s: %s %q: %w", op, kind, name, storage.ErrNotFound)
	}
	return set(c), nil
}

// RegisterControls implements storage.Controls.
func (s *Store) RegisterControls(ctx context.Context, p storage.RegisterControlsParams) error {
	if err := storage.ValidateControls(p.Controls); err != nil {
		return fmt.Errorf("memory: register controls: %w", err)
	}
	if err := s.lock(ctx, "register controls"); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now := dbTime(p.Now)
	for _, c := range p.Controls {
		key := controlKey{c.Kind, c.Name}
		if cur := s.controls[key]; cur != nil {
			cur.Spec, cur.UpdatedAt = bytes.Clone(c.Spec), now
			continue
		}
		s.controls[key] = &storage.Control{Kind: c.Kind, Name: c.Name, Spec: bytes.Clone(c.Spec), Mark: c.Mark, UpdatedAt: now}
	}
	return nil
}

// ListControls implements storage.Controls.
func (s *Store) ListControls(ctx context.Context, p storage.ListControlsParams) ([]storage.Control, error) {
	if err := s.lock(ctx, "list controls"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []storage.Control
	for key, c := range s.controls {
		if key.kind == p.Kind {
			cp := *c
			cp.Spec = bytes.Clone(c.Spec)
			out = append(out, cp)
		}
	}
	slices.SortFunc(out, func(a, b storage.Control) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// PauseControl implements storage.Controls.
func (s *Store) PauseControl(ctx context.Context, p storage.PauseControlParams) (bool, error) {
	changed, err := s.setControl(ctx, "pause control", p.Kind, p.Name, func(c *storage.Control) bool {
		if c.Paused == p.Paused {
			return false
		}
		c.Paused, c.UpdatedAt = p.Paused, dbTime(p.Now)
		return true
	})
	if changed && !p.Paused && p.Kind == storage.ControlQueue {
		s.subs.Publish(storage.Event{Ready: true})
	}
	return changed, err
}

// AdvanceControl implements storage.Controls.
func (s *Store) AdvanceControl(ctx context.Context, p storage.AdvanceControlParams) (bool, error) {
	if err := s.lock(ctx, "advance control"); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	c := s.controls[controlKey{p.Kind, p.Name}]
	if c == nil {
		return false, fmt.Errorf("memory: advance control: %s %q: %w", p.Kind, p.Name, storage.ErrNotFound)
	}
	if c.Mark != p.From {
		return false, nil
	}
	c.Mark, c.UpdatedAt = p.To, dbTime(p.Now)
	return true, nil
}
