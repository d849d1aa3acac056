package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	_ "github.com/dbos-inc/dbos-transact-golang/dbos/driver/sqlite" // SQLite system database support
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DBOS names and settings. The recovery worker processes share one executor
// ID and application version, so that the restarted worker recovers the
// killed one's pending workflows when it launches (DBOS's recovery model).
const (
	dbosModulePath      = "github.com/dbos-inc/dbos-transact-golang"
	dbosAppName         = "peers-bench"
	dbosAppVersion      = "peers-bench-v1"
	dbosQueueName       = "peers"
	dbosRecoveryExecID  = "peers-recovery-worker"
	dbosBenchExecID     = "peers-bench"
	dbosPollInterval    = time.Millisecond // queue polling and GetResult polling
	dbosEnqueueTxSize   = 1000             // workflows enqueued per transaction
	dbosShutdownTimeout = 10 * time.Second
	dbosCountInterval   = 5 * time.Millisecond
	dbosNoopName        = "peers_noop"
	dbosChildName       = "peers_child"
	dbosParentName      = "peers_parent"
	dbosSleepName       = "peers_sleep"
)

// dbosEngine runs the workloads on DBOS Transact.
type dbosEngine struct{}

func (dbosEngine) name() string { return engineDBOS }

func (dbosEngine) version() string { return "dbos-transact-golang " + moduleVersion(dbosModulePath) }

func (dbosEngine) unsupported(string, string) string { return "" }

func (dbosEngine) settings(store, w string, concurrency int) map[string]string {
	s := map[string]string{
		"queue":                      dbosQueueName + ": WithWorkerConcurrency(" + strconv.Itoa(concurrency) + "), WithQueueBasePollingInterval(" + dbosPollInterval.String() + ")",
		"ApplicationVersion":         dbosAppVersion,
		"workflow_per_job":           "each job is one workflow enqueued on the queue",
		"dequeue_wakeup":             "polling only (DBOS has no enqueue notification)",
		"system_database_migrations": "dbos.Migrate before each run",
	}
	switch store {
	case storeSQLite:
		s["sqlite"] = "DBOS's own pool (modernc.org/sqlite " + moduleVersion("modernc.org/sqlite") + "): journal_mode=WAL synchronous=NORMAL busy_timeout=5000 _txlock=immediate, 8 connections"
	case storePostgres:
		s["postgres"] = "DBOS's own pool (20 connections), fresh DatabaseSchema per run, dropped afterwards"
	}
	getResult := "GetResult with WithHandlePollingInterval(" + dbosPollInterval.String() + ")"
	switch w {
	case workloadThroughput:
		s["enqueue"] = "dbos.Enqueue with WithEnqueueTransaction, " + strconv.Itoa(dbosEnqueueTxSize) + " per transaction"
		s["completion_detected"] = "in-process count of finished bodies, then the workflow_status SUCCESS count polled every " + dbosCountInterval.String() + " until it is n"
	case workloadLatency:
		s["enqueue"] = "RunWorkflow(WithQueue), one workflow per round"
		s["completion_detected"] = getResult
	case workloadFanout:
		s["fanout"] = "parent workflow on the queue starts n child workflows on the same queue (RunWorkflow WithQueue), then GetResult on each and sums"
		s["completion_detected"] = getResult
	case workloadRecovery:
		s["ExecutorID"] = dbosRecoveryExecID + " (same for the killed and the restarted worker)"
		s["recovery"] = "the restarted worker's Launch re-enqueues the killed executor's PENDING workflows on the internal queue"
		s["internal_queue_polling"] = "1s (DBOS default, not configurable)"
		s["enqueue"] = "dbos.NewClient in the orchestrator, Enqueue in transactions of " + strconv.Itoa(dbosEnqueueTxSize)
		s["completion_detected"] = "workflow_status SUCCESS count polled every " + recoveryPollInterval.String()
	}
	return s
}

// databaseURL returns the DBOS system database URL of st.
func dbosDatabaseURL(st *runStore) string {
	if st.kind == storeSQLite {
		return "sqlite:" + st.path
	}
	return st.dsn
}

func (dbosEngine) prepare(ctx context.Context, st *runStore) error {
	opts := []dbos.MigrateOption{dbos.WithMigrateLogger(quietLogger())}
	if st.kind == storePostgres {
		opts = append(opts, dbos.WithMigrateSchema(st.schema))
	}
	if err := dbos.Migrate(ctx, dbosDatabaseURL(st), opts...); err != nil {
		return fmt.Errorf("dbos: migrate: %w", err)
	}
	return nil
}

