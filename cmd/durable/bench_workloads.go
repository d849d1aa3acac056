package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
	"github.com/durable-go/durable/storage/mysql"
	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

const (
	latencyWarmup  = 10
	latencyRounds  = 300
	fanoutChildren = 1000
	recoveryTasks  = 2000
	recoveryKillAt = 0.4

	// remoteRoundTimeout bounds one latency-remote round, so that a worker
	// process that is alive but never runs the task fails the run instead
	// of hanging it.
	remoteRoundTimeout = time.Minute
	// workerStopGrace is how long a worker process has to exit after
	// SIGTERM before it is killed.
	workerStopGrace = 5 * time.Second
)

// remoteLatencyWarmup and remoteLatencyRounds are the latency-remote
// workload's counts: latencyWarmup and latencyRounds, lowered by the tests
// to keep them short.
var remoteLatencyWarmup, remoteLatencyRounds = latencyWarmup, latencyRounds

func interruptContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// benchStore is a fresh store for one run and where it lives, so that a
// worker process (recovery, latency-remote) can open the same one.
type benchStore struct {
	storage.Store
	kind, file, dsn, schema string
	durability              string
	cleanup                 func()
}

// CompleteClaim is the store's, when it has one (storage.CompleteClaimer:
// the embedded interface hides it); otherwise it completes and claims
// nothing.
func (bs *benchStore) CompleteClaim(ctx context.Context, p storage.CompleteParams, c storage.ClaimParams) ([]storage.TransitionResult, []storage.Execution, bool, error) {
	return storage.CompleteClaim(ctx, bs.Store, p, c)
}

func openBenchStore(ctx context.Context, f benchFlags) (*benchStore, error) {
	bs := &benchStore{kind: f.store, dsn: f.dsn, durability: f.durability, cleanup: func() {}}
	var err error
	switch f.store {
	case "memory":
		bs.Store = memory.New()
	case "sqlite":
		dir, temporary := f.path, f.path == ""
		if temporary {
			if dir, err = os.MkdirTemp("", "durable-bench-"); err != nil {
				return nil, err
			}
		}
		bs.file = filepath.Join(dir, "bench-"+randomSuffix()+".db")
		bs.cleanup = func() {
			_ = removeDB(bs.file)
			if temporary {
				_ = os.RemoveAll(dir)
			}
		}
		bs.Store, err = sqlite.Open(ctx, bs.file, sqliteConfig(f.durability))
	case "postgres":
		bs.schema = "bench_" + randomSuffix()
		bs.Store, err = postgres.Open(ctx, f.dsn, postgres.Config{Schema: bs.schema})
		bs.cleanup = func() { dropSchema(f.dsn, bs.schema) }
	case "mysql":
		bs.dsn, bs.schema = f.mysqlDSN, "bench_"+randomSuffix()+"_"
		bs.Store, err = mysql.Open(ctx, bs.dsn, mysql.Config{TablePrefix: bs.schema})
		bs.cleanup = func() { dropMySQLTables(f.mysqlDSN, bs.schema) }
	}
	if err != nil {
		bs.cleanup()
		return nil, err
	}
	return bs, nil
}

// sqliteConfig is the store's Config for the --durability flag (full or
// normal, checked before).
func sqliteConfig(durability string) sqlite.Config {
	if durability == "normal" {
		return sqlite.Config{Durability: sqlite.DurabilityNormal}
	}
	return sqlite.Config{}
}

func (bs *benchStore) close() {
	_ = bs.Close()
	bs.cleanup()
}

func dropSchema(dsn, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
}

// dropMySQLTables drops the MySQL store's tables of prefix.
func dropMySQLTables(dsn, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := mysql.Open(ctx, dsn, mysql.Config{TablePrefix: prefix, DisableMigrations: true, DisableEvents: true})
	if err != nil {
		return
	}
	defer s.Close()
	for _, table := range mysql.TableNames(prefix) {
		_, _ = s.DB().ExecContext(ctx, "DROP TABLE IF EXISTS "+table)
	}
}

