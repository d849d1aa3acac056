package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestBenchFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		msg  string
	}{
		{"UnknownStore", []string{"--store", "mongo"}, "--store must be"},
		{"UnknownWorkload", []string{"--workload", "speed"}, "--workload must be"},
		{"BadN", []string{"--n", "0"}, "--n must be"},
		{"BadConcurrency", []string{"--concurrency", "-1"}, "--concurrency must be"},
		{"BadRuns", []string{"--runs", "0"}, "--runs must be"},
		{"BadDurability", []string{"--durability", "fast"}, "--durability must be"},
		{"UnknownFlag", []string{"--fast"}, "-fast"},
		{"Extra", []string{"now"}, "unexpected argument"},
		{"RemoteOnMemory", []string{"--store", "memory", "--workload", "latency-remote"}, "latency-remote needs a store shared"},
		{"RecoveryOnMemory", []string{"--store", "memory", "--workload", "recovery"}, "recovery needs a store shared"},
		{"RetentionOnMemory", []string{"--store", "memory", "--workload", "retention"}, "retention needs --store sqlite or postgres"},
		{"BadExpired", []string{"--workload", "retention", "--expired", "-1"}, "--expired must be"},
		{"BadRate", []string{"--workload", "retention", "--rate", "0"}, "--rate in"},
		{"BadCleanerShare", []string{"--workload", "retention", "--cleaner-share", "1.5"}, "--cleaner-share must be in 0..1"},
		{"NaNCleanerShare", []string{"--workload", "retention", "--cleaner-share", "NaN"}, "--cleaner-share must be in 0..1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			code := run(append([]string{"bench"}, c.args...), &out, &errOut)
			if code != exitUsage || !strings.Contains(errOut.String(), c.msg) {
				t.Errorf("exit %d, stderr %q (want 2 and %q)", code, errOut.String(), c.msg)
			}
		})
	}
}

func TestBenchJSON(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "--store", "memory", "--n", "500", "--json", "--workload", "all"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	seen := map[string]map[string]any{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		seen[m["workload"].(string)] = m
	}
	want := map[string][]string{
		"throughput": {"enqueue_rate", "drain_rate", "e2e_ms"},
		"latency":    {"latency_ms", "pickup_ms"},
		"fanout":     {"fanout_ms"},
	}
	for wl, keys := range want {
		m, ok := seen[wl]
		if !ok {
			t.Errorf("no %s result", wl)
			continue
		}
		for _, k := range append(keys, "engine", "store", "n", "concurrency") {
			if _, ok := m[k]; !ok {
				t.Errorf("%s result lacks %q: %v", wl, k, m)
			}
		}
	}
}

// TestBenchThroughputSpread drains the throughput workload over two queues
// and nine priorities on SQLite, with a queue limit: every task must end
// completed (the bench checks each one after the drain) and the settings
// must say how the tasks were spread.
func TestBenchThroughputSpread(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "--store", "sqlite", "--path", t.TempDir(), "--workload", "throughput",
		"--n", "300", "--spread", "--enqueue-batch", "100", "--queue-limit", "20", "--json"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var m struct {
		Workload  string            `json:"workload"`
		N         int               `json:"n"`
		DrainRate float64           `json:"drain_rate"`
		Settings  map[string]string `json:"settings"`
	}
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("bad JSON %q: %v", out.String(), err)
	}
	if m.Workload != "throughput" || m.N != 300 || m.DrainRate <= 0 {
		t.Errorf("result %+v", m)
	}
	if m.Settings["priorities"] != "1..9 in turn" || !strings.Contains(m.Settings["queue_limit"], "spread-0, spread-1") {
		t.Errorf("settings %v do not describe the spread", m.Settings)
	}
}

// TestBenchTimeline checks the drain's timeline: it starts at none
// finished, ends at every task, and its instants and counts never go back.
func TestBenchTimeline(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "--store", "memory", "--workload", "throughput", "--n", "2000", "--timeline", "--json"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var m struct {
		DrainTimeline [][2]int64 `json:"drain_timeline"`
	}
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("bad JSON %q: %v", out.String(), err)
	}
	tl := m.DrainTimeline
	if len(tl) < 2 || tl[0][1] != 0 || tl[len(tl)-1][1] != 2000 {
		t.Fatalf("timeline %v: want it to run from 0 to 2000 finished", tl)
	}
	for i := 1; i < len(tl); i++ {
		if tl[i][0] < tl[i-1][0] || tl[i][1] < tl[i-1][1] {
			t.Fatalf("timeline goes back at %d: %v", i, tl)
		}
	}
}

// TestMain lets the test binary act as the worker process of the recovery
// and latency-remote workloads, which the bench starts with
// os.Executable(). It also lowers the latency-remote rounds, to keep the
// tests short.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "bench-worker" {
		os.Exit(runBenchWorker(os.Args[2:], os.Stdout, os.Stderr))
	}
	remoteLatencyWarmup, remoteLatencyRounds = 1, 3
	if os.Getenv(envPostgres) == "" {
		fmt.Fprintf(os.Stderr, "cmd/durable: %s is not set: SKIPPING the PostgreSQL tests of the commands "+
			"(set it, e.g. to postgres://postgres@127.0.0.1:5432/test?sslmode=disable, to run them)\n", envPostgres)
	}
	os.Exit(m.Run())
}