// dbosBench holds the registered workflows and what they share.
type dbosBench struct {
	ctx    dbos.Context
	queue  dbos.Queue
	starts *startRecorder
	log    *appendLog
	ran    atomic.Int64 // no-op workflow bodies run so far
}

func (b *dbosBench) noop(_ dbos.Context, a jobArgs) (int, error) {
	b.starts.mark(a.I)
	b.ran.Add(1)
	return a.I, nil
}

// awaitRan waits until n no-op workflow bodies ran in this process: a cheap
// wait that spares the store the completion polling until the tail.
func (b *dbosBench) awaitRan(ctx context.Context, n int) error {
	for b.ran.Load() < int64(n) {
		if err := sleepCtx(ctx, dbosCountInterval); err != nil {
			return fmt.Errorf("dbos: %d of %d workflows ran: %w", b.ran.Load(), n, err)
		}
	}
	return nil
}

func (b *dbosBench) child(_ dbos.Context, a jobArgs) (int, error) { return a.I, nil }

// parent starts n children on the queue, then waits for each and sums them.
func (b *dbosBench) parent(ctx dbos.Context, n int) (int64, error) {
	handles := make([]dbos.WorkflowHandle[int], 0, n)
	for i := range n {
		h, err := dbos.RunWorkflow(ctx, b.child, jobArgs{I: i}, dbos.WithQueue(b.queue))
		if err != nil {
			return 0, fmt.Errorf("start child %d: %w", i, err)
		}
		handles = append(handles, h)
	}
	var sum int64
	for _, h := range handles {
		v, err := h.GetResult(dbos.WithHandlePollingInterval(dbosPollInterval))
		if err != nil {
			return 0, fmt.Errorf("child %s: %w", h.GetWorkflowID(), err)
		}
		sum += int64(v)
	}
	return sum, nil
}

func (b *dbosBench) sleep(ctx dbos.Context, a jobArgs) (int, error) {
	return a.I, runRecoveryJob(ctx, b.log, a.I)
}

// open creates a DBOS context on st with every benchmark workflow and the
// queue registered; the caller launches it and shuts it down.
func (dbosEngine) open(ctx context.Context, st *runStore, executorID string, concurrency int) (*dbosBench, error) {
	cfg := dbos.Config{
		AppName:            dbosAppName,
		DatabaseURL:        dbosDatabaseURL(st),
		ApplicationVersion: dbosAppVersion,
		ExecutorID:         executorID,
		Logger:             quietLogger(),
	}
	if st.kind == storePostgres {
		cfg.DatabaseSchema = st.schema
	}
	dctx, err := dbos.NewContext(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return nil, fmt.Errorf("dbos: new context: %w", err)
	}
	b := &dbosBench{ctx: dctx}
	dbos.RegisterWorkflow(dctx, b.noop, dbos.WithWorkflowName(dbosNoopName))
	dbos.RegisterWorkflow(dctx, b.child, dbos.WithWorkflowName(dbosChildName))
	dbos.RegisterWorkflow(dctx, b.parent, dbos.WithWorkflowName(dbosParentName))
	dbos.RegisterWorkflow(dctx, b.sleep, dbos.WithWorkflowName(dbosSleepName))
	q, err := dbos.RegisterQueue(dctx, dbosQueueName,
		dbos.WithWorkerConcurrency(concurrency),
		dbos.WithQueueBasePollingInterval(dbosPollInterval))
	if err != nil {
		b.shutdown()
		return nil, fmt.Errorf("dbos: register queue: %w", err)
	}
	b.queue = q
	return b, nil
}

func (b *dbosBench) launch() error {
	if err := dbos.Launch(b.ctx); err != nil {
		return fmt.Errorf("dbos: launch: %w", err)
	}
	return nil
}

func (b *dbosBench) shutdown() { _ = dbos.Shutdown(b.ctx, dbosShutdownTimeout) }

