package durable

import (
	"context"
	"log/slog"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/internal/startstop"
	"github.com/durable-go/durable/storage"
)

// cleanerConfig is what a cleaner depends on. Every field is required.
type cleanerConfig struct {
	// DeleteExpired and Lead are the store's (storage.Lister,
	// storage.Leader).
	DeleteExpired func(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error)
	Lead          func(ctx context.Context, p storage.LeadParams) (bool, error)
	// Owner is the executor's id, the holder of the cleaner's lease.
	Owner     string
	Retention Retention // after withDefaults
	// Timeout bounds each call of the store.
	Timeout time.Duration
	// Fatal reports whether an error is one after which the store cannot
	// be used (and stops the executor).
	Fatal  func(err error) bool
	Clock  clock.Clock
	Logger *slog.Logger
}

// cleanerLease names the lease that elects the one cleaning executor.
const cleanerLease = "durable.retention"

// cleaner deletes expired finished executions (Config.Retention): at
// Start and then every Interval, the executor holding the cleaner's lease
// deletes the expired trees, oldest first, Batch roots per storage call
// (storage.Lister.DeleteExpired), renewing its lease before each batch and
// pausing after it (pauseAfter). The others only try to take the lease.
type cleaner struct {
	cfg  cleanerConfig
	loop startstop.Base
}

func newCleaner(cfg cleanerConfig) *cleaner { return &cleaner{cfg: cfg} }

// Start starts cleaning; starting twice, or after Stop, does nothing.
func (c *cleaner) Start() { c.loop.Start(c.run) }

// Stop stops cleaning (between two batches), gives the lease up, and
// returns once the cleaner has stopped. Idempotent; works before Start.
func (c *cleaner) Stop() { c.loop.Stop() }

func (c *cleaner) run(stop <-chan struct{}) {
	defer c.resign()
	timer := c.cfg.Clock.NewTimer(c.cfg.Retention.Interval)
	defer timer.Stop()
	for {
		c.clean(stop) // at Start, then every Interval
		select {
		case <-stop:
			return
		case <-timer.C():
		}
		timer.Reset(c.cfg.Retention.Interval)
	}
}

// classes are the statuses a tree's root may end in, by retention period.
func (c *cleaner) classes() []struct {
	keep     time.Duration
	statuses []storage.Status
} {
	r := c.cfg.Retention
	return []struct {
		keep     time.Duration
		statuses []storage.Status
	}{
		{r.Completed, []storage.Status{storage.StatusCompleted}},
		{r.Failed, []storage.Status{storage.StatusFailed, storage.StatusTimedOut, storage.StatusChildrenFailed, storage.StatusFinalizeFailed}},
		{r.Cancelled, []storage.Status{storage.StatusCancelled}},
	}
}

// clean deletes every expired tree, if this executor holds the lease, and
// returns how many rows went.
func (c *cleaner) clean(stop <-chan struct{}) int {
	total := 0
	for _, class := range c.classes() {
		if class.keep == keepForever {
			continue
		}
		n, ok := c.cleanClass(stop, class.statuses, class.keep)
		total += n
		if !ok {
			break
		}
	}
	if total > 0 {
		c.cfg.Logger.Info("retention: deleted expired executions", slog.Int("deleted", total))
	}
	return total
}

// cleanClass deletes the expired trees whose root ended in one of
// statuses, batch by batch (one DeleteExpired each), while this executor
// holds the lease. It reports false when the cleaning must stop (stopped,
// lease not held, store error).
func (c *cleaner) cleanClass(stop <-chan struct{}, statuses []storage.Status, keep time.Duration) (int, bool) {
	total := 0
	var after *storage.ListKey // the last root taken: the next batch starts after it
	for {
		select {
		case <-stop:
			return total, false
		default:
		}
		if !c.lead() {
			return total, false
		}
		start := c.cfg.Clock.Now()
		var res storage.DeleteExpiredResult
		err := c.call(func(ctx context.Context) (err error) {
			res, err = c.cfg.DeleteExpired(ctx, storage.DeleteExpiredParams{Statuses: statuses,
				Before: start.Add(-keep), After: after, Limit: c.cfg.Retention.Batch})
			return err
		})
		if err != nil {
			return total, false
		}
		total += res.Rows
		for _, id := range res.Kept {
			c.cfg.Logger.Warn("retention: an expired execution cannot be deleted: its tree holds an unfinished execution",
				slog.String("execution", id))
		}
		if res.Roots < c.cfg.Retention.Batch {
			return total, true
		}
		after = &res.Last // a database need not walk past the entries of deleted rows again
		if !c.pause(stop, pauseAfter(c.cfg.Clock.Now().Sub(start), c.cfg.Retention.Share)) {
			return total, false
		}
	}
}

// defaultCleanerShare is Retention.Share's default: a third. Measured
// with durable bench --workload retention (docs/performance.md,
// "Retention"): beside a drain that keeps the store busy, PostgreSQL
// purges about 54,000 rows/s and the drain runs at about 0.81 of its rate
// without the cleaner; SQLite, whose one writer the deletes share with
// the drain, about 40,000 rows/s (2/5: about 52,000 rows/s at 0.82).
const defaultCleanerShare = 1.0 / 3

// pauseAfter is the pause after a batch that took took, so that the batch
// is share of the batch and the pause.
func pauseAfter(took time.Duration, share float64) time.Duration {
	return time.Duration(float64(took) * (1 - share) / share)
}

// pause waits for d, so that the cleaner uses at most Retention.Share of
// the store's time however much there is to delete, and the executors'
// claims and completions go on between batches. It reports false when
// stopped.
func (c *cleaner) pause(stop <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := c.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C():
		return true
	}
}

// lead takes or renews the cleaner's lease, for long enough to cover two
// intervals: if this executor dies, another cleans within that.
func (c *cleaner) lead() bool {
	var held bool
	err := c.call(func(ctx context.Context) (err error) {
		held, err = c.cfg.Lead(ctx, storage.LeadParams{Now: c.cfg.Clock.Now(), Name: cleanerLease,
			Owner: c.cfg.Owner, TTL: 2 * c.cfg.Retention.Interval})
		return err
	})
	return err == nil && held
}

// resign gives the lease up, so that another executor cleans at once.
func (c *cleaner) resign() {
	_ = c.call(func(ctx context.Context) error {
		_, err := c.cfg.Lead(ctx, storage.LeadParams{Now: c.cfg.Clock.Now(), Name: cleanerLease, Owner: c.cfg.Owner})
		return err
	})
}

// call runs one store call under the timeout; an error is logged (and a
// fatal one stops the executor through Fatal) and returned.
func (c *cleaner) call(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	err := fn(ctx)
	if err != nil {
		if !c.cfg.Fatal(err) {
			c.cfg.Logger.Warn("retention: store call failed; retrying at the next interval", slog.Any("error", err))
		}
	}
	return err
}
