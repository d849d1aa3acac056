package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// TestSchedules runs the schedules commands on each store where an
// executor registered two schedules.
func TestSchedules(t *testing.T) {
	eachStore(t, testSchedules)
}

// testSchedules registers two schedules on store with a started executor,
// closes the store, and runs the commands with the connection flags conn.
func testSchedules(t *testing.T, store storage.Store, conn []string) {
	f := fixture{conn: conn}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ex, err := durable.New(store, durable.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	report := durable.Must(durable.NewTask(ex, "report", func(ctx context.Context, team string) (string, error) { return team, nil }))
	if err := ex.Schedule("nightly", report, "sales", durable.Cron("0 0 2 * * *", "Europe/Paris"), durable.WithMissed(durable.MissedRunOnce)); err != nil {
		t.Fatal(err)
	}
	if err := ex.Schedule("quarter-hour", report, "ops", durable.Every(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ex.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	out := f.ok(t, "schedules", "list")
	for _, want := range []string{"NAME", "THROUGH", "nightly", "cron 0 0 2 * * * Europe/Paris", "run_once", "quarter-hour", "every 15m0s", "skip"} {
		if !strings.Contains(out, want) {
			t.Errorf("schedules list lacks %q:\n%s", want, out)
		}
	}
	if got := f.ok(t, "schedules", "pause", "nightly"); got != "paused schedule nightly\n" {
		t.Errorf("pause: %q", got)
	}
	if got := f.ok(t, "schedules", "pause", "nightly"); got != "schedule nightly was already paused\n" {
		t.Errorf("pause again: %q", got)
	}
	var doc struct {
		Schedules []scheduleJSON `json:"schedules"`
	}
	if err := json.Unmarshal([]byte(f.ok(t, "schedules", "list", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Schedules) != 2 || doc.Schedules[0].Name != "nightly" || !doc.Schedules[0].Paused || doc.Schedules[0].Zone != "Europe/Paris" ||
		doc.Schedules[1].Every != "15m0s" || doc.Schedules[1].Paused || doc.Schedules[1].Next.IsZero() {
		t.Errorf("list --json: %+v", doc.Schedules)
	}
	if got := f.ok(t, "schedules", "resume", "nightly"); got != "resumed schedule nightly\n" {
		t.Errorf("resume: %q", got)
	}
	f.fails(t, exitError, `no schedule "weekly"`, "schedules", "resume", "weekly")
	f.fails(t, exitUsage, "missing schedule NAME", "schedules", "pause")
	f.fails(t, exitUsage, "unexpected argument", "schedules", "pause", "a", "b")
}
