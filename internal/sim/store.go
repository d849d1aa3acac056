package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/durable-go/durable/internal/simhook"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// Store is the simulated store: the memory store's exact state machine
// (storage/memory, which passes the conformance suite), behind a layer
// that gives it what a database server on a network has and memory lacks:
//
//   - a clock of its own: every call's Now is the store's time, as the
//     PostgreSQL store's ClockDatabase mode judges leases and due times on
//     the server's clock whatever the executors' clocks say;
//   - durability classes and crashes: every write is kept in a log, marked
//     synchronous (committed durably before the call returns: inserts,
//     claims, completions, cancellations, releases, recoveries) or
//     asynchronous (heartbeats). Crash rebuilds the state from the log
//     up to the last synchronous write, as a server crash loses the
//     asynchronous commits not yet flushed (a flush carries every earlier
//     write with it);
//   - calls that fail before taking effect, or after (the write is applied
//     but the caller sees an error, as when a connection drops during the
//     commit);
//   - events that reach each subscriber late, or never.
//
// What it does is decided by its hooks (the simulation's seeded choices);
// with none it is the memory store with a log and Crash.
type Store struct {
	// mu serialises the calls (the log's order is the order they took
	// effect in) and guards what follows. Events are published while it
	// is held, by the call that caused them: a subscriber must not call
	// the store (the simulation's are scheduled for later).
	mu  sync.Mutex
	mem *memory.Store
	// log holds every write applied since the start, to be replayed in
	// order after a crash; durable is how many of them a crash keeps.
	log     []func(*memory.Store)
	durable int
	writes  int // writes applied, for the checks
	subs    []*subscriber
	// owner names the subscriber of the next Subscribe call (the executor
	// being made), for the hooks.
	owner string
	bugs  Bugs
	h     storeHooks
}

// Bugs are deliberate bugs the simulation can switch on, to show that its
// invariants catch them. None is ever on outside the tests that show it.
type Bugs struct {
	// AsyncClaims commits claims asynchronously, as the PostgreSQL store
	// did before it raised synchronous_commit for them: a claim lost in a
	// crash hands its fencing tokens out again.
	AsyncClaims bool
	// UnguardedComplete applies a completion whatever its fence, as long
	// as the status matches: a stale run's result is accepted.
	UnguardedComplete bool
	// UncountedRetry writes a retry without counting it (the attempt
	// stays as it was): a failing task is retried past its policy.
	UncountedRetry bool
	// UnorderedChildren lists a parent's children in reverse order (a
	// listing without its ORDER BY): a parent's output holds them out of
	// order.
	UnorderedChildren bool
	// UncancelledChildren leaves the descendants of an execution that
	// ended unsuccessfully (cancelled, failed) as they are, instead of
	// cancelling them with it (a cancel without its cascade): a parent
	// ends while its children go on.
	UncancelledChildren bool
	// ShortHeartbeat extends a lease by half the lease asked for: a live
	// run's lease lapses between two heartbeats and is taken over.
	ShortHeartbeat bool
	// HiddenLimit lists the queues without their concurrency limits (a
	// ListControls that forgets the column): the executors take a limited
	// queue for an unlimited one and start its executions directly,
	// beyond the limit, where a claim would have counted.
	HiddenLimit bool
}

// fault is what becomes of one store call.
type fault int

const (
	faultNone   fault = iota
	faultBefore       // fails before taking effect
	faultAfter        // takes effect, then fails
	faultFatal        // fails before taking effect, with an error wrapping storage.ErrFatal
)

// storeHooks are the simulation's hands on the store; each may be nil.
type storeHooks struct {
	// now gives the store's time for a call whose params carry p.
	now func(p time.Time) time.Time
	// fault decides what becomes of a call of op.
	fault func(op string) fault
	// trace records what a call did.
	trace func(format string, args ...any)
	// handed is told of every claim the store hands out (fence 0: a row
	// inserted claimed), and whether it took a lapsed lease over.
	handed func(id string, fence int64, executor string, takeover bool)
	// renewed is told of the leases a heartbeat extended; recovered of
	// the executor whose claims a Recover made due.
	renewed   func(leases []storage.Lease)
	recovered func(executor string)
	// applied is told of every transition Complete applied, with the row
	// as it was before.
	applied func(tr storage.Transition, before storage.Execution)
	// inserted is told of the rows an Insert stored (children come with
	// applied transitions).
	inserted func(rows []storage.Execution)
	// publish delivers ev to sub (or delays or drops it).
	publish func(sub *subscriber, ev storage.Event)
	// after runs after every call took effect (or failed before), before
	// it returns: the simulation crashes an executor there, mid-step.
	after func(op string)
}

