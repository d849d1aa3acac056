package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/sqlite"
)

// bigTableRows is the size of BenchmarkBigTable's table: 100,000 rows by
// default (built in a few seconds), DURABLE_BENCH_ROWS=1000000 for the
// figures of docs/performance.md (the build takes a minute or two).
func bigTableRows(b *testing.B) int {
	n := 100_000
	if v := os.Getenv("DURABLE_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("DURABLE_BENCH_ROWS=%q: want a number >= 1000", v)
		}
	}
	return n
}

// bigTable builds, in the file at path, a table of n finished executions
// as an application that ran for a while leaves it: four in five
// top-level (one in sixteen of those a parent of four children, which
// make up the rest), of ten tasks; 1 % of the top-level rows failed, the
// others completed; one in ten top-level rows tagged with one of 100
// tenants. Rows are created 1 ms apart and finished 500 ms after. The rows
// are written by SQL in one transaction, straight into the store's schema
// (the store opens the file first, to migrate it), as the store would
// have written them.
func bigTable(b *testing.B, path string, n int) {
	b.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Config{})
	if err != nil {
		b.Fatal(err)
	}
	s.Close()
	db, err := sql.Open(sqlite.DriverName, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	roots := n / 5 * 4
	parents := (n - roots) / 4
	stmts := []string{
		"BEGIN",
		// Top-level rows; every 16th (up to parents of them) a parent.
		fmt.Sprintf(`WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < %d)
		INSERT INTO durable_executions (id, task_id, status, input, output, error, retry_max_retries,
			timeout, attempt, children_total, created_at, updated_at, started_at, finished_at, tags)
		SELECT printf('e%%08d', i), 'task-' || (i %% 10),
			CASE WHEN i %% 100 = 7 THEN 'failed' ELSE 'completed' END,
			'{"order":"' || printf('B-%%08d', i) || '","amount":1250,"currency":"EUR"}',
			CASE WHEN i %% 100 = 7 THEN NULL ELSE '{"ok":true,"receipt":"R-' || i || '"}' END,
			CASE WHEN i %% 100 = 7 THEN '{"kind":"generic","message":"card declined"}' END,
			3, 60000000000, CASE WHEN i %% 100 = 7 THEN 3 ELSE 0 END,
			CASE WHEN i %% 16 = 0 AND i / 16 < %d THEN 4 ELSE 0 END,
			%d + i * 1000, %d + i * 1000 + 500000, %d + i * 1000 + 1000, %d + i * 1000 + 500000,
			CASE WHEN i %% 10 = 3 THEN '["tenant-' || (i / 10 %% 100) || '"]' END
		FROM k`, roots, parents, benchT0, benchT0, benchT0, benchT0),
		// Four children of each parent, created 100 µs after it.
		`INSERT INTO durable_executions (id, task_id, root_id, root_task_id, parent_id, parent_task_id,
			child_index, status, input, output, retry_max_retries, timeout, created_at, updated_at,
			started_at, finished_at)
		SELECT p.id || '-c' || c.value, 'child', p.id, p.task_id, p.id, p.task_id, c.value, 'completed',
			'{"step":' || c.value || '}', '{"ok":true}', 3, 60000000000,
			p.created_at + 100, p.finished_at - 1000, p.created_at + 200, p.finished_at - 1000
		FROM durable_executions AS p, json_each('[0,1,2,3]') AS c
		WHERE p.children_total = 4`,
		// Their tags, as the store writes them (insert_tags).
		`INSERT INTO durable_execution_tags (tag, created_at, id, seq)
		SELECT j.value, e.created_at, e.id, e.seq FROM durable_executions AS e, json_each(e.tags) AS j
		WHERE e.tags IS NOT NULL`,
		"COMMIT",
	}
	start := time.Now()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatalf("build the table: %v\n%s", err, q)
		}
	}
	var rows int
	if err := db.QueryRow("SELECT count(*) FROM durable_executions").Scan(&rows); err != nil {
		b.Fatal(err)
	}
	b.Logf("table of %d rows built in %v", rows, time.Since(start).Round(time.Millisecond))
}

