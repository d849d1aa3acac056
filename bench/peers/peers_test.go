package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as a recovery worker process, since the
// recovery workload re-executes its own binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == workerCommand {
		os.Exit(runWorkerCommand(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runJSON runs the command with --json and returns its result lines.
func runJSON(t *testing.T, args ...string) []Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append(args, "--json"), &stdout, &stderr); code != 0 {
		t.Fatalf("run %v: exit %d\nstderr: %s", args, code, stderr.String())
	}
	var rs []Result
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad JSON line %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return rs
}

// storeArgs returns the store flags for the SQLite store in a temp dir, or
// for PostgreSQL when DURABLE_TEST_POSTGRES_URL is set (else it skips).
func storeArgs(t *testing.T, store, engine string) []string {
	t.Helper()
	if store == storePostgres {
		dsn := os.Getenv("DURABLE_TEST_POSTGRES_URL")
		if dsn == "" {
			t.Skip("DURABLE_TEST_POSTGRES_URL not set")
		}
		return []string{"--store", storePostgres, "--dsn", dsn}
	}
	return []string{"--store", storeSQLite, "--path", filepath.Join(t.TempDir(), engine+".db")}
}

// mysqlArgs returns the store flags for MySQL from DURABLE_TEST_MYSQL_DSN,
// or skips saying how to run the test.
func mysqlArgs(t *testing.T) []string {
	t.Helper()
	dsn := os.Getenv("DURABLE_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Skip("go-workflows runs on MySQL/MariaDB only: set DURABLE_TEST_MYSQL_DSN (e.g. root@tcp(127.0.0.1:3306)/test)")
	}
	return []string{"--store", storeMySQL, "--dsn", dsn}
}

// TestGoWorkflowsSmoke runs every workload on go-workflows, small, and checks
// each reports its metrics, and that no run's database is left behind.
func TestGoWorkflowsSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("the recovery workload starts worker processes")
	}
	store := mysqlArgs(t)
	for _, c := range []struct {
		workload string
		n        string
		check    func(Metrics) bool
	}{
		{workloadThroughput, "200", func(m Metrics) bool { return m.EnqueueRate != nil && m.DrainRate != nil && *m.DrainRate > 0 }},
		{workloadLatency, "5", func(m Metrics) bool { return m.LatencyMs != nil && m.PickupMs != nil }},
		{workloadFanout, "50", func(m Metrics) bool { return m.FanoutMs != nil }},
		{workloadRecovery, "100", func(m Metrics) bool {
			return m.RecoveryMs != nil && m.JobsLost != nil && *m.JobsLost == 0 && m.JobsExecutedTwice != nil
		}},
	} {
		t.Run(c.workload, func(t *testing.T) {
			args := append([]string{"--engine", engineGoWorkflows, "--workload", c.workload, "--n", c.n, "--concurrency", "20", "--timeout", "2m"}, store...)
			rs := runJSON(t, args...)
			if len(rs) != 1 {
				t.Fatalf("got %d result lines, want 1", len(rs))
			}
			r := rs[0]
			if r.Engine != engineGoWorkflows || r.Store != storeMySQL || !r.Supported || r.Version == "" || len(r.Settings) == 0 {
				t.Errorf("unexpected header: %+v", r)
			}
			if !c.check(r.Metrics) {
				t.Errorf("missing or wrong metrics: %+v (note %q)", r.Metrics, r.Note)
			}
		})
	}
	db, err := openMySQLDatabase(context.Background(), store[3], "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left int
	if err := db.QueryRow("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'peers\\_goworkflows\\_%'").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d peers_goworkflows_* databases left behind", left)
	}
}

func TestThroughputSmoke(t *testing.T) {
	for _, c := range []struct{ engine, store string }{
		{engineRiver, storeSQLite},
		{engineDBOS, storeSQLite},
		{engineRiver, storePostgres},
		{engineDBOS, storePostgres},
	} {
		t.Run(c.engine+"/"+c.store, func(t *testing.T) {
			args := append([]string{"--engine", c.engine, "--workload", "throughput", "--n", "200", "--timeout", "2m"}, storeArgs(t, c.store, c.engine)...)
			rs := runJSON(t, args...)
			if len(rs) != 1 {
				t.Fatalf("got %d result lines, want 1", len(rs))
			}
			r := rs[0]
			if r.Engine != c.engine || r.Workload != workloadThroughput || r.Store != c.store || r.N != 200 || !r.Supported {
				t.Errorf("unexpected header: %+v", r)
			}
			if r.EnqueueRate == nil || *r.EnqueueRate <= 0 || r.DrainRate == nil || *r.DrainRate <= 0 || r.E2EMs == nil {
				t.Errorf("missing throughput metrics: %+v", r.Metrics)
			}
			if r.Version == "" || len(r.Settings) == 0 {
				t.Errorf("missing version or settings: %q %v", r.Version, r.Settings)
			}
		})
	}
}

func TestSQLiteFileRemovedAfterRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "river.db")
	runJSON(t, "--engine", "river", "--workload", "throughput", "--n", "20", "--store", "sqlite", "--path", path)
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind (stat error %v)", f, err)
		}
	}
}

func TestRiverFanoutUnsupported(t *testing.T) {
	rs := runJSON(t, append([]string{"--engine", "river", "--workload", "fanout"}, storeArgs(t, storeSQLite, "river")...)...)
	if len(rs) != 1 || rs[0].Supported || rs[0].Note == "" || rs[0].FanoutMs != nil {
		t.Fatalf("want one unsupported line with a note, got %+v", rs)
	}
}

func TestDBOSRecoverySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	start := time.Now()
	rs := runJSON(t, append([]string{"--engine", "dbos", "--workload", "recovery", "--n", "200", "--concurrency", "20", "--timeout", "2m"}, storeArgs(t, storeSQLite, "dbos")...)...)
	r := rs[0]
	if r.RecoveryMs == nil || r.JobsLost == nil || *r.JobsLost != 0 || r.JobsExecutedTwice == nil {
		t.Fatalf("want recovery_ms, jobs_lost 0 and jobs_executed_twice, got %+v (note %q)", r.Metrics, r.Note)
	}
	t.Logf("recovery %.0f ms, executed twice %d, test took %s", *r.RecoveryMs, *r.JobsExecutedTwice, time.Since(start))
}

func TestRunsSummary(t *testing.T) {
	rs := runJSON(t, append([]string{"--engine", "dbos", "--workload", "latency", "--n", "5", "--runs", "3"}, storeArgs(t, storeSQLite, "dbos")...)...)
	if len(rs) != 4 {
		t.Fatalf("got %d lines, want 3 runs and a summary", len(rs))
	}
	s := rs[3]
	if !s.Summary || s.Runs != 3 || s.LatencyMs == nil || s.Min == nil || s.Max == nil || s.Min.LatencyMs == nil {
		t.Fatalf("bad summary: %+v", s)
	}
	if s.Min.LatencyMs.P50 > s.LatencyMs.P50 || s.LatencyMs.P50 > s.Max.LatencyMs.P50 {
		t.Errorf("median p50 %v outside [%v, %v]", s.LatencyMs.P50, s.Min.LatencyMs.P50, s.Max.LatencyMs.P50)
	}
}

func TestBadFlags(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "exists.db")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{},
		{"--engine", "temporal"},
		{"--engine", "river", "--workload", "sprint"},
		{"--engine", "river", "--store", "mysql"},
		{"--engine", "goworkflows", "--store", "postgres"},
		{"--engine", "goworkflows", "--dsn", "root@unix(/tmp/x.sock)/test"},
		{"--engine", "goworkflows", "--dsn", "root@tcp(127.0.0.1:3306)/"},
		{"--engine", "goworkflows", "--dsn", "not a dsn"},
		{"--engine", "goworkflows", "--path", "x.db"},
		{"--engine", "river", "--concurrency", "0"},
		{"--engine", "river", "--runs", "0"},
		{"--engine", "river", "--n", "-1"},
		{"--engine", "river", "--store", "sqlite", "--dsn", "postgres://x"},
		{"--engine", "river", "--store", "postgres", "--path", "x.db"},
		{"--engine", "river", "--path", existing},
		{"--engine", "river", "--bogus"},
		{"--engine", "river", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 {
			t.Errorf("run %v: exit %d, want 2", args, code)
		}
		if stderr.Len() == 0 {
			t.Errorf("run %v: no error message", args)
		}
	}
}

func TestPercentileAndSummary(t *testing.T) {
	var samples []time.Duration
	for i := 1; i <= 100; i++ {
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	l := latencyOf(samples)
	if l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 {
		t.Errorf("percentiles = %+v", l)
	}
	runs := []Result{
		{Metrics: Metrics{DrainRate: ptr(3.0), JobsLost: ptr(0)}},
		{Metrics: Metrics{DrainRate: ptr(1.0), JobsLost: ptr(2)}},
		{Metrics: Metrics{DrainRate: ptr(2.0), JobsLost: ptr(1)}},
	}
	s := summarize(runs)
	if *s.DrainRate != 2 || *s.Min.DrainRate != 1 || *s.Max.DrainRate != 3 || *s.JobsLost != 1 || *s.Max.JobsLost != 2 {
		t.Errorf("summary = %+v min %+v max %+v", s.Metrics, *s.Min, *s.Max)
	}
	if s.E2EMs != nil || s.LatencyMs != nil {
		t.Errorf("unmeasured metrics should stay nil: %+v", s.Metrics)
	}
}
