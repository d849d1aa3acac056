package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
)

// The figures of issue #12 item 8 on a big table: List and Delete with
// DURABLE_BENCH_ROWS finished executions in the table (default 100,000;
// the figures in docs/postgres.md are for 1,000,000):
//
//	DURABLE_TEST_POSTGRES_URL=... DURABLE_BENCH_ROWS=1000000 \
//	    go test -run '^$' -bench 'Big' -benchtime 20x ./storage/postgres/
//
// Each benchmark fills its own schema first (about a minute for
// 1,000,000 rows on the test machine), outside the timing.

// bigRows is the number of finished executions of the big table.
func bigRows(tb testing.TB) int {
	n := 100_000
	if v := os.Getenv("DURABLE_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10_000 {
			tb.Fatalf("DURABLE_BENCH_ROWS=%q: want a number of at least 10000", v)
		}
	}
	return n
}

// bigBase is when the big table's first execution was created; its rows
// are spread over the 30 days after it.
var bigBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const bigSpan = 30 * 24 * time.Hour

// bigSingles inserts n finished top-level executions created from bigBase
// over bigSpan, numbered from first (ids "s" + number, increasing with
// creation time, as the engine's): 1 % failed, 0.1 % timed out, 0.1 %
// cancelled, the others completed; tasks task_0..task_19 in turns, except
// 0.1 % of task rare; a tenth tagged "bulk" and "customer-N" (N < 1000).
const bigSingles = `INSERT INTO %[1]s (id, task_id, status, input, output, error, due_at,
    created_at, updated_at, started_at, finished_at, tags)
SELECT 's' || lpad(i::text, 9, '0'),
    CASE WHEN i %% 1000 = 5 THEN 'rare' ELSE 'task_' || (i %% 20) END,
    CASE WHEN i %% 100 = 0 THEN 'failed' WHEN i %% 1000 = 7 THEN 'timed_out'
        WHEN i %% 1000 = 3 THEN 'cancelled' ELSE 'completed' END,
    '\x7b7d'::bytea,
    CASE WHEN i %% 100 = 0 OR i %% 1000 IN (3, 7) THEN NULL ELSE '\x7b226f6b223a747275657d'::bytea END,
    CASE WHEN i %% 100 = 0 THEN '{"kind": "generic", "message": "boom"}'::jsonb END,
    NULL, c, c + interval '50 ms', c + interval '10 ms', c + interval '50 ms',
    CASE WHEN i %% 10 = 1 THEN ARRAY['bulk', 'customer-' || (i %% 1000)] END
FROM generate_series(@first::bigint, @last::bigint) AS g(i),
    LATERAL (SELECT @base::timestamptz + (i - @first) * @step_us::bigint * interval '1 microsecond' AS c) AS t`

// bigTrees inserts trees of 5 completed rows (a root of task tree, 4
// children of task tree_child), roots @prefix + number, created from
// @base every @step_us.
const bigTrees = `INSERT INTO %[1]s (id, task_id, root_id, root_task_id, parent_id, parent_task_id,
    child_index, status, input, output, children_total, due_at, created_at, updated_at, started_at, finished_at)
SELECT CASE WHEN k = 0 THEN r ELSE r || '-c' || k END,
    CASE WHEN k = 0 THEN 'tree' ELSE 'tree_child' END,
    CASE WHEN k = 0 THEN '' ELSE r END, CASE WHEN k = 0 THEN '' ELSE 'tree' END,
    CASE WHEN k = 0 THEN NULL ELSE r END, CASE WHEN k = 0 THEN '' ELSE 'tree' END,
    greatest(k - 1, 0), 'completed', '\x7b7d'::bytea, '\x7b7d'::bytea, CASE WHEN k = 0 THEN 4 ELSE 0 END,
    NULL, c + k * interval '1 ms', c + interval '90 ms', c + interval '10 ms', c + interval '90 ms'
FROM generate_series(@first::bigint, @last::bigint) AS g(j),
    LATERAL (SELECT @prefix::text || lpad(j::text, 9, '0') AS r,
        @base::timestamptz + (j - @first) * @step_us::bigint * interval '1 microsecond' AS c) AS t,
    generate_series(0, 4) AS k`

