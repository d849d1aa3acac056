package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// River settings for the recovery workload. River only brings a killed
// worker's jobs back through its rescuer (run by the leader every 30 s, not
// configurable), which retries jobs running for longer than
// RescueStuckJobsAfter; that must be at least JobTimeout.
const (
	riverRecoveryJobTimeout   = 1 * time.Second
	riverRecoveryRescueAfter  = 2 * time.Second
	riverStopTimeout          = 10 * time.Second
	riverSubscribeHeadroom    = 1000
	riverNoopKind             = "peers_noop"
	riverSleepKind            = "peers_sleep"
	riverModulePath           = "github.com/riverqueue/river"
	riverSQLiteMaxConnections = 1 // what riversqlite's documentation asks for
)

// riverNoopArgs are the args of the throughput and latency jobs: {"i":n}.
type riverNoopArgs jobArgs

func (riverNoopArgs) Kind() string { return riverNoopKind }

// riverSleepArgs are the args of the recovery jobs: {"i":n}.
type riverSleepArgs jobArgs

func (riverSleepArgs) Kind() string { return riverSleepKind }

// riverNoopWorker records when each job starts and does nothing else.
type riverNoopWorker struct {
	river.WorkerDefaults[riverNoopArgs]
	starts *startRecorder
}

func (w *riverNoopWorker) Work(_ context.Context, job *river.Job[riverNoopArgs]) error {
	w.starts.mark(job.Args.I)
	return nil
}

// riverSleepWorker runs the recovery job body.
type riverSleepWorker struct {
	river.WorkerDefaults[riverSleepArgs]
	log *appendLog
}

func (w *riverSleepWorker) Work(ctx context.Context, job *river.Job[riverSleepArgs]) error {
	return runRecoveryJob(ctx, w.log, job.Args.I)
}

// riverEngine runs the workloads on River.
type riverEngine struct{}

func (riverEngine) name() string { return engineRiver }

func (riverEngine) version() string { return "river " + moduleVersion(riverModulePath) }

func (riverEngine) unsupported(_, w string) string {
	if w == workloadFanout {
		return "River has no child jobs: a job cannot spawn children and wait for their results"
	}
	return ""
}

func (riverEngine) settings(store, w string, concurrency int) map[string]string {
	s := map[string]string{
		"FetchCooldown":     river.FetchCooldownMin.String() + " (minimum)",
		"FetchPollInterval": river.FetchPollIntervalMin.String() + " (minimum)",
		"Queues.MaxWorkers": strconv.Itoa(concurrency),
	}
	switch store {
	case storeSQLite:
		s["driver"] = "riversqlite + modernc.org/sqlite " + moduleVersion("modernc.org/sqlite")
		s["sqlite"] = "journal_mode=WAL synchronous=NORMAL busy_timeout=10000 _txlock=immediate, MaxOpenConns=1"
		s["listener"] = "riversqlite notification table (polled every 50ms by the driver)"
	case storePostgres:
		s["driver"] = "riverpgxv5 + pgx " + moduleVersion("github.com/jackc/pgx/v5")
		s["pool"] = "pgxpool MaxConns=" + strconv.Itoa(pgPoolMaxConns)
		s["listener"] = "LISTEN/NOTIFY (PollOnly=false)"
		s["schema"] = "fresh schema per run (Config.Schema), dropped afterwards"
	}
	switch w {
	case workloadThroughput:
		s["enqueue"] = "InsertManyFast, one call for all jobs (COPY FROM on PostgreSQL)"
		s["completion_detected"] = "SubscribeConfig(EventKindJobCompleted) events, then the river_job completed count must be n"
	case workloadLatency:
		s["enqueue"] = "Insert, one job per round"
		s["completion_detected"] = "the job's EventKindJobCompleted event (Subscribe)"
	case workloadRecovery:
		s["enqueue"] = "InsertManyFast from an insert-only client in the orchestrator"
		s["JobTimeout"] = riverRecoveryJobTimeout.String()
		s["RescueStuckJobsAfter"] = riverRecoveryRescueAfter.String()
		s["rescuer"] = "leader only, every 30s (fixed); leader TTL 15s after the killed leader's last election"
		s["RetryPolicy"] = "DefaultRetryPolicy (first retry after ~1s, moved to available by the 5s scheduler)"
		s["completion_detected"] = "river_job completed count polled every " + recoveryPollInterval.String()
	}
	return s
}

