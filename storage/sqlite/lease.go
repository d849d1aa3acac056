package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/durable-go/durable/storage"
)

// Heartbeat sets DueAt = now + Lease on every leased row whose Fence still
// matches, whose status is running or waiting, and which is claimed (has a
// DueAt). It returns the leases that did not match.
func (s *Store) Heartbeat(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
	const op = "heartbeat"
	if len(p.Leases) == 0 {
		if s.isClosed() {
			return nil, errClosed(op)
		}
		return nil, nil
	}
	var lost []storage.Lease
	err := s.submitLazy(ctx, op, func(tx *writeTx) error {
		held, err := tx.heartbeat(p)
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		lost = lost[:0]
		for _, l := range p.Leases {
			if !held[l] {
				lost = append(lost, l)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

func (tx *writeTx) heartbeat(p storage.HeartbeatParams) (map[storage.Lease]bool, error) {
	rows, err := tx.query("heartbeat", micros(p.Now.Add(p.Lease)), jsonLeases(p.Leases))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	held := make(map[storage.Lease]bool, len(p.Leases))
	for rows.Next() {
		var l storage.Lease
		if err := rows.Scan(&l.ID, &l.Fence); err != nil {
			return nil, err
		}
		held[l] = true
	}
	return held, rows.Err()
}

// jsonLeases returns leases as a JSON array of [id, fence] pairs.
func jsonLeases(leases []storage.Lease) string {
	pairs := make([][2]any, len(leases))
	for i, l := range leases {
		pairs[i] = [2]any{l.ID, l.Fence}
	}
	b, _ := json.Marshal(pairs) // strings and integers always marshal
	return string(b)
}

// Release gives claims back: a running row whose Fence matches becomes ready
// and due now (StartedAt cleared); a waiting row, or a sleeping row claimed
// past its deadline, whose Fence matches becomes due now and keeps its
// status. ExecutorID is cleared. Leases no longer held are ignored.
func (s *Store) Release(ctx context.Context, p storage.ReleaseParams) error {
	const op = "release"
	if len(p.Leases) == 0 {
		if s.isClosed() {
			return errClosed(op)
		}
		return nil
	}
	return s.submit(ctx, op, func(tx *writeTx) error {
		res, err := tx.exec("release", micros(p.Now), jsonLeases(p.Leases))
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			tx.ready()
		}
		return nil
	})
}

// Recover makes every row claimed by p.ExecutorID due now and returns how
// many.
func (s *Store) Recover(ctx context.Context, p storage.RecoverParams) (int, error) {
	const op = "recover"
	var n int64
	err := s.submit(ctx, op, func(tx *writeTx) error {
		res, err := tx.exec("recover", p.ExecutorID, micros(p.Now))
		if err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		if n > 0 {
			tx.ready()
		}
		return nil
	})
	return int(n), err
}
