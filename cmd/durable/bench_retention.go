package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// The retention workload's settings: how long the purge phase keeps
// completed executions (the expired ones are older), and the steady
// state's retention and cleaning interval.
const (
	purgeKeep      = time.Second
	steadyKeep     = 5 * time.Second
	cleanEvery     = time.Second
	steadySample   = 10 * time.Second
	purgeMaxWait   = 10 * time.Minute
	enqueueTick    = 100 * time.Millisecond
	enqueueBatches = 5000
)

// RetentionResult holds the figures of the retention workload.
type RetentionResult struct {
	// The purge while draining: Expired executions finished and expired
	// before it; the cleaner deleted PurgeRows rows (the expired ones and
	// any drained ones that expired meanwhile) in PurgeS seconds, from its
	// first delete to the one that took the last expired execution.
	Expired       int     `json:"expired,omitempty"`
	Drain         int     `json:"drain,omitempty"`
	PurgeRows     int     `json:"purge_rows,omitempty"`
	PurgeS        float64 `json:"purge_s,omitempty"`
	PurgeRowsPerS float64 `json:"purge_rows_per_s,omitempty"`
	// DrainCleaning is the drain rate while the cleaner purged (tasks
	// finished within the purge); DrainBaseBefore and DrainBaseAfter the
	// rates of the same drain without a cleaner, run before and after it,
	// over the same span from their start, and DrainBase their mean;
	// DrainRatio is DrainCleaning/DrainBase (1 - the cut). Overlap is the
	// share of the purge during which the drain ran (below 1, the drain
	// ended first).
	DrainCleaning   float64 `json:"drain_rate_cleaning,omitempty"`
	DrainBaseBefore float64 `json:"drain_rate_base_before,omitempty"`
	DrainBaseAfter  float64 `json:"drain_rate_base_after,omitempty"`
	DrainBase       float64 `json:"drain_rate_base,omitempty"`
	DrainRatio      float64 `json:"drain_ratio,omitempty"`
	Overlap         float64 `json:"purge_overlap,omitempty"`
	// DrainCleaningAll and DrainBaseAll are the rates of the whole drains
	// (the --drain tasks over the time from the executor's start until the
	// last finished), DrainBaseAll the mean of the two without cleaner.
	DrainCleaningAll float64 `json:"drain_rate_cleaning_all,omitempty"`
	DrainBaseAll     float64 `json:"drain_rate_base_all,omitempty"`
	// Order names the method that produced these figures, the order of
	// the drains ("base-cleaner-base"), so that raw results files say it.
	Order string `json:"order,omitempty"`
	// The steady state: Rate enqueues per second for DurationS seconds
	// with a short retention; a sample every SampleS seconds of the
	// table's rows, its unfinished rows, and the drain rate of the span.
	Rate        int     `json:"rate,omitempty"`
	DurationS   float64 `json:"duration_s,omitempty"`
	SampleS     float64 `json:"sample_s,omitempty"`
	EnqueueRate float64 `json:"steady_enqueue_rate,omitempty"`
	FirstRate   float64 `json:"steady_first_rate,omitempty"`
	LastRate    float64 `json:"steady_last_rate,omitempty"`
	SteadyRatio float64 `json:"steady_ratio,omitempty"`
	// FirstMinute and LastMinute are the drain rates over the first and
	// the last minute (the first and last six samples; with a shorter
	// run, the first and last half), MinuteRatio their ratio: issue #12's
	// figure.
	FirstMinute   float64        `json:"steady_first_minute_rate,omitempty"`
	LastMinute    float64        `json:"steady_last_minute_rate,omitempty"`
	MinuteRatio   float64        `json:"steady_minute_ratio,omitempty"`
	RowsMax       int64          `json:"rows_max,omitempty"`
	RowsLast      int64          `json:"rows_last,omitempty"`
	UnfinishedMax int64          `json:"unfinished_max,omitempty"`
	Samples       []SteadySample `json:"samples,omitempty"`
}

// SteadySample is one sample of the steady state.
type SteadySample struct {
	AtS        float64 `json:"at_s"`
	Rows       int64   `json:"rows"`
	Unfinished int64   `json:"unfinished"`
	DrainRate  float64 `json:"drain_rate"`
}