// subscriber is one Subscribe registration.
type subscriber struct {
	owner string
	fn    func(storage.Event)
	gone  bool
}

// errInjected is the error of a call the simulation made fail.
var errInjected = errors.New("sim: injected storage failure")

// NewStore returns an empty simulated store without hooks: the memory
// store with a write log and Crash, whose calls use their params' Now.
func NewStore() *Store { return newStore(Bugs{}) }

// newStore returns an empty simulated store with bugs switched on.
func newStore(bugs Bugs) *Store {
	s := &Store{bugs: bugs}
	s.mem = s.newMemory()
	s.mem.Subscribe(s.onEvent)
	return s
}

// newMemory makes the memory store, with the bugs of the memory store
// itself switched on.
func (s *Store) newMemory() *memory.Store {
	m := memory.New()
	if s.bugs.UncancelledChildren {
		if err := simhook.KeepDescendants(m); err != nil {
			panic(err) // only a programming error: m is a *memory.Store
		}
	}
	return m
}

var _ storage.Store = (*Store)(nil)

func (s *Store) now(p time.Time) time.Time {
	if s.h.now == nil {
		return p
	}
	return s.h.now(p)
}

func (s *Store) tracef(format string, args ...any) {
	if s.h.trace != nil {
		s.h.trace(format, args...)
	}
}

// durability says how a write commits.
type durability int

const (
	readOnly durability = iota
	asyncCommit
	syncCommit
)

// do runs one call: the fault decided for it, the call on the memory
// store (apply), and, for a write that took effect, its entry in the log
// (replay does it again on a rebuilt store).
func (s *Store) do(op string, d durability, apply func(m *memory.Store) error, replay func(m *memory.Store)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := faultNone
	if s.h.fault != nil {
		f = s.h.fault(op)
	}
	switch f {
	case faultBefore:
		s.tracef("store %s: fails before taking effect", op)
		s.afterCall(op)
		return fmt.Errorf("sim: %s: %w (before taking effect)", op, errInjected)
	case faultFatal:
		s.tracef("store %s: fails with a fatal error", op)
		s.afterCall(op)
		return fmt.Errorf("sim: %s: the database is damaged: %w", op, storage.ErrFatal)
	}
	err := apply(s.mem)
	if err == nil && d != readOnly {
		s.writes++
		s.log = append(s.log, replay)
		if d == syncCommit {
			s.durable = len(s.log)
		}
	}
	s.afterCall(op)
	if f == faultAfter && err == nil {
		s.tracef("store %s: took effect, then fails", op)
		return fmt.Errorf("sim: %s: %w (after taking effect)", op, errInjected)
	}
	return err
}

func (s *Store) afterCall(op string) {
	if s.h.after != nil {
		s.h.after(op)
	}
}

// Crash loses what a crash of the database server loses: the writes after
// the last synchronous one. It rebuilds the state from the log and
// returns how many writes were lost. Subscribers stay (the events of the
// lost writes were published already, as a real store's would have been).
func (s *Store) Crash() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	lost := len(s.log) - s.durable
	s.log = s.log[:s.durable]
	m := s.newMemory()
	for _, f := range s.log {
		f(m)
	}
	_ = s.mem.Close()
	s.mem = m
	m.Subscribe(s.onEvent)
	return lost
}

// onEvent fans the memory store's events out to the subscribers. The
// memory store publishes from within a call (do), which holds s.mu.
func (s *Store) onEvent(ev storage.Event) {
	for _, sub := range slices.Clone(s.subs) {
		switch {
		case sub.gone:
		case s.h.publish != nil:
			s.h.publish(sub, ev)
		default:
			sub.fn(ev)
		}
	}
}

// Subscribe registers fn; see storage.Store.
func (s *Store) Subscribe(fn func(storage.Event)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := &subscriber{owner: s.owner, fn: fn}
	s.subs = append(s.subs, sub)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.unsubscribe(sub)
	}
}

// unsubscribe removes sub; s.mu is held.
func (s *Store) unsubscribe(sub *subscriber) {
	sub.gone = true
	s.subs = slices.DeleteFunc(s.subs, func(x *subscriber) bool { return x == sub })
}

