package durable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/faulty"
	"github.com/durable-go/durable/storage/memory"
)

// keeperHarness is a lease keeper over a store, with a fixed set of held
// leases; each heartbeat's outcome, each Lost and each Fatal call are
// reported on channels, so tests wait for them instead of sleeping.
type keeperHarness struct {
	t     *testing.T
	store storage.Store
	k     *leaseKeeper

	mu   sync.Mutex
	held []storage.Lease

	beats chan error           // the error of each heartbeat call
	lost  chan []storage.Lease // each Lost call
	fatal chan error           // each error Fatal judged fatal
	block chan chan struct{}   // if set, a heartbeat waits for the channel it receives
	calls atomic.Int32         // heartbeat calls started
}

const keeperLease = time.Minute

func newKeeperHarness(t *testing.T, store storage.Store) *keeperHarness {
	t.Helper()
	h := &keeperHarness{t: t, store: store, beats: make(chan error, 100), lost: make(chan []storage.Lease, 100),
		fatal: make(chan error, 100)}
	h.k = newLeaseKeeper(leaseKeeperConfig{
		Heartbeat: func(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
			h.calls.Add(1)
			if h.block != nil { // wait for a release, or give up when the call times out
				select {
				case release := <-h.block:
					select {
					case <-release:
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			lost, err := store.Heartbeat(ctx, p)
			h.beats <- err
			return lost, err
		},
		Release: store.Release,
		Held: func() []storage.Lease {
			h.mu.Lock()
			defer h.mu.Unlock()
			return append([]storage.Lease(nil), h.held...)
		},
		Lost: func(lost []storage.Lease) int { h.lost <- lost; return len(lost) },
		Fatal: func(err error) bool {
			if errors.Is(err, storage.ErrFatal) {
				h.fatal <- err
				return true
			}
			return false
		},
		Lease: keeperLease, Interval: time.Millisecond, Timeout: 5 * time.Second,
		Clock: clock.Real(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(h.k.Stop)
	return h
}

// claimed inserts n ready rows and claims them, and holds their leases.
func (h *keeperHarness) claimed(n int) []storage.Lease {
	h.t.Helper()
	ctx := context.Background()
	p := storage.InsertParams{Now: time.Now()}
	for i := range n {
		p.Executions = append(p.Executions, storage.Execution{ID: fmt.Sprintf("x%d", i), TaskID: "t",
			Status: storage.StatusReady, Input: []byte(`{}`), Timeout: time.Minute})
		p.Delays = append(p.Delays, 0)
	}
	if err := h.store.Insert(ctx, p); err != nil {
		h.t.Fatal(err)
	}
	rows, err := h.store.Claim(ctx, storage.ClaimParams{Now: time.Now(), ExecutorID: "ex", TaskIDs: []string{"t"},
		Limit: n, Lease: time.Second})
	if err != nil || len(rows) != n {
		h.t.Fatalf("claim: %d rows, %v", len(rows), err)
	}
	leases := make([]storage.Lease, n)
	for i, r := range rows {
		leases[i] = storage.Lease{ID: r.ID, Fence: r.Fence}
	}
	h.mu.Lock()
	h.held = leases
	h.mu.Unlock()
	return leases
}

func (h *keeperHarness) row(id string) storage.Execution {
	h.t.Helper()
	row, err := h.store.Get(context.Background(), storage.GetParams{ID: id})
	if err != nil {
		h.t.Fatal(err)
	}
	return row
}

// next waits for a value on ch (a hang, not a timing assumption, fails).
func next[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

func TestLeaseKeeperRenewsTheLeasesHeld(t *testing.T) {
	h := newKeeperHarness(t, memory.New())
	leases := h.claimed(3)
	before := time.Now()
	h.k.Start()
	if err := next(t, h.beats, "heartbeat"); err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		// The claim's lease was a second; the heartbeat made it a minute.
		if due := h.row(l.ID).DueAt; due.Before(before.Add(keeperLease - time.Second)) {
			t.Errorf("%s: due %v, want about %v", l.ID, due, before.Add(keeperLease))
		}
	}
	select {
	case lost := <-h.lost:
		t.Fatalf("Lost called with %v", lost)
	default:
	}
}

func TestLeaseKeeperReportsLostLeases(t *testing.T) {
	store := memory.New()
	h := newKeeperHarness(t, store)
	leases := h.claimed(2)
	stale := storage.Lease{ID: leases[1].ID, Fence: leases[1].Fence + 1}
	h.mu.Lock()
	h.held = []storage.Lease{leases[0], stale}
	h.mu.Unlock()
	h.k.Start()
	lost := next(t, h.lost, "Lost call")
	if len(lost) != 1 || lost[0] != stale {
		t.Fatalf("lost %v, want [%v]", lost, stale)
	}
}

func TestLeaseKeeperBeatsNothingWithoutLeases(t *testing.T) {
	h := newKeeperHarness(t, memory.New())
	h.k.heartbeat()
	h.k.Start()
	h.k.Stop()
	select {
	case err := <-h.beats:
		t.Fatalf("a heartbeat without leases (error %v)", err)
	default:
	}
}

func TestLeaseKeeperRidesOutAFailedHeartbeat(t *testing.T) {
	store, err := faulty.New(memory.New(), faulty.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newKeeperHarness(t, store)
	leases := h.claimed(1)
	if err := store.FailNext(faulty.MethodHeartbeat, faulty.KindBefore); err != nil {
		t.Fatal(err)
	}
	h.k.Start()
	if err := next(t, h.beats, "first heartbeat"); !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("first heartbeat: %v, want the injected fault", err)
	}
	if err := next(t, h.beats, "second heartbeat"); err != nil {
		t.Fatalf("second heartbeat: %v", err)
	}
	if due := h.row(leases[0].ID).DueAt; time.Until(due) < keeperLease/2 {
		t.Fatalf("lease not renewed after the failure: due %v", due)
	}
	select {
	case err := <-h.fatal:
		t.Fatalf("a transient fault judged fatal: %v", err)
	default:
	}
}

func TestLeaseKeeperReportsAFatalError(t *testing.T) {
	store, err := faulty.New(memory.New(), faulty.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newKeeperHarness(t, store)
	h.claimed(1)
	failed := fmt.Errorf("%w: the file is corrupt", storage.ErrFatal)
	h.k.cfg.Heartbeat = func(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
		return []storage.Lease{{ID: "x0"}}, failed
	}
	h.k.Start()
	if err := next(t, h.fatal, "Fatal call"); !errors.Is(err, failed) {
		t.Fatalf("Fatal got %v", err)
	}
	h.k.Stop()
	select {
	case lost := <-h.lost:
		t.Fatalf("Lost called after a fatal error: %v", lost)
	default:
	}
}

func TestLeaseKeeperStopWaitsForTheHeartbeatInFlight(t *testing.T) {
	h := newKeeperHarness(t, memory.New())
	h.claimed(1)
	h.block = make(chan chan struct{})
	h.k.Start()
	release := make(chan struct{})
	h.block <- release // a heartbeat is in flight
	stopped := make(chan struct{})
	go func() { h.k.Stop(); close(stopped) }()
	// Release the heartbeat only once Stop was asked: the keeper must then
	// start no other one (a second heartbeat would wait for a release that
	// never comes, until its call times out).
	next(t, h.k.loop.Stopping(), "Stop asked")
	select {
	case <-stopped:
		t.Fatal("Stop returned with a heartbeat in flight")
	case <-h.beats:
		t.Fatal("the blocked heartbeat finished")
	default:
	}
	close(release)
	next(t, h.beats, "the heartbeat in flight")
	next(t, stopped, "Stop")
	if n := h.calls.Load(); n != 1 {
		t.Errorf("%d heartbeats started, want 1: one started after Stop was asked", n)
	}
}

func TestLeaseKeeperStopBeforeStart(t *testing.T) {
	h := newKeeperHarness(t, memory.New())
	h.claimed(1)
	h.k.Stop()
	h.k.Start() // does nothing after Stop
	h.k.Stop()
	select {
	case err := <-h.beats:
		t.Fatalf("a heartbeat after Stop (error %v)", err)
	default:
	}
}

func TestLeaseKeeperGivesBack(t *testing.T) {
	h := newKeeperHarness(t, memory.New())
	leases := h.claimed(2)
	if !h.k.giveBack(leases, "test claims") {
		t.Fatal("giveBack: false")
	}
	for _, l := range leases {
		if row := h.row(l.ID); row.Status != storage.StatusReady || row.ExecutorID != "" {
			t.Errorf("%s: %s held by %q after giveBack, want ready and unheld", l.ID, row.Status, row.ExecutorID)
		}
	}
	if !h.k.giveBack(nil, "nothing") {
		t.Fatal("giveBack of nothing: false")
	}
}

func TestLeaseKeeperGiveBackAllReleasesWhatIsHeld(t *testing.T) {
	h := newKeeperHarness(t, memory.New())
	leases := h.claimed(2)
	h.k.giveBackAll()
	for _, l := range leases {
		if row := h.row(l.ID); row.Status != storage.StatusReady {
			t.Errorf("%s: %s after giveBackAll, want ready", l.ID, row.Status)
		}
	}
}

func TestLeaseKeeperFailedGiveBackLeavesTheLeases(t *testing.T) {
	store, err := faulty.New(memory.New(), faulty.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := newKeeperHarness(t, store)
	leases := h.claimed(1)
	if err := store.FailNext(faulty.MethodRelease, faulty.KindBefore); err != nil {
		t.Fatal(err)
	}
	if h.k.giveBack(leases, "test claims") {
		t.Fatal("giveBack: true although the release failed")
	}
	if row := h.row(leases[0].ID); row.Status != storage.StatusRunning {
		t.Fatalf("row %s after a failed release, want running (its lease lapses)", row.Status)
	}
}