// bigTable returns a store whose table holds n finished executions: 60 %
// single top-level ones (bigSingles), 40 % in trees of 5 (bigTrees), all
// spread over the same 30 days; vacuumed and analyzed, as a table whose
// old rows autovacuum has seen.
func bigTable(b *testing.B, n int) *Store {
	b.Helper()
	s := openBench(b)
	ctx := context.Background()
	singles, trees := n*6/10, n*4/10/5
	start := time.Now()
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(bigSingles, s.q.table), pgx.StrictNamedArgs{
		"first": 1, "last": singles, "base": bigBase, "step_us": micros(bigSpan) / int64(singles)}); err != nil {
		b.Fatal(err)
	}
	if err := insertBigTrees(ctx, s, "t", trees, bigBase.Add(time.Second), bigSpan/time.Duration(trees)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "INSERT INTO "+s.q.data.Tags+" (tag, created_at, id) "+
		"SELECT x.tag, e.created_at, e.id FROM "+s.q.table+" AS e CROSS JOIN LATERAL unnest(e.tags) AS x(tag)"); err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{s.q.table, s.q.data.Tags} {
		if _, err := s.pool.Exec(ctx, "VACUUM (ANALYZE) "+t); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("big table: %d singles, %d trees of 5 rows, filled in %s", singles, trees, time.Since(start).Round(time.Millisecond))
	return s
}

// insertBigTrees inserts n trees (bigTrees) named prefix + number.
func insertBigTrees(ctx context.Context, s *Store, prefix string, n int, base time.Time, step time.Duration) error {
	_, err := s.pool.Exec(ctx, fmt.Sprintf(bigTrees, s.q.table), pgx.StrictNamedArgs{
		"first": 1, "last": n, "prefix": prefix, "base": base, "step_us": micros(step)})
	return err
}

// openBench opens a store on a fresh schema for a benchmark.
func openBench(b *testing.B) *Store { return openStore(b, Config{}) }

// reportLatencies reports the median and the 90th percentile of ds.
func reportLatencies(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ds[len(ds)/2]), "p50-ms")
	b.ReportMetric(ms(ds[len(ds)*9/10]), "p90-ms")
}

// BenchmarkListBig: the first page (50 rows) of lists over the big table,
// a retention cleaner's page (1,000 expired roots, oldest first), the
// same lists with a backlog of 20,000 ready rows, and a Count of every
// row.
func BenchmarkListBig(b *testing.B) {
	s := bigTable(b, bigRows(b))
	expired := bigBase.Add(bigSpan / 2)
	cases := []struct {
		name  string
		p     storage.ListParams
		empty bool
	}{
		{"NewestFirst", storage.ListParams{}, false},
		{"OldestFirst", storage.ListParams{Order: storage.OldestFirst}, false},
		{"StatusFailed", storage.ListParams{Filter: storage.ListFilter{Statuses: []storage.Status{storage.StatusFailed}}}, false},
		{"StatusTimedOut", storage.ListParams{Filter: storage.ListFilter{Statuses: []storage.Status{storage.StatusTimedOut}}}, false},
		{"StatusCompleted", storage.ListParams{Filter: storage.ListFilter{Statuses: []storage.Status{storage.StatusCompleted}}}, false},
		{"StatusRunning", storage.ListParams{Filter: storage.ListFilter{Statuses: []storage.Status{storage.StatusRunning}}}, true},
		{"TaskCommon", storage.ListParams{Filter: storage.ListFilter{TaskIDs: []string{"task_7"}}}, false},
		{"TaskRare", storage.ListParams{Filter: storage.ListFilter{TaskIDs: []string{"rare"}}}, false},
		{"TaskTwo", storage.ListParams{Filter: storage.ListFilter{TaskIDs: []string{"rare", "task_7"}}}, false},
		{"TaskFailed", storage.ListParams{Filter: storage.ListFilter{TaskIDs: []string{"task_0"},
			Statuses: []storage.Status{storage.StatusFailed}}}, false},
		{"TagCommon", storage.ListParams{Filter: storage.ListFilter{Tag: "bulk"}}, false},
		{"TagRare", storage.ListParams{Filter: storage.ListFilter{Tag: "customer-421"}}, false},
		{"Tree", storage.ListParams{Filter: storage.ListFilter{RootID: "t000000042"}}, false},
		{"Retention", storage.ListParams{Order: storage.OldestFirst, Limit: 1000, Filter: storage.ListFilter{TopLevel: true,
			Statuses: []storage.Status{storage.StatusCompleted}, FinishedTo: expired}}, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := c.p
			if p.Limit == 0 {
				p.Limit = 50
			}
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				rows, err := s.List(b.Context(), p)
				ds = append(ds, time.Since(start))
				if err != nil || (len(rows) == 0) != c.empty {
					b.Fatalf("List: %d rows, %v", len(rows), err)
				}
			}
			reportLatencies(b, ds)
		})
	}
	// A backlog of 20,000 ready rows (created after the finished ones):
	// the lists that include active rows read all of them from
	// executions_claim_idx and sort them.
	if _, err := s.pool.Exec(b.Context(), "INSERT INTO "+s.q.table+` (id, task_id, status, input, due_at, created_at, updated_at)
		SELECT 'r' || lpad(i::text, 9, '0'), 'task_' || (i % 20), 'ready', '\x7b7d'::bytea, c, c, c
		FROM generate_series(1, 20000) AS g(i), LATERAL (SELECT @at::timestamptz + i * interval '1 ms' AS c) AS t`,
		pgx.StrictNamedArgs{"at": bigBase.Add(bigSpan)}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(b.Context(), "ANALYZE "+s.q.table); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    storage.ListFilter
	}{
		{"Backlog/NewestFirst", storage.ListFilter{}},
		{"Backlog/StatusReady", storage.ListFilter{Statuses: []storage.Status{storage.StatusReady}}},
		{"Backlog/StatusFailed", storage.ListFilter{Statuses: []storage.Status{storage.StatusFailed}}},
		{"Backlog/TaskRare", storage.ListFilter{TaskIDs: []string{"rare"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				rows, err := s.List(b.Context(), storage.ListParams{Filter: c.f, Limit: 50})
				ds = append(ds, time.Since(start))
				if err != nil || len(rows) == 0 {
					b.Fatalf("List: %d rows, %v", len(rows), err)
				}
			}
			reportLatencies(b, ds)
		})
	}
	b.Run("CountAll", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			if _, err := s.Count(b.Context(), storage.CountParams{}); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		reportLatencies(b, ds)
	})
}

