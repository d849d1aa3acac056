package crashtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// The multi-process test of a queue's limit per key and rate limit
// (QueueLimit.PerKey, Rate, Per): several executor processes drain one
// queue whose executions have one of keyCount concurrency keys, on a
// shared PostgreSQL schema or SQLite file. Every run records its start and
// end in the ledger; the test computes the most runs of one key in
// progress at once and requires it to be the limit per key (never above,
// and reached). The rate is checked on the claims' own times (each
// execution's StartedAt, the now its claim judged the window by): the
// fixed windows they make hold at most keyRate starts each. Then one
// process is SIGKILLed mid-run: the queue must still drain, never above
// the limit per key.

const (
	keyQueue   = "keyed"
	keyCount   = 8
	keyPerKey  = 2
	keyRate    = 60
	keyPer     = 400 * time.Millisecond
	keyWorkers = 3
)

func init() {
	workers["keylimits-worker"] = keyLimitsWorker
}

// keyOf is the concurrency key of a keyed run's input: "k3-17" is k3.
func keyOf(input string) string {
	k, _, _ := strings.Cut(input, "-")
	return k
}

// keyedTask registers the task of the keyed queue: as limitTask, with its
// concurrency key taken from its input.
func keyedTask(ex *durable.Executor, ledger *os.File) *durable.Task[string, string] {
	return durable.Must(durable.NewTask(ex, "keyed_leaf", func(ctx context.Context, in string) (string, error) {
		info, _ := durable.Info(ctx)
		line := func(kind string) error {
			_, err := fmt.Fprintf(ledger, "%s %s %s %d %d\n", kind, in, info.ExecutorID, info.Fence, time.Now().UnixNano())
			return err
		}
		if err := line("S"); err != nil {
			return "", err
		}
		_, num, _ := strings.Cut(in, "-")
		n, _ := strconv.Atoi(num)
		t := time.NewTimer(time.Duration(10+n%20) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		return in, line("E")
	}, durable.WithQueue(keyQueue), durable.WithConcurrencyKeyFunc(keyOf)))
}

// keyLimitsWorker runs an executor with the keyed task until killed.
func keyLimitsWorker() error {
	return limitedWorker(func(ex *durable.Executor, ledger *os.File) { keyedTask(ex, ledger) })
}

// keyLimitsSetup sets the queue's limits and enqueues n executions of the
// keyed task, inputs kK-prefixI.
func keyLimitsSetup(t *testing.T, prefix string, n int) {
	limitedSetup(t, keyQueue, durable.QueueLimit{PerKey: keyPerKey, Rate: keyRate, Per: keyPer}, keyedTask,
		func(i int) string { return fmt.Sprintf("k%d-%s%d", i%keyCount, prefix, i) }, n)
}

// maxPerKey is the most runs of one key in progress at once, and that key.
func maxPerKey(runs []run, killedAt time.Time) (most int, key string) {
	byKey := map[string][]run{}
	for _, r := range runs {
		byKey[keyOf(r.key)] = append(byKey[keyOf(r.key)], r)
	}
	for k, rs := range byKey {
		if n, _ := maxInProgress(rs, killedAt); n > most {
			most, key = n, k
		}
	}
	return most, key
}

// claimStarts returns the StartedAt of every execution of the store, in
// order: the now of the claim that started it.
func claimStarts(t *testing.T) []time.Time {
	t.Helper()
	ctx := context.Background()
	store, err := openLimitsStore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var out []time.Time
	p := storage.ListParams{Limit: storage.MaxListLimit}
	for {
		rows, err := store.(storage.Lister).List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if !r.StartedAt.IsZero() {
				out = append(out, r.StartedAt)
			}
		}
		if len(rows) < p.Limit {
			break
		}
		key := storage.KeyOf(&rows[len(rows)-1])
		p.After = &key
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// mostPerWindow rebuilds the rate's fixed windows from the claims' starts
// (a window opens at the first start at or after the previous window's
// end) and returns the most starts in one, and how many windows there
// were. Takeovers are claims too but leave no StartedAt: with none, the
// windows rebuilt are the store's.
func mostPerWindow(starts []time.Time, per time.Duration) (most, windows int) {
	var open time.Time
	n := 0
	for _, s := range starts {
		if windows == 0 || !s.Before(open.Add(per)) {
			open, n = s, 0
			windows++
		}
		n++
		most = max(most, n)
	}
	return most, windows
}

// mostInSpan is the most starts within any span of per: at most twice the
// rate with fixed windows, whatever claims left no StartedAt.
func mostInSpan(starts []time.Time, per time.Duration) int {
	most, j := 0, 0
	for i := range starts {
		for starts[i].Sub(starts[j]) >= per {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

func runKeyLimitsMultiProcess(t *testing.T, env []string) {
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	id := func(i int) string { return fmt.Sprintf("keylimits_worker_%d_%d", i, time.Now().UnixNano()) }
	start := func(ledger string) []*exec.Cmd {
		return startWorkers(t, "keylimits-worker", os.Getenv(envDSN), os.Getenv(envSchema), ledger, keyWorkers, id)
	}

	t.Run("NoFaults", func(t *testing.T) {
		ledger := filepath.Join(dir, "ledger1.txt")
		keyLimitsSetup(t, "a", 300)
		procs := start(ledger)
		defer stopAll(procs)
		notDone := awaitLimitsDone(t, 2*time.Minute)
		runs := readRuns(t, ledger)
		most, key := maxPerKey(runs, time.Time{})
		starts := claimStarts(t)
		perWindow, windows := mostPerWindow(starts, keyPer)
		t.Logf("runs=%d processes=%d keys=%d per_key=%d max_per_key=%d (%s) rate=%d/%v windows=%d max_per_window=%d max_in_span=%d not_done=%d",
			len(runs), keyWorkers, keyCount, keyPerKey, most, key, keyRate, keyPer, windows, perWindow, mostInSpan(starts, keyPer), notDone)
		if notDone != 0 {
			t.Errorf("%d executions not completed", notDone)
		}
		if most != keyPerKey {
			t.Errorf("at most %d runs of one key in progress at once, want the limit per key, %d", most, keyPerKey)
		}
		if perWindow > keyRate {
			t.Errorf("%d claims in one window of %v, over the rate of %d", perWindow, keyPer, keyRate)
		}
		if windows < 300/keyRate {
			t.Errorf("300 claims in %d windows of %v: the rate of %d did not hold them back", windows, keyPer, keyRate)
		}
	})

	t.Run("KillOneProcess", func(t *testing.T) {
		ledger := filepath.Join(dir, "ledger2.txt")
		keyLimitsSetup(t, "b", 300)
		procs := start(ledger)
		defer stopAll(procs)
		killedAt := killBusyWorker(t, ledger, "keylimits_worker_", procs)
		notDone := awaitLimitsDone(t, 2*time.Minute)
		runs := readRuns(t, ledger)
		victim := victimOf(runs, killedAt)
		orphans, worst := takeover(runs, victim, killedAt)
		most, key := maxPerKey(runs, killedAt)
		starts := claimStarts(t)
		inSpan := mostInSpan(starts, keyPer)
		t.Logf("runs=%d killed=%s taken_over=%d worst_takeover=%s per_key=%d max_per_key=%d (%s) rate=%d/%v max_in_span=%d not_done=%d",
			len(runs), victim, orphans, worst.Round(time.Millisecond), keyPerKey, most, key, keyRate, keyPer, inSpan, notDone)
		if victim == "" || orphans == 0 {
			t.Errorf("the kill did not interrupt any run (victim %q); the test measured nothing", victim)
		}
		if notDone != 0 {
			t.Errorf("%d executions not completed: the killed process's slots were not given back", notDone)
		}
		if most > keyPerKey {
			t.Errorf("%d runs of key %s in progress at once, over the limit of %d", most, key, keyPerKey)
		}
		if inSpan > 2*keyRate {
			t.Errorf("%d claims within %v, over twice the rate of %d", inSpan, keyPer, keyRate)
		}
	})
}

// TestKeyLimitsMultiProcessPostgres: see runKeyLimitsMultiProcess.
func TestKeyLimitsMultiProcessPostgres(t *testing.T) {
	runKeyLimitsMultiProcess(t, limitsEnvPostgres(t, "keylimits", "limits per key and rate limits"))
}

// TestKeyLimitsMultiProcessSQLite: see runKeyLimitsMultiProcess.
func TestKeyLimitsMultiProcessSQLite(t *testing.T) {
	runKeyLimitsMultiProcess(t, limitsEnvSQLite(t, "keylimits"))
}
