package dashboard

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLiveStatus: a page's stream tells of an execution cancelled
// elsewhere, and of the counts.
func TestLiveStatus(t *testing.T) {
	f := newFixture(t, Config{LiveInterval: 20 * time.Millisecond})
	ctx := context.Background()
	hb, _ := f.block.Enqueue(ctx, "live")
	s := f.openStream(f.client)
	defer s.close()
	if err := f.ex.Cancel(ctx, hb.ID()); err != nil {
		t.Fatal(err)
	}
	data := s.next(t, "status", hb.ID())
	if !strings.Contains(data, `{"id":"`+hb.ID()+`","status":"cancelled"}`) {
		t.Errorf("status event: %s", data)
	}
	data = s.next(t, "counts", "st-cancelled")
	if !strings.Contains(data, "block") {
		t.Errorf("counts event without the task: %s", data)
	}
}

// TestLiveViewers measures what open dashboards cost the store: viewers
// watch while executions run and finish, and the store's operator
// queries (List, Count) during that time are counted. The hub makes at
// most one per LiveInterval whatever the number of viewers, and every
// viewer hears of every finished execution.
//
// DURABLE_LIVE_MEASURE=1 runs it with the default interval (1s), 50
// viewers and 10 seconds of load, and logs the figure of
// docs/performance.md.
func TestLiveViewers(t *testing.T) {
	viewers, interval, load := 50, 50*time.Millisecond, time.Second
	if os.Getenv("DURABLE_LIVE_MEASURE") != "" {
		interval, load = time.Second, 10*time.Second
	}
	f := newFixture(t, Config{LiveInterval: interval})
	ctx := context.Background()
	streams := make([]*stream, viewers)
	for i := range streams {
		streams[i] = f.openStream(f.client)
		defer streams[i].close()
	}
	before := f.store.queries.Load()
	start := time.Now()
	var last string
	n := 0
	for time.Since(start) < load {
		h, err := f.greet.Enqueue(ctx, fmt.Sprint(n))
		if err != nil {
			t.Fatal(err)
		}
		last = h.ID()
		n++
		time.Sleep(2 * time.Millisecond)
	}
	// Every viewer hears of the last one (and so keeps up).
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Go(func() { s.next(t, "status", last) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	queries := f.store.queries.Load() - before
	intervals := float64(elapsed) / float64(interval)
	t.Logf("%d viewers, %d executions in %v: %d store queries, %.2f per interval of %v (%.2f/s)",
		viewers, n, elapsed.Round(time.Millisecond), queries, float64(queries)/intervals, interval,
		float64(queries)/elapsed.Seconds())
	// At most one query per interval, plus the one a query in flight at
	// the end may add.
	if float64(queries) > intervals+1 {
		t.Errorf("%d queries in %.1f intervals: more than one per interval", queries, intervals)
	}
	if f.dash.hub.queries.Load() < 2 {
		t.Errorf("the hub made %d queries: the viewers were not fed", f.dash.hub.queries.Load())
	}
}