func benchExecutor(store storage.Store, concurrency int, id string) (*durable.Executor, error) {
	return durable.New(store, durable.Config{
		Concurrency: concurrency,
		ExecutorID:  id,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
}

type noopInput struct {
	I int `json:"i"`
}

type empty struct{}

func noopTask(ex *durable.Executor) *durable.Task[noopInput, empty] {
	return durable.Must(durable.NewTask(ex, "noop", func(ctx context.Context, in noopInput) (empty, error) {
		return empty{}, nil
	}))
}

// finishedCounter counts distinct executions the store reports finished.
type finishedCounter struct {
	mu   sync.Mutex
	seen map[string]struct{}
	want int
	done chan struct{}
}

// count returns how many have finished.
func (fc *finishedCounter) count() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return len(fc.seen)
}

// timelineEvery is how often recordTimeline samples the count.
const timelineEvery = 50 * time.Millisecond

// recordTimeline samples fc's count with the wall clock from now until fc
// is done or stop is closed, and returns the samples (the last one taken
// when it ends) on the channel it returns.
func recordTimeline(fc *finishedCounter, stop <-chan struct{}) <-chan [][2]int64 {
	out := make(chan [][2]int64, 1)
	go func() {
		sample := func(n int) [2]int64 { return [2]int64{time.Now().UnixMicro(), int64(n)} }
		samples := [][2]int64{sample(fc.count())}
		t := time.NewTicker(timelineEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				samples = append(samples, sample(fc.count()))
			case <-fc.done:
				out <- append(samples, sample(fc.count()))
				return
			case <-stop:
				out <- samples
				return
			}
		}
	}()
	return out
}

func countFinished(store storage.Store, want int) (*finishedCounter, func()) {
	fc := &finishedCounter{seen: make(map[string]struct{}, want), want: want, done: make(chan struct{})}
	unsub := store.Subscribe(func(ev storage.Event) {
		if len(ev.Finished) == 0 {
			return
		}
		fc.mu.Lock()
		defer fc.mu.Unlock()
		before := len(fc.seen)
		for _, id := range ev.Finished {
			fc.seen[id] = struct{}{}
		}
		if before < fc.want && len(fc.seen) >= fc.want {
			close(fc.done)
		}
	})
	return fc, unsub
}

// benchSetup opens a fresh store and an executor on it; done shuts both
// down.
func benchSetup(ctx context.Context, f benchFlags) (*benchStore, *durable.Executor, func(), error) {
	bs, err := openBenchStore(ctx, f)
	if err != nil {
		return nil, nil, nil, err
	}
	ex, err := benchExecutor(bs, f.concurrency, "")
	if err != nil {
		bs.close()
		return nil, nil, nil, err
	}
	return bs, ex, func() { shutdown(ex); bs.close() }, nil
}