func retentionFigures() []figure {
	rr := func(get func(*RetentionResult) float64) func(Result) float64 {
		return func(r Result) float64 { return get(r.Retention) }
	}
	return []figure{
		{"purge rows/s (draining)", "/s", rr(func(x *RetentionResult) float64 { return x.PurgeRowsPerS })},
		{"drain while purging", "/s", rr(func(x *RetentionResult) float64 { return x.DrainCleaning })},
		{"drain without cleaner", "/s", rr(func(x *RetentionResult) float64 { return x.DrainBase })},
		{"drain ratio (with/without)", "", rr(func(x *RetentionResult) float64 { return x.DrainRatio })},
		{"purge overlap with drain", "", rr(func(x *RetentionResult) float64 { return x.Overlap })},
		{"steady first drain rate", "/s", rr(func(x *RetentionResult) float64 { return x.FirstRate })},
		{"steady last drain rate", "/s", rr(func(x *RetentionResult) float64 { return x.LastRate })},
		{"steady last/first", "", rr(func(x *RetentionResult) float64 { return x.SteadyRatio })},
		{"steady first minute", "/s", rr(func(x *RetentionResult) float64 { return x.FirstMinute })},
		{"steady last minute", "/s", rr(func(x *RetentionResult) float64 { return x.LastMinute })},
		{"steady last/first minute", "", rr(func(x *RetentionResult) float64 { return x.MinuteRatio })},
		{"steady unfinished max", "", rr(func(x *RetentionResult) float64 { return float64(x.UnfinishedMax) })},
		{"steady rows max", "", rr(func(x *RetentionResult) float64 { return float64(x.RowsMax) })},
		{"steady rows last", "", rr(func(x *RetentionResult) float64 { return float64(x.RowsLast) })},
	}
}

// benchRetention runs the retention workload on a fresh store: the purge
// while draining (unless --expired 0), then the steady state (unless
// --duration 0), each with real executors and their cleaner.
func benchRetention(ctx context.Context, f benchFlags, r *Result) error {
	bs, err := openBenchStore(ctx, f)
	if err != nil {
		return err
	}
	defer bs.close()
	store := &deleteWatch{Store: bs}
	rr := r.Retention
	r.Settings["batch"] = "default (1000)"
	if f.batch > 0 {
		r.Settings["batch"] = strconv.Itoa(f.batch)
	}
	r.Settings["cleaner_share"] = "default (1/3)"
	if f.share > 0 {
		r.Settings["cleaner_share"] = strconv.FormatFloat(f.share, 'g', 4, 64)
	}
	r.Settings["interval"] = cleanEvery.String()
	if f.expired > 0 {
		r.Settings["purge_retention"] = purgeKeep.String()
		if err := benchPurge(ctx, f, store, rr); err != nil {
			return err
		}
	}
	if f.duration > 0 {
		r.Settings["steady_retention"] = steadyKeep.String()
		if err := benchSteady(ctx, f, store, rr); err != nil {
			return err
		}
	}
	return nil
}

// retentionExecutor is an executor on store whose cleaner keeps completed
// executions for keep (-1: forever, no cleaning).
func retentionExecutor(store storage.Store, f benchFlags, id string, keep time.Duration) (*durable.Executor, *durable.Task[noopInput, empty], error) {
	ex, err := durable.New(store, durable.Config{
		Concurrency: f.concurrency,
		ExecutorID:  id,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Retention:   durable.Retention{Completed: keep, Interval: cleanEvery, Share: f.share, Batch: f.batch},
	})
	if err != nil {
		return nil, nil, err
	}
	return ex, noopTask(ex), nil
}

// enqueueN enqueues n noop tasks in batches.
func enqueueN(ctx context.Context, task *durable.Task[noopInput, empty], n int) error {
	for from := 0; from < n; from += enqueueBatches {
		ins := make([]noopInput, min(enqueueBatches, n-from))
		for i := range ins {
			ins[i] = noopInput{I: from + i}
		}
		if _, err := task.EnqueueMany(ctx, ins); err != nil {
			return err
		}
	}
	return nil
}

// timeline records when executions finish, from the store's events.
type timeline struct {
	mu sync.Mutex
	at []time.Time
	n  []int
}

