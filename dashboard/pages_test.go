package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/durable-go/durable"
)

func TestOverview(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	h, _ := f.greet.Enqueue(ctx, "ada")
	wait(t, h)
	hf, _ := f.fail.Enqueue(ctx, "bob")
	wait(t, hf)
	hb, _ := f.block.Enqueue(ctx, "forever")
	waitFor(t, "block running", func() bool {
		r, err := f.ex.Get(ctx, hb.ID())
		return err == nil && r.Status == durable.StatusRunning
	})
	status, body := f.get("/")
	if status != http.StatusOK {
		t.Fatalf("overview: status %d\n%s", status, body)
	}
	mustContain(t, body, "Overview", `st st-completed`, `st st-failed`, `st st-running`,
		`/executions?status=completed&amp;task=greet`, // the task × status table links to the list
		"Completed, last hour", "Failed, last hour", "Executors running work", f.ex.ID())
	// Last hour: greet completed once, fail failed once.
	if !regexp.MustCompile(`Completed, last hour</span><strong>1</strong>`).MatchString(body) {
		t.Errorf("the last hour's completed count is not 1")
	}
	if !regexp.MustCompile(`Failed, last hour</span><strong class="bad">1</strong>`).MatchString(body) {
		t.Errorf("the last hour's failed count is not 1")
	}
}

func TestListFiltersAndPaging(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	var ids []string
	for i := range 7 {
		h, err := f.greet.Enqueue(ctx, fmt.Sprint("n", i), durable.WithTags(fmt.Sprint("batch-", i%2)),
			durable.WithIdempotencyKey(fmt.Sprint("key-", i)))
		if err != nil {
			t.Fatal(err)
		}
		wait(t, h)
		ids = append(ids, h.ID())
	}
	hf, _ := f.fail.Enqueue(ctx, "x")
	wait(t, hf)

	// Status filter.
	_, body := f.get("/executions?status=failed")
	if !strings.Contains(body, hf.ID()) || strings.Contains(body, ids[0]) {
		t.Errorf("status=failed: want only the failed execution")
	}
	// Task and tag.
	_, body = f.get("/executions?task=greet&tag=batch-1")
	for i, id := range ids {
		if strings.Contains(body, id) != (i%2 == 1) {
			t.Errorf("task=greet&tag=batch-1: execution %d listed: %v", i, strings.Contains(body, id))
		}
	}
	// Idempotency key.
	_, body = f.get("/executions?key=key-3")
	if !strings.Contains(body, ids[3]) || strings.Contains(body, ids[4]) {
		t.Errorf("key=key-3: want execution 3 only")
	}
	// Time range: nothing created before 2000.
	_, body = f.get("/executions?to=2000-01-01T00:00")
	mustContain(t, body, "No execution matches.")
	// Search by id and by key opens the execution.
	status, loc := f.get("/executions?q=" + ids[2])
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "/executions/"+ids[2]) {
		t.Errorf("search by id: %d %s", status, loc)
	}
	status, loc = f.get("/executions?q=key-5")
	if status != http.StatusSeeOther || !strings.HasSuffix(loc, "/executions/"+ids[5]) {
		t.Errorf("search by key: %d %s", status, loc)
	}
	status, _ = f.get("/executions?q=nothing-like-it")
	if status != http.StatusNotFound {
		t.Errorf("search for nothing: status %d, want 404", status)
	}
	// Keyset paging, 20 at a time is the least: page the 8 executions
	// oldest first in pages of 20 with the cursor, then check a bad one.
	seen := map[string]int{}
	next := "/executions?order=oldest&limit=20&task=greet"
	pages := 0
	for next != "" {
		pages++
		_, body = f.get(next)
		for _, id := range ids {
			if strings.Contains(body, `href="/executions/`+id+`"`) {
				seen[id]++
			}
		}
		next = ""
		if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("paging listed %s %d times", id, seen[id])
		}
	}
	for _, bad := range []string{"/executions?status=exploded", "/executions?cursor=garbage", "/executions?limit=7",
		"/executions?from=yesterday"} {
		status, body := f.get(bad)
		if status != http.StatusBadRequest || !strings.Contains(body, `class="error"`) {
			t.Errorf("%s: status %d, want 400 with the error shown", bad, status)
		}
	}
}