func benchThroughput(ctx context.Context, f benchFlags, r *Result) error {
	bs, ex, done, err := benchSetup(ctx, f)
	if err != nil {
		return err
	}
	defer done()
	task := noopTask(ex)
	inputs := make([]noopInput, f.n)
	for i := range inputs {
		inputs[i] = noopInput{I: i}
	}
	if err := limitQueues(ctx, bs, ex, f, r); err != nil {
		return err
	}
	counter, unsub := countFinished(bs, f.n)
	defer unsub()
	t0 := time.Now()
	handles, ids, err := enqueueThroughput(ctx, ex, task, inputs, f.spread, f.enqueueBatch)
	if err != nil {
		return err
	}
	enqueued := time.Since(t0)
	if f.spread {
		r.Settings["queues"] = "spread-0, spread-1 (alternating)"
		r.Settings["priorities"] = "1..9 in turn"
	}
	r.Settings["enqueue_batch"] = strconv.Itoa(f.enqueueBatch)
	meter, err := startCPU(f.cpuProfile)
	if err != nil {
		return err
	}
	defer meter.stopProfile()
	t1 := time.Now()
	var timeline <-chan [][2]int64
	if f.timeline {
		stop := make(chan struct{})
		defer close(stop)
		timeline = recordTimeline(counter, stop)
	}
	if err := ex.Start(ctx); err != nil {
		return err
	}
	select {
	case <-counter.done:
	case <-time.After(10 * time.Minute):
		return fmt.Errorf("not all %d tasks finished within 10 minutes", f.n)
	case <-ctx.Done():
		return ctx.Err()
	}
	drained := time.Since(t1)
	meter.stop(f.n, r)
	if timeline != nil {
		r.DrainTimeline = <-timeline
	}
	if handles, err = handlesOf(ctx, task, handles, ids); err != nil {
		return err
	}
	if err := allCompleted(ctx, handles); err != nil {
		return err
	}
	r.EnqueueRate = float64(f.n) / enqueued.Seconds()
	r.DrainRate = float64(f.n) / drained.Seconds()
	r.E2EMs = ms(enqueued + drained)
	return nil
}

// limitQueues gives the throughput workload's queues f.queueLimit, when
// set (the queues are registered first: no executor has started yet).
func limitQueues(ctx context.Context, bs *benchStore, ex *durable.Executor, f benchFlags, r *Result) error {
	if f.queueLimit == 0 {
		return nil
	}
	queues := []string{storage.DefaultQueue}
	if f.spread {
		queues = []string{"spread-0", "spread-1"}
	}
	for _, q := range queues {
		err := bs.RegisterControls(ctx, storage.RegisterControlsParams{Now: time.Now(),
			Controls: []storage.Control{{Kind: storage.ControlQueue, Name: q}}})
		if err != nil {
			return err
		}
		if _, err := ex.SetQueueLimit(ctx, q, durable.QueueLimit{Concurrency: f.queueLimit}); err != nil {
			return err
		}
	}
	r.Settings["queue_limit"] = fmt.Sprintf("%d on %s", f.queueLimit, strings.Join(queues, ", "))
	return nil
}

// enqueueThroughput enqueues the throughput workload's tasks in batches of
// size and returns their handles; spread puts task i in queue
// spread-(i%2) with priority 1+i%9 and returns their ids instead (the
// executor's EnqueueMany gives ids, and a handle of an id reads its row:
// handlesOf does that after the drain, so that enqueueing takes as long
// as without spread and drains started together overlap, as
// bench/same-time.sh needs).
// A store lays each batch's rows out by priority (storage.ClaimOrdered):
// batches of 18, one row of each queue and priority, leave the rows of
// each priority on every ninth row of the table, as single enqueues in
// turn do.
func enqueueThroughput(ctx context.Context, ex *durable.Executor, task *durable.Task[noopInput, empty], inputs []noopInput, spread bool, size int) ([]*durable.Handle[empty], []string, error) {
	var handles []*durable.Handle[empty]
	var all []string
	for from := 0; from < len(inputs); from += size {
		batch := inputs[from:min(from+size, len(inputs))]
		if !spread {
			hs, err := task.EnqueueMany(ctx, batch)
			if err != nil {
				return nil, nil, err
			}
			handles = append(handles, hs...)
			continue
		}
		items := make([]durable.Child, len(batch))
		for k, in := range batch {
			i := from + k
			items[k] = durable.ChildOf(task, in, durable.WithQueue(fmt.Sprintf("spread-%d", i%2)), durable.WithPriority(1+i%9))
		}
		ids, err := ex.EnqueueMany(ctx, items...)
		if err != nil {
			return nil, nil, err
		}
		all = append(all, ids...)
	}
	return handles, all, nil
}