// BenchmarkDeleteBig: a retention cleaner's work on the big table, in
// batches of 100, 1,000 and 10,000 roots. Each op lists a batch of expired
// top-level rows (oldest first, as in BenchmarkListBig/Retention: trees
// and single rows mixed, about 1.5 rows per root), after the last one
// listed (FromOldest: from the oldest, as the executor's cleaner does),
// and deletes them with their trees in one Delete. rows/s counts the rows
// deleted over the whole op, delete-rows/s over the Delete calls alone.
// The table is refilled with trees, outside the timing, when it runs
// short.
func BenchmarkDeleteBig(b *testing.B) {
	n := bigRows(b)
	s := bigTable(b, n)
	ctx := b.Context()
	filter := storage.ListFilter{TopLevel: true, Statuses: []storage.Status{storage.StatusCompleted},
		FinishedTo: bigBase.Add(100 * bigSpan)}
	var after *storage.ListKey
	refills := 0
	for _, c := range []struct {
		name  string
		batch int
		// restart: each batch is listed from the oldest row, as the
		// executor's cleaner does, rather than after the last one.
		restart bool
		// trees: only the roots of trees of 5 rows.
		trees bool
	}{
		{"100", 100, false, false}, {"1000", 1000, false, false}, {"10000", storage.MaxDeleteIDs, false, false},
		{"1000FromOldest", 1000, true, false}, {"1000Trees", 1000, false, true},
	} {
		batch, filter := c.batch, filter
		if c.trees {
			filter.TaskIDs = []string{"tree"}
		}
		b.Run(c.name, func(b *testing.B) {
			var deleted int
			var inDelete time.Duration
			for b.Loop() {
				var ids []string
				if c.restart {
					after = nil
				}
				for len(ids) < batch {
					limit := min(batch-len(ids), storage.MaxListLimit)
					roots, err := s.List(ctx, storage.ListParams{Filter: filter, Order: storage.OldestFirst, After: after, Limit: limit})
					if err != nil {
						b.Fatal(err)
					}
					for i := range roots {
						ids = append(ids, roots[i].ID)
					}
					if len(roots) > 0 {
						key := storage.KeyOf(&roots[len(roots)-1])
						after = &key
					}
					if len(roots) < limit {
						b.StopTimer()
						refills++
						// Trees created after every row of the table.
						base := bigBase.Add(bigSpan + time.Duration(refills)*time.Hour)
						if err := insertBigTrees(ctx, s, fmt.Sprintf("u%d-", refills), n/5, base, time.Millisecond); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
				}
				start := time.Now()
				k, err := s.Delete(ctx, storage.DeleteParams{IDs: ids})
				inDelete += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				deleted += k
			}
			b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(deleted)/inDelete.Seconds(), "delete-rows/s")
			b.ReportMetric(float64(deleted)/float64(b.N), "rows/op")
		})
	}
}

