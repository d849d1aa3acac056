package faulty

import (
	"context"
	"time"

	"github.com/durable-go/durable/storage"
)

// The methods below wrap the inner store's. Each behaves as the inner
// method, except when a fault is injected (see the package doc); a call
// failed by a fault returns zero values with the error.

// Insert implements storage.Store.
func (s *Store) Insert(ctx context.Context, p storage.InsertParams) error {
	return s.do(ctx, MethodInsert, p, func() error { return s.Store.Insert(ctx, p) })
}

// Get implements storage.Store.
func (s *Store) Get(ctx context.Context, p storage.GetParams) (storage.Execution, error) {
	var row storage.Execution
	err := s.do(ctx, MethodGet, p, func() (err error) {
		row, err = s.Store.Get(ctx, p)
		return err
	})
	if err != nil {
		return storage.Execution{}, err
	}
	return row, nil
}

// GetBySleepKey implements storage.Store.
func (s *Store) GetBySleepKey(ctx context.Context, p storage.GetBySleepKeyParams) (storage.Execution, error) {
	var row storage.Execution
	err := s.do(ctx, MethodGetBySleepKey, p, func() (err error) {
		row, err = s.Store.GetBySleepKey(ctx, p)
		return err
	})
	if err != nil {
		return storage.Execution{}, err
	}
	return row, nil
}

// ListChildren implements storage.Store.
func (s *Store) ListChildren(ctx context.Context, p storage.ListChildrenParams) ([]storage.Execution, error) {
	var rows []storage.Execution
	err := s.do(ctx, MethodListChildren, p, func() (err error) {
		rows, err = s.Store.ListChildren(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// Claim implements storage.Store. A KindAfter fault leaves the rows claimed
// with nobody to run them: they are taken over when their leases lapse.
func (s *Store) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	var rows []storage.Execution
	err := s.do(ctx, MethodClaim, p, func() (err error) {
		rows, err = s.Store.Claim(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// NextDue implements storage.Store.
func (s *Store) NextDue(ctx context.Context, p storage.NextDueParams) (time.Duration, bool, error) {
	var (
		wait time.Duration
		ok   bool
	)
	err := s.do(ctx, MethodNextDue, p, func() (err error) {
		wait, ok, err = s.Store.NextDue(ctx, p)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return wait, ok, nil
}

// Heartbeat implements storage.Store.
func (s *Store) Heartbeat(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
	var lost []storage.Lease
	err := s.do(ctx, MethodHeartbeat, p, func() (err error) {
		lost, err = s.Store.Heartbeat(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return lost, nil
}

// Complete implements storage.Store.
func (s *Store) Complete(ctx context.Context, p storage.CompleteParams) ([]storage.TransitionResult, error) {
	var res []storage.TransitionResult
	err := s.do(ctx, MethodComplete, p, func() (err error) {
		res, err = s.Store.Complete(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Cancel implements storage.Store.
func (s *Store) Cancel(ctx context.Context, p storage.CancelParams) (bool, error) {
	var cancelled bool
	err := s.do(ctx, MethodCancel, p, func() (err error) {
		cancelled, err = s.Store.Cancel(ctx, p)
		return err
	})
	if err != nil {
		return false, err
	}
	return cancelled, nil
}

// Release implements storage.Store.
func (s *Store) Release(ctx context.Context, p storage.ReleaseParams) error {
	return s.do(ctx, MethodRelease, p, func() error { return s.Store.Release(ctx, p) })
}

// Recover implements storage.Store.
func (s *Store) Recover(ctx context.Context, p storage.RecoverParams) (int, error) {
	var n int
	err := s.do(ctx, MethodRecover, p, func() (err error) {
		n, err = s.Store.Recover(ctx, p)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// List implements storage.Lister.
func (s *Store) List(ctx context.Context, p storage.ListParams) ([]storage.Execution, error) {
	var rows []storage.Execution
	err := s.do(ctx, MethodList, p, func() (err error) {
		rows, err = s.Store.List(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// Count implements storage.Lister.
func (s *Store) Count(ctx context.Context, p storage.CountParams) ([]storage.Count, error) {
	var counts []storage.Count
	err := s.do(ctx, MethodCount, p, func() (err error) {
		counts, err = s.Store.Count(ctx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return counts, nil
}

// Delete implements storage.Lister. A KindAfter fault leaves the trees
// deleted: a retry of the call fails with ErrNotFound.
func (s *Store) Delete(ctx context.Context, p storage.DeleteParams) (int, error) {
	var n int
	err := s.do(ctx, MethodDelete, p, func() (err error) {
		n, err = s.Store.Delete(ctx, p)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// DeleteExpired implements storage.Lister. A KindAfter fault leaves the
// trees deleted: a retry of the call deletes the next ones.
func (s *Store) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	var res storage.DeleteExpiredResult
	err := s.do(ctx, MethodDeleteExpired, p, func() (err error) {
		res, err = s.Store.DeleteExpired(ctx, p)
		return err
	})
	if err != nil {
		return storage.DeleteExpiredResult{}, err
	}
	return res, nil
}

// Lead implements storage.Leader.
func (s *Store) Lead(ctx context.Context, p storage.LeadParams) (bool, error) {
	var held bool
	err := s.do(ctx, MethodLead, p, func() (err error) {
		held, err = s.Store.Lead(ctx, p)
		return err
	})
	if err != nil {
		return false, err
	}
	return held, nil
}