// handlesOf returns handles followed by the handles of ids.
func handlesOf(ctx context.Context, task *durable.Task[noopInput, empty], handles []*durable.Handle[empty], ids []string) ([]*durable.Handle[empty], error) {
	for _, id := range ids {
		h, err := task.Handle(ctx, id)
		if err != nil {
			return nil, err
		}
		handles = append(handles, h)
	}
	return handles, nil
}

func allCompleted[O any](ctx context.Context, hs []*durable.Handle[O]) error {
	for _, h := range hs {
		x, err := h.Wait(ctx)
		if err != nil {
			return err
		}
		if x.Status != durable.StatusCompleted {
			return fmt.Errorf("execution %s ended %s, not completed", x.ID, x.Status)
		}
	}
	return nil
}

func shutdown(ex *durable.Executor) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = ex.Shutdown(ctx)
}

func benchLatency(ctx context.Context, f benchFlags, r *Result) error {
	_, ex, done, err := benchSetup(ctx, f)
	if err != nil {
		return err
	}
	defer done()
	started := make(chan time.Time, 1)
	task := durable.Must(durable.NewTask(ex, "noop", func(ctx context.Context, in noopInput) (empty, error) {
		started <- time.Now()
		return empty{}, nil
	}))
	if err := ex.Start(ctx); err != nil {
		return err
	}
	var lat, pickup []time.Duration
	for i := range latencyWarmup + latencyRounds {
		t0, took, err := enqueueAndWait(ctx, task, i)
		if err != nil {
			return err
		}
		ran := <-started
		if i >= latencyWarmup {
			lat, pickup = append(lat, took), append(pickup, ran.Sub(t0))
		}
	}
	r.LatencyMs = latencyOf(lat)
	slices.Sort(pickup)
	r.PickupMs = ms(pickup[len(pickup)/2])
	return nil
}

// enqueueAndWait enqueues one noop task and waits for it; it returns when
// it enqueued and how long until Wait returned.
func enqueueAndWait(ctx context.Context, task *durable.Task[noopInput, empty], i int) (time.Time, time.Duration, error) {
	t0 := time.Now()
	h, err := task.Enqueue(ctx, noopInput{I: i})
	if err != nil {
		return t0, 0, err
	}
	x, err := h.Wait(ctx)
	took := time.Since(t0)
	if err != nil {
		return t0, took, err
	}
	if x.Status != durable.StatusCompleted {
		return t0, took, fmt.Errorf("execution %s ended %s, not completed: %v", x.ID, x.Status, x.Err)
	}
	return t0, took, nil
}

// latencyOf returns the percentiles of samples (at least one), which it
// sorts in place.
func latencyOf(samples []time.Duration) *Latency {
	slices.Sort(samples)
	at := func(p float64) float64 { return ms(samples[int(p*float64(len(samples)-1))]) }
	return &Latency{P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: ms(samples[len(samples)-1])}
}

// benchLatencyRemote is the latency workload with the task run by another
// process: a bench-worker process runs the noop task, and this process
// enqueues and waits with an executor it never starts, so it never claims
// work but its Wait is woken by the store's events, which both stores
// carry between processes (PostgreSQL with LISTEN/NOTIFY, SQLite with its
// events table). The pickup time would need the worker's clock, so it is
// not reported.
func benchLatencyRemote(ctx context.Context, f benchFlags, r *Result) error {
	bs, err := openBenchStore(ctx, f)
	if err != nil {
		return err
	}
	defer bs.close()
	ex, err := benchExecutor(bs, f.concurrency, "")
	if err != nil {
		return err
	}
	defer shutdown(ex)
	task := noopTask(ex)
	worker, runCtx, err := startRemoteWorker(ctx, bs, f.concurrency)
	if err != nil {
		return err
	}
	defer worker.stop()
	lat, err := remoteRounds(runCtx, task)
	if err != nil {
		return err
	}
	r.LatencyMs = latencyOf(lat)
	r.Settings["task_runs_in"] = "another process (bench-worker)"
	return nil
}