// TestListPagingCursor pages 45 executions 20 at a time: 20, 20, 5, each
// once.
func TestListPagingCursor(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	items := make([]durable.Child, 45)
	for i := range items {
		items[i] = durable.ChildOf(f.greet, fmt.Sprint(i))
	}
	ids, err := f.ex.EnqueueMany(ctx, items...)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	next, sizes := "/executions?limit=20", []int{}
	for next != "" {
		_, body := f.get(next)
		n := 0
		for _, id := range ids {
			if strings.Contains(body, `href="/executions/`+id+`"`) {
				seen[id]++
				n++
			}
		}
		sizes = append(sizes, n)
		next = ""
		if m := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(body); m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if fmt.Sprint(sizes) != "[20 20 5]" {
		t.Errorf("page sizes %v, want [20 20 5]", sizes)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("%s listed %d times", id, seen[id])
		}
	}
}

func TestExecutionPage(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	h, err := f.fan.Enqueue(ctx, 150, durable.WithTags("wide"))
	if err != nil {
		t.Fatal(err)
	}
	wait(t, h)
	children, err := f.ex.Children(ctx, h.ID())
	if err != nil || len(children) != 150 {
		t.Fatalf("children: %d, %v", len(children), err)
	}
	status, body := f.get("/executions/" + h.ID())
	if status != http.StatusOK {
		t.Fatalf("status %d\n%s", status, body)
	}
	mustContain(t, body, "fan", "st st-completed", "Children <span class=\"muted\">(150)</span>",
		"Show the other 100 children", "Timing", "created", "finished", `<span class="k">output</span>`,
		`<span class="j-string">&#34;fanned&#34;</span>`, "wide")
	// Every child is drawn, in order, in the strip and in the table.
	last := -1
	for i, c := range children {
		at := strings.Index(body, `class="cell c-completed" href="/executions/`+c.ID+`"`)
		if at < 0 {
			t.Fatalf("child %d not in the strip", i)
		}
		if at < last {
			t.Fatalf("child %d drawn before child %d", i, i-1)
		}
		last = at
		if !strings.Contains(body, `<tr data-exec-id="`+c.ID+`"><td class="num">#`+fmt.Sprint(i)+`</td>`) {
			t.Fatalf("child %d not in the table with its index", i)
		}
	}
	// A child's page shows its parent and root.
	_, body = f.get("/executions/" + children[3].ID)
	mustContain(t, body, "Parent", `href="/executions/`+h.ID()+`"`, "child #3")

	// A failed execution shows its error and attempts.
	hf, _ := f.fail.Enqueue(ctx, "zed")
	wait(t, hf)
	_, body = f.get("/executions/" + hf.ID())
	mustContain(t, body, "Error", "refused: zed", "Attempts", "Retry…", "Delete…")
	if strings.Contains(body, "Cancel…") {
		t.Error("a finished execution offers Cancel")
	}
	status, _ = f.get("/executions/te_nosuchexecution")
	if status != http.StatusNotFound {
		t.Errorf("unknown execution: status %d, want 404", status)
	}
}

func TestPrefix(t *testing.T) {
	f := newFixture(t, Config{NoAuth: true, Prefix: "/ops/durable"})
	ctx := context.Background()
	h, _ := f.greet.Enqueue(ctx, "p")
	wait(t, h)
	status, body := f.get("/ops/durable/executions")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	mustContain(t, body, `href="/ops/durable/executions/`+h.ID()+`"`, `src="/ops/durable/static/app.js"`)
	if status, _ := f.get("/ops/durable/static/app.css"); status != http.StatusOK {
		t.Errorf("static under the prefix: %d", status)
	}
	if status, _ := f.get("/executions"); status != http.StatusNotFound {
		t.Errorf("outside the prefix: %d, want 404", status)
	}
	if status, loc := f.get("/ops/durable"); status != http.StatusFound || loc != "/ops/durable/" {
		t.Errorf("the prefix without a slash: %d %s", status, loc)
	}
	if _, err := New(f.ex, Config{NoAuth: true, Prefix: "ops"}); err == nil {
		t.Error("a prefix without a leading slash was accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	f := newFixture(t, Config{NoAuth: true})
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "no Config.Token"},
		{Config{Token: "short"}, "at least 16 bytes"},
		{Config{Token: testToken, NoAuth: true}, "both Token and NoAuth"},
		{Config{NoAuth: true, LiveInterval: -1}, "LiveInterval"},
	} {
		_, err := New(f.ex, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(nil, Config{NoAuth: true}); err == nil {
		t.Error("New(nil) accepted")
	}
}
