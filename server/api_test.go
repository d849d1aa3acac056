package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/api"
)

func TestEnqueueAndWait(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(api.EnqueueRequest{Task: "greet", Input: jsonOf(t, Greeting{Name: "Ada", Times: 2})})
	x := e.wait(id)
	if x.Status != durable.StatusCompleted || string(x.Output) != `"hello, Ada! hello, Ada! "` {
		t.Fatalf("execution %+v, want completed with the greeting", x)
	}
	if x.ID != id || x.TaskID != "greet" || string(x.Input) != `{"name":"Ada","times":2}` {
		t.Fatalf("execution %+v: wrong id, task or input", x)
	}
	if got := e.get(id); got.Status != durable.StatusCompleted || got.FinishedAt.IsZero() {
		t.Fatalf("get after wait: %+v", got)
	}
}

func TestEnqueueOptions(t *testing.T) {
	e := newEnv(t)
	req := api.EnqueueRequest{Task: "greet", Input: jsonOf(t, Greeting{Name: "Bo"}), DelayMs: ptr[int64](0),
		TimeoutMs: ptr[int64](2000), Retry: &api.RetryPolicy{MaxRetries: 2, BaseDelayMs: 10},
		IdempotencyKey: "order-17", Tags: []string{"tenant-a", "web"}}
	id := e.enqueue(req)
	if again := e.enqueue(req); again != id {
		t.Fatalf("the same idempotency key gave %s, then %s", id, again)
	}
	x := e.wait(id)
	if !slices.Equal(x.Tags, []string{"tenant-a", "web"}) || x.Status != durable.StatusCompleted {
		t.Fatalf("execution %+v, want completed with the tags", x)
	}
	var page api.Page
	e.ok(request{method: "GET", path: "/v1/executions?idempotency_key=order-17"}, &page)
	if len(page.Executions) != 1 || page.Executions[0].ID != id {
		t.Fatalf("list by key: %+v", page)
	}
}

// TestEnqueueWhileActive: idempotency_while_active makes the key return
// the active execution, and a new one once it has finished.
func TestEnqueueWhileActive(t *testing.T) {
	e := newEnv(t)
	req := api.EnqueueRequest{Task: "block", IdempotencyKey: "sync-9", IdempotencyWhileActive: true}
	id := e.enqueue(req)
	if again := e.enqueue(req); again != id {
		t.Fatalf("the key while %s is active gave %s", id, again)
	}
	if x := e.get(id); x.ActiveKey != "sync-9" {
		t.Fatalf("execution %+v, want active_key sync-9", x)
	}
	var x api.Execution
	e.ok(request{method: "POST", path: "/v1/executions/" + id + "/cancel"}, &x)
	if next := e.enqueue(req); next == id {
		t.Fatalf("the key after %s was cancelled gave it again", id)
	} else {
		e.ok(request{method: "POST", path: "/v1/executions/" + next + "/cancel"}, &x)
	}
}

func TestEnqueueConcurrencyKey(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(api.EnqueueRequest{Task: "block", ConcurrencyKey: "customer-7"})
	if x := e.get(id); x.ConcurrencyKey != "customer-7" {
		t.Fatalf("execution %+v, want concurrency_key customer-7", x)
	}
	var x api.Execution
	e.ok(request{method: "POST", path: "/v1/executions/" + id + "/cancel"}, &x)
}