func watchFinished(store storage.Store) (*timeline, func()) {
	tl := &timeline{}
	unsub := store.Subscribe(func(ev storage.Event) {
		if len(ev.Finished) == 0 {
			return
		}
		now := time.Now()
		tl.mu.Lock()
		tl.at, tl.n = append(tl.at, now), append(tl.n, len(ev.Finished))
		tl.mu.Unlock()
	})
	return tl, unsub
}

// count returns how many executions finished in [from, to).
func (tl *timeline) count(from, to time.Time) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	c := 0
	for i, t := range tl.at {
		if !t.Before(from) && t.Before(to) {
			c += tl.n[i]
		}
	}
	return c
}

// deleteWatch is the store with the cleaner's deletes watched: how many
// rows they took and when, and when the root with a given list key went
// (the newest of the expired ones: the cleaner deletes the oldest first).
type deleteWatch struct {
	storage.Store
	mu       sync.Mutex
	watched  *storage.ListKey // the key whose deletion is awaited
	first    time.Time        // start of the first delete of rows since watch
	rows     int              // rows deleted since watch
	lastDone time.Time        // end of the delete that took the watched key
	done     chan struct{}
}

func (d *deleteWatch) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	start := time.Now()
	res, err := d.Store.DeleteExpired(ctx, p)
	end := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.watched == nil || err != nil || res.Rows == 0 || !d.lastDone.IsZero() {
		return res, err
	}
	if d.first.IsZero() {
		d.first = start
	}
	d.rows += res.Rows
	if k := res.Last; k.CreatedAt.After(d.watched.CreatedAt) ||
		k.CreatedAt.Equal(d.watched.CreatedAt) && k.ID >= d.watched.ID {
		d.lastDone = end
		close(d.done)
	}
	return res, err
}

// watch starts awaiting the deletion of the root with the key last.
func (d *deleteWatch) watch(last storage.ListKey) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.watched = &last
	d.first, d.lastDone, d.rows, d.done = time.Time{}, time.Time{}, 0, make(chan struct{})
	return d.done
}

// newestKey returns the list key of the newest execution in the store.
func newestKey(ctx context.Context, store storage.Store) (storage.ListKey, error) {
	rows, err := store.List(ctx, storage.ListParams{Limit: 1})
	if err != nil {
		return storage.ListKey{}, err
	}
	if len(rows) == 0 {
		return storage.ListKey{}, errors.New("the store holds no execution")
	}
	return storage.KeyOf(&rows[0]), nil
}

// drained is one drain of fresh tasks: when it started and ended, and
// when its tasks finished.
type drained struct {
	start, end time.Time
	tl         *timeline
}

// drainFresh enqueues n tasks on an executor keeping completed executions
// for keep, starts it (its cleaner with it), and returns once they have
// all finished; the executor is left running (stop it).
func drainFresh(ctx context.Context, f benchFlags, store storage.Store, id string, keep time.Duration, n int) (*durable.Executor, drained, error) {
	ex, task, err := retentionExecutor(store, f, id, keep)
	if err != nil {
		return nil, drained{}, err
	}
	if err := enqueueN(ctx, task, n); err != nil {
		shutdown(ex)
		return nil, drained{}, err
	}
	counter, unsub := countFinished(store, n)
	defer unsub()
	tl, unsubTL := watchFinished(store)
	defer unsubTL()
	d := drained{start: time.Now(), tl: tl}
	if err := ex.Start(ctx); err != nil {
		shutdown(ex)
		return nil, d, err
	}
	select {
	case <-counter.done:
	case <-time.After(purgeMaxWait):
		shutdown(ex)
		return nil, d, fmt.Errorf("not all %d tasks finished within %v", n, purgeMaxWait)
	case <-ctx.Done():
		shutdown(ex)
		return nil, d, ctx.Err()
	}
	d.end = time.Now()
	return ex, d, nil
}

