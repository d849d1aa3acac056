package crashtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/postgres"
)

const (
	envDSN      = "DURABLE_CRASHTEST_DSN"
	envSchema   = "DURABLE_CRASHTEST_SCHEMA"
	envExecutor = "DURABLE_CRASHTEST_EXECUTOR"
	// envClaim sets the workers' Config.ClaimAhead and ClaimBatch, as
	// "ahead,batch"; unset, they are the defaults.
	envClaim = "DURABLE_CRASHTEST_CLAIM"
	pgLease  = 3 * time.Second
)

func init() {
	workers["pg-worker"] = func() error {
		return pgWorker(os.Getenv(envDSN), os.Getenv(envSchema), os.Getenv(envLedger), os.Getenv(envExecutor))
	}
}

// pgTasks registers the multi-process test's tasks: a leaf that records its
// run in the ledger, and a parent that spawns five leaves and records its
// own run too.
func pgTasks(ex *durable.Executor, ledger *os.File) (*durable.Task[string, string], *durable.Task[string, durable.ParentOutput[string]]) {
	record := func(ctx context.Context, key string, body func() error) error {
		info, _ := durable.Info(ctx)
		line := func(kind string) error {
			_, err := fmt.Fprintf(ledger, "%s %s %s %d %d\n", kind, key, info.ExecutorID, info.Fence, time.Now().UnixNano())
			return err
		}
		if err := line("S"); err != nil {
			return err
		}
		if err := body(); err != nil {
			return err
		}
		return line("E")
	}
	leaf := durable.Must(durable.NewTask(ex, "leaf", func(ctx context.Context, key string) (string, error) {
		return key, record(ctx, key, func() error {
			t := time.NewTimer(time.Duration(5+len(key)%10) * time.Millisecond)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}))
	tree := durable.Must(durable.NewParentTask(ex, "tree", func(ctx context.Context, key string) (durable.Spawn[string], error) {
		var children []durable.Child
		for i := range 5 {
			children = append(children, durable.ChildOf(leaf, fmt.Sprintf("%s/%d", key, i)))
		}
		return durable.Spawn[string]{Output: key, Children: children}, record(ctx, key, func() error { return nil })
	}))
	return leaf, tree
}

func pgConfig(id string) durable.Config {
	cfg := durable.Config{
		ExecutorID:    id,
		Concurrency:   20,
		LeaseDuration: pgLease,
		PollInterval:  200 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if ahead, batch, ok := strings.Cut(os.Getenv(envClaim), ","); ok {
		cfg.ClaimAhead, _ = strconv.Atoi(ahead)
		cfg.ClaimBatch, _ = strconv.Atoi(batch)
	}
	return cfg
}

func pgWorker(dsn, schema, ledgerPath, executor string) error {
	return runPgWorker(dsn, schema, ledgerPath, executor, func(ex *durable.Executor, ledger *os.File) {
		pgTasks(ex, ledger)
	})
}

// runPgWorker runs an executor on the PostgreSQL schema with the tasks
// register adds, recording into the ledger, until the process is killed.
// The identity is never reused after a kill, so a takeover waits for the
// lease to lapse.
func runPgWorker(dsn, schema, ledgerPath, executor string, register func(*durable.Executor, *os.File)) error {
	ctx := context.Background()
	ledger, err := os.OpenFile(ledgerPath, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	store, err := postgres.Open(ctx, dsn, postgres.Config{Schema: schema})
	if err != nil {
		return err
	}
	ex, err := durable.New(store, pgConfig(executor))
	if err != nil {
		return err
	}
	register(ex, ledger)
	if err := ex.Start(ctx); err != nil {
		return err
	}
	select {}
}

// TestPostgresMultiProcess is RELIABILITY.md R3 and R4 sized for CI: three
// executor processes share one database; 10,000 executions (plain tasks
// and trees) are recorded in a ledger with their fencing tokens. With no
// faults no execution may run twice or overlap another run of itself; then
// one process is SIGKILLed mid-run and its work must be taken over within
// lease + 2s with nothing lost.
func TestPostgresMultiProcess(t *testing.T) {
	dsn := os.Getenv("DURABLE_TEST_POSTGRES_URL")
	if dsn == "" {
		t.Skip("set DURABLE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL multi-process test")
	}
	if testing.Short() {
		t.Skip("runs real processes")
	}
	schema := "crash_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { dropSchema(dsn, schema) })
	dir := t.TempDir()

	pg := multiStore{
		role: "pg-worker", dsn: dsn, namespace: schema,
		open: func(t *testing.T) storage.Store {
			store, err := postgres.Open(context.Background(), dsn, postgres.Config{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			return store
		},
		workerID: func(i int) string { return fmt.Sprintf("pg_worker_%d_%s", i, schema) },
		awaitCompleted: func(t *testing.T, timeout time.Duration) int {
			return awaitPgCompleted(t, dsn, schema, timeout)
		},
	}
	t.Run("NoFaults", func(t *testing.T) { pg.noFaults(t, dir+"/ledger1.txt", "a") })
	// Larger claims (ClaimAhead 600, ClaimBatch 700: six times 100 slots):
	// the heartbeats of the leases held waited for the executor's own
	// writes of outcomes, or deadlocked with them, and leases lapsed. With
	// six times Concurrency by default (claims of 140 here), NoFaults ran
	// up to hundreds of executions twice, one after the other.
	t.Run("NoFaultsLargeClaims", func(t *testing.T) {
		t.Setenv(envClaim, "600,700")
		pg.noFaults(t, dir+"/ledger3.txt", "c")
	})
	t.Run("KillOneProcess", func(t *testing.T) { pg.killOne(t, dir+"/ledger2.txt", "b") })
}

// multiStore is one store's side of the multi-process tests: the store
// the test enqueues on, the workers' role and the store they share (envDSN,
// envSchema), and how to wait for the store's executions to finish.
type multiStore struct {
	role, dsn, namespace string
	open                 func(t *testing.T) storage.Store
	workerID             func(i int) string
	awaitCompleted       func(t *testing.T, timeout time.Duration) int
}

// noFaults runs 10,300 executions on three workers: none may be lost,
// run twice or overlap another run of itself.
func (m multiStore) noFaults(t *testing.T, ledgerPath, keyPrefix string) {
	m.enqueue(t, keyPrefix, 8500, 300) // 8,500 leaves + 300 trees of 1+5 = 10,300
	procs := startWorkers(t, m.role, m.dsn, m.namespace, ledgerPath, 3, m.workerID)
	defer stopAll(procs)
	lost := m.awaitCompleted(t, 2*time.Minute)
	runs := readRuns(t, ledgerPath)
	dups, overlaps := duplicatesAndOverlaps(runs)
	t.Logf("executions=%d (runs in the ledger) processes=3 lost=%d duplicates=%d overlapping_claims=%d", len(runs), lost, dups, overlaps)
	if lost != 0 || dups != 0 || overlaps != 0 {
		t.Errorf("lost=%d duplicates=%d overlaps=%d, want all 0", lost, dups, overlaps)
		logDuplicates(t, runs, 5)
	}
}

// killOne SIGKILLs one of three workers in the middle of its work: its
// work must be taken over within lease + 2s, with nothing lost.
func (m multiStore) killOne(t *testing.T, ledgerPath, keyPrefix string) {
	m.enqueue(t, keyPrefix, 3000, 100)
	procs := startWorkers(t, m.role, m.dsn, m.namespace, ledgerPath, 3, m.workerID)
	defer stopAll(procs)
	awaitOpenRuns(t, ledgerPath, m.workerID(0), 3) // kill it in the middle of its work
	_ = procs[0].Process.Signal(syscall.SIGKILL)
	_ = procs[0].Wait()
	killedAt := time.Now()
	lost := m.awaitCompleted(t, 2*time.Minute)
	runs := readRuns(t, ledgerPath)
	perExecutor := map[string]int{}
	for _, r := range runs {
		perExecutor[r.executor]++
	}
	t.Logf("runs per executor: %v", perExecutor)
	victim := victimOf(runs, killedAt)
	orphans, worst := takeover(runs, victim, killedAt)
	dups, _ := duplicatesAndOverlaps(runs)
	t.Logf("killed=%s lost=%d taken_over=%d duplicates=%d worst_takeover=%s bound=%s",
		victim, lost, orphans, dups, worst.Round(time.Millisecond), pgLease+2*time.Second)
	if victim == "" || orphans == 0 {
		t.Errorf("the kill did not interrupt any work (victim %q); the test measured nothing", victim)
	}
	if lost != 0 {
		t.Errorf("lost %d executions", lost)
	}
	if worst > pgLease+2*time.Second {
		t.Errorf("work of the killed process taken over after %s, over lease + 2s", worst)
	}
}

// enqueue enqueues leaves plain tasks and trees trees (a parent of five
// children) of the multi-process tasks (pgTasks), keyed with keyPrefix.
func (m multiStore) enqueue(t *testing.T, keyPrefix string, leaves, trees int) {
	t.Helper()
	ctx := context.Background()
	store := m.open(t)
	defer store.Close()
	ex, err := durable.New(store, pgConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Shutdown(ctx)
	leaf, tree := pgTasks(ex, nil)
	var items []durable.Child
	for i := range leaves {
		items = append(items, durable.ChildOf(leaf, fmt.Sprintf("%s%d", keyPrefix, i)))
	}
	for i := range trees {
		items = append(items, durable.ChildOf(tree, fmt.Sprintf("%st%d", keyPrefix, i)))
	}
	for from := 0; from < len(items); from += 1000 {
		if _, err := ex.EnqueueMany(ctx, items[from:min(from+1000, len(items))]...); err != nil {
			t.Fatal(err)
		}
	}
}

// startWorkers starts n processes of the test binary in the worker role,
// with the database, schema, ledger and executor id (named by id) in their
// environment.
func startWorkers(t *testing.T, role, dsn, schema, ledger string, n int, id func(int) string) []*exec.Cmd {
	t.Helper()
	var procs []*exec.Cmd
	for i := range n {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envRole+"="+role, envDSN+"="+dsn, envSchema+"="+schema, envLedger+"="+ledger,
			envExecutor+"="+id(i))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			stopAll(procs)
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	return procs
}

func stopAll(procs []*exec.Cmd) {
	for _, p := range procs {
		_ = p.Process.Kill()
		_ = p.Wait()
	}
}

// awaitPgCompleted waits until no execution in the schema is unfinished and
// returns how many are not completed then.
func awaitPgCompleted(t *testing.T, dsn, schema string, timeout time.Duration) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	table := pgx.Identifier{schema, "executions"}.Sanitize()
	deadline := time.Now().Add(timeout)
	for {
		var notDone int
		err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE status <> 'completed'").Scan(&notDone)
		if err != nil {
			t.Fatal(err)
		}
		if notDone == 0 || time.Now().After(deadline) {
			return notDone
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dropSchema(dsn, schema string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
}

// run is one execution of a task body, from the ledger.
type run struct {
	key, executor string
	fence         int64
	start, end    time.Time // end is zero if the run never ended
}

func readRuns(t *testing.T, path string) []run {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	open := map[string]*run{} // by key+executor+fence
	var runs []*run
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 5 {
			continue
		}
		fence, _ := strconv.ParseInt(fields[3], 10, 64)
		ns, _ := strconv.ParseInt(fields[4], 10, 64)
		id := fields[1] + " " + fields[2] + " " + fields[3]
		switch fields[0] {
		case "S":
			r := &run{key: fields[1], executor: fields[2], fence: fence, start: time.Unix(0, ns)}
			open[id] = r
			runs = append(runs, r)
		case "E":
			if r := open[id]; r != nil {
				r.end = time.Unix(0, ns)
			}
		}
	}
	out := make([]run, len(runs))
	for i, r := range runs {
		out[i] = *r
	}
	return out
}

// duplicatesAndOverlaps counts keys run more than once, and pairs of runs of
// one key whose windows intersect.
func duplicatesAndOverlaps(runs []run) (dups, overlaps int) {
	byKey := map[string][]run{}
	for _, r := range runs {
		byKey[r.key] = append(byKey[r.key], r)
	}
	for _, rs := range byKey {
		if len(rs) > 1 {
			dups++
		}
		sort.Slice(rs, func(i, j int) bool { return rs[i].start.Before(rs[j].start) })
		for i := 1; i < len(rs); i++ {
			if rs[i-1].end.IsZero() || rs[i].start.Before(rs[i-1].end) {
				overlaps++
			}
		}
	}
	return dups, overlaps
}

// logDuplicates logs the runs of up to n keys that ran more than once.
func logDuplicates(t *testing.T, runs []run, n int) {
	t.Helper()
	byKey := map[string][]run{}
	var keys []string
	for _, r := range runs {
		if len(byKey[r.key]) == 1 {
			keys = append(keys, r.key)
		}
		byKey[r.key] = append(byKey[r.key], r)
	}
	for _, k := range keys[:min(n, len(keys))] {
		for _, r := range byKey[k] {
			t.Logf("ran twice: %s by %s, fence %d, %s to %s", k, r.executor, r.fence,
				r.start.Format("15:04:05.000"), r.end.Format("15:04:05.000"))
		}
	}
}

// takeover finds the keys whose work the killed executor held (its last
// run of the key began before the kill, and another executor ran the key
// after it) and returns how many, and the longest time from the kill to
// the other executor's run.
func takeover(runs []run, victim string, killedAt time.Time) (orphans int, worst time.Duration) {
	byKey := map[string][]run{}
	for _, r := range runs {
		byKey[r.key] = append(byKey[r.key], r)
	}
	for _, rs := range byKey {
		sort.Slice(rs, func(i, j int) bool { return rs[i].start.Before(rs[j].start) })
		for i, r := range rs {
			if r.executor != victim || r.start.After(killedAt) || i+1 == len(rs) {
				continue
			}
			orphans++
			worst = max(worst, rs[i+1].start.Sub(killedAt))
		}
	}
	return orphans, worst
}

// awaitLedger reads the ledger every 2 ms until done holds for its runs,
// and fails the test with what if 30s pass first.
func awaitLedger(t *testing.T, ledgerPath, what string, done func([]run) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(ledgerPath); err == nil && done(readRuns(t, ledgerPath)) {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal(what)
}

// awaitOpenRuns waits (up to 30s) until the ledger shows at least n runs of
// the executor whose id starts with prefix that started and have not ended.
func awaitOpenRuns(t *testing.T, ledgerPath, prefix string, n int) {
	t.Helper()
	awaitLedger(t, ledgerPath, fmt.Sprintf("executor %s never had %d runs in flight", prefix, n), func(runs []run) bool {
		open := 0
		for _, r := range runs {
			if strings.HasPrefix(r.executor, prefix) && r.end.IsZero() {
				open++
			}
		}
		return open >= n
	})
}

// killBusyWorker waits (up to 30s) until one of procs, whose executor ids
// are prefix + its index + "_" + a suffix, has a run in flight, kills that
// process with SIGKILL and returns when. Which process gets a limited
// queue's slots first is not promised (SQLite and MySQL take no turns),
// so the victim is whichever has work, not a given one.
func killBusyWorker(t *testing.T, ledgerPath, prefix string, procs []*exec.Cmd) time.Time {
	t.Helper()
	victim := -1
	awaitLedger(t, ledgerPath, fmt.Sprintf("no executor %s<i> had a run in flight", prefix), func(runs []run) bool {
		for _, r := range runs {
			if !r.end.IsZero() || !strings.HasPrefix(r.executor, prefix) {
				continue
			}
			n, _, _ := strings.Cut(strings.TrimPrefix(r.executor, prefix), "_")
			i, err := strconv.Atoi(n)
			if err != nil || i < 0 || i >= len(procs) {
				t.Fatalf("run of executor %q: not one of the %d workers %s<i>_", r.executor, len(procs), prefix)
			}
			victim = i
			return true
		}
		return false
	})
	_ = procs[victim].Process.Signal(syscall.SIGKILL)
	_ = procs[victim].Wait()
	return time.Now()
}

// victimOf names the executor whose runs stop at the kill: the one with the
// latest run start before the kill and none after it.
func victimOf(runs []run, killedAt time.Time) string {
	last := map[string]time.Time{}
	for _, r := range runs {
		if r.start.After(last[r.executor]) {
			last[r.executor] = r.start
		}
	}
	for ex, t := range last {
		if !t.After(killedAt) {
			return ex
		}
	}
	return ""
}