// dropSubscribers removes the subscriptions of owner (an executor that
// crashed: its process, and so its subscriptions, are gone).
func (s *Store) dropSubscribers(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range slices.Clone(s.subs) {
		if sub.owner == owner {
			s.unsubscribe(sub)
		}
	}
}

// Insert inserts executions; see storage.Store.
func (s *Store) Insert(ctx context.Context, p storage.InsertParams) error {
	p.Now = s.now(p.Now)
	p.Executions = slices.Clone(p.Executions)
	err := s.do("insert", syncCommit, func(m *memory.Store) error {
		if err := m.Insert(ctx, p); err != nil {
			return err
		}
		if s.h.inserted != nil {
			s.h.inserted(p.Executions)
		}
		for _, e := range p.Executions {
			if e.Status == storage.StatusRunning && e.SleepKey == "" && e.ExecutorID != "" {
				s.handed(e.ID, 0, e.ExecutorID, false)
			}
		}
		return nil
	}, func(m *memory.Store) { _ = m.Insert(context.Background(), p) })
	s.tracef("store insert %s: error %v", idsString(p.Executions), err)
	return err
}

func (s *Store) handed(id string, fence int64, executor string, takeover bool) {
	if s.h.handed != nil {
		s.h.handed(id, fence, executor, takeover)
	}
}

// takenOver reports whether a row as Claim returned it took a lapsed lease
// over (the engine's logTakeovers reads it the same way).
func takenOver(e storage.Execution) bool {
	return e.Crashes > 0 && e.Error != nil && e.Error.Kind == storage.ErrorKindLeaseExpired &&
		e.Status == storage.StatusRunning && e.SleepKey == "" && !e.StartedAt.Equal(e.UpdatedAt)
}

// Get reads one execution; see storage.Store.
func (s *Store) Get(ctx context.Context, p storage.GetParams) (e storage.Execution, err error) {
	err = s.do("get", readOnly, func(m *memory.Store) error { e, err = m.Get(ctx, p); return err }, nil)
	return e, err
}

// GetBySleepKey reads a sleeping execution; see storage.Store.
func (s *Store) GetBySleepKey(ctx context.Context, p storage.GetBySleepKeyParams) (e storage.Execution, err error) {
	err = s.do("get_by_sleep_key", readOnly, func(m *memory.Store) error { e, err = m.GetBySleepKey(ctx, p); return err }, nil)
	return e, err
}

// ListChildren lists a parent's children; see storage.Store.
func (s *Store) ListChildren(ctx context.Context, p storage.ListChildrenParams) (out []storage.Execution, err error) {
	err = s.do("list_children", readOnly, func(m *memory.Store) error { out, err = m.ListChildren(ctx, p); return err }, nil)
	if s.bugs.UnorderedChildren && p.Limit == 0 {
		slices.Reverse(out)
	}
	return out, err
}

// Claim claims due rows; see storage.Store.
func (s *Store) Claim(ctx context.Context, p storage.ClaimParams) (out []storage.Execution, err error) {
	p.Now = s.now(p.Now)
	p.TaskIDs = slices.Clone(p.TaskIDs)
	d := syncCommit
	if s.bugs.AsyncClaims {
		d = asyncCommit
	}
	var got []storage.Execution
	err = s.do("claim", d, func(m *memory.Store) error {
		got, err = m.Claim(ctx, p)
		s.tracef("store claim by %s: %s", p.ExecutorID, claimsString(got))
		for _, e := range got {
			s.handed(e.ID, e.Fence, e.ExecutorID, takenOver(e))
		}
		return err
	}, func(m *memory.Store) { _, _ = m.Claim(context.Background(), p) })
	if err != nil {
		return nil, err
	}
	return got, nil
}

// NextDue tells when the next row is due; see storage.Store.
func (s *Store) NextDue(ctx context.Context, p storage.NextDueParams) (wait time.Duration, ok bool, err error) {
	p.Now = s.now(p.Now)
	err = s.do("next_due", readOnly, func(m *memory.Store) error { wait, ok, err = m.NextDue(ctx, p); return err }, nil)
	return wait, ok, err
}

// Heartbeat extends leases; see storage.Store. It commits asynchronously.
func (s *Store) Heartbeat(ctx context.Context, p storage.HeartbeatParams) (lost []storage.Lease, err error) {
	p.Now = s.now(p.Now)
	p.Leases = sortedLeases(p.Leases)
	if s.bugs.ShortHeartbeat {
		p.Lease /= 2
	}
	err = s.do("heartbeat", asyncCommit, func(m *memory.Store) error {
		if lost, err = m.Heartbeat(ctx, p); err == nil && s.h.renewed != nil {
			s.h.renewed(slices.DeleteFunc(slices.Clone(p.Leases), func(l storage.Lease) bool { return slices.Contains(lost, l) }))
		}
		return err
	},
		func(m *memory.Store) { _, _ = m.Heartbeat(context.Background(), p) })
	if err != nil {
		return nil, err
	}
	return lost, nil
}