// benchPurge fills the table with --expired completed executions (with an
// executor that keeps them forever), then runs the same drain of --drain
// fresh tasks three times: on an executor without cleaner, on one whose
// cleaner keeps completed executions for purgeKeep (so that it purges the
// filled ones while the drain runs), and on one without cleaner again.
// Each drain leaves the table larger than it found it (its rows, and dead
// row versions where nothing vacuums them), so a later drain is slower
// than an earlier one: comparing the drain while purging with the mean of
// the drains before and after it takes that drift out, as a comparison
// with one of them does not (with the drain without cleaner first, the
// cut looked 10-25 % larger than it is; with it last, smaller).
func benchPurge(ctx context.Context, f benchFlags, store *deleteWatch, rr *RetentionResult) error {
	rr.Expired, rr.Drain = f.expired, f.drain
	newest, err := fillExpired(ctx, f, store)
	if err != nil {
		return err
	}
	time.Sleep(purgeKeep) // the filled ones expire
	before, err := drainBase(ctx, f, store)
	if err != nil {
		return err
	}
	cleaning, err := drainCleaning(ctx, f, store, newest)
	if err != nil {
		return err
	}
	after, err := drainBase(ctx, f, store)
	if err != nil {
		return err
	}
	rr.Order = "base-cleaner-base"
	store.mu.Lock()
	first, last, rows := store.first, store.lastDone, store.rows
	store.mu.Unlock()
	span := last.Sub(first)
	rr.PurgeRows, rr.PurgeS = rows, span.Seconds()
	rr.PurgeRowsPerS = quotient(float64(rows), span.Seconds())
	// The drain while purging: from the first delete to the last, or to
	// the drain's end if it ended first; the drains without cleaner over
	// the same span from their start.
	to := last
	if cleaning.end.Before(to) {
		to = cleaning.end
	}
	within := to.Sub(first)
	if within <= 0 {
		return fmt.Errorf("the drain (%v) ended before the purge began; raise --drain", cleaning.end.Sub(cleaning.start))
	}
	rr.Overlap = within.Seconds() / span.Seconds()
	rr.DrainCleaning = float64(cleaning.tl.count(first, to)) / within.Seconds()
	offset := first.Sub(cleaning.start)
	rr.DrainBaseBefore, rr.DrainBaseAfter = before.rateOver(offset, within), after.rateOver(offset, within)
	rr.DrainBase = (rr.DrainBaseBefore + rr.DrainBaseAfter) / 2
	rr.DrainRatio = quotient(rr.DrainCleaning, rr.DrainBase)
	rr.DrainCleaningAll = cleaning.rate(f.drain)
	rr.DrainBaseAll = (before.rate(f.drain) + after.rate(f.drain)) / 2
	return nil
}

// fillExpired drains --expired tasks on an executor that keeps them
// forever, and returns the list key of the newest (the last the cleaner
// deletes).
func fillExpired(ctx context.Context, f benchFlags, store *deleteWatch) (storage.ListKey, error) {
	if _, err := drainKept(ctx, f, store, "bench_fill", f.expired); err != nil {
		return storage.ListKey{}, err
	}
	return newestKey(ctx, store)
}

// drainBase drains --drain fresh tasks on an executor without cleaner.
func drainBase(ctx context.Context, f benchFlags, store *deleteWatch) (drained, error) {
	return drainKept(ctx, f, store, "bench_base", f.drain)
}

// drainKept drains n fresh tasks on an executor id that keeps them
// forever (no cleaning), and stops it.
func drainKept(ctx context.Context, f benchFlags, store *deleteWatch, id string, n int) (drained, error) {
	ex, d, err := drainFresh(ctx, f, store, id, -1, n)
	if err == nil {
		shutdown(ex)
	}
	return d, err
}

// drainCleaning drains --drain fresh tasks on an executor whose cleaner
// keeps completed executions for purgeKeep, and returns once the cleaner
// has deleted the expired execution with the key newest.
func drainCleaning(ctx context.Context, f benchFlags, store *deleteWatch, newest storage.ListKey) (drained, error) {
	purged := store.watch(newest)
	cpu, err := startCPU(f.cpuProfile)
	if err != nil {
		return drained{}, err
	}
	defer cpu.stopProfile()
	ex, d, err := drainFresh(ctx, f, store, "bench_clean", purgeKeep, f.drain)
	if err != nil {
		return d, err
	}
	defer shutdown(ex)
	select {
	case <-purged:
		return d, nil
	case <-time.After(purgeMaxWait):
		return d, fmt.Errorf("the cleaner did not delete the %d expired executions within %v", f.expired, purgeMaxWait)
	case <-ctx.Done():
		return d, ctx.Err()
	}
}