func (e riverEngine) prepare(ctx context.Context, st *runStore) error {
	if st.kind == storePostgres {
		if err := st.createSchema(ctx); err != nil {
			return err
		}
	}
	b, err := e.open(ctx, st)
	if err != nil {
		return err
	}
	defer b.close()
	return b.migrate(ctx)
}

func (e riverEngine) throughput(ctx context.Context, st *runStore, n, concurrency int) (Metrics, error) {
	b, err := e.open(ctx, st)
	if err != nil {
		return Metrics{}, err
	}
	defer b.close()
	return b.throughput(ctx, n, concurrency)
}

func (e riverEngine) latency(ctx context.Context, st *runStore, rounds, concurrency int) (Metrics, error) {
	b, err := e.open(ctx, st)
	if err != nil {
		return Metrics{}, err
	}
	defer b.close()
	return b.latency(ctx, rounds, concurrency)
}

func (riverEngine) fanout(context.Context, *runStore, int, int) (Metrics, error) {
	return Metrics{}, errors.New("river: fanout is not supported")
}

func (e riverEngine) recoveryClient(ctx context.Context, st *runStore) (recoveryClient, error) {
	return e.open(ctx, st)
}

func (e riverEngine) recoveryWorker(ctx context.Context, st *runStore, concurrency int, log *appendLog, ready func()) error {
	b, err := e.open(ctx, st)
	if err != nil {
		return err
	}
	defer b.close()
	return b.work(ctx, concurrency, log, ready)
}

// riverStore is the non-generic face of riverBackend, whatever the driver's
// transaction type.
type riverStore interface {
	recoveryClient
	migrate(ctx context.Context) error
	throughput(ctx context.Context, n, concurrency int) (Metrics, error)
	latency(ctx context.Context, rounds, concurrency int) (Metrics, error)
	work(ctx context.Context, concurrency int, log *appendLog, ready func()) error
}

// open connects River to st with the driver for its kind.
func (riverEngine) open(ctx context.Context, st *runStore) (riverStore, error) {
	switch st.kind {
	case storeSQLite:
		db, err := st.openSQLite(riverSQLiteMaxConnections)
		if err != nil {
			return nil, err
		}
		count := func(ctx context.Context, kind string) (int, error) {
			var n int
			err := db.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE state = 'completed' AND kind = ?", kind).Scan(&n)
			return n, err
		}
		return &riverBackend[*sql.Tx]{driver: riversqlite.New(db), count: count, closeFn: func() { _ = db.Close() }}, nil
	case storePostgres:
		pool, err := st.openPgxPool(ctx)
		if err != nil {
			return nil, err
		}
		query := "SELECT count(*) FROM " + pgx.Identifier{st.schema, "river_job"}.Sanitize() + " WHERE state = 'completed' AND kind = $1"
		count := func(ctx context.Context, kind string) (int, error) {
			var n int
			err := pool.QueryRow(ctx, query, kind).Scan(&n)
			return n, err
		}
		return &riverBackend[pgx.Tx]{driver: riverpgxv5.New(pool), schema: st.schema, count: count, closeFn: pool.Close}, nil
	}
	return nil, fmt.Errorf("river: unknown store %q", st.kind)
}

// riverBackend runs the River workloads with the driver of one store.
type riverBackend[TTx any] struct {
	driver  riverdriver.Driver[TTx]
	schema  string // PostgreSQL schema; empty on SQLite
	count   func(ctx context.Context, kind string) (int, error)
	closeFn func()
}

func (b *riverBackend[TTx]) close() { b.closeFn() }

