package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchRetention runs the retention workload briefly on SQLite: the
// cleaner purges the expired executions while a drain runs, and the steady
// state keeps the table bounded.
func TestBenchRetention(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the cleaner for seconds")
	}
	t.Parallel()
	args := []string{"bench", "--store", "sqlite", "--path", t.TempDir(), "--workload", "retention", "--json",
		"--expired", "3000", "--drain", "5000", "--duration", "6s", "--rate", "500", "--concurrency", "20"}
	var out, errOut bytes.Buffer
	if code := run(args, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	x := r.Retention
	if r.Workload != "retention" || x == nil {
		t.Fatalf("workload %q, retention %v", r.Workload, x)
	}
	t.Logf("%s", out.String())
	if x.PurgeRows < 3000 || x.PurgeRowsPerS <= 0 || x.PurgeS <= 0 {
		t.Errorf("purged %d rows at %.0f/s in %.2fs, want at least the 3000 expired", x.PurgeRows, x.PurgeRowsPerS, x.PurgeS)
	}
	if x.DrainCleaning <= 0 || x.DrainBase <= 0 || x.DrainRatio <= 0 || x.Overlap <= 0 || x.Overlap > 1 {
		t.Errorf("drain %.0f/s while purging, %.0f/s without, ratio %.2f, overlap %.2f", x.DrainCleaning, x.DrainBase, x.DrainRatio, x.Overlap)
	}
	// The drain while purging is compared with the drains before and
	// after it.
	if x.Order != "base-cleaner-base" || x.DrainBaseBefore <= 0 || x.DrainBaseAfter <= 0 ||
		x.DrainBase != (x.DrainBaseBefore+x.DrainBaseAfter)/2 {
		t.Errorf("order %q, drains without cleaner %.0f/s before and %.0f/s after, base %.0f/s: want base-cleaner-base and their mean",
			x.Order, x.DrainBaseBefore, x.DrainBaseAfter, x.DrainBase)
	}
	// The first sample may have finished nothing on a loaded machine
	// (FirstRate 0, and then no ratio): only the last must show a drain.
	if len(x.Samples) < 2 || x.LastRate <= 0 || x.RowsMax <= 0 {
		t.Fatalf("steady state: %+v", x)
	}
	// The cleaner deletes during the steady state (the purge phase's
	// leftovers, then what the steady state drained): however slowly it
	// runs (under the race detector), the table ends with fewer rows than
	// the first sample's plus what was enqueued after it.
	if after := int64(float64(x.Rate) * (x.DurationS - x.Samples[0].AtS)); x.RowsLast >= x.Samples[0].Rows+after {
		t.Errorf("steady state: %d rows at the first sample, %d enqueued after it, %d at the end: nothing deleted",
			x.Samples[0].Rows, after, x.RowsLast)
	}
	var table bytes.Buffer
	printTable(&table, benchFlags{store: "sqlite", workload: "retention", runs: 1}, []Result{r})
	if !strings.Contains(table.String(), "purge rows/s") || !strings.Contains(table.String(), "steady last/first") {
		t.Errorf("table lacks the retention figures:\n%s", table.String())
	}
}