// remoteRounds runs the latency-remote rounds, the warm-up ones first (the
// first of them returning shows that the worker process runs), and returns
// the timings of the measured ones. Each round has remoteRoundTimeout.
func remoteRounds(ctx context.Context, task *durable.Task[noopInput, empty]) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, remoteLatencyRounds)
	for i := range remoteLatencyWarmup + remoteLatencyRounds {
		roundCtx, cancel := context.WithTimeoutCause(ctx, remoteRoundTimeout,
			fmt.Errorf("task %d did not finish within %v: the bench-worker process is not running it", i, remoteRoundTimeout))
		_, took, err := enqueueAndWait(roundCtx, task, i)
		if err != nil && roundCtx.Err() != nil {
			err = context.Cause(roundCtx)
		}
		cancel()
		if err != nil {
			return nil, err
		}
		if i >= remoteLatencyWarmup {
			lat = append(lat, took)
		}
	}
	return lat, nil
}

// remoteWorker is a running bench-worker process.
type remoteWorker struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited and been reaped
}

// startRemoteWorker starts a bench-worker process running the noop task on
// bs. The returned context, derived from ctx, is cancelled when the process
// exits, with the exit as its cause, so that a worker that dies ends the
// run at once.
func startRemoteWorker(ctx context.Context, bs *benchStore, concurrency int) (*remoteWorker, context.Context, error) {
	cmd, err := startBenchWorker(bs, concurrency, "bench_remote", "noop", "")
	if err != nil {
		return nil, nil, fmt.Errorf("starting the bench-worker process: %w", err)
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	w := &remoteWorker{cmd: cmd, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		cancel(fmt.Errorf("the bench-worker process exited before the workload ended (%w)", err))
		close(w.exited)
	}()
	return w, runCtx, nil
}

// stop sends the worker SIGTERM, kills it if it has not exited within
// workerStopGrace, and waits until it has exited.
func (w *remoteWorker) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(workerStopGrace)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
}