func TestEnqueueMany(t *testing.T) {
	e := newEnv(t)
	var out api.EnqueuedMany
	e.ok(request{method: "POST", path: "/v1/executions/batch", body: api.EnqueueManyRequest{Items: []api.EnqueueRequest{
		{Task: "greet", Input: jsonOf(t, Greeting{Name: "A"})},
		{Task: "approval", SleepKey: "batch-key"},
		{Task: "greet", Input: jsonOf(t, Greeting{Name: "C"})},
	}}}, &out)
	if len(out.IDs) != 3 {
		t.Fatalf("ids %v, want 3", out.IDs)
	}
	for i, want := range map[int]string{0: `"hello, A! "`, 2: `"hello, C! "`} {
		if x := e.wait(out.IDs[i]); string(x.Output) != want {
			t.Fatalf("item %d: %+v, want output %s", i, x, want)
		}
	}
	if x := e.get(out.IDs[1]); x.SleepKey != "batch-key" || x.Status != durable.StatusRunning {
		t.Fatalf("sleeping item: %+v", x)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(api.EnqueueRequest{Task: "block"})
	var x api.Execution
	e.ok(request{method: "POST", path: "/v1/executions/" + id + "/cancel"}, &x)
	if x.Status != durable.StatusCancelled {
		t.Fatalf("after cancel: %+v", x)
	}
	if x = e.wait(id); x.Status != durable.StatusCancelled || x.Error == nil || x.Error.Kind != "cancelled" {
		t.Fatalf("after wait: %+v", x)
	}
}

func TestWake(t *testing.T) {
	e := newEnv(t)
	done := e.enqueue(api.EnqueueRequest{Task: "approval", SleepKey: "approve-1"})
	failed := e.enqueue(api.EnqueueRequest{Task: "approval", SleepKey: "approve-2"})
	var x api.Execution
	e.ok(request{method: "POST", path: "/v1/wake", body: api.WakeRequest{Key: "approve-1", Task: "approval", Output: jsonOf(t, Woken{OK: true})}}, &x)
	if x.ID != done || x.Status != durable.StatusCompleted || string(x.Output) != `{"ok":true}` {
		t.Fatalf("woken: %+v", x)
	}
	// Waking again is idempotent: the finished execution, unchanged.
	var again api.Execution
	e.ok(request{method: "POST", path: "/v1/wake", body: api.WakeRequest{Key: "approve-1", Error: ptr("too late")}}, &again)
	if again.Status != durable.StatusCompleted || !again.UpdatedAt.Equal(x.UpdatedAt) {
		t.Fatalf("woken again: %+v", again)
	}
	e.ok(request{method: "POST", path: "/v1/wake", body: api.WakeRequest{Key: "approve-2", Error: ptr("refused")}}, &x)
	if x.ID != failed || x.Status != durable.StatusFailed || x.Error == nil || x.Error.Message != "refused" {
		t.Fatalf("failed by wake: %+v", x)
	}
}

func TestRetry(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(api.EnqueueRequest{Task: "fail", Input: jsonOf(t, "boom"), Tags: []string{"t1"}})
	if x := e.wait(id); x.Status != durable.StatusFailed || x.Error.Message != "boom" {
		t.Fatalf("failing task: %+v", x)
	}
	var retry api.Execution
	e.ok(request{method: "POST", path: "/v1/executions/" + id + "/retry"}, &retry)
	if retry.RetryOf != id || retry.ID == id || string(retry.Input) != `"boom"` {
		t.Fatalf("retry: %+v", retry)
	}
	if x := e.wait(retry.ID); x.Status != durable.StatusFailed {
		t.Fatalf("retry ended %+v", x)
	}
}

func TestListChildrenStatsTasks(t *testing.T) {
	e := newEnv(t)
	for _, name := range []string{"a", "b", "c"} {
		e.wait(e.enqueue(api.EnqueueRequest{Task: "greet", Input: jsonOf(t, Greeting{Name: name}), Tags: []string{"list"}}))
	}
	var seen []string
	path := "/v1/executions?task=greet&tag=list&limit=2&order=oldest&status=completed,failed"
	for {
		var page api.Page
		e.ok(request{method: "GET", path: path}, &page)
		for _, x := range page.Executions {
			seen = append(seen, strings.Trim(string(e.get(x.ID).Input), "{}"))
		}
		if page.Next == "" {
			break
		}
		path = "/v1/executions?task=greet&tag=list&limit=2&order=oldest&status=completed,failed&cursor=" + page.Next
	}
	if want := []string{`"name":"a"`, `"name":"b"`, `"name":"c"`}; !slices.Equal(seen, want) {
		t.Fatalf("listed %v, want %v", seen, want)
	}
	var stats api.Stats
	e.ok(request{method: "GET", path: "/v1/stats?task=greet"}, &stats)
	if len(stats.Counts) != 1 || stats.Counts[0].N != 3 || stats.Counts[0].Status != durable.StatusCompleted {
		t.Fatalf("stats %+v", stats)
	}
	var kids api.Executions
	e.ok(request{method: "GET", path: "/v1/executions/" + e.enqueue(api.EnqueueRequest{Task: "approval", SleepKey: "k"}) + "/children"}, &kids)
	if kids.Executions == nil || len(kids.Executions) != 0 {
		t.Fatalf("children of a sleeping execution: %+v", kids)
	}
	var tasks api.Tasks
	e.ok(request{method: "GET", path: "/v1/tasks"}, &tasks)
	if len(tasks.Tasks) != 4 || tasks.Tasks[0].ID != "approval" || !tasks.Tasks[0].Sleeping {
		t.Fatalf("tasks %+v", tasks)
	}
}

func TestWaitBoundPasses(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(api.EnqueueRequest{Task: "block"})
	var x api.Execution
	e.ok(request{method: "GET", path: "/v1/executions/" + id + "/wait?timeout_ms=100"}, &x)
	if x.Finished() {
		t.Fatalf("a blocked execution finished: %+v", x)
	}
	close(e.release)
	if x = e.wait(id); x.Status != durable.StatusCompleted {
		t.Fatalf("released: %+v", x)
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	r := e.do(request{method: "GET", path: "/v1/openapi.json"})
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"openapi": "3.1`) {
		t.Fatalf("status %d, body starts %.80s", r.Status, r.Body)
	}
}

func TestQueues(t *testing.T) {
	e := newEnv(t)
	id := e.enqueue(api.EnqueueRequest{Task: "greet", Input: jsonOf(t, Greeting{Name: "Q"}), Queue: "emails", Priority: ptr(2)})
	if x := e.wait(id); x.Queue != "emails" || x.Priority != 2 || x.Status != durable.StatusCompleted {
		t.Fatalf("execution %+v, want completed in queue emails with priority 2", x)
	}
	var qs api.Queues
	e.ok(request{method: "GET", path: "/v1/queues"}, &qs)
	if len(qs.Queues) != 1 || qs.Queues[0].Name != "default" || qs.Queues[0].Paused {
		t.Fatalf("queues: %+v, want the default queue, running", qs)
	}
	var q api.Queue
	e.ok(request{method: "POST", path: "/v1/queues/default/pause"}, &q)
	if !q.Paused || q.Name != "default" {
		t.Fatalf("after pause: %+v", q)
	}
	held := e.enqueue(api.EnqueueRequest{Task: "greet", Input: jsonOf(t, Greeting{Name: "held"})})
	if x := e.get(held); x.Status != durable.StatusReady {
		t.Fatalf("enqueued into a paused queue: %+v, want ready", x)
	}
	e.ok(request{method: "POST", path: "/v1/queues/default/resume"}, &q)
	if q.Paused {
		t.Fatalf("after resume: %+v", q)
	}
	if x := e.wait(held); x.Status != durable.StatusCompleted {
		t.Fatalf("after resume: %+v, want completed", x)
	}
	e.ok(request{method: "POST", path: "/v1/queues/default/limit", body: api.QueueLimit{Concurrency: 3}}, &q)
	if q.Concurrency != 3 {
		t.Fatalf("after limit: %+v, want concurrency 3", q)
	}
	e.ok(request{method: "GET", path: "/v1/queues"}, &qs)
	if len(qs.Queues) != 1 || qs.Queues[0].Concurrency != 3 {
		t.Fatalf("queues after limit: %+v, want the default queue limited to 3", qs)
	}
	e.ok(request{method: "POST", path: "/v1/queues/default/limit", body: api.QueueLimit{PerKey: 1, Rate: 10, RatePerMs: 60000}}, &q)
	if q.Concurrency != 0 || q.PerKey != 1 || q.Rate != 10 || q.RatePerMs != 60000 {
		t.Fatalf("after limits per key and rate: %+v, want no concurrency limit (left out), 1 per key, 10 per minute", q)
	}
	e.ok(request{method: "POST", path: "/v1/queues/default/limit", body: api.QueueLimit{}}, &q)
	if q.Concurrency != 0 || q.PerKey != 0 || q.Rate != 0 {
		t.Fatalf("after limit 0: %+v, want no limit", q)
	}
	for _, c := range []struct {
		req    request
		status int
		field  string
	}{
		{request{method: "POST", path: "/v1/queues/nobody/pause"}, http.StatusNotFound, ""},
		{request{method: "POST", path: "/v1/queues/has%20space/pause"}, http.StatusBadRequest, ""},
		{request{method: "GET", path: "/v1/queues/default/pause"}, http.StatusMethodNotAllowed, ""},
		{request{method: "POST", path: "/v1/queues/default/limit", body: api.QueueLimit{Concurrency: -1}}, http.StatusBadRequest, "concurrency"},
		{request{method: "POST", path: "/v1/queues/nobody/limit", body: api.QueueLimit{Concurrency: 1}}, http.StatusNotFound, ""},
		{request{method: "POST", path: "/v1/queues/default/limit", body: `{"concurrency": 1, "rate": 2}`}, http.StatusBadRequest, "rate"},
		{request{method: "POST", path: "/v1/queues/default/limit", body: api.QueueLimit{PerKey: -1}}, http.StatusBadRequest, "per_key"},
		{request{method: "POST", path: "/v1/queues/default/limit", body: api.QueueLimit{Rate: 5, RatePerMs: -1}}, http.StatusBadRequest, "rate"},
		{request{method: "POST", path: "/v1/queues/default/limit", body: `{"burst": 2}`}, http.StatusBadRequest, "burst"},
		{request{method: "POST", path: "/v1/executions", body: api.EnqueueRequest{Task: "greet", ConcurrencyKey: "a\x01b"}}, http.StatusBadRequest, "concurrency_key"},
		{request{method: "POST", path: "/v1/executions", body: api.EnqueueRequest{Task: "greet", Priority: ptr(10)}}, http.StatusBadRequest, "priority"},
		{request{method: "POST", path: "/v1/executions", body: api.EnqueueRequest{Task: "greet", Queue: "a/b"}}, http.StatusBadRequest, "queue"},
	} {
		r := e.do(c.req)
		if r.Status != c.status {
			t.Errorf("%s %s: status %d, want %d (%s)", c.req.method, c.req.path, r.Status, c.status, r.Body)
			continue
		}
		if p := r.problem(t); p.Field != c.field {
			t.Errorf("%s %s: problem field %q, want %q", c.req.method, c.req.path, p.Field, c.field)
		}
	}
}
