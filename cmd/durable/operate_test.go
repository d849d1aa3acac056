package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/sqlite"
)

// The tests of the commands that operate a store run each command through
// run, as main does, on a store filled by a real executor: on a SQLite
// file, and on a fresh PostgreSQL schema when DURABLE_TEST_POSTGRES_URL is
// set.

const envPostgres = "DURABLE_TEST_POSTGRES_URL"

// fixture is what populate put in a store.
type fixture struct {
	conn []string // the connection flags

	echo       string // completed, key order-1, tags customer:7 and order:1
	flaky      string // completed after two failed attempts
	doomed     string // failed after two attempts
	panicky    string // failed with a panic (a stack)
	parent     string // completed, with children kid0 and kid1
	kid0, kid1 string
	sleeping   string // sleeping under the key approve-1
	later      string // ready, due in an hour
	total      int
}

// populate runs an executor on store until the executions it enqueues
// that can finish have finished, then shuts it down.
func populate(t *testing.T, store storage.Store) fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ex, err := durable.New(store, durable.Config{Logger: quiet, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fast := durable.WithRetry(durable.RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond})
	echo := durable.Must(durable.NewTask(ex, "echo", func(ctx context.Context, s string) (string, error) { return s, nil }))
	runs := 0
	flaky := durable.Must(durable.NewTask(ex, "flaky", func(ctx context.Context, order string) (string, error) {
		if runs++; runs <= 2 {
			return "", fmt.Errorf("card declined (run %d)", runs)
		}
		return "charged " + order, nil
	}, fast))
	doomed := durable.Must(durable.NewTask(ex, "doomed", func(ctx context.Context, n int) (int, error) {
		return 0, errors.New("out of stock\nwarehouse 3 is empty")
	}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond})))
	panicky := durable.Must(durable.NewTask(ex, "panicky", func(ctx context.Context, n int) (int, error) {
		panic("boom")
	}, durable.WithRetry(durable.RetryPolicy{})))
	batch := durable.Must(durable.NewParentTask(ex, "batch", func(ctx context.Context, n int) (durable.Spawn[int], error) {
		return durable.Spawn[int]{Output: n, Children: []durable.Child{durable.ChildOf(echo, "kid 0"), durable.ChildOf(echo, "kid 1")}}, nil
	}))
	approval := durable.Must(durable.NewSleepingTask[string](ex, "approval", durable.WithTimeout(time.Hour)))
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ex.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	var f fixture
	he, err := echo.Enqueue(ctx, "hello", durable.WithIdempotencyKey("order-1"), durable.WithTags("customer:7", "order:1"))
	f.echo = waitDone(t, ctx, he, err)
	hf, err := flaky.Enqueue(ctx, "B-18")
	f.flaky = waitDone(t, ctx, hf, err)
	hd, err := doomed.Enqueue(ctx, 7, durable.WithTags("customer:7"))
	f.doomed = waitDone(t, ctx, hd, err)
	hp, err := panicky.Enqueue(ctx, 1)
	f.panicky = waitDone(t, ctx, hp, err)
	hb, err := batch.Enqueue(ctx, 2)
	f.parent = waitDone(t, ctx, hb, err)
	kids, err := ex.Children(ctx, f.parent)
	if err != nil || len(kids) != 2 {
		t.Fatalf("children of %s: %v, %v", f.parent, kids, err)
	}
	f.kid0, f.kid1 = kids[0].ID, kids[1].ID
	hs, err := approval.Enqueue(ctx, "approve-1")
	if err != nil {
		t.Fatal(err)
	}
	f.sleeping = hs.ID()
	hl, err := echo.Enqueue(ctx, "later", durable.WithDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	f.later = hl.ID()
	f.total = 9
	return f
}

// waitDone waits for an execution enqueued (with err) to finish and
// returns its id.
func waitDone[O any](t *testing.T, ctx context.Context, h *durable.Handle[O], err error) string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Wait(ctx); err != nil {
		t.Fatalf("wait %s: %v", h.ID(), err)
	}
	return h.ID()
}