// writtenBytes returns the bytes the process has written so far (wchar of
// /proc/self/io: the WAL frames, mostly), or -1 where it cannot be read.
func writtenBytes() int64 {
	io, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(io), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// benchBatch is the roots a DeleteExpired call of BenchmarkBigTable
// takes: 1000 (the cleaner's default), or DURABLE_BENCH_BATCH.
func benchBatch(b *testing.B) int {
	if v := os.Getenv("DURABLE_BENCH_BATCH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("DURABLE_BENCH_BATCH=%q: want a number >= 1", v)
		}
		return n
	}
	return 1000
}

// benchT0 is when the big table's first row was created, in microseconds.
var benchT0 = benchNow.Add(-24 * time.Hour).UnixMicro()

// BenchmarkBigTable measures List, Count and Delete on a table of finished
// executions (bigTableRows): the first page of 50 rows of a list (the
// median, in ms, is the figure), and Delete of expired trees as a
// retention cleaner does it (a list of the oldest expired top-level rows,
// then Delete of those trees, 1000 at a time): rows/s is the figure.
func BenchmarkBigTable(b *testing.B) {
	n := bigTableRows(b)
	path := filepath.Join(b.TempDir(), "big.db")
	bigTable(b, path, n)
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Config{Check: sqlite.CheckNone})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	mid := time.UnixMicro(benchT0 + int64(n/5*4/2)*1000)
	lists := []struct {
		name string
		p    storage.ListParams
	}{
		{"newest", storage.ListParams{}},
		{"oldest", storage.ListParams{Order: storage.OldestFirst}},
		{"failed", storage.ListParams{Filter: storage.ListFilter{Statuses: []storage.Status{storage.StatusFailed}}}},
		{"failed-or-cancelled", storage.ListParams{Filter: storage.ListFilter{
			Statuses: []storage.Status{storage.StatusFailed, storage.StatusCancelled}}}},
		{"task", storage.ListParams{Filter: storage.ListFilter{TaskIDs: []string{"task-3"}}}},
		{"tag", storage.ListParams{Filter: storage.ListFilter{Tag: "tenant-42"}}},
		{"top-level-completed", storage.ListParams{Filter: storage.ListFilter{TopLevel: true,
			Statuses: []storage.Status{storage.StatusCompleted}}}},
		{"task-failed", storage.ListParams{Filter: storage.ListFilter{TaskIDs: []string{"task-7"},
			Statuses: []storage.Status{storage.StatusFailed}}}},
		{"after-key-midway", storage.ListParams{After: &storage.ListKey{CreatedAt: mid, ID: "e"}}},
		{"root", storage.ListParams{Filter: storage.ListFilter{RootID: "e00000160"}}},
		{"created-range", storage.ListParams{Filter: storage.ListFilter{CreatedFrom: mid, CreatedTo: mid.Add(time.Minute)}}},
		{"expired-oldest", storage.ListParams{Order: storage.OldestFirst, Filter: storage.ListFilter{TopLevel: true,
			FinishedTo: mid, Statuses: []storage.Status{storage.StatusCompleted, storage.StatusFailed}}}},
		// What a page costs when the filter's rows are rare and no index
		// holds them: ready rows (none) are looked for along the whole
		// table.
		{"ready-none", storage.ListParams{Filter: storage.ListFilter{Statuses: []storage.Status{storage.StatusReady}}}},
	}
	for _, l := range lists {
		b.Run("list/"+l.name, func(b *testing.B) {
			p := l.p
			p.Limit = 50
			times := make([]time.Duration, 0, b.N)
			var got int
			c0 := cpuTime()
			for b.Loop() {
				t0 := time.Now()
				rows, err := s.List(ctx, p)
				times = append(times, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				got = len(rows)
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-median")
			b.ReportMetric(float64(got), "rows")
			b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
	b.Run("count/all", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Count(ctx, storage.CountParams{Now: benchNow}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("count/failed", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Count(ctx, storage.CountParams{Now: benchNow,
				Filter: storage.ListFilter{Statuses: []storage.Status{storage.StatusFailed}}}); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The drain of new tasks beside the big table, and on an empty
	// table: each round drains 10,000 tasks on each, in turns (the order
	// flipped every round); the figures are the medians of the rounds,
	// and the median of the rounds' ratios big/empty.
	b.Run("drain-big-vs-empty", func(b *testing.B) {
		empty, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "empty.db"), sqlite.Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer empty.Close()
		const tasks = 10000
		var bigRate, emptyRate, bigCPU, emptyCPU, rateRatio, cpuRatio []float64
		round := 0
		for b.Loop() {
			var rate, cpu [2]float64
			for k := range 2 {
				which := (k + round) % 2 // 0: big, 1: empty
				st := []*sqlite.Store{s, empty}[which]
				insertReady(b, st, "drain-"+strconv.Itoa(int(runs.Add(1))), tasks)
				t0, c0 := time.Now(), cpuTime()
				drainWorkers(b, st, 4)
				rate[which] = tasks / time.Since(t0).Seconds()
				cpu[which] = float64((cpuTime() - c0).Nanoseconds()) / 1e3 / tasks
			}
			round++
			bigRate, emptyRate = append(bigRate, rate[0]), append(emptyRate, rate[1])
			bigCPU, emptyCPU = append(bigCPU, cpu[0]), append(emptyCPU, cpu[1])
			rateRatio, cpuRatio = append(rateRatio, rate[0]/rate[1]), append(cpuRatio, cpu[0]/cpu[1])
		}
		b.ReportMetric(median(bigRate), "big-tasks/s")
		b.ReportMetric(median(emptyRate), "empty-tasks/s")
		b.ReportMetric(median(rateRatio), "rate-big/empty")
		b.ReportMetric(median(bigCPU), "big-cpu-µs/task")
		b.ReportMetric(median(emptyCPU), "empty-cpu-µs/task")
		b.ReportMetric(median(cpuRatio), "cpu-big/empty")
	})
	// Deletes rows, oldest first: last.
	expired := storage.ListFilter{TopLevel: true, FinishedTo: benchNow,
		Statuses: []storage.Status{storage.StatusCompleted, storage.StatusFailed, storage.StatusCancelled}}
	b.Run("delete-expired", func(b *testing.B) {
		var deleted int
		var listTime, deleteTime time.Duration
		c0 := cpuTime()
		for b.Loop() {
			n, lt, dt := deleteExpired(b, s, expired)
			deleted, listTime, deleteTime = deleted+n, listTime+lt, deleteTime+dt
		}
		b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(deleted)/deleteTime.Seconds(), "delete-rows/s")
		b.ReportMetric(float64(deleted)/float64(b.N), "rows/op")
		b.ReportMetric(float64(listTime.Microseconds())/1000/float64(b.N), "list-ms/op")
		b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/1e3/float64(deleted), "cpu-µs/row")
	})
	// DeleteExpired of 1000 trees a call (benchBatch), after the last, as
	// the executor's cleaner does (one call, no list): the rate, the CPU
	// of the process and the bytes it wrote (WAL frames and checkpoints)
	// per row deleted.
	b.Run("delete-expired-one-call", func(b *testing.B) {
		c0, w0 := cpuTime(), writtenBytes()
		deleted := deleteExpiredLoop(b, s, expired.Statuses)
		b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(deleted)/float64(b.N), "rows/op")
		b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/1e3/float64(deleted), "cpu-µs/row")
		if w := writtenBytes(); w0 >= 0 && w >= 0 {
			b.ReportMetric(float64(w-w0)/float64(deleted), "written-B/row")
		}
	})
	// The same beside a stream of small writes (two goroutines taking
	// leases in a loop), as in a drain, where the writer's batches hold
	// the cleaner's call and others: both rates, and the CPU per row
	// deleted of the whole process (the leases' included).
	b.Run("delete-expired-beside-writes", func(b *testing.B) {
		stop := make(chan struct{})
		leads := make(chan int)
		for w := range 2 {
			go func() {
				n := 0
				defer func() { leads <- n }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := s.Lead(ctx, storage.LeadParams{Now: benchNow, Name: fmt.Sprintf("lease-%d", w),
						Owner: "bench", TTL: time.Minute}); err != nil {
						b.Error(err)
						return
					}
					n++
				}
			}()
		}
		c0, w0 := cpuTime(), writtenBytes()
		deleted := deleteExpiredLoop(b, s, expired.Statuses)
		close(stop)
		taken := <-leads + <-leads
		b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(taken)/b.Elapsed().Seconds(), "leads/s")
		b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/1e3/float64(deleted), "cpu-µs/row")
		if w := writtenBytes(); w0 >= 0 && w >= 0 {
			b.ReportMetric(float64(w-w0)/float64(deleted), "written-B/row")
		}
	})
	// The drain of b.N new tasks while expired trees are deleted, 1000 at
	// a time, as long as it runs: both rates.
	b.Run("delete-during-drain", func(b *testing.B) {
		insertReady(b, s, "dd-"+strconv.Itoa(int(runs.Add(1))), b.N)
		b.ResetTimer()
		stop := make(chan struct{})
		done := make(chan int)
		go func() {
			deleted := 0
			for {
				select {
				case <-stop:
					done <- deleted
					return
				default:
				}
				n, _, _ := deleteExpired(b, s, expired)
				deleted += n
			}
		}()
		drainWorkers(b, s, 4)
		close(stop)
		deleted := <-done
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "deleted-rows/s")
	})
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// runs numbers the rounds of the sub-benchmarks that insert rows, for
// their ids.
var runs atomic.Int64

