package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/metrics"
	"github.com/durable-go/durable/storage/sqlite"
)

// scrape GETs url and returns its series: "name{labels}" to value. It
// fails the test on a line that is not a comment or a "series value"
// pair, and on a content type that is not the text format's.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("Content-Type %q", ct)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("malformed line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestScrape(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "metrics.db"), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := metrics.New()
	ex, err := durable.New(store, durable.Config{Hooks: []durable.Hooks{c.Hooks()}, Middleware: []durable.Middleware{c.Middleware()},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Watch(ex)
	tries := 0
	flaky := durable.Must(durable.NewTask(ex, "flaky", func(ctx context.Context, in int) (int, error) {
		if tries++; tries == 1 {
			return 0, errors.New("first try fails")
		}
		return in, nil
	}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 1})))
	broken := durable.Must(durable.NewTask(ex, "broken", func(ctx context.Context, in int) (int, error) {
		return 0, durable.NonRetryable(errors.New("never works"))
	}))
	later := durable.Must(durable.NewTask(ex, "later", func(ctx context.Context, in int) (int, error) { return in, nil }))
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()

	// Before Start: three ready executions wait in the store.
	hs := []*durable.Handle[int]{durable.Must(flaky.Enqueue(ctx, 1)), durable.Must(broken.Enqueue(ctx, 2))}
	durable.Must(later.Enqueue(ctx, 3, durable.WithDelay(time.Hour)))
	time.Sleep(20 * time.Millisecond) // so that the oldest due has an age
	before := scrape(t, srv.URL)
	for series, want := range map[string]float64{
		`durable_executions_ready{task="flaky"}`:          1,
		`durable_executions_ready{task="broken"}`:         1,
		`durable_executions_ready{task="later"}`:          1,
		`durable_oldest_due_age_seconds{task="later"}`:    0, // delayed: not due
		`durable_executions_enqueued_total{task="flaky"}`: 1,
	} {
		if got, ok := before[series]; !ok || got != want {
			t.Errorf("before start: %s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if age := before[`durable_oldest_due_age_seconds{task="flaky"}`]; age < 0.02 {
		t.Errorf("oldest due age of flaky %v, want at least 0.02 s", age)
	}

	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if _, err := h.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := ex.Shutdown(ctx); err != nil { // every hook has run
		t.Fatal(err)
	}
	after := scrape(t, srv.URL)
	for series, want := range map[string]float64{
		`durable_runs_started_total{task="flaky"}`:                                     2,
		`durable_runs_started_total{task="broken"}`:                                    1,
		`durable_executions_finished_total{task="flaky",status="completed"}`:           1,
		`durable_executions_finished_total{task="broken",status="failed"}`:             1,
		`durable_attempts_failed_total{task="flaky",error_kind="generic"}`:             1,
		`durable_run_duration_seconds_count{task="flaky",outcome="error"}`:             1,
		`durable_run_duration_seconds_count{task="flaky",outcome="ok"}`:                1,
		`durable_run_duration_seconds_bucket{task="flaky",outcome="ok",le="+Inf"}`:     1,
		`durable_queue_wait_seconds_count{task="flaky"}`:                               1,
		`durable_runs_active{task="flaky"}`:                                            0,
		`durable_executions_ready{task="later"}`:                                       1,
		`durable_claim_batch_size_sum`:                                                 3, // 2 ready + 1 retry
		`durable_completion_batch_size_sum`:                                            3,
		`durable_storage_call_duration_seconds_count{operation="Insert",outcome="ok"}`: 3,
	} {
		if got, ok := after[series]; !ok || got != want {
			t.Errorf("after the runs: %s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if _, ok := after[`durable_executions_ready{task="flaky"}`]; ok {
		t.Errorf("a task with no ready execution left keeps its ready gauge")
	}
	for series := range after {
		if strings.Contains(series, "te_") {
			t.Errorf("an execution id in a label: %s", series)
		}
	}
}
