package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cschleiden/go-workflows/backend"
	"github.com/cschleiden/go-workflows/backend/monoprocess"
	gowfmysql "github.com/cschleiden/go-workflows/backend/mysql"
	"github.com/cschleiden/go-workflows/client"
	"github.com/cschleiden/go-workflows/core"
	"github.com/cschleiden/go-workflows/worker"
	"github.com/cschleiden/go-workflows/workflow"
	"golang.org/x/sync/errgroup"
)

// go-workflows names and settings (see README.md, "go-workflows").
const (
	gowfModulePath = "github.com/cschleiden/go-workflows"
	// gowfPollers is the number of workflow pollers and of activity pollers
	// of a worker: each poll claims one task (LIMIT 1 ... FOR UPDATE SKIP
	// LOCKED), so pollers bound the claim rate (default 2).
	gowfPollers = 8
	// gowfMaxOpenConns is the backend's connection pool, as in go-workflows'
	// own benchmark (bench/main.go); idle connections are kept as well.
	gowfMaxOpenConns = 100
	// gowfPollingInterval is the wait of a poller that found nothing
	// (default 200 ms). In one process the monoprocess backend wakes the
	// pollers on new work instead.
	gowfPollingInterval = 10 * time.Millisecond
	// gowfLockTimeout is how long a claimed workflow or activity task stays
	// locked without a heartbeat (defaults 1 and 2 minutes): the time after
	// which another worker takes over the task of a killed one.
	gowfLockTimeout = 2 * time.Second
	// gowfHeartbeat extends the lock of a task that runs longer (default 25 s,
	// which must stay below the lock timeout).
	gowfHeartbeat = 500 * time.Millisecond
	// gowfEnqueueParallel is the number of concurrent CreateWorkflowInstance
	// calls of the enqueue (go-workflows has no batch creation).
	gowfEnqueueParallel = 16
	// gowfRecoveryWorker is the WorkerName of both recovery worker processes.
	gowfRecoveryWorker = "peers-recovery-worker"
	gowfCountInterval  = 5 * time.Millisecond
)

// gowfEngine runs the workloads on go-workflows' MySQL backend.
type gowfEngine struct{}

func (gowfEngine) name() string { return engineGoWorkflows }

func (gowfEngine) version() string { return "go-workflows " + moduleVersion(gowfModulePath) }

func (gowfEngine) unsupported(string, string) string { return "" }

func (gowfEngine) settings(_, w string, concurrency int) map[string]string {
	s := map[string]string{
		"backend":                  "backend/mysql (go-sql-driver/mysql " + moduleVersion("github.com/go-sql-driver/mysql") + "), fresh database per run, dropped afterwards",
		"pool":                     "SetMaxOpenConns(" + strconv.Itoa(gowfMaxOpenConns) + "), SetMaxIdleConns(" + strconv.Itoa(gowfMaxOpenConns) + ")",
		"pollers":                  "WorkflowPollers " + strconv.Itoa(gowfPollers) + ", ActivityPollers " + strconv.Itoa(gowfPollers),
		"max_parallel":             "MaxParallelWorkflowTasks " + strconv.Itoa(concurrency) + ", MaxParallelActivityTasks " + strconv.Itoa(concurrency),
		"polling_interval":         gowfPollingInterval.String() + " (workflow and activity pollers)",
		"lock_timeout":             gowfLockTimeout.String() + " (workflow and activity tasks), heartbeat " + gowfHeartbeat.String(),
		"workflow_executor_cache":  "default (128 executors, 10s TTL)",
		"single_process_workloads": "monoprocess.NewMonoprocessBackend: the client's writes wake the worker's pollers",
	}
	switch w {
	case workloadThroughput:
		s["job"] = "one workflow returning i (no activity)"
		s["enqueue"] = "CreateWorkflowInstance, " + strconv.Itoa(gowfEnqueueParallel) + " concurrent callers (no batch creation)"
		s["completion_detected"] = "in-process count of finished bodies, then the count of finished instances polled every " + gowfCountInterval.String() + " until it is n"
	case workloadLatency:
		s["job"] = "one workflow returning i (no activity)"
		s["completion_detected"] = "client.GetWorkflowResult (polls the instance state, backoff from 1 ms x1.5)"
	case workloadFanout:
		s["fanout"] = "parent workflow starts n sub-workflows (CreateSubWorkflowInstance), then Get on each future and sums"
		s["completion_detected"] = "client.GetWorkflowResult"
	case workloadRecovery:
		s["job"] = "one workflow that runs one activity (the sleeping body: side effects belong in activities)"
		s["WorkerName"] = gowfRecoveryWorker + " (same for the killed and the restarted worker)"
		s["recovery"] = "the restarted worker claims the killed worker's tasks once their locks expire (lock timeout " + gowfLockTimeout.String() + ")"
		s["backend"] += "; no monoprocess wrapper (client and worker in different processes)"
		s["enqueue"] = "CreateWorkflowInstance, " + strconv.Itoa(gowfEnqueueParallel) + " concurrent callers"
		s["completion_detected"] = "count of finished instances polled every " + recoveryPollInterval.String()
	}
	return s
}

