package crashtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/internal/pgcluster"
	"github.com/durable-go/durable/storage/postgres"
)

const serverCrashSchema = "server_crash"

func init() {
	workers["pg-crash-worker"] = func() error {
		return pgCrashWorker(os.Getenv(envDSN), os.Getenv(envLedger), os.Getenv(envExecutor))
	}
}

// crashLeaf registers the server-crash test's task: it records its start
// and end in the ledger with its fencing token and takes 30-70ms.
func crashLeaf(ex *durable.Executor, ledger io.Writer) *durable.Task[int, int] {
	return durable.Must(durable.NewTask(ex, "crash_leaf", func(ctx context.Context, n int) (int, error) {
		info, _ := durable.Info(ctx)
		line := func(kind string) error {
			_, err := fmt.Fprintf(ledger, "%s %d %s %d %d\n", kind, n, info.ExecutorID, info.Fence, time.Now().UnixNano())
			return err
		}
		if err := line("S"); err != nil {
			return 0, err
		}
		t := time.NewTimer(time.Duration(30+n%41) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		return n, line("E")
	}))
}

func pgCrashWorker(dsn, ledgerPath, executor string) error {
	return runPgWorker(dsn, serverCrashSchema, ledgerPath, executor, func(ex *durable.Executor, ledger *os.File) {
		crashLeaf(ex, ledger)
	})
}

// TestPostgresServerCrash crashes the PostgreSQL server itself (pg_ctl stop
// -m immediate: what the WAL buffers held is lost, as in a power cut or an
// OOM kill) six times while two executor processes drain 3,000 tasks,
// and checks from the ledger of every body's start that no fencing token
// was handed out twice for one execution: no (execution, fence) pair
// started twice, in one process or two. Then nothing may be lost and every
// execution must be completed.
func TestPostgresServerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs its own PostgreSQL cluster and real processes")
	}
	cluster := pgcluster.New(t)
	dsn := cluster.DSN()
	ledgerPath := t.TempDir() + "/ledger.txt"
	if err := os.WriteFile(ledgerPath, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	const tasks = 3000
	enqueueCrashLeaves(t, dsn, tasks)

	procs := startWorkers(t, "pg-crash-worker", dsn, serverCrashSchema, ledgerPath, 2, func(i int) string {
		return fmt.Sprintf("worker_%d", i)
	})
	defer stopAll(procs)

	const crashes = 6
	for i := range crashes {
		// Let the drain get going again, then crash in the middle of it.
		started := len(readRuns(t, ledgerPath))
		if !waitFor(30*time.Second, func() bool { return len(readRuns(t, ledgerPath)) >= started+150 }) {
			t.Fatalf("crash %d: the executors started no new runs within 30s", i+1)
		}
		cluster.Crash(t)
		time.Sleep(time.Second)
		cluster.Start(t)
	}

	lost := awaitPgCompleted(t, dsn, serverCrashSchema, 2*time.Minute)
	runs := readRuns(t, ledgerPath)
	reused := reusedFences(runs)
	keys := map[string]bool{}
	for _, r := range runs {
		keys[r.key] = true
	}
	t.Logf("tasks=%d runs=%d distinct=%d server_crashes=%d lost=%d reused_fences=%d",
		tasks, len(runs), len(keys), crashes, lost, len(reused))
	if lost != 0 {
		t.Errorf("%d executions are not completed: %s", lost, unfinished(t, dsn, serverCrashSchema))
	}
	if len(keys) != tasks {
		t.Errorf("%d distinct tasks ran, want %d", len(keys), tasks)
	}
	if len(reused) > 0 {
		t.Errorf("%d (execution, fence) pairs started more than once, e.g. %s", len(reused), strings.Join(reused[:min(5, len(reused))], "; "))
	}
}

// reusedFences lists the (key, fence) pairs of the ledger that started more
// than once, with the executors that ran them.
func reusedFences(runs []run) []string {
	by := map[string][]string{}
	for _, r := range runs {
		k := fmt.Sprintf("task %s fence %d", r.key, r.fence)
		by[k] = append(by[k], r.executor)
	}
	var out []string
	for k, execs := range by {
		if len(execs) > 1 {
			out = append(out, fmt.Sprintf("%s ran in %v", k, execs))
		}
	}
	sort.Strings(out)
	return out
}

func enqueueCrashLeaves(t *testing.T, dsn string, n int) {
	t.Helper()
	ctx := context.Background()
	store, err := postgres.Open(ctx, dsn, postgres.Config{Schema: serverCrashSchema})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ex, err := durable.New(store, durable.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Shutdown(ctx)
	leaf := crashLeaf(ex, io.Discard)
	items := make([]durable.Child, n)
	for i := range items {
		items[i] = durable.ChildOf(leaf, i)
	}
	for from := 0; from < n; from += 1000 {
		if _, err := ex.EnqueueMany(ctx, items[from:min(from+1000, n)]...); err != nil {
			t.Fatal(err)
		}
	}
}

// unfinished describes the executions of the schema that are not completed.
func unfinished(t *testing.T, dsn, schema string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err.Error()
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT id, status, fence, executor_id, coalesce(due_at::text, ''), coalesce(error::text, '') FROM "+
		pgx.Identifier{schema, "executions"}.Sanitize()+" WHERE status <> 'completed' ORDER BY id LIMIT 5")
	if err != nil {
		return err.Error()
	}
	var out []string
	for rows.Next() {
		var id, status, executor, due, errText string
		var fence int64
		if err := rows.Scan(&id, &status, &fence, &executor, &due, &errText); err != nil {
			return err.Error()
		}
		out = append(out, fmt.Sprintf("%s %s fence=%d executor=%q due=%s error=%s", id, status, fence, executor, due, errText))
	}
	return strings.Join(out, "; ")
}

// waitFor polls cond every 50ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}