// BenchmarkDeleteExpiredBig deletes the big table's completed trees 1,000
// roots a call with DeleteExpired, after the last root of the previous
// call, as the executor's cleaner does: rows/s over the calls. StaleStats:
// the same on a table analyzed when it held 1,000 rows (autovacuum off), as
// a table grown faster than autovacuum analyzes it.
func BenchmarkDeleteExpiredBig(b *testing.B) {
	n := bigRows(b)
	for _, stale := range []bool{false, true} {
		name := "Analyzed"
		if stale {
			name = "StaleStats"
		}
		b.Run(name, func(b *testing.B) {
			s := bigTable(b, n)
			ctx := b.Context()
			if stale {
				for _, q := range []string{"ALTER TABLE %s SET (autovacuum_enabled = off)", "DELETE FROM pg_statistic WHERE starelid = '%s'::regclass"} {
					if _, err := s.pool.Exec(ctx, fmt.Sprintf(q, s.q.table)); err != nil {
						b.Fatal(err)
					}
				}
			}
			// The deletes run on a store of their own on the same schema,
			// whose backends are named, for their CPU time.
			s, app := namedStore(b, s.Schema())
			batch := deleteBatch(b)
			c0 := backendsCPU(b, s, app)
			var after *storage.ListKey
			deleted := 0
			for b.Loop() {
				res, err := s.DeleteExpired(ctx, storage.DeleteExpiredParams{Statuses: []storage.Status{storage.StatusCompleted},
					Before: bigBase.Add(100 * bigSpan), After: after, Limit: batch})
				if err != nil {
					b.Fatal(err)
				}
				if res.Roots < batch {
					b.Fatal("the table ran out of expired roots: raise DURABLE_BENCH_ROWS or lower -benchtime")
				}
				deleted, after = deleted+res.Rows, &res.Last
			}
			b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(deleted)/float64(b.N), "rows/op")
			b.ReportMetric(float64(cpuSince(c0, backendsCPU(b, s, app)).Nanoseconds())/1e3/float64(deleted), "server-us/row")
		})
	}
}

// deleteBatch is the roots a DeleteExpired call of
// BenchmarkDeleteExpiredBig takes: 1000 (the cleaner's default), or
// DURABLE_BENCH_BATCH.
func deleteBatch(b *testing.B) int {
	if v := os.Getenv("DURABLE_BENCH_BATCH"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("DURABLE_BENCH_BATCH=%q: want a number >= 1", v)
		}
		return n
	}
	return 1000
}

// namedStore opens a store on schema whose connections carry an
// application_name of their own, returned, for backendsCPU.
func namedStore(b *testing.B, schema string) (*Store, string) {
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	app := "durable_cpu_" + hex.EncodeToString(tag[:])
	dsn, err := withAppName(testURL(b), app)
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(context.Background(), dsn, Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s, app
}

// BenchmarkDrainBig: the drain (as BenchmarkDrain) of 20,000 tasks on an
// empty table and on the big table (bigRows finished executions), in
// turns, three rounds; it reports the median rate of each and their
// ratio (big/empty). Run it once: -benchtime 1x.
func BenchmarkDrainBig(b *testing.B) {
	const tasks, rounds = 20_000, 3
	big := bigTable(b, bigRows(b))
	empty := openBench(b)
	var rates [2][]float64
	for b.Loop() {
		for r := range rounds {
			order := []int{0, 1}
			if r%2 == 1 {
				order = []int{1, 0}
			}
			for _, i := range order {
				s := []*Store{empty, big}[i]
				for k := 0; k < tasks; k += 1000 {
					rows := benchRows(fmt.Sprintf("r%d-%d", r, k), 1000)
					if err := s.Insert(b.Context(), storage.InsertParams{Executions: rows}); err != nil {
						b.Fatal(err)
					}
				}
				start := time.Now()
				drainTasks(b, s, tasks)
				rates[i] = append(rates[i], tasks/time.Since(start).Seconds())
			}
		}
	}
	median := func(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }
	e, g := median(rates[0]), median(rates[1])
	b.ReportMetric(e, "empty-tasks/s")
	b.ReportMetric(g, "big-tasks/s")
	b.ReportMetric(g/e, "big/empty")
}