func benchFanout(ctx context.Context, f benchFlags, r *Result) error {
	_, ex, done, err := benchSetup(ctx, f)
	if err != nil {
		return err
	}
	defer done()
	child := durable.Must(durable.NewTask(ex, "child", func(ctx context.Context, i int) (int, error) { return i, nil }))
	sum := durable.Must(durable.NewTask(ex, "sum", func(ctx context.Context, in durable.FinalizeInput[empty]) (int, error) {
		total := 0
		for _, c := range in.Children {
			v, err := durable.ChildOutput[int](c)
			if err != nil {
				return 0, durable.NonRetryable(err)
			}
			total += v
		}
		return total, nil
	}))
	parent := durable.Must(durable.NewParentTaskWithFinalize(ex, "fanout", func(ctx context.Context, n int) (durable.Spawn[empty], error) {
		cs := make([]durable.Child, n)
		for i := range cs {
			cs[i] = durable.ChildOf(child, i)
		}
		return durable.Spawn[empty]{Children: cs}, nil
	}, sum))
	if err := ex.Start(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	h, err := parent.Enqueue(ctx, fanoutChildren)
	if err != nil {
		return err
	}
	x, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	elapsed := time.Since(t0)
	if want := fanoutChildren * (fanoutChildren - 1) / 2; x.Output != want {
		return fmt.Errorf("fanout sum = %d (%s %v), want %d", x.Output, x.Status, x.Err, want)
	}
	r.FanoutMs = ms(elapsed)
	return nil
}

// sleepyTask is the recovery workload's task: it appends "S i", sleeps
// 50ms, appends "E i".
func sleepyTask(ex *durable.Executor, log *os.File) *durable.Task[noopInput, empty] {
	return durable.Must(durable.NewTask(ex, "sleepy", func(ctx context.Context, in noopInput) (empty, error) {
		fmt.Fprintf(log, "S %d\n", in.I)
		if err := work(ctx, 50*time.Millisecond); err != nil {
			return empty{}, err
		}
		fmt.Fprintf(log, "E %d\n", in.I)
		return empty{}, nil
	}))
}

func benchRecovery(ctx context.Context, f benchFlags, r *Result) error {
	bs, err := openBenchStore(ctx, f)
	if err != nil {
		return err
	}
	defer bs.close()
	logPath := filepath.Join(os.TempDir(), "durable-bench-recovery-"+randomSuffix()+".log")
	defer os.Remove(logPath)
	ids, err := enqueueSleepy(ctx, bs, f.concurrency)
	if err != nil {
		return err
	}
	first, err := startBenchWorker(bs, f.concurrency, "bench_worker", "sleepy", logPath)
	if err != nil {
		return err
	}
	if err := waitEnded(ctx, logPath, int(recoveryKillAt*recoveryTasks)); err != nil {
		_ = first.Process.Kill()
		return err
	}
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	killed := time.Now()
	secondID := "bench_worker"
	if !f.sameIdentity {
		secondID = "bench_worker_2"
	}
	second, err := startBenchWorker(bs, f.concurrency, secondID, "sleepy", logPath)
	if err != nil {
		return err
	}
	defer func() { _ = second.Process.Signal(syscall.SIGTERM); _ = second.Wait() }()
	lost := awaitCompleted(ctx, bs, ids, 2*time.Minute)
	r.RecoveryMs = ms(time.Since(killed))
	_, ends := readLog(logPath)
	twice := 0
	for _, n := range ends {
		if n > 1 {
			twice++
		}
	}
	r.JobsLost, r.JobsTwice = &lost, &twice
	r.Settings["same_identity"] = strconv.FormatBool(f.sameIdentity)
	r.Settings["lease"] = "30s"
	return nil
}

func enqueueSleepy(ctx context.Context, store storage.Store, concurrency int) ([]string, error) {
	ex, err := benchExecutor(store, concurrency, "")
	if err != nil {
		return nil, err
	}
	defer shutdown(ex)
	task := sleepyTask(ex, nil)
	ins := make([]noopInput, recoveryTasks)
	for i := range ins {
		ins[i] = noopInput{I: i}
	}
	hs, err := task.EnqueueMany(ctx, ins)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(hs))
	for i, h := range hs {
		ids[i] = h.ID()
	}
	return ids, nil
}

// startBenchWorker starts a bench-worker process: an executor with id id
// and concurrency on bs that runs task, sleepy (which logs to logPath) or
// noop (logPath "").
func startBenchWorker(bs *benchStore, concurrency int, id, task, logPath string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"bench-worker", "--store", bs.kind, "--file", bs.file, "--dsn", bs.dsn, "--schema", bs.schema,
		"--durability", bs.durability, "--id", id, "--task", task, "--concurrency", strconv.Itoa(concurrency)}
	if logPath != "" {
		args = append(args, "--log", logPath)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	return cmd, cmd.Start()
}

// waitEnded waits until the log holds n distinct "E" lines.
func waitEnded(ctx context.Context, logPath string, n int) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if _, ends := readLog(logPath); len(ends) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return fmt.Errorf("the worker did not end %d tasks within 2 minutes", n)
}