func (e dbosEngine) throughput(ctx context.Context, st *runStore, n, concurrency int) (Metrics, error) {
	side, err := openDBOSSide(ctx, st)
	if err != nil {
		return Metrics{}, err
	}
	defer side.close()
	b, err := e.open(ctx, st, dbosBenchExecID, concurrency)
	if err != nil {
		return Metrics{}, err
	}
	defer b.shutdown()

	t0 := time.Now()
	if err := side.enqueue(ctx, b.ctx, dbosNoopName, n); err != nil {
		return Metrics{}, err
	}
	enqueue := time.Since(t0)
	t1 := time.Now()
	if err := b.launch(); err != nil {
		return Metrics{}, err
	}
	if err := b.awaitRan(ctx, n); err != nil {
		return Metrics{}, err
	}
	if err := side.awaitCompleted(ctx, dbosNoopName, n); err != nil {
		return Metrics{}, err
	}
	drain, e2e := time.Since(t1), time.Since(t0)
	return Metrics{
		EnqueueRate: ptr(rate(n, enqueue)),
		DrainRate:   ptr(rate(n, drain)),
		E2EMs:       ptr(ms(e2e)),
	}, nil
}

func (e dbosEngine) latency(ctx context.Context, st *runStore, rounds, concurrency int) (Metrics, error) {
	b, err := e.open(ctx, st, dbosBenchExecID, concurrency)
	if err != nil {
		return Metrics{}, err
	}
	defer b.shutdown()
	b.starts = newStartRecorder()
	if err := b.launch(); err != nil {
		return Metrics{}, err
	}
	var samples, pickups []time.Duration
	for r := range latencyWarmup + rounds {
		if err := ctx.Err(); err != nil {
			return Metrics{}, err
		}
		t0 := time.Now()
		h, err := dbos.RunWorkflow(b.ctx, b.noop, jobArgs{I: r}, dbos.WithQueue(b.queue))
		if err != nil {
			return Metrics{}, fmt.Errorf("dbos: enqueue: %w", err)
		}
		v, err := h.GetResult(dbos.WithHandlePollingInterval(dbosPollInterval), dbos.WithHandleTimeout(roundTimeout))
		if err != nil {
			return Metrics{}, fmt.Errorf("dbos: round %d: %w", r, err)
		}
		d := time.Since(t0)
		if v != r {
			return Metrics{}, fmt.Errorf("dbos: round %d returned %d", r, v)
		}
		if r < latencyWarmup {
			continue
		}
		samples = append(samples, d)
		if s, ok := b.starts.get(r); ok {
			pickups = append(pickups, s.Sub(t0))
		}
	}
	m := Metrics{LatencyMs: latencyOf(samples)}
	if len(pickups) > 0 {
		m.PickupMs = ptr(median(pickups))
	}
	return m, nil
}

func (e dbosEngine) fanout(ctx context.Context, st *runStore, n, concurrency int) (Metrics, error) {
	b, err := e.open(ctx, st, dbosBenchExecID, concurrency)
	if err != nil {
		return Metrics{}, err
	}
	defer b.shutdown()
	if err := b.launch(); err != nil {
		return Metrics{}, err
	}
	t0 := time.Now()
	h, err := dbos.RunWorkflow(b.ctx, b.parent, n, dbos.WithQueue(b.queue))
	if err != nil {
		return Metrics{}, fmt.Errorf("dbos: enqueue parent: %w", err)
	}
	sum, err := h.GetResult(dbos.WithHandlePollingInterval(dbosPollInterval), dbos.WithHandleTimeout(roundTimeout))
	if err != nil {
		return Metrics{}, fmt.Errorf("dbos: fanout: %w", err)
	}
	d := time.Since(t0)
	if want := int64(n) * int64(n-1) / 2; sum != want {
		return Metrics{}, fmt.Errorf("dbos: fanout sum %d, want %d", sum, want)
	}
	return Metrics{FanoutMs: ptr(ms(d))}, nil
}

func (dbosEngine) recoveryClient(ctx context.Context, st *runStore) (recoveryClient, error) {
	side, err := openDBOSSide(ctx, st)
	if err != nil {
		return nil, err
	}
	cfg := dbos.ClientConfig{DatabaseURL: dbosDatabaseURL(st), AppName: dbosAppName, Logger: quietLogger()}
	if st.kind == storePostgres {
		cfg.DatabaseSchema = st.schema
	}
	c, err := dbos.NewClient(context.WithoutCancel(ctx), cfg)
	if err != nil {
		side.close()
		return nil, fmt.Errorf("dbos: new client: %w", err)
	}
	return &dbosRecoveryClient{side: side, client: c}, nil
}

func (e dbosEngine) recoveryWorker(ctx context.Context, st *runStore, concurrency int, log *appendLog, ready func()) error {
	b, err := e.open(ctx, st, dbosRecoveryExecID, concurrency)
	if err != nil {
		return err
	}
	defer b.shutdown()
	b.log = log
	if err := b.launch(); err != nil {
		return err
	}
	ready()
	<-ctx.Done()
	return nil
}