// deleteExpired deletes the oldest 1000 trees of f, and returns how many
// rows it deleted and how long the list and the Delete took.
func deleteExpired(b *testing.B, s *sqlite.Store, f storage.ListFilter) (int, time.Duration, time.Duration) {
	ctx := context.Background()
	t0 := time.Now()
	page, err := s.List(ctx, storage.ListParams{Filter: f, Order: storage.OldestFirst, Limit: 1000})
	lt := time.Since(t0)
	if err != nil {
		b.Error(err)
		return 0, lt, 0
	}
	if len(page) == 0 {
		b.Error("no expired rows left: raise DURABLE_BENCH_ROWS")
		return 0, lt, 0
	}
	ids := make([]string, len(page))
	for i := range page {
		ids[i] = page[i].ID
	}
	t1 := time.Now()
	n, err := s.Delete(ctx, storage.DeleteParams{IDs: ids})
	if err != nil {
		b.Error(err)
	}
	return n, lt, time.Since(t1)
}

// insertReady inserts n ready rows of task "noop" (what drain claims).
func insertReady(b *testing.B, s *sqlite.Store, prefix string, n int) {
	rows := benchRows(prefix, n)
	for len(rows) > 0 {
		k := min(len(rows), 10000)
		if err := s.Insert(context.Background(), storage.InsertParams{Now: benchNow, Executions: rows[:k]}); err != nil {
			b.Fatal(err)
		}
		rows = rows[k:]
	}
}

// drainWorkers drains the ready rows with workers concurrent drains.
func drainWorkers(b *testing.B, s *sqlite.Store, workers int) {
	errs := make(chan error, workers)
	for w := range workers {
		go func() { errs <- drain(context.Background(), s, fmt.Sprintf("worker-%d", w)) }()
	}
	for range workers {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
}

// deleteExpiredLoop calls DeleteExpired of the statuses, before benchNow,
// benchBatch(b) trees a call, each after the last, for every iteration of
// b's loop, and returns how many rows it deleted.
func deleteExpiredLoop(b *testing.B, s *sqlite.Store, statuses []storage.Status) int {
	var deleted int
	var after *storage.ListKey
	for b.Loop() {
		res, err := s.DeleteExpired(b.Context(), storage.DeleteExpiredParams{Statuses: statuses,
			Before: benchNow, After: after, Limit: benchBatch(b)})
		if err != nil {
			b.Fatal(err)
		}
		if res.Roots == 0 {
			b.Fatal("no expired rows left: raise DURABLE_BENCH_ROWS")
		}
		deleted, after = deleted+res.Rows, &res.Last
	}
	return deleted
}