// rateOver is the drain's rate over the span of length within that
// starts offset after its start; over the whole drain when it ended
// before most of that span.
func (d drained) rateOver(offset, within time.Duration) float64 {
	from := d.start.Add(offset)
	to := from.Add(within)
	if d.end.Before(to) {
		to = d.end
	}
	if from.After(to.Add(-within / 2)) {
		from, to = d.start, d.end
	}
	return float64(d.tl.count(from, to)) / to.Sub(from).Seconds()
}

// rate is the rate of the whole drain of n tasks.
func (d drained) rate(n int) float64 { return float64(n) / d.end.Sub(d.start).Seconds() }

// benchSteady enqueues --rate tasks per second for --duration on an
// executor keeping completed executions for steadyKeep, and samples the
// table every steadySample (a sixth of the duration when shorter).
func benchSteady(ctx context.Context, f benchFlags, store storage.Store, rr *RetentionResult) error {
	ex, task, err := retentionExecutor(store, f, "bench_steady", steadyKeep)
	if err != nil {
		return err
	}
	defer shutdown(ex)
	sample := steadySample
	if f.duration < 6*steadySample {
		sample = f.duration / 6
	}
	rr.Rate, rr.DurationS, rr.SampleS = f.rate, f.duration.Seconds(), sample.Seconds()
	tl, unsub := watchFinished(store)
	defer unsub()
	if err := ex.Start(ctx); err != nil {
		return err
	}
	start := time.Now()
	ctx, cancel := context.WithDeadline(ctx, start.Add(f.duration))
	defer cancel()
	enqueued := 0
	errc := make(chan error, 1)
	go func() { // the producer: keeps up with rate × elapsed
		tick := time.NewTicker(enqueueTick)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				errc <- nil
				return
			case now := <-tick.C:
				want := int(float64(f.rate)*now.Sub(start).Seconds()) - enqueued
				if want <= 0 {
					continue
				}
				ins := make([]noopInput, want)
				if _, err := task.EnqueueMany(ctx, ins); err != nil {
					if ctx.Err() != nil {
						err = nil
					}
					errc <- err
					return
				}
				enqueued += want
			}
		}
	}()
	prev := start
	takeSample := func(now time.Time) error {
		counts, err := ex.Count(context.Background(), durable.Filter{})
		if err != nil {
			return err
		}
		s := SteadySample{AtS: now.Sub(start).Seconds(),
			DrainRate: float64(tl.count(prev, now)) / now.Sub(prev).Seconds()}
		for _, c := range counts {
			s.Rows += c.N
			if !c.Status.Terminal() {
				s.Unfinished += c.N
			}
		}
		prev = now
		rr.Samples = append(rr.Samples, s)
		rr.RowsMax, rr.RowsLast = max(rr.RowsMax, s.Rows), s.Rows
		rr.UnfinishedMax = max(rr.UnfinishedMax, s.Unfinished)
		return nil
	}
	tick := time.NewTicker(sample)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case now := <-tick.C:
			if err := takeSample(now); err != nil {
				return err
			}
		}
	}
	// A sample that took long (a loaded machine) leaves the end of the
	// duration unsampled: one more sample covers it, so that the last
	// rate is the end's.
	if now := time.Now(); now.Sub(prev) >= sample/2 {
		if err := takeSample(now); err != nil {
			return err
		}
	}
	if err := <-errc; err != nil {
		return err
	}
	rr.EnqueueRate = float64(enqueued) / time.Since(start).Seconds()
	if len(rr.Samples) < 2 {
		return fmt.Errorf("only %d samples in %v", len(rr.Samples), f.duration)
	}
	rr.FirstRate, rr.LastRate = rr.Samples[0].DrainRate, rr.Samples[len(rr.Samples)-1].DrainRate
	rr.SteadyRatio = quotient(rr.LastRate, rr.FirstRate)
	k := min(int(time.Minute/sample), len(rr.Samples)/2)
	mean := func(ss []SteadySample) float64 {
		sum := 0.0
		for _, s := range ss {
			sum += s.DrainRate
		}
		return sum / float64(len(ss))
	}
	rr.FirstMinute, rr.LastMinute = mean(rr.Samples[:k]), mean(rr.Samples[len(rr.Samples)-k:])
	rr.MinuteRatio = quotient(rr.LastMinute, rr.FirstMinute)
	return nil
}

// quotient is a/b, or 0 (left out of the JSON) when b is 0: JSON has no
// infinity, and a first sample in which nothing finished has a rate of 0.
func quotient(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
