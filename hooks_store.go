package durable

import (
	"context"
	"time"

	"github.com/durable-go/durable/storage"
)

// timedStore is the executor's store when a Hooks.StorageCall is
// installed: it times every call and reports it. Each method of
// storage.Store is written out (nothing is embedded), so that a method
// added to the contract fails to compile here instead of going untimed.
type timedStore struct {
	s     storage.Store
	hooks []func(StorageCall)
}

var _ storage.Store = timedStore{}

// timeStore returns s, timed when hooks has StorageCall hooks.
func timeStore(s storage.Store, hooks []func(StorageCall)) storage.Store {
	if len(hooks) == 0 {
		return s
	}
	return timedStore{s: s, hooks: hooks}
}

func (t timedStore) RegisterControls(ctx context.Context, p storage.RegisterControlsParams) error {
	_, err := timed(t, "RegisterControls", func() (struct{}, error) { return struct{}{}, t.s.RegisterControls(ctx, p) })
	return err
}

func (t timedStore) ListControls(ctx context.Context, p storage.ListControlsParams) ([]storage.Control, error) {
	return timed(t, "ListControls", func() ([]storage.Control, error) { return t.s.ListControls(ctx, p) })
}

func (t timedStore) PauseControl(ctx context.Context, p storage.PauseControlParams) (bool, error) {
	return timed(t, "PauseControl", func() (bool, error) { return t.s.PauseControl(ctx, p) })
}

func (t timedStore) LimitControl(ctx context.Context, p storage.LimitControlParams) (bool, error) {
	return timed(t, "LimitControl", func() (bool, error) { return t.s.LimitControl(ctx, p) })
}

func (t timedStore) AdvanceControl(ctx context.Context, p storage.AdvanceControlParams) (bool, error) {
	return timed(t, "AdvanceControl", func() (bool, error) { return t.s.AdvanceControl(ctx, p) })
}

// report calls the hooks for an operation begun at start.
func (t timedStore) report(op string, start time.Time, err error) {
	callAll(t.hooks, StorageCall{Operation: op, Duration: time.Since(start), Err: err})
}

// timed runs the call f of operation op and reports it.
func timed[T any](t timedStore, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	t.report(op, start, err)
	return v, err
}

func (t timedStore) Insert(ctx context.Context, p storage.InsertParams) error {
	start := time.Now()
	err := t.s.Insert(ctx, p)
	t.report("Insert", start, err)
	return err
}

func (t timedStore) Get(ctx context.Context, p storage.GetParams) (storage.Execution, error) {
	return timed(t, "Get", func() (storage.Execution, error) { return t.s.Get(ctx, p) })
}

func (t timedStore) GetBySleepKey(ctx context.Context, p storage.GetBySleepKeyParams) (storage.Execution, error) {
	return timed(t, "GetBySleepKey", func() (storage.Execution, error) { return t.s.GetBySleepKey(ctx, p) })
}

func (t timedStore) ListChildren(ctx context.Context, p storage.ListChildrenParams) ([]storage.Execution, error) {
	return timed(t, "ListChildren", func() ([]storage.Execution, error) { return t.s.ListChildren(ctx, p) })
}

func (t timedStore) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	return timed(t, "Claim", func() ([]storage.Execution, error) { return t.s.Claim(ctx, p) })
}

func (t timedStore) NextDue(ctx context.Context, p storage.NextDueParams) (time.Duration, bool, error) {
	var ok bool
	wait, err := timed(t, "NextDue", func() (time.Duration, error) {
		w, o, err := t.s.NextDue(ctx, p)
		ok = o
		return w, err
	})
	return wait, ok, err
}

func (t timedStore) Heartbeat(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
	return timed(t, "Heartbeat", func() ([]storage.Lease, error) { return t.s.Heartbeat(ctx, p) })
}

func (t timedStore) Complete(ctx context.Context, p storage.CompleteParams) ([]storage.TransitionResult, error) {
	return timed(t, "Complete", func() ([]storage.TransitionResult, error) { return t.s.Complete(ctx, p) })
}

func (t timedStore) Cancel(ctx context.Context, p storage.CancelParams) (bool, error) {
	return timed(t, "Cancel", func() (bool, error) { return t.s.Cancel(ctx, p) })
}

func (t timedStore) Release(ctx context.Context, p storage.ReleaseParams) error {
	start := time.Now()
	err := t.s.Release(ctx, p)
	t.report("Release", start, err)
	return err
}

func (t timedStore) Recover(ctx context.Context, p storage.RecoverParams) (int, error) {
	return timed(t, "Recover", func() (int, error) { return t.s.Recover(ctx, p) })
}

func (t timedStore) List(ctx context.Context, p storage.ListParams) ([]storage.Execution, error) {
	return timed(t, "List", func() ([]storage.Execution, error) { return t.s.List(ctx, p) })
}

func (t timedStore) Count(ctx context.Context, p storage.CountParams) ([]storage.Count, error) {
	return timed(t, "Count", func() ([]storage.Count, error) { return t.s.Count(ctx, p) })
}

func (t timedStore) Delete(ctx context.Context, p storage.DeleteParams) (int, error) {
	return timed(t, "Delete", func() (int, error) { return t.s.Delete(ctx, p) })
}

func (t timedStore) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	return timed(t, "DeleteExpired", func() (storage.DeleteExpiredResult, error) { return t.s.DeleteExpired(ctx, p) })
}

func (t timedStore) Lead(ctx context.Context, p storage.LeadParams) (bool, error) {
	return timed(t, "Lead", func() (bool, error) { return t.s.Lead(ctx, p) })
}

// Subscribe and Close are not timed: they make no round trip.
func (t timedStore) Subscribe(fn func(storage.Event)) func() { return t.s.Subscribe(fn) }
func (t timedStore) Close() error                            { return t.s.Close() }

// CompleteClaim is the store's (storage.CompleteClaimer), timed as
// Complete; a store without it completes and claims nothing.
func (t timedStore) CompleteClaim(ctx context.Context, p storage.CompleteParams, c storage.ClaimParams) ([]storage.TransitionResult, []storage.Execution, bool, error) {
	start := time.Now()
	res, rows, claimed, err := storage.CompleteClaim(ctx, t.s, p, c)
	t.report("Complete", start, err)
	return res, rows, claimed, err
}