// Complete applies transitions; see storage.Store.
func (s *Store) Complete(ctx context.Context, p storage.CompleteParams) (res []storage.TransitionResult, err error) {
	p.Now = s.now(p.Now)
	orig := slices.Clone(p.Transitions)
	p.Transitions = slices.Clone(p.Transitions)
	before := make([]storage.Execution, len(orig))
	err = s.do("complete", syncCommit, func(m *memory.Store) error {
		for i, tr := range orig {
			before[i], _ = m.Get(ctx, storage.GetParams{ID: tr.ID})
		}
		s.buggy(p.Transitions, before)
		res, err = m.Complete(ctx, p)
		s.tracef("store complete: %s", transitionsString(orig, res))
		for i := range res {
			if res[i].Applied && s.h.applied != nil {
				s.h.applied(orig[i], before[i])
			}
		}
		return err
	}, func(m *memory.Store) { _, _ = m.Complete(context.Background(), p) })
	if err != nil {
		return nil, err
	}
	return res, nil
}

// buggy applies the switched-on bugs to the transitions of a Complete,
// given the rows as they are.
func (s *Store) buggy(trs []storage.Transition, rows []storage.Execution) {
	for i := range trs {
		tr := &trs[i]
		if s.bugs.UnguardedComplete && rows[i].ID != "" && rows[i].Status == tr.From {
			tr.Fence = rows[i].Fence
		}
		if s.bugs.UncountedRetry && tr.To == storage.StatusReady && tr.Error != nil && tr.Attempt > 0 {
			tr.Attempt--
		}
	}
}

// Cancel cancels an execution; see storage.Store.
func (s *Store) Cancel(ctx context.Context, p storage.CancelParams) (ok bool, err error) {
	p.Now = s.now(p.Now)
	err = s.do("cancel", syncCommit, func(m *memory.Store) error { ok, err = m.Cancel(ctx, p); return err },
		func(m *memory.Store) { _, _ = m.Cancel(context.Background(), p) })
	s.tracef("store cancel %s: cancelled %v, error %v", p.ID, ok, err)
	return ok, err
}

// Release gives claims back; see storage.Store.
func (s *Store) Release(ctx context.Context, p storage.ReleaseParams) error {
	p.Now = s.now(p.Now)
	p.Leases = sortedLeases(p.Leases)
	err := s.do("release", syncCommit, func(m *memory.Store) error { return m.Release(ctx, p) },
		func(m *memory.Store) { _ = m.Release(context.Background(), p) })
	s.tracef("store release %s: error %v", leasesString(p.Leases), err)
	return err
}

// Recover makes an executor's claims due; see storage.Store.
func (s *Store) Recover(ctx context.Context, p storage.RecoverParams) (n int, err error) {
	p.Now = s.now(p.Now)
	err = s.do("recover", syncCommit, func(m *memory.Store) error {
		if n, err = m.Recover(ctx, p); err == nil && s.h.recovered != nil {
			s.h.recovered(p.ExecutorID)
		}
		return err
	},
		func(m *memory.Store) { _, _ = m.Recover(context.Background(), p) })
	s.tracef("store recover %s: %d, error %v", p.ExecutorID, n, err)
	return n, err
}

// List lists executions; see storage.Lister.
func (s *Store) List(ctx context.Context, p storage.ListParams) (out []storage.Execution, err error) {
	err = s.do("list", readOnly, func(m *memory.Store) error { out, err = m.List(ctx, p); return err }, nil)
	return out, err
}

// Count counts executions; see storage.Lister.
func (s *Store) Count(ctx context.Context, p storage.CountParams) (out []storage.Count, err error) {
	err = s.do("count", readOnly, func(m *memory.Store) error { out, err = m.Count(ctx, p); return err }, nil)
	return out, err
}

// Delete deletes executions; see storage.Lister.
func (s *Store) Delete(ctx context.Context, p storage.DeleteParams) (n int, err error) {
	err = s.do("delete", syncCommit, func(m *memory.Store) error { n, err = m.Delete(ctx, p); return err },
		func(m *memory.Store) { _, _ = m.Delete(context.Background(), p) })
	return n, err
}