// TestBenchRecoveryOnSQLite kills a real worker process mid-run and checks
// that the restarted one finishes every task.
func TestBenchRecoveryOnSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs and kills worker processes")
	}
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "--store", "sqlite", "--path", t.TempDir(), "--workload", "recovery", "--json"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	t.Logf("recovery %.0fms lost=%d executed_twice=%d", r.RecoveryMs, *r.JobsLost, *r.JobsTwice)
	if *r.JobsLost != 0 {
		t.Errorf("lost %d tasks", *r.JobsLost)
	}
}

// TestBenchLatencyRemote runs the latency-remote workload end to end: a
// bench-worker process runs the tasks the bench enqueues and waits for.
func TestBenchLatencyRemote(t *testing.T) {
	if testing.Short() {
		t.Skip("runs worker processes")
	}
	t.Parallel()
	stores := map[string][]string{"sqlite": {"--path", t.TempDir()}}
	if dsn := os.Getenv("DURABLE_TEST_POSTGRES_URL"); dsn != "" {
		stores["postgres"] = []string{"--dsn", dsn}
	}
	if dsn := os.Getenv("DURABLE_TEST_MYSQL_DSN"); dsn != "" {
		stores["mysql"] = []string{"--mysql-dsn", dsn}
	}
	for store, extra := range stores {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"bench", "--store", store, "--workload", "latency-remote", "--json"}, extra...)
			var out, errOut bytes.Buffer
			if code := run(args, &out, &errOut); code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			var r Result
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, out.String())
			}
			checkRemoteResult(t, r, store)
		})
	}
}

// checkRemoteResult checks one latency-remote result and its table.
func checkRemoteResult(t *testing.T, r Result, store string) {
	t.Helper()
	if r.Workload != "latency-remote" || r.Store != store || r.N != remoteLatencyRounds {
		t.Errorf("workload %q store %q n %d, want latency-remote %s %d", r.Workload, r.Store, r.N, store, remoteLatencyRounds)
	}
	if r.LatencyMs == nil || r.LatencyMs.P50 <= 0 || r.LatencyMs.Max < r.LatencyMs.P50 {
		t.Fatalf("latency_ms = %+v, want positive percentiles", r.LatencyMs)
	}
	if r.PickupMs != 0 {
		t.Errorf("pickup_ms = %v, want none (it would need the worker's clock)", r.PickupMs)
	}
	t.Logf("%s: p50 %.2fms max %.2fms", store, r.LatencyMs.P50, r.LatencyMs.Max)
	// How fast a round is is the benchmark's to report, not a test's to
	// assert (a loaded machine slows it tenfold); that events carry Wait,
	// Cancel and Wake across processes is checked by the stores' tests
	// (storagetest.CheckAcrossProcesses, crashtest's SQLite events tests).
	var table bytes.Buffer
	printTable(&table, benchFlags{store: store, workload: "latency-remote", runs: 1}, []Result{r})
	if !strings.Contains(table.String(), "latency-remote p50") || strings.Contains(table.String(), "pickup") {
		t.Errorf("table lacks the p50 row or has a pickup row:\n%s", table.String())
	}
}

// TestBenchTableLatencyRemote checks that bench-table prints the
// latency-remote figures apart from the same-process ones.
func TestBenchTableLatencyRemote(t *testing.T) {
	t.Parallel()
	in := `{"engine":"durable","workload":"latency","store":"postgres","latency_ms":{"p50":2,"p90":3,"p99":4,"max":5},"pickup_ms":1}
{"engine":"durable","workload":"latency-remote","store":"postgres","latency_ms":{"p50":7,"p90":8,"p99":9,"max":10}}
`
	var out bytes.Buffer
	printComparison(&out, mustReadRuns(t, in))
	for _, want := range []string{"latency p50 ms", "remote p50 ms", "remote p99 ms"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q row:\n%s", want, out.String())
		}
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "remote p50 ms") && !strings.Contains(line, " 7.00 ") {
			t.Errorf("remote p50 row %q, want 7.00", line)
		}
	}
}

// mustReadRuns parses bench-table input.
func mustReadRuns(t *testing.T, in string) []peerRun {
	t.Helper()
	runs, err := readRuns(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// TestBenchTableMySQL checks the MySQL table: durable on MySQL beside
// durable on PostgreSQL and go-workflows, MySQL over PostgreSQL, and durable
// against go-workflows.
func TestBenchTableMySQL(t *testing.T) {
	t.Parallel()
	in := `{"engine":"durable","workload":"throughput","store":"mysql","drain_rate":1000}
{"engine":"durable","workload":"throughput","store":"postgres","drain_rate":4000}
{"engine":"goworkflows","workload":"throughput","store":"mysql","drain_rate":100}
{"engine":"durable","workload":"fanout","store":"mysql","fanout_ms":300}
{"engine":"goworkflows","workload":"fanout","store":"mysql","fanout_ms":6000}
`
	var out bytes.Buffer
	printComparison(&out, mustReadRuns(t, in))
	lines := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && (f[0] == "drain" || f[0] == "fanout") && strings.Contains(line, "x") {
			lines[f[0]] = line
		}
	}
	if got := strings.Fields(lines["drain"]); len(got) != 7 || got[5] != "0.25" || got[6] != "10.0x" {
		t.Errorf("drain row %q, want mysql/pg 0.25 and 10.0x:\n%s", lines["drain"], out.String())
	}
	if got := strings.Fields(lines["fanout"]); len(got) != 6 || got[5] != "20.0x" {
		t.Errorf("fanout row %q, want 20.0x and no mysql/pg:\n%s", lines["fanout"], out.String())
	}
}
