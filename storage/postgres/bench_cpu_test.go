package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// BenchmarkServerCPU measures what the store's statements cost the
// server, which wall-clock figures on a loaded machine cannot resolve: the
// CPU time (user + system, from /proc) of the store's own backends, found
// by an application_name of their own, while b.N plain rows are inserted
// (batches of 100) and then claimed (batches of 300) and completed
// (batches of 100). It reports microseconds per task of each phase. It
// needs the server on this machine (its backends' /proc entries readable)
// and skips otherwise. docs/postgres.md compares builds with it, in turns:
//
//	go test -c -o new.test ./storage/postgres/  # and old.test from the code before
//	DURABLE_TEST_POSTGRES_URL=... ./new.test -test.run '^$' -test.bench ServerCPU -test.benchtime 20000x
func BenchmarkServerCPU(b *testing.B) { serverCPU(b, benchRows) }

// BenchmarkServerCPUPriorities is BenchmarkServerCPU with the rows spread
// over the priorities 1 to 9 (row i has priority 1 + i%9): each claim
// takes the rows of the highest priority left, probing the claim index
// once per level.
func BenchmarkServerCPUPriorities(b *testing.B) {
	serverCPU(b, func(prefix string, n int) []storage.Execution {
		rows := benchRows(prefix, n)
		for i := range rows {
			rows[i].Priority = storage.PriorityFirst + i%storage.PriorityLevels
		}
		return rows
	})
}

// serverCPU runs BenchmarkServerCPU on the rows that newRows returns.
func serverCPU(b *testing.B, newRows func(prefix string, n int) []storage.Execution) {
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	app := "durable_cpu_" + hex.EncodeToString(tag[:])
	dsn, err := withAppName(testURL(b), app)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Schema: testSchema(b)}
	s, err := Open(context.Background(), dsn, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	c0 := backendsCPU(b, s, app)
	for i := 0; i < b.N; i += 100 {
		if err := s.Insert(ctx, storage.InsertParams{Executions: newRows(fmt.Sprintf("c%d", i), min(100, b.N-i))}); err != nil {
			b.Fatal(err)
		}
	}
	c1 := backendsCPU(b, s, app)
	claimP := storage.ClaimParams{ExecutorID: "e", TaskIDs: []string{"task"}, Limit: 300, Lease: time.Minute}
	for n := 0; n < b.N; {
		rows, err := s.Claim(ctx, claimP)
		if err != nil {
			b.Fatal(err)
		}
		for k := 0; k < len(rows); k += 100 {
			part := rows[k:min(k+100, len(rows))]
			trs := make([]storage.Transition, len(part))
			for i, r := range part {
				trs[i] = done(r)
			}
			if _, err := s.Complete(ctx, storage.CompleteParams{Transitions: trs}); err != nil {
				b.Fatal(err)
			}
		}
		n += len(rows)
	}
	c2 := backendsCPU(b, s, app)
	b.ReportMetric(float64(cpuSince(c0, c1).Microseconds())/float64(b.N), "insert-server-us/task")
	b.ReportMetric(float64(cpuSince(c1, c2).Microseconds())/float64(b.N), "claim+complete-server-us/task")
}

// withAppName returns dsn (a URL) with its application_name set to app.
func withAppName(dsn, app string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("BenchmarkServerCPU needs a URL DSN: %v", err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// Linux).
const clockTick = 10 * time.Millisecond

// procCPU returns the CPU time so far of the process pid: from
// /proc/<pid>/schedstat (nanoseconds on the CPU) where the kernel has it,
// else from /proc/<pid>/stat (utime and stime, in clock ticks: a backend
// that ran 0.3 s is then known to 3 %).
func procCPU(pid int) (time.Duration, error) {
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid)); err == nil {
		if f := strings.Fields(string(st)); len(f) > 0 {
			if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return time.Duration(ns), nil
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command (which may hold spaces): utime and
	// stime are the 12th and 13th.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, stat)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// backendsCPU returns the CPU time so far of each backend named app, by
// pid. It skips the benchmark when a backend's /proc entry is unreadable
// (a server on another machine).
func backendsCPU(b *testing.B, s *Store, app string) map[int]time.Duration {
	b.Helper()
	rows, err := s.pool.Query(context.Background(), "SELECT pid FROM pg_stat_activity WHERE application_name = $1", app)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			b.Fatal(err)
		}
		cpu, err := procCPU(pid)
		if err != nil {
			b.Skipf("the server's backends are not readable here (%v): BenchmarkServerCPU needs the server on this machine", err)
		}
		out[pid] = cpu
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return out
}

// cpuSince is the CPU time the backends of after used since before (a
// backend that started in between counts from zero).
func cpuSince(before, after map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	return d
}