// DeleteExpired deletes expired trees; see storage.Lister.
func (s *Store) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (res storage.DeleteExpiredResult, err error) {
	err = s.do("delete_expired", syncCommit, func(m *memory.Store) error { res, err = m.DeleteExpired(ctx, p); return err },
		func(m *memory.Store) { _, _ = m.DeleteExpired(context.Background(), p) })
	return res, err
}

// Lead takes or renews a named lease; see storage.Leader.
func (s *Store) Lead(ctx context.Context, p storage.LeadParams) (ok bool, err error) {
	p.Now = s.now(p.Now)
	err = s.do("lead", syncCommit, func(m *memory.Store) error { ok, err = m.Lead(ctx, p); return err },
		func(m *memory.Store) { _, _ = m.Lead(context.Background(), p) })
	return ok, err
}

// Close closes the store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mem.Close()
}

// peek reads a row without faults or trace (the invariants' view).
func (s *Store) peek(id string) (storage.Execution, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.mem.Get(context.Background(), storage.GetParams{ID: id})
	return e, err == nil
}

// children reads a parent's children without faults, bugs or trace.
func (s *Store) children(id string) []storage.Execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, _ := s.mem.ListChildren(context.Background(), storage.ListChildrenParams{ParentID: id})
	return out
}

// RegisterControls registers controls; see storage.Controls.
func (s *Store) RegisterControls(ctx context.Context, p storage.RegisterControlsParams) error {
	p.Now = s.now(p.Now)
	return s.do("register_controls", syncCommit, func(m *memory.Store) error { return m.RegisterControls(ctx, p) },
		func(m *memory.Store) { _ = m.RegisterControls(context.Background(), p) })
}

// ListControls lists controls; see storage.Controls.
func (s *Store) ListControls(ctx context.Context, p storage.ListControlsParams) (out []storage.Control, err error) {
	err = s.do("list_controls", readOnly, func(m *memory.Store) error { out, err = m.ListControls(ctx, p); return err }, nil)
	if s.bugs.HiddenLimit {
		for i := range out {
			out[i].Concurrency, out[i].PerKey, out[i].Rate, out[i].Per = 0, 0, 0, 0
		}
	}
	return out, err
}

// limitQueue gives queue name its limits before the simulation starts: a
// durable write, with no fault, no hook and no trace.
func (s *Store) limitQueue(name string, limit, perKey int) error {
	apply := func(m *memory.Store) error {
		if err := m.RegisterControls(context.Background(), storage.RegisterControlsParams{Now: epoch,
			Controls: []storage.Control{{Kind: storage.ControlQueue, Name: name}}}); err != nil {
			return err
		}
		_, err := m.LimitControl(context.Background(), storage.LimitControlParams{Now: epoch,
			Kind: storage.ControlQueue, Name: name, Concurrency: limit, PerKey: perKey})
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := apply(s.mem); err != nil {
		return err
	}
	s.writes++
	s.log = append(s.log, func(m *memory.Store) { _ = apply(m) })
	s.durable = len(s.log)
	return nil
}

// PauseControl pauses or resumes a control; see storage.Controls.
func (s *Store) PauseControl(ctx context.Context, p storage.PauseControlParams) (changed bool, err error) {
	p.Now = s.now(p.Now)
	err = s.do("pause_control", syncCommit, func(m *memory.Store) error { changed, err = m.PauseControl(ctx, p); return err },
		func(m *memory.Store) { _, _ = m.PauseControl(context.Background(), p) })
	return changed, err
}

// LimitControl sets a queue's concurrency limit; see storage.Controls.
func (s *Store) LimitControl(ctx context.Context, p storage.LimitControlParams) (changed bool, err error) {
	p.Now = s.now(p.Now)
	err = s.do("limit_control", syncCommit, func(m *memory.Store) error { changed, err = m.LimitControl(ctx, p); return err },
		func(m *memory.Store) { _, _ = m.LimitControl(context.Background(), p) })
	return changed, err
}

// AdvanceControl moves a control's mark; see storage.Controls.
func (s *Store) AdvanceControl(ctx context.Context, p storage.AdvanceControlParams) (ok bool, err error) {
	p.Now = s.now(p.Now)
	err = s.do("advance_control", syncCommit, func(m *memory.Store) error { ok, err = m.AdvanceControl(ctx, p); return err },
		func(m *memory.Store) { _, _ = m.AdvanceControl(context.Background(), p) })
	return ok, err
}