// gowfBench holds the workflows and activities and what they share. The
// worker registers them by their method names, which are the same in every
// process of this binary.
type gowfBench struct {
	starts *startRecorder
	log    *appendLog
	ran    atomic.Int64 // no-op workflow bodies run so far
}

func (b *gowfBench) noop(_ workflow.Context, a jobArgs) (int, error) {
	b.starts.mark(a.I)
	b.ran.Add(1)
	return a.I, nil
}

func (b *gowfBench) child(_ workflow.Context, a jobArgs) (int, error) { return a.I, nil }

// parent starts n sub-workflows, then waits for each and sums them.
func (b *gowfBench) parent(ctx workflow.Context, n int) (int64, error) {
	futures := make([]workflow.Future[int], 0, n)
	for i := range n {
		futures = append(futures, workflow.CreateSubWorkflowInstance[int](ctx, workflow.DefaultSubWorkflowOptions, b.child, jobArgs{I: i}))
	}
	var sum int64
	for i, f := range futures {
		v, err := f.Get(ctx)
		if err != nil {
			return 0, fmt.Errorf("child %d: %w", i, err)
		}
		sum += int64(v)
	}
	return sum, nil
}

// sleepWorkflow is the recovery job: one activity that logs and sleeps.
func (b *gowfBench) sleepWorkflow(ctx workflow.Context, a jobArgs) (int, error) {
	return workflow.ExecuteActivity[int](ctx, workflow.DefaultActivityOptions, b.sleepActivity, a).Get(ctx)
}

func (b *gowfBench) sleepActivity(ctx context.Context, a jobArgs) (int, error) {
	return a.I, runRecoveryJob(ctx, b.log, a.I)
}

// awaitRan waits until n no-op workflow bodies ran in this process.
func (b *gowfBench) awaitRan(ctx context.Context, n int) error {
	for b.ran.Load() < int64(n) {
		if err := sleepCtx(ctx, gowfCountInterval); err != nil {
			return fmt.Errorf("go-workflows: %d of %d workflows ran: %w", b.ran.Load(), n, err)
		}
	}
	return nil
}

// gowfRun is an open backend (and, once started, a worker) on a run's
// database, with a connection of the benchmark's own for counting.
type gowfRun struct {
	backend backend.Backend
	client  *client.Client
	bench   *gowfBench
	count   *sql.DB
	stop    context.CancelFunc // stops the worker; nil before start
	worker  *worker.Worker
}

// openGowf opens the backend on st's database. monoprocess wraps it for a
// client and worker in this one process; workerName "" gives the worker a
// name of its own.
func openGowf(ctx context.Context, st *runStore, monoproc bool, workerName string) (*gowfRun, error) {
	b, err := newGowfBackend(st, false, workerName)
	if err != nil {
		return nil, err
	}
	if monoproc {
		b = monoprocess.NewMonoprocessBackend(b)
	}
	db, err := st.openMySQL(ctx)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return &gowfRun{backend: b, client: client.New(b), bench: &gowfBench{}, count: db}, nil
}

// newGowfBackend opens go-workflows' MySQL backend on st's database, with
// its workflow task claim made MariaDB's (gowf_mariadb.go), applying its
// migrations when migrate is set. The backend panics when it cannot
// migrate; that becomes the returned error. workerName "" names the worker
// peers-<random>.
func newGowfBackend(st *runStore, migrate bool, workerName string) (b backend.Backend, err error) {
	t, err := parseMySQLDSN(st.dsn)
	if err != nil {
		return nil, err
	}
	if workerName == "" {
		suffix, err := randomSuffix()
		if err != nil {
			return nil, err
		}
		workerName = "peers-" + suffix
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("go-workflows: open the MySQL backend on %s/%s: %v", t.addr(), st.schema, r)
		}
	}()
	var pool *sql.DB
	mb := gowfmysql.NewMysqlBackend(t.host, t.port, t.user, t.password, st.schema,
		gowfmysql.WithApplyMigrations(migrate),
		gowfmysql.WithMySQLOptions(func(db *sql.DB) {
			db.SetMaxOpenConns(gowfMaxOpenConns)
			db.SetMaxIdleConns(gowfMaxOpenConns)
			pool = db
		}),
		gowfmysql.WithBackendOptions(
			backend.WithLogger(quietLogger()),
			backend.WithWorkerName(workerName),
			backend.WithWorkflowLockTimeout(gowfLockTimeout),
			backend.WithActivityLockTimeout(gowfLockTimeout),
		))
	return &mariaDBClaim{Backend: mb, db: pool, workerName: workerName}, nil
}

