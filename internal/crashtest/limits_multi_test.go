package crashtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

// The multi-process test of a queue's global concurrency limit
// (Executor.SetQueueLimit): several executor processes, each with more
// slots than the limit, drain one limited queue on a shared PostgreSQL
// schema or SQLite file. Every run records its start and end in a ledger
// (wall-clock times of one machine); the test computes the most runs that
// were in progress at once and requires it to be the limit: never above,
// and reached; on PostgreSQL, which takes turns at a full queue's slots,
// every process must have run some. Then one process is SIGKILLed
// mid-run: its runs hold their slots until taken over, and the queue must
// still drain completely, never above the limit.

const (
	// envStore names the store of a limits worker: "postgres" (envDSN,
	// envSchema) or "sqlite" (envDB).
	envStore = "DURABLE_CRASHTEST_STORE"

	limitQueue   = "limited"
	limitSlots   = 4
	limitWorkers = 3
	limitLease   = 2 * time.Second
)

func init() {
	workers["limits-worker"] = limitsWorker
}

// limitTask registers the task of the limited queue: it records its run
// (as pgTasks do) and takes 10 to 30 ms.
func limitTask(ex *durable.Executor, ledger *os.File) *durable.Task[string, string] {
	return durable.Must(durable.NewTask(ex, "limited_leaf", func(ctx context.Context, key string) (string, error) {
		info, _ := durable.Info(ctx)
		line := func(kind string) error {
			_, err := fmt.Fprintf(ledger, "%s %s %s %d %d\n", kind, key, info.ExecutorID, info.Fence, time.Now().UnixNano())
			return err
		}
		if err := line("S"); err != nil {
			return "", err
		}
		n, _ := strconv.Atoi(key[1:])
		t := time.NewTimer(time.Duration(10+n%20) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return key, line("E")
	}, durable.WithQueue(limitQueue)))
}

func limitsConfig(id string) durable.Config {
	return durable.Config{
		ExecutorID:    id,
		Concurrency:   10, // each process alone could run more than the limit
		LeaseDuration: limitLease,
		PollInterval:  100 * time.Millisecond,
		CrashBudget:   50,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// openLimitsStore opens the store the environment names.
func openLimitsStore(ctx context.Context) (storage.Store, error) {
	switch os.Getenv(envStore) {
	case "postgres":
		return postgres.Open(ctx, os.Getenv(envDSN), postgres.Config{Schema: os.Getenv(envSchema)})
	case "sqlite":
		return sqlite.Open(ctx, os.Getenv(envDB), sqlite.Config{})
	}
	return nil, fmt.Errorf("%s=%q: want postgres or sqlite", envStore, os.Getenv(envStore))
}

// limitsWorker runs an executor with the limited task until killed.
func limitsWorker() error {
	return limitedWorker(func(ex *durable.Executor, ledger *os.File) { limitTask(ex, ledger) })
}

// limitedWorker runs an executor with the task register registers, its
// runs recorded in the ledger the environment names, until killed.
func limitedWorker(register func(ex *durable.Executor, ledger *os.File)) error {
	ctx := context.Background()
	ledger, err := os.OpenFile(os.Getenv(envLedger), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	store, err := openLimitsStore(ctx)
	if err != nil {
		return err
	}
	ex, err := durable.New(store, limitsConfig(os.Getenv(envExecutor)))
	if err != nil {
		return err
	}
	register(ex, ledger)
	if err := ex.Start(ctx); err != nil {
		return err
	}
	select {}
}

// limitsSetup sets the queue's limit and enqueues n executions of the
// limited task, keys prefix0...
func limitsSetup(t *testing.T, prefix string, n int) {
	limitedSetup(t, limitQueue, durable.QueueLimit{Concurrency: limitSlots}, limitTask, func(i int) string { return fmt.Sprintf("%s%d", prefix, i) }, n)
}

// limitedSetup gives queue its limit and enqueues n executions of the task
// that register registers, input(i) the i-th's input, from an executor
// that never starts (so none starts here).
func limitedSetup(t *testing.T, queue string, limit durable.QueueLimit,
	register func(*durable.Executor, *os.File) *durable.Task[string, string], input func(int) string, n int) {
	t.Helper()
	ctx := context.Background()
	store, err := openLimitsStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ex, err := durable.New(store, limitsConfig(queue+"_setup"))
	if err != nil {
		t.Fatal(err)
	}
	task := register(ex, nil)
	// The queue is known to the store once an executor serving it has
	// started, or registered here.
	if err := store.RegisterControls(ctx, storage.RegisterControlsParams{Now: time.Now(),
		Controls: []storage.Control{{Kind: storage.ControlQueue, Name: queue}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ex.SetQueueLimit(ctx, queue, limit); err != nil {
		t.Fatal(err)
	}
	items := make([]durable.Child, n)
	for i := range items {
		items[i] = durable.ChildOf(task, input(i))
	}
	if _, err := ex.EnqueueMany(ctx, items...); err != nil {
		t.Fatal(err)
	}
}

// awaitLimitsDone waits until every execution of the store is completed,
// or the timeout, and returns how many are not.
func awaitLimitsDone(t *testing.T, timeout time.Duration) int {
	t.Helper()
	ctx := context.Background()
	store, err := openLimitsStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	deadline := time.Now().Add(timeout)
	for {
		counts, err := store.Count(ctx, storage.CountParams{})
		if err != nil {
			t.Fatal(err)
		}
		notDone := 0
		for _, c := range counts {
			if c.Status != storage.StatusCompleted {
				notDone += int(c.N)
			}
		}
		if notDone == 0 || time.Now().After(deadline) {
			return notDone
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// maxInProgress is the most runs in progress at once. A run that never
// ended (its process was killed) ends at killedAt; none ends before it
// started.
func maxInProgress(runs []run, killedAt time.Time) (most int, at time.Time) {
	type edge struct {
		t     time.Time
		delta int
	}
	var edges []edge
	for _, r := range runs {
		end := r.end
		if end.IsZero() {
			end = killedAt
		}
		edges = append(edges, edge{r.start, +1}, edge{end, -1})
	}
	// Ends before starts at the same instant: a slot freed and taken.
	sort.Slice(edges, func(i, j int) bool {
		if !edges[i].t.Equal(edges[j].t) {
			return edges[i].t.Before(edges[j].t)
		}
		return edges[i].delta < edges[j].delta
	})
	n := 0
	for _, e := range edges {
		if n += e.delta; n > most {
			most, at = n, e.t
		}
	}
	return most, at
}

func runLimitsMultiProcess(t *testing.T, env []string) {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	id := func(i int) string { return fmt.Sprintf("limits_worker_%d_%d", i, time.Now().UnixNano()) }
	start := func(ledger string) []*exec.Cmd {
		return startWorkers(t, "limits-worker", os.Getenv(envDSN), os.Getenv(envSchema), ledger, limitWorkers, id)
	}

	t.Run("NoFaults", func(t *testing.T) {
		ledger := filepath.Join(dir, "ledger1.txt")
		limitsSetup(t, "a", 400)
		procs := start(ledger)
		defer stopAll(procs)
		notDone := awaitLimitsDone(t, 2*time.Minute)
		runs := readRuns(t, ledger)
		most, at := maxInProgress(runs, time.Time{})
		per := runsPerExecutor(runs)
		t.Logf("runs=%d processes=%d slots_per_process=%d limit=%d max_in_progress=%d (at %s) not_done=%d runs_per_process=%v",
			len(runs), limitWorkers, limitsConfig("").Concurrency, limitSlots, most, at.Format("15:04:05.000"), notDone, per)
		if notDone != 0 {
			t.Errorf("%d executions not completed", notDone)
		}
		if most != limitSlots {
			t.Errorf("at most %d runs in progress at once, want the limit, %d", most, limitSlots)
		}
		// PostgreSQL takes turns at a full queue's slots (docs/semantics.md);
		// the other stores do not promise every process a share.
		if os.Getenv(envStore) == "postgres" && len(per) != limitWorkers {
			t.Errorf("%d of the %d processes ran something (%v): the others never got a turn at the queue's slots", len(per), limitWorkers, per)
		}
	})

	t.Run("KillOneProcess", func(t *testing.T) {
		ledger := filepath.Join(dir, "ledger2.txt")
		limitsSetup(t, "b", 400)
		procs := start(ledger)
		defer stopAll(procs)
		killedAt := killBusyWorker(t, ledger, "limits_worker_", procs)
		notDone := awaitLimitsDone(t, 2*time.Minute)
		runs := readRuns(t, ledger)
		victim := victimOf(runs, killedAt)
		orphans, worst := takeover(runs, victim, killedAt)
		most, at := maxInProgress(runs, killedAt)
		t.Logf("runs=%d killed=%s taken_over=%d worst_takeover=%s limit=%d max_in_progress=%d (at %s) not_done=%d",
			len(runs), victim, orphans, worst.Round(time.Millisecond), limitSlots, most, at.Format("15:04:05.000"), notDone)
		if victim == "" || orphans == 0 {
			t.Errorf("the kill did not interrupt any run (victim %q); the test measured nothing", victim)
		}
		if notDone != 0 {
			t.Errorf("%d executions not completed: the killed process's slots were not given back", notDone)
		}
		if most > limitSlots {
			t.Errorf("%d runs in progress at once, over the limit of %d", most, limitSlots)
		}
	})
}

// runsPerExecutor counts the runs of each executor.
func runsPerExecutor(runs []run) map[string]int {
	per := map[string]int{}
	for _, r := range runs {
		per[r.executor]++
	}
	return per
}

// TestLimitsMultiProcessPostgres: see runLimitsMultiProcess.
func TestLimitsMultiProcessPostgres(t *testing.T) {
	runLimitsMultiProcess(t, limitsEnvPostgres(t, "limits", "queue limits"))
}

// TestLimitsMultiProcessSQLite: see runLimitsMultiProcess.
func TestLimitsMultiProcessSQLite(t *testing.T) {
	runLimitsMultiProcess(t, limitsEnvSQLite(t, "limits"))
}

// limitsEnvPostgres is the environment of a multi-process limits test
// (what) on PostgreSQL, in a new schema named after prefix, dropped at
// the end; it skips the test without DURABLE_TEST_POSTGRES_URL or with
// -short.
func limitsEnvPostgres(t *testing.T, prefix, what string) []string {
	t.Helper()
	dsn := os.Getenv("DURABLE_TEST_POSTGRES_URL")
	if dsn == "" {
		t.Skip("set DURABLE_TEST_POSTGRES_URL to run the PostgreSQL multi-process test of " + what)
	}
	if testing.Short() {
		t.Skip("runs real processes")
	}
	schema := prefix + "_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { dropSchema(dsn, schema) })
	return []string{envStore + "=postgres", envDSN + "=" + dsn, envSchema + "=" + schema}
}

// limitsEnvSQLite is the environment of a multi-process limits test on a
// new SQLite file named after prefix; it skips the test with -short.
func limitsEnvSQLite(t *testing.T, prefix string) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real processes")
	}
	return []string{envStore + "=sqlite", envDB + "=" + filepath.Join(t.TempDir(), prefix+".db")}
}