func (b *riverBackend[TTx]) migrate(ctx context.Context) error {
	m, err := rivermigrate.New(b.driver, &rivermigrate.Config{Schema: b.schema, Logger: quietLogger()})
	if err != nil {
		return fmt.Errorf("river: migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river: migrate: %w", err)
	}
	return nil
}

// config returns the client configuration with the lowest-latency settings:
// minimum fetch cooldown and poll interval, concurrency workers.
func (b *riverBackend[TTx]) config(concurrency int, workers *river.Workers) *river.Config {
	return &river.Config{
		FetchCooldown:     river.FetchCooldownMin,
		FetchPollInterval: river.FetchPollIntervalMin,
		Logger:            quietLogger(),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: concurrency}},
		Schema:            b.schema,
		Workers:           workers,
	}
}

// noopClient returns an unstarted client working no-op jobs.
func (b *riverBackend[TTx]) noopClient(concurrency int, starts *startRecorder) (*river.Client[TTx], error) {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &riverNoopWorker{starts: starts}); err != nil {
		return nil, fmt.Errorf("river: add worker: %w", err)
	}
	c, err := river.NewClient(b.driver, b.config(concurrency, workers))
	if err != nil {
		return nil, fmt.Errorf("river: new client: %w", err)
	}
	return c, nil
}

// stopClient stops c, cancelling its jobs if they do not finish in time.
func stopClient[TTx any](ctx context.Context, c *river.Client[TTx]) {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), riverStopTimeout)
	defer cancel()
	if err := c.Stop(stopCtx); err != nil {
		_ = c.StopAndCancel(stopCtx)
	}
}

func (b *riverBackend[TTx]) throughput(ctx context.Context, n, concurrency int) (Metrics, error) {
	c, err := b.noopClient(concurrency, nil)
	if err != nil {
		return Metrics{}, err
	}
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: riverNoopArgs{I: i}}
	}
	events, cancelSub := c.SubscribeConfig(&river.SubscribeConfig{
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed},
		ChanSize: n + riverSubscribeHeadroom,
	})
	defer cancelSub()

	t0 := time.Now()
	inserted, err := c.InsertManyFast(ctx, params)
	if err != nil {
		return Metrics{}, fmt.Errorf("river: InsertManyFast: %w", err)
	}
	enqueue := time.Since(t0)
	if inserted != n {
		return Metrics{}, fmt.Errorf("river: InsertManyFast inserted %d jobs, want %d", inserted, n)
	}

	t1 := time.Now()
	if err := c.Start(ctx); err != nil {
		return Metrics{}, fmt.Errorf("river: start: %w", err)
	}
	defer stopClient(ctx, c)
	if err := awaitCompletions(ctx, events, n); err != nil {
		return Metrics{}, err
	}
	drain, e2e := time.Since(t1), time.Since(t0)
	if err := b.checkCompleted(ctx, riverNoopKind, n); err != nil {
		return Metrics{}, err
	}
	return Metrics{
		EnqueueRate: ptr(rate(n, enqueue)),
		DrainRate:   ptr(rate(n, drain)),
		E2EMs:       ptr(ms(e2e)),
	}, nil
}

// awaitCompletions waits for n job-completed events; a failed job is an error.
func awaitCompletions(ctx context.Context, events <-chan *river.Event, n int) error {
	for done := 0; done < n; {
		select {
		case <-ctx.Done():
			return fmt.Errorf("river: %d of %d jobs completed: %w", done, n, ctx.Err())
		case ev, ok := <-events:
			if !ok {
				return fmt.Errorf("river: event stream closed after %d of %d completions", done, n)
			}
			if ev.Kind != river.EventKindJobCompleted {
				return fmt.Errorf("river: job %d ended as %s", ev.Job.ID, ev.Job.State)
			}
			done++
		}
	}
	return nil
}