// start starts a worker with every workflow and activity registered.
func (r *gowfRun) start(ctx context.Context, concurrency int) error {
	opts := worker.DefaultOptions
	opts.WorkflowPollers, opts.ActivityPollers = gowfPollers, gowfPollers
	opts.MaxParallelWorkflowTasks, opts.MaxParallelActivityTasks = concurrency, concurrency
	opts.WorkflowPollingInterval, opts.ActivityPollingInterval = gowfPollingInterval, gowfPollingInterval
	opts.WorkflowHeartbeatInterval, opts.ActivityHeartbeatInterval = gowfHeartbeat, gowfHeartbeat
	w := worker.New(r.backend, &opts)
	for _, wf := range []any{r.bench.noop, r.bench.child, r.bench.parent, r.bench.sleepWorkflow} {
		if err := w.RegisterWorkflow(wf); err != nil {
			return fmt.Errorf("go-workflows: register workflow: %w", err)
		}
	}
	if err := w.RegisterActivity(r.bench.sleepActivity); err != nil {
		return fmt.Errorf("go-workflows: register activity: %w", err)
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if err := w.Start(wctx); err != nil {
		cancel()
		return fmt.Errorf("go-workflows: start worker: %w", err)
	}
	r.worker, r.stop = w, cancel
	return nil
}

// close stops the worker (letting its tasks in progress finish) and closes
// the backend and the counting connection.
func (r *gowfRun) close() {
	if r.stop != nil {
		r.stop()
		_ = r.worker.WaitForCompletion()
	}
	_ = r.backend.Close()
	_ = r.count.Close()
}

// enqueue creates n instances of workflow wf with args 0..n-1, named
// prefix-i, with gowfEnqueueParallel concurrent calls.
func (r *gowfRun) enqueue(ctx context.Context, wf any, prefix string, n int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(gowfEnqueueParallel)
	for i := range n {
		g.Go(func() error {
			_, err := r.client.CreateWorkflowInstance(gctx, client.WorkflowInstanceOptions{InstanceID: prefix + "-" + strconv.Itoa(i)}, wf, jobArgs{I: i})
			if err != nil {
				return fmt.Errorf("go-workflows: create instance %d: %w", i, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// finished returns the number of finished workflow instances.
func (r *gowfRun) finished(ctx context.Context) (int, error) {
	var n int
	if err := r.count.QueryRowContext(ctx, "SELECT count(*) FROM instances WHERE state = ?", int(core.WorkflowInstanceStateFinished)).Scan(&n); err != nil {
		return 0, fmt.Errorf("go-workflows: count finished instances: %w", err)
	}
	return n, nil
}

// awaitFinished polls until exactly n instances are finished.
func (r *gowfRun) awaitFinished(ctx context.Context, n int) error {
	for {
		got, err := r.finished(ctx)
		if err != nil {
			return err
		}
		if got == n {
			return nil
		}
		if got > n {
			return fmt.Errorf("go-workflows: %d instances finished, want %d", got, n)
		}
		if err := sleepCtx(ctx, gowfCountInterval); err != nil {
			return fmt.Errorf("go-workflows: %d of %d instances finished: %w", got, n, err)
		}
	}
}

func (gowfEngine) prepare(ctx context.Context, st *runStore) error {
	if err := st.createMySQLDatabase(ctx); err != nil {
		return err
	}
	b, err := newGowfBackend(st, true, "")
	if err != nil {
		return err
	}
	return b.Close()
}

func (gowfEngine) throughput(ctx context.Context, st *runStore, n, concurrency int) (Metrics, error) {
	r, err := openGowf(ctx, st, true, "")
	if err != nil {
		return Metrics{}, err
	}
	defer r.close()
	t0 := time.Now()
	if err := r.enqueue(ctx, r.bench.noop, "noop", n); err != nil {
		return Metrics{}, err
	}
	enqueue := time.Since(t0)
	t1 := time.Now()
	if err := r.start(ctx, concurrency); err != nil {
		return Metrics{}, err
	}
	if err := r.bench.awaitRan(ctx, n); err != nil {
		return Metrics{}, err
	}
	if err := r.awaitFinished(ctx, n); err != nil {
		return Metrics{}, err
	}
	drain, e2e := time.Since(t1), time.Since(t0)
	return Metrics{
		EnqueueRate: ptr(rate(n, enqueue)),
		DrainRate:   ptr(rate(n, drain)),
		E2EMs:       ptr(ms(e2e)),
	}, nil
}

func (gowfEngine) latency(ctx context.Context, st *runStore, rounds, concurrency int) (Metrics, error) {
	r, err := openGowf(ctx, st, true, "")
	if err != nil {
		return Metrics{}, err
	}
	defer r.close()
	r.bench.starts = newStartRecorder()
	if err := r.start(ctx, concurrency); err != nil {
		return Metrics{}, err
	}
	var samples, pickups []time.Duration
	for i := range latencyWarmup + rounds {
		t0 := time.Now()
		inst, err := r.client.CreateWorkflowInstance(ctx, client.WorkflowInstanceOptions{InstanceID: "latency-" + strconv.Itoa(i)}, r.bench.noop, jobArgs{I: i})
		if err != nil {
			return Metrics{}, fmt.Errorf("go-workflows: enqueue: %w", err)
		}
		v, err := client.GetWorkflowResult[int](ctx, r.client, inst, roundTimeout)
		if err != nil {
			return Metrics{}, fmt.Errorf("go-workflows: round %d: %w", i, err)
		}
		d := time.Since(t0)
		if v != i {
			return Metrics{}, fmt.Errorf("go-workflows: round %d returned %d", i, v)
		}
		if i < latencyWarmup {
			continue
		}
		samples = append(samples, d)
		if s, ok := r.bench.starts.get(i); ok {
			pickups = append(pickups, s.Sub(t0))
		}
	}
	m := Metrics{LatencyMs: latencyOf(samples)}
	if len(pickups) > 0 {
		m.PickupMs = ptr(median(pickups))
	}
	return m, nil
}

func (gowfEngine) fanout(ctx context.Context, st *runStore, n, concurrency int) (Metrics, error) {
	r, err := openGowf(ctx, st, true, "")
	if err != nil {
		return Metrics{}, err
	}
	defer r.close()
	if err := r.start(ctx, concurrency); err != nil {
		return Metrics{}, err
	}
	t0 := time.Now()
	inst, err := r.client.CreateWorkflowInstance(ctx, client.WorkflowInstanceOptions{InstanceID: "parent"}, r.bench.parent, n)
	if err != nil {
		return Metrics{}, fmt.Errorf("go-workflows: enqueue parent: %w", err)
	}
	sum, err := client.GetWorkflowResult[int64](ctx, r.client, inst, roundTimeout)
	if err != nil {
		return Metrics{}, fmt.Errorf("go-workflows: fanout: %w", err)
	}
	d := time.Since(t0)
	if want := int64(n) * int64(n-1) / 2; sum != want {
		return Metrics{}, fmt.Errorf("go-workflows: fanout sum %d, want %d", sum, want)
	}
	return Metrics{FanoutMs: ptr(ms(d))}, nil
}

func (gowfEngine) recoveryClient(ctx context.Context, st *runStore) (recoveryClient, error) {
	r, err := openGowf(ctx, st, false, "")
	if err != nil {
		return nil, err
	}
	return gowfRecoveryClient{r}, nil
}

func (gowfEngine) recoveryWorker(ctx context.Context, st *runStore, concurrency int, log *appendLog, ready func()) error {
	r, err := openGowf(ctx, st, false, gowfRecoveryWorker)
	if err != nil {
		return err
	}
	defer r.close()
	r.bench.log = log
	if err := r.start(ctx, concurrency); err != nil {
		return err
	}
	ready()
	<-ctx.Done()
	return nil
}

// gowfRecoveryClient is the orchestrator's side of the recovery workload.
type gowfRecoveryClient struct{ r *gowfRun }

func (c gowfRecoveryClient) enqueue(ctx context.Context, n int) error {
	return c.r.enqueue(ctx, c.r.bench.sleepWorkflow, "sleep", n)
}

func (c gowfRecoveryClient) completed(ctx context.Context) (int, error) { return c.r.finished(ctx) }

func (c gowfRecoveryClient) close() { c.r.close() }
