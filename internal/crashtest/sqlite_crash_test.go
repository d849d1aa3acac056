package crashtest

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/sqlite"
)

// The child process mode: the test binary re-executed with these variables
// runs an executor on a SQLite file until it is killed.
const (
	envRole   = "DURABLE_CRASHTEST_ROLE"
	envDB     = "DURABLE_CRASHTEST_DB"
	envLedger = "DURABLE_CRASHTEST_LEDGER"
)

// workers are the child process modes, by role.
var workers = map[string]func() error{
	"sqlite-worker": func() error { return sqliteWorker(os.Getenv(envDB), os.Getenv(envLedger)) },
}

func TestMain(m *testing.M) {
	if role := os.Getenv(envRole); role != "" {
		if err := workers[role](); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv("DURABLE_TEST_POSTGRES_URL") == "" {
		fmt.Fprintln(os.Stderr, "internal/crashtest: DURABLE_TEST_POSTGRES_URL is not set: SKIPPING the PostgreSQL "+
			"multi-process crash test (set it, e.g. to postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run it)")
	}
	os.Exit(m.Run())
}

// ledgerTask registers the task both sides use: it appends "S i" when it
// starts and "E i" when it ends, one write each, to an O_APPEND file.
func ledgerTask(ex *durable.Executor, ledger *os.File) *durable.Task[int, int] {
	return durable.Must(durable.NewTask(ex, "ledger", func(ctx context.Context, i int) (int, error) {
		if _, err := fmt.Fprintf(ledger, "S %d\n", i); err != nil {
			return 0, err
		}
		t := time.NewTimer(time.Duration(20+i%20) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		_, err := fmt.Fprintf(ledger, "E %d\n", i)
		return i, err
	}))
}

func crashConfig() durable.Config {
	return durable.Config{
		ExecutorID:    "crash_worker", // stable: a restart takes its work back at once
		Concurrency:   20,
		LeaseDuration: 2 * time.Second,
		PollInterval:  100 * time.Millisecond,
		CrashBudget:   50, // kills are the test, not the task's fault
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func sqliteWorker(db, ledgerPath string) error {
	ctx := context.Background()
	ledger, err := os.OpenFile(ledgerPath, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, db, sqlite.Config{})
	if err != nil {
		return err
	}
	ex, err := durable.New(store, crashConfig())
	if err != nil {
		return err
	}
	ledgerTask(ex, ledger)
	if err := ex.Start(ctx); err != nil {
		return err
	}
	select {} // until killed
}

// TestSQLiteCrashRecovery is RELIABILITY.md R4 and R7, sized for CI: a real
// child process runs an executor on a SQLite file, is SIGKILLed at random
// moments 10 times and restarted each time. Every acknowledged task must
// complete, the file must pass PRAGMA integrity_check after every kill, and
// the tasks that ran twice must be no more than those in flight at the kills.
func TestSQLiteCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes")
	}
	const tasks, kills = 2000, 10
	dir := t.TempDir()
	db, ledgerPath := filepath.Join(dir, "crash.db"), filepath.Join(dir, "ledger.txt")
	handles := enqueueLedgerTasks(t, db, tasks)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	seed := rng.Uint64()
	rng = rand.New(rand.NewPCG(seed, 1))
	inFlight := map[string]bool{} // distinct executions claimed and unfinished at some kill
	start := time.Now()
	for k := range kills {
		child := startWorker(t, db, ledgerPath)
		time.Sleep(time.Duration(150+rng.IntN(200)) * time.Millisecond)
		_ = child.Process.Signal(syscall.SIGKILL)
		_ = child.Wait()
		running, integrity := inspect(t, db)
		if integrity != "ok" {
			t.Fatalf("kill %d: integrity_check = %q", k+1, integrity)
		}
		for _, id := range running {
			inFlight[id] = true
		}
		t.Logf("kill %d: integrity ok, %d executions claimed and unfinished", k+1, len(running))
	}
	final := startWorker(t, db, ledgerPath)
	defer func() { _ = final.Process.Kill(); _ = final.Wait() }()
	completed, lost := awaitAll(t, db, handles)
	starts, ends := readLedger(t, ledgerPath)
	twice := 0
	for i := range tasks {
		if starts[i] > 1 {
			twice++
		}
	}
	t.Logf("seed=%d tasks=%d kills=%d completed=%d lost=%d ran_twice=%d in_flight_at_kills=%d ended_twice=%d duration=%s",
		seed, tasks, kills, completed, lost, twice, len(inFlight), countOver(ends, 1), time.Since(start).Round(time.Millisecond))
	if lost != 0 || completed != tasks {
		t.Errorf("lost %d, completed %d of %d", lost, completed, tasks)
	}
	if twice > len(inFlight) {
		t.Errorf("%d tasks ran twice, more than the %d in flight at the kills", twice, len(inFlight))
	}
}

// enqueueLedgerTasks stores the tasks before any worker runs; returns their
// ids.
func enqueueLedgerTasks(t *testing.T, db string, n int) []string {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, db, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ex, err := durable.New(store, crashConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Shutdown(ctx)
	task := ledgerTask(ex, nil)
	var ids []string
	for from := 0; from < n; from += 100 {
		ins := make([]int, 100)
		for i := range ins {
			ins[i] = from + i
		}
		hs, err := task.EnqueueMany(ctx, ins)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			ids = append(ids, h.ID())
		}
	}
	return ids
}

func startWorker(t *testing.T, db, ledger string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"=sqlite-worker", envDB+"="+db, envLedger+"="+ledger)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// inspect opens the file on its own, as after a crash, and returns the
// executions claimed and unfinished (running) and the integrity check's
// verdict.
func inspect(t *testing.T, db string) (running []string, integrity string) {
	t.Helper()
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query("SELECT id FROM durable_executions WHERE status = 'running'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		running = append(running, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return running, integrity
}

// awaitAll waits (up to 2 minutes) until every id is completed; returns the
// completed count and the ids never completed.
func awaitAll(t *testing.T, db string, ids []string) (completed, lost int) {
	t.Helper()
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := conn.QueryRow("SELECT count(*) FROM durable_executions WHERE status = 'completed'").Scan(&completed)
		if err != nil {
			t.Fatal(err)
		}
		if completed == len(ids) || time.Now().After(deadline) {
			return completed, len(ids) - completed
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readLedger counts "S i" and "E i" lines per task.
func readLedger(t *testing.T, path string) (starts, ends map[int]int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	starts, ends = map[int]int{}, map[int]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, num, ok := strings.Cut(sc.Text(), " ")
		i, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue // a line torn by a kill
		}
		if kind == "S" {
			starts[i]++
		} else {
			ends[i]++
		}
	}
	return starts, ends
}

func countOver(m map[int]int, n int) int {
	c := 0
	for _, v := range m {
		if v > n {
			c++
		}
	}
	return c
}
