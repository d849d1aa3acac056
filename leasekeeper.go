package durable

import (
	"context"
	"log/slog"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/internal/startstop"
	"github.com/durable-go/durable/storage"
)

// leaseKeeperConfig is what a leaseKeeper depends on. Every field is
// required.
type leaseKeeperConfig struct {
	// Heartbeat and Release are the store's (storage.Store.Heartbeat,
	// storage.Store.Release).
	Heartbeat func(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error)
	Release   func(ctx context.Context, p storage.ReleaseParams) error
	// Held returns the leases of the claims held now.
	Held func() []storage.Lease
	// Lost is given the leases a heartbeat found lost; it forgets their
	// claims, cancels their runs, and returns how many were lost while
	// their work was still going on (a lease whose completion was written
	// after the heartbeat read the leases also reads as lost: no news).
	Lost func(lost []storage.Lease) (live int)
	// Fatal is given every heartbeat's error (nil included) and reports
	// whether it is one after which the store cannot be used.
	Fatal func(err error) bool
	// Lease is the duration a heartbeat extends each lease by; Interval,
	// how often it beats; Timeout bounds each call of the store.
	Lease, Interval, Timeout time.Duration
	Clock                    clock.Clock
	Logger                   *slog.Logger
}

// leaseKeeper keeps the leases of the claims this executor holds: from
// Start until Stop it renews them all, every Interval, in one storage call,
// and reports the ones found lost; giveBack releases leases so other
// executors take their executions at once.
type leaseKeeper struct {
	cfg  leaseKeeperConfig
	loop startstop.Base
}

func newLeaseKeeper(cfg leaseKeeperConfig) *leaseKeeper { return &leaseKeeper{cfg: cfg} }

// Start starts the heartbeats. Starting twice, or after Stop, does
// nothing.
func (k *leaseKeeper) Start() { k.loop.Start(k.run) }

// Stop stops the heartbeats and returns once no heartbeat is in flight. It
// is idempotent and works before Start.
func (k *leaseKeeper) Stop() { k.loop.Stop() }

func (k *leaseKeeper) run(stop <-chan struct{}) {
	timer := k.cfg.Clock.NewTimer(k.cfg.Interval)
	defer timer.Stop()
	for {
		// A Stop asked while the last heartbeat ran wins over the timer,
		// which fired meanwhile: a select with both ready picks at
		// random, and would start another heartbeat that Stop waits for.
		select {
		case <-stop:
			return
		default:
		}
		select {
		case <-stop:
			return
		case <-timer.C():
		}
		k.heartbeat()
		timer.Reset(k.cfg.Interval)
	}
}

// heartbeat renews every lease held and reports those found lost. A
// fatal error goes to Fatal (which stops the executor, and so the keeper).
func (k *leaseKeeper) heartbeat() {
	leases := k.cfg.Held()
	if len(leases) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.cfg.Timeout)
	defer cancel()
	lost, err := k.cfg.Heartbeat(ctx, storage.HeartbeatParams{Now: k.cfg.Clock.Now(), Lease: k.cfg.Lease, Leases: leases})
	if k.cfg.Fatal(err) {
		return
	}
	if err != nil {
		k.cfg.Logger.Warn("heartbeat failed", slog.Any("error", err))
		return
	}
	if len(lost) == 0 {
		return
	}
	if live := k.cfg.Lost(lost); live > 0 {
		k.cfg.Logger.Warn("leases lost: cancelling their runs", slog.Int("count", live))
	}
}

// giveBack releases leases, so that other executors take their executions
// at once; what names them in the log. If that fails, they are taken over
// when the leases lapse. It reports whether it released them.
func (k *leaseKeeper) giveBack(leases []storage.Lease, what string) bool {
	if len(leases) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.cfg.Timeout)
	defer cancel()
	if err := k.cfg.Release(ctx, storage.ReleaseParams{Now: k.cfg.Clock.Now(), Leases: leases}); err != nil {
		k.cfg.Logger.Warn("giving back "+what+" failed; they will be taken over when their leases lapse",
			slog.Int("leases", len(leases)), slog.Any("error", err))
		return false
	}
	return true
}

// giveBackAll releases every lease still held (those of abandoned runs,
// at shutdown).
func (k *leaseKeeper) giveBackAll() { k.giveBack(k.cfg.Held(), "claims held at shutdown") }