// awaitCompleted polls the store until every id is completed or the timeout
// passes; it returns how many were never completed.
func awaitCompleted(ctx context.Context, store storage.Store, ids []string, timeout time.Duration) int {
	pending := slices.Clone(ids)
	deadline := time.Now().Add(timeout)
	for len(pending) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		var still []string
		for _, id := range pending {
			row, err := store.Get(ctx, storage.GetParams{ID: id})
			if err != nil || row.Status != storage.StatusCompleted {
				still = append(still, id)
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return len(pending)
}

func readLog(path string) (starts, ends map[int]int) {
	starts, ends = map[int]int{}, map[int]int{}
	f, err := os.Open(path)
	if err != nil {
		return starts, ends
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, num, ok := strings.Cut(sc.Text(), " ")
		i, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue
		}
		if kind == "S" {
			starts[i]++
		} else if kind == "E" {
			ends[i]++
		}
	}
	return starts, ends
}

// workerFlags configures `durable bench-worker`.
type workerFlags struct {
	kind, file, dsn, schema, durability string
	id, task, logPath                   string
	concurrency                         int
}

// parseWorkerFlags parses and checks the flags of `durable bench-worker`.
func parseWorkerFlags(args []string, stderr io.Writer) (workerFlags, error) {
	var w workerFlags
	fs := flag.NewFlagSet("bench-worker", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // runBenchWorker prints the error, once
	fs.StringVar(&w.kind, "store", "", "store: sqlite, postgres or mysql")
	fs.StringVar(&w.file, "file", "", "SQLite file (--store sqlite)")
	fs.StringVar(&w.dsn, "dsn", "", "PostgreSQL connection string (--store postgres) or MySQL DSN (--store mysql)")
	fs.StringVar(&w.schema, "schema", "", "PostgreSQL schema (--store postgres) or MySQL table prefix (--store mysql)")
	fs.StringVar(&w.durability, "durability", "full", "SQLite durability: full or normal")
	fs.StringVar(&w.id, "id", "", "executor id; default: a random one")
	fs.StringVar(&w.task, "task", "sleepy", "task to run: sleepy (recovery; logs to --log) or noop (latency-remote)")
	fs.StringVar(&w.logPath, "log", "", "file the sleepy task appends its start and end lines to")
	fs.IntVar(&w.concurrency, "concurrency", 100, "executor concurrency")
	if err := fs.Parse(args); err != nil {
		return w, err
	}
	switch {
	case w.task != "sleepy" && w.task != "noop":
		return w, fmt.Errorf("--task must be sleepy or noop, not %q", w.task)
	case w.task == "sleepy" && w.logPath == "":
		return w, errors.New("--task sleepy needs --log")
	case w.durability != "full" && w.durability != "normal":
		return w, fmt.Errorf("--durability must be full or normal, not %q", w.durability)
	}
	return w, nil
}

// openWorkerStore opens the store a bench-worker was pointed at.
func openWorkerStore(ctx context.Context, w workerFlags) (storage.Store, error) {
	switch w.kind {
	case "sqlite":
		return sqlite.Open(ctx, w.file, sqliteConfig(w.durability))
	case "postgres":
		return postgres.Open(ctx, w.dsn, postgres.Config{Schema: w.schema})
	case "mysql":
		return mysql.Open(ctx, w.dsn, mysql.Config{TablePrefix: w.schema})
	}
	return nil, fmt.Errorf("unknown store %q", w.kind)
}

// runBenchWorker is the hidden `durable bench-worker` command: the worker
// process of the recovery workload (--task sleepy) and of the
// latency-remote one (--task noop). It runs until killed or sent SIGTERM.
func runBenchWorker(args []string, stdout, stderr io.Writer) int {
	w, err := parseWorkerFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "bench-worker: %v\n", err)
		}
		return exitUsage
	}
	ctx, stop := interruptContext()
	defer stop()
	store, err := openWorkerStore(ctx, w)
	if err != nil {
		fmt.Fprintf(stderr, "bench-worker: %v\n", err)
		return exitError
	}
	defer store.Close()
	var logFile *os.File
	if w.task == "sleepy" {
		if logFile, err = os.OpenFile(w.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err != nil {
			fmt.Fprintf(stderr, "bench-worker: %v\n", err)
			return exitError
		}
		defer logFile.Close()
	}
	ex, err := benchExecutor(store, w.concurrency, w.id)
	if err == nil {
		if w.task == "noop" {
			noopTask(ex)
		} else {
			sleepyTask(ex, logFile)
		}
		err = ex.Start(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench-worker: %v\n", err)
		return exitError
	}
	<-ctx.Done()
	shutdown(ex)
	return exitOK
}
