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

// TestQueues runs the queues commands on each store where an executor
// serving "emails" started.
func TestQueues(t *testing.T) {
	eachStore(t, testQueues)
}

// testQueues starts and stops an executor serving the default queue and
// "emails" on store, closes it, and runs the commands with conn.
func testQueues(t *testing.T, store storage.Store, conn []string) {
	f := fixture{conn: conn}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ex, err := durable.New(store, durable.Config{Logger: quiet, Queues: []string{"default", "emails"}})
	if err != nil {
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

	out := f.ok(t, "queues", "list")
	for _, want := range []string{"QUEUE", "default", "emails", "running"} {
		if !strings.Contains(out, want) {
			t.Errorf("queues list lacks %q:\n%s", want, out)
		}
	}
	if got := f.ok(t, "queues", "pause", "emails"); got != "paused queue emails\n" {
		t.Errorf("pause: %q", got)
	}
	if got := f.ok(t, "queues", "pause", "emails"); got != "queue emails was already paused\n" {
		t.Errorf("pause again: %q", got)
	}
	var doc struct {
		Queues []struct {
			Name   string `json:"name"`
			Paused bool   `json:"paused"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(f.ok(t, "queues", "list", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Queues) != 2 || doc.Queues[0].Name != "default" || doc.Queues[0].Paused || doc.Queues[1].Name != "emails" || !doc.Queues[1].Paused {
		t.Errorf("list --json: %+v", doc.Queues)
	}
	if got := f.ok(t, "queues", "resume", "emails"); got != "resumed queue emails\n" {
		t.Errorf("resume: %q", got)
	}
	if got := f.ok(t, "queues", "limit", "emails", "--concurrency", "3"); got != "queue emails has a concurrency limit of 3\n" {
		t.Errorf("limit: %q", got)
	}
	if got := f.ok(t, "queues", "limit", "emails", "--concurrency", "3"); got != "queue emails already had a concurrency limit of 3\n" {
		t.Errorf("limit again: %q", got)
	}
	if out := f.ok(t, "queues", "list"); !strings.Contains(out, "LIMIT") || !strings.Contains(out, "3") {
		t.Errorf("queues list lacks the limit:\n%s", out)
	}
	var limited struct {
		Queues []struct {
			Name        string `json:"name"`
			Concurrency int    `json:"concurrency"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(f.ok(t, "queues", "list", "--json")), &limited); err != nil {
		t.Fatal(err)
	}
	if len(limited.Queues) != 2 || limited.Queues[1].Concurrency != 3 {
		t.Errorf("list --json after the limit: %+v", limited.Queues)
	}
	// A limit not given keeps its value.
	if got := f.ok(t, "queues", "limit", "emails", "--per-key", "1", "--rate", "10/m"); got != "queue emails has a concurrency limit of 3, a limit of 1 per key, a rate limit of 10 per 1m0s\n" {
		t.Errorf("limit per key and rate: %q", got)
	}
	if out := f.ok(t, "queues", "list"); !strings.Contains(out, "PER KEY") || !strings.Contains(out, "10/1m0s") {
		t.Errorf("queues list lacks the limits per key and rate:\n%s", out)
	}
	var all struct {
		Queues []struct {
			PerKey  int    `json:"per_key"`
			Rate    int    `json:"rate"`
			RatePer string `json:"rate_per"`
		} `json:"queues"`
	}
	if err := json.Unmarshal([]byte(f.ok(t, "queues", "list", "--json")), &all); err != nil {
		t.Fatal(err)
	}
	if q := all.Queues[1]; q.PerKey != 1 || q.Rate != 10 || q.RatePer != "1m0s" {
		t.Errorf("list --json after the limits: %+v", all.Queues)
	}
	if got := f.ok(t, "queues", "limit", "emails", "--concurrency", "0", "--per-key", "0", "--rate", "0"); got != "queue emails has no limits\n" {
		t.Errorf("limits 0: %q", got)
	}
	f.fails(t, exitError, "-2", "queues", "limit", "emails", "--concurrency", "-2")
	f.fails(t, exitError, "per key", "queues", "limit", "emails", "--per-key", "-1")
	f.fails(t, exitError, "period", "queues", "limit", "emails", "--rate", "5/0s")
	f.fails(t, exitUsage, "N/PERIOD", "queues", "limit", "emails", "--rate", "5")
	f.fails(t, exitUsage, "period", "queues", "limit", "emails", "--rate", "5/fortnight")
	f.fails(t, exitUsage, "not a whole number", "queues", "limit", "emails", "--per-key", "one")
	f.fails(t, exitUsage, "missing --concurrency", "queues", "limit", "emails")
	f.fails(t, exitError, `queue "weekly"`, "queues", "limit", "weekly", "--concurrency", "1")
	f.fails(t, exitError, `queue "weekly"`, "queues", "resume", "weekly")
	f.fails(t, exitUsage, "missing queue NAME", "queues", "pause")
	f.fails(t, exitUsage, "unexpected argument", "queues", "pause", "a", "b")
}
