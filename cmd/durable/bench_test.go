package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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

// TestMain lets the test binary act as the recovery workload's worker
// process, which the bench starts with os.Executable().
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "bench-worker" {
		os.Exit(runBenchWorker(os.Args[2:], os.Stdout, os.Stderr))
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