// sqliteFixture fills a new SQLite file.
func sqliteFixture(t *testing.T) fixture {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	store, err := sqlite.Open(context.Background(), path, sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := populate(t, store)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	f.conn = []string{"--db", path}
	return f
}

// freshSchema names a schema no test uses and drops it at the end.
func freshSchema(t *testing.T, dsn string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "cli_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// result is what one run of the command did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// durableCmd runs the command with args, then the connection flags.
func (f fixture) run(args ...string) result {
	return runCmd(append(args, f.conn...)...)
}

func runCmd(args ...string) result {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// ok runs the command and fails the test unless it exits 0 with nothing
// on standard error.
func (f fixture) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := f.run(args...)
	if r.code != exitOK {
		t.Fatalf("durable %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// fails runs the command and checks that it exits with code and says msg
// on standard error, once.
func (f fixture) fails(t *testing.T, code int, msg string, args ...string) {
	t.Helper()
	r := f.run(args...)
	if r.code != code || !strings.Contains(r.stderr, msg) {
		t.Errorf("durable %s: %s\nwant exit %d and %q on stderr", strings.Join(args, " "), r, code, msg)
	}
	if n := strings.Count("\n"+r.stderr, "\ndurable "); n != 1 {
		t.Errorf("durable %s: the error is printed more than once:\n%s", strings.Join(args, " "), r.stderr)
	}
}

// listJSON runs executions list --json and returns the ids listed and
// the next cursor.
func (f fixture) listJSON(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out := f.ok(t, append([]string{"executions", "list", "--json"}, args...)...)
	var doc struct {
		Records []recordJSON `json:"records"`
		Next    string       `json:"next"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	var ids []string
	for _, r := range doc.Records {
		ids = append(ids, r.ID)
	}
	return ids, doc.Next
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestOperate runs every command on each store, filled by populate.
func TestOperate(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store, conn []string) {
		f := populate(t, store)
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		f.conn = conn
		testOperate(t, f)
	})
}

// testOperate runs every command on a filled store, in an order where
// each step sees what the previous ones did.
func testOperate(t *testing.T, f fixture) {
	t.Run("List", func(t *testing.T) { testList(t, f) })
	t.Run("Show", func(t *testing.T) { testShow(t, f) })
	t.Run("Tree", func(t *testing.T) { testTree(t, f) })
	t.Run("Stats", func(t *testing.T) { testStats(t, f) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, f) })
	t.Run("Retry", func(t *testing.T) { testRetry(t, f) })
	t.Run("Wake", func(t *testing.T) { testWake(t, f) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, f) })
	t.Run("Purge", func(t *testing.T) { testPurge(t, f) })
	t.Run("Migrate", func(t *testing.T) { testMigrateStatus(t, f) })
}

func testList(t *testing.T, f fixture) {
	all := []string{f.echo, f.flaky, f.doomed, f.panicky, f.parent, f.kid0, f.kid1, f.sleeping, f.later}
	out := f.ok(t, "executions", "list")
	for _, id := range all {
		if !strings.Contains(out, id) {
			t.Errorf("the table lacks %s:\n%s", id, out)
		}
	}
	if !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "generic: out of stock…") || !strings.Contains(out, "panic: task panicky panicked: boom") {
		t.Errorf("the table has no header or no errors:\n%s", out)
	}
	if strings.Contains(out, "warehouse") {
		t.Errorf("the table shows more than an error's first line:\n%s", out)
	}
	ids, next := f.listJSON(t)
	if !sameSet(ids, all) || next != "" {
		t.Errorf("list --json: %v next %q, want %v and no next page", ids, next, all)
	}

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"Status", []string{"--status", "failed"}, []string{f.doomed, f.panicky}},
		{"Statuses", []string{"--status", "failed,running", "--status", "ready"}, []string{f.doomed, f.panicky, f.sleeping, f.later}},
		{"Task", []string{"--task", "echo"}, []string{f.echo, f.kid0, f.kid1, f.later}},
		{"Tag", []string{"--tag", "customer:7"}, []string{f.echo, f.doomed}},
		{"Key", []string{"--key", "order-1"}, []string{f.echo}},
		{"Parent", []string{"--parent", f.parent}, []string{f.kid0, f.kid1}},
		{"Root", []string{"--root", f.parent}, []string{f.kid0, f.kid1}},
		{"TopLevel", []string{"--top-level", "--task", "echo"}, []string{f.echo, f.later}},
		{"CreatedAfter", []string{"--created-after", "1h"}, all},
		{"CreatedBefore", []string{"--created-before", "1h"}, nil},
		{"CreatedBeforeRFC3339", []string{"--created-before", time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}, all},
		{"FinishedAfter", []string{"--finished-after", "1d", "--task", "doomed,panicky"}, []string{f.doomed, f.panicky}},
		{"FinishedBefore", []string{"--finished-before", "0s", "--status", "ready,running"}, nil},
	} {
		ids, _ := f.listJSON(t, c.args...)
		if !sameSet(ids, c.want) {
			t.Errorf("%s (%v): %v, want %v", c.name, c.args, ids, c.want)
		}
	}

	// Paging: pages of 2, newest and oldest first, cover every execution
	// once, in opposite orders.
	for _, order := range [][]string{nil, {"--oldest-first"}} {
		var seen []string
		cursor := ""
		for range 10 {
			args := append([]string{"--limit", "2"}, order...)
			if cursor != "" {
				args = append(args, "--cursor", cursor)
			}
			ids, next := f.listJSON(t, args...)
			seen = append(seen, ids...)
			if cursor = next; cursor == "" {
				break
			}
		}
		if !sameSet(seen, all) || len(seen) != len(all) {
			t.Errorf("paging %v: %v, want each of %v once", order, seen, all)
		}
	}
	newest, _ := f.listJSON(t)
	oldest, _ := f.listJSON(t, "--oldest-first")
	if slices.Reverse(oldest); !slices.Equal(newest, oldest) {
		t.Errorf("--oldest-first is not the reverse of the default: %v vs %v", newest, oldest)
	}
	table := f.ok(t, "executions", "list", "--limit", "3")
	i := strings.Index(table, "--cursor ")
	if i < 0 {
		t.Fatalf("a full page prints no cursor hint:\n%s", table)
	}
	cursor := strings.Fields(table[i+len("--cursor "):])[0]
	if ids, _ := f.listJSON(t, "--limit", "3", "--cursor", cursor); len(ids) != 3 || slices.Contains(ids, newest[0]) {
		t.Errorf("the table's cursor gives %v, want the second page", ids)
	}

	f.fails(t, exitError, "another filter", "executions", "list", "--status", "failed", "--limit", "3", "--cursor", cursor)
	f.fails(t, exitError, "not a cursor", "executions", "list", "--cursor", "garbage")
	f.fails(t, exitError, `unknown status "runing"`, "executions", "list", "--status", "runing")
	f.fails(t, exitError, `unknown task "ech0"`, "executions", "list", "--task", "ech0")
	f.fails(t, exitError, "idempotency key", "executions", "list", "--key", "bad key!")
	f.fails(t, exitUsage, "--created-after", "executions", "list", "--created-after", "yesterday")
	f.fails(t, exitUsage, "--limit must be in 1..1000", "executions", "list", "--limit", "0")
	f.fails(t, exitUsage, "unexpected argument", "executions", "list", "failed")
}

func testShow(t *testing.T, f fixture) {
	out := f.ok(t, "executions", "show", f.flaky)
	for _, want := range []string{f.flaky, "flaky", "completed", "3 (after 2 retries)", `"B-18"`, `"charged B-18"`,
		"failed attempts (2)", "card declined (run 1)", "card declined (run 2)", "retried"} {
		if !strings.Contains(out, want) {
			t.Errorf("show flaky lacks %q:\n%s", want, out)
		}
	}
	out = f.ok(t, "executions", "show", f.panicky)
	for _, want := range []string{"failed", "error (panic", "boom", "stack:", "goroutine"} {
		if !strings.Contains(out, want) {
			t.Errorf("show panicky lacks %q:\n%s", want, out)
		}
	}
	out = f.ok(t, "executions", "show", f.parent)
	for _, want := range []string{"children (2, 0 unfinished): 2 completed", f.kid0, f.kid1} {
		if !strings.Contains(out, want) {
			t.Errorf("show parent lacks %q:\n%s", want, out)
		}
	}
	out = f.ok(t, "executions", "show", f.kid1)
	if !strings.Contains(out, "as its child 1") || !strings.Contains(out, f.parent) {
		t.Errorf("show child lacks its parent:\n%s", out)
	}
	out = f.ok(t, "executions", "show", f.sleeping)
	for _, want := range []string{"running", "approve-1", "wake by", "(in "} {
		if !strings.Contains(out, want) {
			t.Errorf("show sleeping lacks %q:\n%s", want, out)
		}
	}
	out = f.ok(t, "executions", "show", "--key", "order-1")
	if !strings.Contains(out, f.echo) || !strings.Contains(out, "customer:7, order:1") {
		t.Errorf("show --key lacks the execution or its tags:\n%s", out)
	}
	out = f.ok(t, "executions", "show", f.doomed, "--json")
	var j recordJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("show --json: %v\n%s", err, out)
	}
	if j.ID != f.doomed || j.Status != durable.StatusFailed || string(j.Input) != "7" || j.Error == nil ||
		j.Error.Message != "out of stock\nwarehouse 3 is empty" || len(j.Attempts) != 2 || j.Attempts[1].Outcome != durable.StatusFailed {
		t.Errorf("show --json: %+v", j)
	}
	out = f.ok(t, "executions", "show", f.parent, "--json")
	if err := json.Unmarshal([]byte(out), &j); err != nil || len(j.Children) != 2 || j.Children[0].ID != f.kid0 {
		t.Errorf("show --json of a parent: %v %+v", err, j.Children)
	}

	f.fails(t, exitError, "not found", "executions", "show", "te_nosuchexecution")
	f.fails(t, exitError, "not found", "executions", "show", "--key", "no-such-key")
	f.fails(t, exitUsage, "missing execution ID", "executions", "show")
	f.fails(t, exitUsage, "not both", "executions", "show", f.echo, "--key", "order-1")
}

func testTree(t *testing.T, f fixture) {
	out := f.ok(t, "executions", "tree", f.parent)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "batch ") || !strings.HasPrefix(lines[2], "  echo ") ||
		!strings.Contains(lines[2], f.kid0) || !strings.Contains(lines[3], f.kid1) || !strings.Contains(lines[1], "completed") {
		t.Errorf("tree:\n%s", out)
	}
	out = f.ok(t, "executions", "tree", f.kid0)
	if strings.Count(strings.TrimSpace(out), "\n") != 1 || !strings.Contains(out, f.kid0) {
		t.Errorf("tree of a leaf:\n%s", out)
	}
	out = f.ok(t, "executions", "tree", f.parent, "--json")
	var j recordJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || len(j.Children) != 2 || j.Children[1].ID != f.kid1 || j.Input != nil {
		t.Errorf("tree --json: %v %+v", err, j)
	}
	f.fails(t, exitError, "not found", "executions", "tree", "te_nosuchexecution")
}

func testStats(t *testing.T, f fixture) {
	out := f.ok(t, "stats")
	for _, want := range []string{"echo", "completed", "batch", fmt.Sprintf("%d executions:", f.total), "2 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lacks %q:\n%s", want, out)
		}
	}
	out = f.ok(t, "stats", "--json", "--task", "echo")
	var doc struct {
		Counts []struct {
			TaskID string `json:"task_id"`
			Status string `json:"status"`
			Count  int64  `json:"count"`
		} `json:"counts"`
		Total int64 `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Total != 4 || len(doc.Counts) != 2 {
		t.Errorf("stats --json --task echo: %v %+v", err, doc)
	}
	f.fails(t, exitError, "unknown status", "stats", "--status", "done")
	f.fails(t, exitError, "tasks with executions: ", "stats", "--task", "nope")
}

func testCancel(t *testing.T, f fixture) {
	out := f.ok(t, "executions", "cancel", f.later)
	if !strings.Contains(out, "cancelled "+f.later) || !strings.Contains(out, "was ready") {
		t.Errorf("cancel: %s", out)
	}
	if ids, _ := f.listJSON(t, "--status", "cancelled"); !slices.Equal(ids, []string{f.later}) {
		t.Errorf("after cancel, cancelled executions: %v", ids)
	}
	out = f.ok(t, "executions", "cancel", f.echo)
	if !strings.Contains(out, "already finished: completed") {
		t.Errorf("cancel of a finished execution: %s", out)
	}
	f.fails(t, exitError, "not found", "executions", "cancel", "te_nosuchexecution")
}

func testRetry(t *testing.T, f fixture) {
	r := f.run("executions", "retry", f.doomed)
	if r.code != exitOK {
		t.Fatal(r)
	}
	id := strings.TrimSpace(r.stdout)
	if strings.Contains(id, "\n") || id == f.doomed || !strings.Contains(r.stderr, "a retry of "+f.doomed) {
		t.Fatalf("retry: %s", r)
	}
	out := f.ok(t, "executions", "show", id, "--json")
	var j recordJSON
	if err := json.Unmarshal([]byte(out), &j); err != nil || j.RetryOf != f.doomed || j.Status != durable.StatusReady ||
		string(j.Input) != "7" || !slices.Equal(j.Tags, []string{"customer:7"}) {
		t.Errorf("the retry: %v %+v", err, j)
	}
	f.fails(t, exitError, "only a finished execution can be retried", "executions", "retry", f.sleeping)
	f.fails(t, exitError, "retry its root", "executions", "retry", f.kid0)
	f.fails(t, exitError, "not found", "executions", "retry", "te_nosuchexecution")
}

func testWake(t *testing.T, f fixture) {
	f.fails(t, exitUsage, "is not JSON", "executions", "wake", "approve-1", "--output", "approved")
	f.fails(t, exitUsage, "not both", "executions", "wake", "approve-1", "--output", `"x"`, "--error", "no")
	f.fails(t, exitError, "no sleeping execution", "executions", "wake", "approve-2")
	out := f.ok(t, "executions", "wake", "approve-1", "--output", `{"by": "alice"}`)
	if !strings.Contains(out, f.sleeping) || !strings.Contains(out, `completed: {"by":"alice"}`) {
		t.Errorf("wake: %s", out)
	}
	out = f.ok(t, "executions", "wake", "approve-1", "--error", "too late")
	if !strings.Contains(out, `completed: {"by":"alice"}`) {
		t.Errorf("waking again changed it: %s", out)
	}
}

func testDelete(t *testing.T, f fixture) {
	f.fails(t, exitError, "nothing was deleted", "executions", "delete", f.kid0)
	f.fails(t, exitError, "not found", "executions", "delete", f.echo, "te_nosuchexecution")
	ids, _ := f.listJSON(t)
	if !slices.Contains(ids, f.echo) || !slices.Contains(ids, f.kid0) {
		t.Fatalf("a refused delete deleted something: %v", ids)
	}
	retry, _ := f.listJSON(t, "--status", "ready")
	f.fails(t, exitError, "not deletable", "executions", "delete", retry[0])
	out := f.ok(t, "executions", "delete", f.parent, f.echo)
	if !strings.Contains(out, "deleted 4 executions: 2 top-level") {
		t.Errorf("delete: %s", out)
	}
	for _, id := range []string{f.parent, f.kid0, f.kid1, f.echo} {
		f.fails(t, exitError, "not found", "executions", "show", id)
	}
	f.fails(t, exitUsage, "missing execution ID", "executions", "delete")
}

func testPurge(t *testing.T, f fixture) {
	f.fails(t, exitUsage, "refusing to purge without a filter", "executions", "purge")
	f.fails(t, exitUsage, "finished executions only", "executions", "purge", "--status", "ready")
	f.fails(t, exitUsage, "unknown flag: --parent", "executions", "purge", "--parent", f.parent)
	before, _ := f.listJSON(t)
	// Left: flaky (completed), doomed, panicky (failed), sleeping (woken),
	// later (cancelled), the retry (ready).
	out := f.ok(t, "executions", "purge", "--finished-before", "0s", "--dry-run")
	if !strings.Contains(out, "would delete 5 top-level executions") || !strings.Contains(out, "2 failed") {
		t.Errorf("purge --dry-run: %s", out)
	}
	if after, _ := f.listJSON(t); !slices.Equal(after, before) {
		t.Errorf("a dry run deleted: %v, was %v", after, before)
	}
	out = f.ok(t, "executions", "purge", "--status", "failed", "--batch", "1")
	if !strings.Contains(out, "deleted 2 top-level executions, 2 executions in all") {
		t.Errorf("purge --status failed: %s", out)
	}
	out = f.ok(t, "executions", "purge", "--finished-before", "0s")
	if !strings.Contains(out, "deleted 3 top-level executions") {
		t.Errorf("purge --finished-before 0s: %s", out)
	}
	if left, _ := f.listJSON(t); len(left) != 1 {
		t.Errorf("after the purges: %v, want the retry (ready) alone", left)
	}
}

func testMigrateStatus(t *testing.T, f fixture) {
	out := f.ok(t, "migrate", "status")
	if !strings.Contains(out, "up to date") || strings.Contains(out, "pending") {
		t.Errorf("migrate status: %s", out)
	}
	out = f.ok(t, "migrate", "up")
	if !strings.Contains(out, "up to date") {
		t.Errorf("migrate up on a migrated store: %s", out)
	}
	// The script ends its transaction (SQLite, PostgreSQL) or releases
	// its lock (MySQL, whose DDL commits as it goes).
	out = f.ok(t, "migrate", "sql")
	if !strings.Contains(out, "COMMIT;") && !strings.Contains(out, "RELEASE_LOCK") || !strings.Contains(out, "001_init") {
		t.Errorf("migrate sql: %s", out)
	}
}
