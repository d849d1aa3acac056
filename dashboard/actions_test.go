package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/durable-go/durable"
)

func TestActions(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()

	// Cancel: confirmation page, then the post.
	hb, _ := f.block.Enqueue(ctx, "to cancel")
	status, body := f.get("/executions/" + hb.ID() + "/cancel")
	if status != http.StatusOK || !strings.Contains(body, `id="confirm"`) || !strings.Contains(body, "Cancel this execution?") {
		t.Fatalf("cancel confirmation: %d", status)
	}
	if status, _ := f.post("/executions/"+hb.ID()+"/cancel", nil); status != http.StatusSeeOther {
		t.Fatalf("cancel: %d", status)
	}
	if r, _ := f.ex.Get(ctx, hb.ID()); r.Status != durable.StatusCancelled {
		t.Errorf("after cancel: %s", r.Status)
	}

	// Retry a failed execution: a new one, RetryOf the original.
	hf, _ := f.fail.Enqueue(ctx, "again")
	wait(t, hf)
	status, loc := f.post("/executions/"+hf.ID()+"/retry", nil)
	if status != http.StatusSeeOther || strings.Contains(loc, hf.ID()) {
		t.Fatalf("retry: %d %s", status, loc)
	}
	retryID := strings.TrimSuffix(strings.TrimPrefix(loc, "/executions/"), "?done=retry")
	if r, err := f.ex.Get(ctx, retryID); err != nil || r.RetryOf != hf.ID() {
		t.Fatalf("the retry %s: %+v %v", retryID, r, err)
	}
	_, body = f.get(loc)
	mustContain(t, body, "This is the retry just enqueued.", "Retry of")

	// Retry of an unfinished execution: refused with the reason, 409.
	hb2, _ := f.block.Enqueue(ctx, "running")
	status, body = f.post("/executions/"+hb2.ID()+"/retry", nil)
	if status != http.StatusConflict || !strings.Contains(body, "only a finished execution can be retried") {
		t.Errorf("retry of a running execution: %d", status)
	}

	// Wake a sleeping execution with an output, another with an error.
	keys := []string{"wake-ok", "wake-fail"}
	ids, err := f.ex.EnqueueMany(ctx, f.sleeper.Child(keys[0]), f.sleeper.Child(keys[1]))
	if err != nil {
		t.Fatal(err)
	}
	_, body = f.get("/executions/" + ids[0])
	mustContain(t, body, "Wake…", "Cancel…")
	if status, _ := f.post("/executions/"+ids[0]+"/wake", url.Values{"outcome": {"complete"}, "output": {`"sunrise"`}}); status != http.StatusSeeOther {
		t.Fatalf("wake: %d", status)
	}
	if r, _ := f.ex.Get(ctx, ids[0]); r.Status != durable.StatusCompleted || string(r.Output) != `"sunrise"` {
		t.Errorf("woken: %s %s", r.Status, r.Output)
	}
	status, _ = f.post("/executions/"+ids[1]+"/wake", url.Values{"outcome": {"fail"}, "message": {""}})
	if status != http.StatusBadRequest {
		t.Errorf("wake fail without a message: %d, want 400", status)
	}
	f.post("/executions/"+ids[1]+"/wake", url.Values{"outcome": {"fail"}, "message": {"no sun today"}})
	if r, _ := f.ex.Get(ctx, ids[1]); r.Status != durable.StatusFailed || r.Err.Message != "no sun today" {
		t.Errorf("woken with a failure: %s %v", r.Status, r.Err)
	}
	// Wake of an execution that is not sleeping: 400.
	if status, _ := f.post("/executions/"+hf.ID()+"/wake", url.Values{"output": {"1"}}); status != http.StatusBadRequest {
		t.Errorf("wake of a plain execution: %d, want 400", status)
	}

	// Delete a finished tree.
	hp, _ := f.fan.Enqueue(ctx, 3)
	wait(t, hp)
	status, loc = f.post("/executions/"+hp.ID()+"/delete", nil)
	if status != http.StatusSeeOther || !strings.Contains(loc, "done=delete&n=4") {
		t.Fatalf("delete: %d %s", status, loc)
	}
	if _, err := f.ex.Get(ctx, hp.ID()); err == nil {
		t.Error("still there after delete")
	}
	_, body = f.get(loc)
	mustContain(t, body, "Deleted 4 executions")
	// Unknown execution and unknown action: 404.
	if status, _ := f.post("/executions/"+hp.ID()+"/delete", nil); status != http.StatusNotFound {
		t.Errorf("delete of a deleted execution: %d, want 404", status)
	}
	if status, _ := f.post("/executions/"+hf.ID()+"/explode", nil); status != http.StatusNotFound {
		t.Errorf("unknown action: %d, want 404", status)
	}
}

func TestReadOnly(t *testing.T) {
	f := newFixture(t, Config{ReadOnly: true})
	ctx := context.Background()
	hb, _ := f.block.Enqueue(ctx, "stay")
	hf, _ := f.fail.Enqueue(ctx, "stay")
	wait(t, hf)
	for _, id := range []string{hb.ID(), hf.ID()} {
		_, body := f.get("/executions/" + id)
		for _, a := range []string{"Cancel…", "Retry…", "Delete…", "Wake…", `class="actions"`} {
			if strings.Contains(body, a) {
				t.Errorf("read-only page of %s shows %q", id, a)
			}
		}
		mustContain(t, body, "read-only")
	}
	for _, p := range []string{"/executions/" + hb.ID() + "/cancel", "/executions/" + hf.ID() + "/retry", "/executions/" + hf.ID() + "/delete"} {
		if status, _ := f.post(p, nil); status != http.StatusForbidden {
			t.Errorf("read-only POST %s: %d, want 403", p, status)
		}
		if status, _ := f.get(p); status != http.StatusForbidden {
			t.Errorf("read-only confirmation %s: %d, want 403", p, status)
		}
	}
	if r, _ := f.ex.Get(ctx, hb.ID()); r.Status.Terminal() {
		t.Errorf("read-only dashboard changed an execution: %s", r.Status)
	}
	if _, err := f.ex.Get(ctx, hf.ID()); err != nil {
		t.Errorf("read-only dashboard deleted: %v", err)
	}
}

func TestNoAuth(t *testing.T) {
	f := newFixture(t, Config{NoAuth: true})
	ctx := context.Background()
	hb, _ := f.block.Enqueue(ctx, "x")
	if status, _ := f.get("/"); status != http.StatusOK {
		t.Fatalf("overview without auth: %d", status)
	}
	if f.dash.LoginURL("http://x") != "" {
		t.Error("NoAuth has a login URL")
	}
	// Actions still need the CSRF token of the browser's cookie.
	if status, _ := f.do(f.client, http.MethodPost, "/executions/"+hb.ID()+"/cancel", url.Values{}); status != http.StatusForbidden {
		t.Errorf("NoAuth action without CSRF token: %d, want 403", status)
	}
	if status, _ := f.post("/executions/"+hb.ID()+"/cancel", nil); status != http.StatusSeeOther {
		t.Errorf("NoAuth action with the token: %d", status)
	}
}
