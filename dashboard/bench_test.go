package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// The benchmarks of issue #14 item 6: how long the server takes to render
// a page (ServeHTTP into a recorder: the store's queries, the templates,
// the session check; not the network or the browser).
//
//	go test ./dashboard -run '^$' -bench . -benchtime 50x
//	DURABLE_BENCH_ROWS=1000000 go test ./dashboard -run '^$' -bench ListPage -benchtime 50x
//
// Each reports p50 and p90 in ms beside ns/op, and the process's CPU time
// per page (cpu-ms/op), steadier than wall time on a busy machine.

// benchRows is the size of BenchmarkListPage's table: 100,000 rows by
// default, DURABLE_BENCH_ROWS=1000000 for the figures of
// docs/performance.md.
func benchRows(b *testing.B) int {
	n := 100_000
	if v := os.Getenv("DURABLE_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1000 {
			b.Fatalf("DURABLE_BENCH_ROWS=%q: want a number >= 1000", v)
		}
	}
	return n
}

// fillFinished inserts n finished top-level executions through the store,
// 1,000 per insert, created 1 ms apart over the last n ms: ten tasks, one
// in a hundred failed, one in ten tagged with one of 100 tenants.
func fillFinished(b *testing.B, store storage.Store, n int) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	t0 := start.Add(-time.Duration(n) * time.Millisecond)
	for first := 0; first < n; first += 1000 {
		batch := make([]storage.Execution, 0, 1000)
		for i := first; i < min(first+1000, n); i++ {
			e := storage.Execution{ID: fmt.Sprintf("big_%09d", i), TaskID: fmt.Sprintf("task_%d", i%10),
				Status: storage.StatusCompleted, Input: []byte(`{"order":"B-` + strconv.Itoa(i) + `","amount":1250}`),
				Output: []byte(`{"ok":true}`)}
			if i%100 == 7 {
				e.Status, e.Output = storage.StatusFailed, nil
				e.Error = &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "card declined"}
			}
			if i%10 == 3 {
				e.Tags = []string{fmt.Sprintf("tenant-%d", i/10%100)}
			}
			batch = append(batch, e)
		}
		if err := store.Insert(ctx, storage.InsertParams{Now: t0.Add(time.Duration(first) * time.Millisecond), Executions: batch}); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d rows inserted in %v", n, time.Since(start).Round(time.Millisecond))
}

// serve renders path b.N times with the fixture's session, checking the
// status, and reports the p50 and p90; before, if set, runs before each
// request, untimed.
func serve(b *testing.B, f *fixture, path string, before func()) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for _, c := range f.client.Jar.Cookies(mustURL(b, f.srv.URL)) {
		req.AddCookie(c)
	}
	times := make([]time.Duration, 0, b.N)
	var cpu time.Duration
	b.ResetTimer()
	for b.Loop() {
		if before != nil {
			before()
		}
		w := httptest.NewRecorder()
		cpu0, start := processCPU(), time.Now()
		f.dash.ServeHTTP(w, req)
		times, cpu = append(times, time.Since(start)), cpu+processCPU()-cpu0
		if w.Code != http.StatusOK {
			b.Fatalf("%s: status %d\n%s", path, w.Code, w.Body)
		}
	}
	slices.Sort(times)
	ms := func(q float64) float64 { return float64(times[int(q*float64(len(times)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.9), "p90-ms")
	// The process's CPU time per page: the executor is idle meanwhile.
	b.ReportMetric(float64(cpu)/1e6/float64(len(times)), "cpu-ms/op")
}

func BenchmarkListPage(b *testing.B) {
	f := newFixture(b, Config{})
	fillFinished(b, f.store.Store, benchRows(b))
	for _, tc := range []struct{ name, path string }{
		{"all", "/executions"},
		{"failed", "/executions?status=failed"},
		{"task", "/executions?task=task_3"},
		{"tag", "/executions?tag=tenant-42"},
		{"top-level-oldest", "/executions?top=1&order=oldest"},
	} {
		b.Run(tc.name, func(b *testing.B) { serve(b, f, tc.path, nil) })
	}
}

func BenchmarkExecutionPage(b *testing.B) {
	f := newFixture(b, Config{})
	h, err := f.fan.Enqueue(context.Background(), 1000)
	if err != nil {
		b.Fatal(err)
	}
	wait(b, h)
	b.Run("children=1000", func(b *testing.B) { serve(b, f, "/executions/"+h.ID(), nil) })
	children, err := f.ex.Children(context.Background(), h.ID())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("child", func(b *testing.B) { serve(b, f, "/executions/"+children[500].ID, nil) })
}

// BenchmarkOverview renders the overview with its counts read again
// (cold: the first page after the counts' spacing) and from the counts
// the pages share (warm).
func BenchmarkOverview(b *testing.B) {
	f := newFixture(b, Config{})
	fillFinished(b, f.store.Store, benchRows(b))
	b.Run("cold", func(b *testing.B) {
		serve(b, f, "/", func() {
			f.dash.counts.value, f.dash.lastHourCounts.value = nil, nil
		})
	})
	b.Run("warm", func(b *testing.B) { serve(b, f, "/", nil) })
}