// dbosRecoveryClient is the orchestrator's side of the recovery workload.
type dbosRecoveryClient struct {
	side   *dbosSide
	client dbos.Client
}

func (c *dbosRecoveryClient) enqueue(ctx context.Context, n int) error {
	return c.side.enqueue(ctx, c.client, dbosSleepName, n, dbos.WithEnqueueApplicationVersion(dbosAppVersion))
}

func (c *dbosRecoveryClient) completed(ctx context.Context) (int, error) {
	return c.side.count(ctx, dbosSleepName)
}

func (c *dbosRecoveryClient) close() {
	_ = dbos.Shutdown(c.client, dbosShutdownTimeout)
	c.side.close()
}

// dbosSide is the benchmark's own connection to the DBOS system database: it
// opens the transactions that batch enqueues and counts completed workflows.
type dbosSide struct {
	sqlite *sql.DB          // SQLite store
	pg     *pgxpool.Pool    // PostgreSQL store
	table  string           // workflow_status, schema-qualified on PostgreSQL
	arg    func(int) string // placeholder syntax
}

func openDBOSSide(ctx context.Context, st *runStore) (*dbosSide, error) {
	switch st.kind {
	case storeSQLite:
		db, err := st.openSQLite(1)
		if err != nil {
			return nil, err
		}
		return &dbosSide{sqlite: db, table: "workflow_status", arg: func(int) string { return "?" }}, nil
	case storePostgres:
		pool, err := st.openPgxPool(ctx)
		if err != nil {
			return nil, err
		}
		table := pgx.Identifier{st.schema, "workflow_status"}.Sanitize()
		return &dbosSide{pg: pool, table: table, arg: func(i int) string { return "$" + strconv.Itoa(i) }}, nil
	}
	return nil, fmt.Errorf("dbos: unknown store %q", st.kind)
}

func (s *dbosSide) close() {
	if s.sqlite != nil {
		_ = s.sqlite.Close()
	}
	if s.pg != nil {
		s.pg.Close()
	}
}

// count returns the number of workflows called name that succeeded.
func (s *dbosSide) count(ctx context.Context, name string) (int, error) {
	q := "SELECT count(*) FROM " + s.table + " WHERE status = 'SUCCESS' AND name = " + s.arg(1)
	var n int
	var err error
	if s.sqlite != nil {
		err = s.sqlite.QueryRowContext(ctx, q, name).Scan(&n)
	} else {
		err = s.pg.QueryRow(ctx, q, name).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("dbos: count completed workflows: %w", err)
	}
	return n, nil
}

// awaitCompleted polls until n workflows called name succeeded.
func (s *dbosSide) awaitCompleted(ctx context.Context, name string, n int) error {
	t := time.NewTicker(dbosCountInterval)
	defer t.Stop()
	for {
		got, err := s.count(ctx, name)
		if err != nil {
			return err
		}
		if got == n {
			return nil
		}
		if got > n {
			return fmt.Errorf("dbos: %d workflows completed, want %d", got, n)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("dbos: %d of %d workflows completed: %w", got, n, ctx.Err())
		case <-t.C:
		}
	}
}

// enqueue enqueues workflows name with args 0..n-1 on the queue through c, in
// transactions of dbosEnqueueTxSize.
func (s *dbosSide) enqueue(ctx context.Context, c dbos.Client, name string, n int, opts ...dbos.EnqueueOption) error {
	for from := 0; from < n; from += dbosEnqueueTxSize {
		to := min(from+dbosEnqueueTxSize, n)
		if err := s.inTx(ctx, func(tx any) error {
			for i := from; i < to; i++ {
				o := append([]dbos.EnqueueOption{dbos.WithEnqueueTransaction(tx)}, opts...)
				if _, err := dbos.Enqueue[int](c, dbosQueueName, name, jobArgs{I: i}, o...); err != nil {
					return fmt.Errorf("dbos: enqueue %d: %w", i, err)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in a transaction of the side connection and commits it.
func (s *dbosSide) inTx(ctx context.Context, fn func(tx any) error) error {
	if s.sqlite != nil {
		tx, err := s.sqlite.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("dbos: begin: %w", err)
		}
		if err := fn(tx); err != nil {
			return errors.Join(err, tx.Rollback())
		}
		return tx.Commit()
	}
	tx, err := s.pg.Begin(ctx)
	if err != nil {
		return fmt.Errorf("dbos: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, tx.Rollback(context.WithoutCancel(ctx)))
	}
	return tx.Commit(ctx)
}