// checkCompleted checks that exactly want jobs of kind are completed in the
// job table.
func (b *riverBackend[TTx]) checkCompleted(ctx context.Context, kind string, want int) error {
	got, err := b.count(ctx, kind)
	if err != nil {
		return fmt.Errorf("river: count completed jobs: %w", err)
	}
	if got != want {
		return fmt.Errorf("river: %d jobs completed in the store, want %d", got, want)
	}
	return nil
}

func (b *riverBackend[TTx]) latency(ctx context.Context, rounds, concurrency int) (Metrics, error) {
	starts := newStartRecorder()
	c, err := b.noopClient(concurrency, starts)
	if err != nil {
		return Metrics{}, err
	}
	events, cancelSub := c.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancelSub()
	if err := c.Start(ctx); err != nil {
		return Metrics{}, fmt.Errorf("river: start: %w", err)
	}
	defer stopClient(ctx, c)

	var samples, pickups []time.Duration
	for r := range latencyWarmup + rounds {
		t0 := time.Now()
		res, err := c.Insert(ctx, riverNoopArgs{I: r}, nil)
		if err != nil {
			return Metrics{}, fmt.Errorf("river: insert: %w", err)
		}
		if err := awaitJob(ctx, events, res.Job.ID); err != nil {
			return Metrics{}, err
		}
		d := time.Since(t0)
		if r < latencyWarmup {
			continue
		}
		samples = append(samples, d)
		if s, ok := starts.get(r); ok {
			pickups = append(pickups, s.Sub(t0))
		}
	}
	m := Metrics{LatencyMs: latencyOf(samples)}
	if len(pickups) > 0 {
		m.PickupMs = ptr(median(pickups))
	}
	return m, nil
}

// awaitJob waits for the completion event of job id.
func awaitJob(ctx context.Context, events <-chan *river.Event, id int64) error {
	timeout := time.NewTimer(roundTimeout)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("river: waiting for job %d: %w", id, ctx.Err())
		case <-timeout.C:
			return fmt.Errorf("river: job %d not completed after %s", id, roundTimeout)
		case ev, ok := <-events:
			if !ok {
				return fmt.Errorf("river: event stream closed waiting for job %d", id)
			}
			if ev.Job.ID != id {
				continue
			}
			if ev.Kind != river.EventKindJobCompleted {
				return fmt.Errorf("river: job %d ended as %s", id, ev.Job.State)
			}
			return nil
		}
	}
}

// enqueue inserts recovery jobs 0..n-1 from an insert-only client.
func (b *riverBackend[TTx]) enqueue(ctx context.Context, n int) error {
	c, err := river.NewClient(b.driver, &river.Config{Logger: quietLogger(), Schema: b.schema})
	if err != nil {
		return fmt.Errorf("river: new insert-only client: %w", err)
	}
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: riverSleepArgs{I: i}}
	}
	inserted, err := c.InsertManyFast(ctx, params)
	if err != nil {
		return fmt.Errorf("river: InsertManyFast: %w", err)
	}
	if inserted != n {
		return fmt.Errorf("river: InsertManyFast inserted %d jobs, want %d", inserted, n)
	}
	return nil
}

func (b *riverBackend[TTx]) completed(ctx context.Context) (int, error) {
	n, err := b.count(ctx, riverSleepKind)
	if err != nil {
		return 0, fmt.Errorf("river: count completed jobs: %w", err)
	}
	return n, nil
}

// work runs a client working recovery jobs until ctx ends.
func (b *riverBackend[TTx]) work(ctx context.Context, concurrency int, log *appendLog, ready func()) error {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &riverSleepWorker{log: log}); err != nil {
		return fmt.Errorf("river: add worker: %w", err)
	}
	cfg := b.config(concurrency, workers)
	cfg.JobTimeout = riverRecoveryJobTimeout
	cfg.RescueStuckJobsAfter = riverRecoveryRescueAfter
	c, err := river.NewClient(b.driver, cfg)
	if err != nil {
		return fmt.Errorf("river: new client: %w", err)
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("river: start: %w", err)
	}
	ready()
	<-ctx.Done()
	stopClient(ctx, c)
	return nil
}
