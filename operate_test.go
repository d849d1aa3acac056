package durable_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
)

// TestOperateGetShowsAttemptsInputAndTags: a task that fails twice then
// succeeds keeps both failed attempts, in order, with their errors; Get
// and GetByKey return the input as encoded and the tags.
func TestOperateGetShowsAttemptsInputAndTags(t *testing.T) {
	b := setup(t, durable.Config{})
	var runs atomic.Int32
	flaky := durable.Must(durable.NewTask(b.ex, "flaky", func(ctx context.Context, order string) (string, error) {
		if runs.Add(1) <= 2 {
			return "", fmt.Errorf("card declined (run %d)", runs.Load())
		}
		return "charged " + order, nil
	}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 3, BaseDelay: time.Millisecond}), durable.WithTags("payments")))

	h, err := flaky.Enqueue(b.ctx, "B-18", durable.WithIdempotencyKey("order-B-18"), durable.WithTags("customer:7", "order:B-18"))
	if err != nil {
		t.Fatal(err)
	}
	typed := waitFor(t, b, h)
	if len(typed.Attempts) != 2 || string(typed.Input) != `"B-18"` || len(typed.Tags) != 2 {
		t.Errorf("typed view: %d attempts, input %s, tags %q; want 2, \"B-18\", 2 tags", len(typed.Attempts), typed.Input, typed.Tags)
	}

	rec, err := b.ex.GetByKey(b.ctx, "order-B-18")
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != h.ID() || rec.Status != durable.StatusCompleted || string(rec.Input) != `"B-18"` || string(rec.Output) != `"charged B-18"` {
		t.Fatalf("record: id %s status %s input %s output %s", rec.ID, rec.Status, rec.Input, rec.Output)
	}
	if !slices.Equal(rec.Tags, []string{"customer:7", "order:B-18"}) {
		t.Errorf("tags %q, want the enqueue's (they replace the task's)", rec.Tags)
	}
	if len(rec.Attempts) != 2 {
		t.Fatalf("%d attempts in the history, want 2: %+v", len(rec.Attempts), rec.Attempts)
	}
	for i, a := range rec.Attempts {
		want := fmt.Sprintf("card declined (run %d)", i+1)
		if a.Attempt != i || a.Outcome != durable.StatusReady || a.Err == nil || a.Err.Message != want ||
			a.ExecutorID != b.ex.ID() || a.StartedAt.IsZero() || a.FinishedAt.Before(a.StartedAt) {
			t.Errorf("attempt %d: %+v (error %v), want attempt %d retried after %q by %s", i, a, a.Err, i, want, b.ex.ID())
		}
	}
	if _, err := b.ex.GetByKey(b.ctx, "no-such-order"); !errors.Is(err, durable.ErrNotFound) {
		t.Errorf("GetByKey of an unknown key: %v, want ErrNotFound", err)
	}
	if _, err := b.ex.GetByKey(b.ctx, "bad key!"); !errors.Is(err, durable.ErrInvalidInput) {
		t.Errorf("GetByKey of a malformed key: %v, want ErrInvalidInput", err)
	}
}

// TestOperateListPagesAndFilters lists executions page by page, with
// filters, and refuses cursors that do not belong to the listing.
func TestOperateListPagesAndFilters(t *testing.T) {
	b := setup(t, durable.Config{})
	echo := durable.Must(durable.NewTask(b.ex, "echo", func(ctx context.Context, n int) (int, error) { return n, nil }))
	fail := durable.Must(durable.NewTask(b.ex, "fail", func(ctx context.Context, n int) (int, error) {
		return 0, errors.New("no")
	}))
	var ids []string
	for i := range 25 {
		task, tag := echo, "even"
		if i%5 == 0 {
			task = fail
		}
		if i%2 == 1 {
			tag = "odd"
		}
		h, err := task.Enqueue(b.ctx, i, durable.WithTags(tag))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, b, h)
		ids = append(ids, h.ID())
	}

	all := listAll(t, b, durable.ListOptions{Limit: 7})
	if want := reversed(ids); !slices.Equal(all, want) {
		t.Fatalf("newest first in pages of 7:\n got %v\nwant %v", all, want)
	}
	if got := listAll(t, b, durable.ListOptions{Limit: 4, OldestFirst: true}); !slices.Equal(got, ids) {
		t.Fatalf("oldest first in pages of 4:\n got %v\nwant %v", got, ids)
	}
	failed := listAll(t, b, durable.ListOptions{Filter: durable.Filter{Statuses: []durable.Status{durable.StatusFailed}}, OldestFirst: true})
	if want := []string{ids[0], ids[5], ids[10], ids[15], ids[20]}; !slices.Equal(failed, want) {
		t.Errorf("failed: %v, want %v", failed, want)
	}
	odd := listAll(t, b, durable.ListOptions{Filter: durable.Filter{Tag: "odd", TaskIDs: []string{"echo"}}, OldestFirst: true})
	if len(odd) != 10 { // 12 odd, of which 5 and 15 failed
		t.Errorf("odd echoes: %d, want 10", len(odd))
	}

	counts, err := b.ex.Count(b.ctx, durable.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []durable.Count{{TaskID: "echo", Status: durable.StatusCompleted, N: 20}, {TaskID: "fail", Status: durable.StatusFailed, N: 5}}
	if !slices.Equal(counts, want) {
		t.Errorf("counts %+v, want %+v", counts, want)
	}

	first, err := b.ex.List(b.ctx, durable.ListOptions{Limit: 5})
	if err != nil || first.Next == "" {
		t.Fatalf("first page: %v, next %q", err, first.Next)
	}
	for name, opts := range map[string]durable.ListOptions{
		"cursor of another filter": {Limit: 5, Cursor: first.Next, Filter: durable.Filter{Tag: "odd"}},
		"cursor of another order":  {Limit: 5, Cursor: first.Next, OldestFirst: true},
		"malformed cursor":         {Limit: 5, Cursor: "not-a-cursor"},
		"unknown status":           {Filter: durable.Filter{Statuses: []durable.Status{"done"}}},
	} {
		if _, err := b.ex.List(b.ctx, opts); !errors.Is(err, durable.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	if _, err := b.ex.List(b.ctx, durable.ListOptions{Limit: 1001}); !errors.Is(err, durable.ErrInvalidOption) {
		t.Errorf("limit 1001: %v, want ErrInvalidOption", err)
	}
}

func listAll(t *testing.T, b *bundle, opts durable.ListOptions) []string {
	t.Helper()
	var ids []string
	for {
		page, err := b.ex.List(b.ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			if r.Input != nil || r.Output != nil || r.Attempts != nil {
				t.Fatalf("listed %s with payloads or attempts", r.ID)
			}
			ids = append(ids, r.ID)
		}
		if page.Next == "" {
			return ids
		}
		opts.Cursor = page.Next
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

// TestOperateRetry retries a failed execution by hand: a new execution of
// the same task and input, linked to the original, which stays as it was.
func TestOperateRetry(t *testing.T) {
	b := setup(t, durable.Config{})
	var broken atomic.Bool
	broken.Store(true)
	charge := durable.Must(durable.NewTask(b.ex, "charge", func(ctx context.Context, order string) (string, error) {
		if broken.Load() {
			return "", errors.New("gateway down")
		}
		return "charged " + order, nil
	}))
	h, err := charge.Enqueue(b.ctx, "B-18", durable.WithTags("order:B-18"))
	if err != nil {
		t.Fatal(err)
	}
	if x := waitFor(t, b, h); x.Status != durable.StatusFailed {
		t.Fatalf("first run ended %s, want failed", x.Status)
	}

	broken.Store(false)
	retry, err := b.ex.Retry(b.ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if retry.ID == h.ID() || retry.RetryOf != h.ID() || retry.TaskID != "charge" || string(retry.Input) != `"B-18"` ||
		!slices.Equal(retry.Tags, []string{"order:B-18"}) {
		t.Fatalf("retry record %+v", retry)
	}
	rh, err := charge.Handle(b.ctx, retry.ID)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := waitFor(t, b, rh).Result(); err != nil || out != "charged B-18" {
		t.Fatalf("retry: %q, %v", out, err)
	}
	orig, err := b.ex.Get(b.ctx, h.ID())
	if err != nil || orig.Status != durable.StatusFailed {
		t.Fatalf("original after the retry: %s, %v; want it failed, as it was", orig.Status, err)
	}

	if _, err := b.ex.Retry(b.ctx, "nope"); !errors.Is(err, durable.ErrNotFound) {
		t.Errorf("retry of an unknown id: %v, want ErrNotFound", err)
	}
	slow := durable.Must(durable.NewTask(b.ex, "slow", func(ctx context.Context, _ int) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}))
	sh, err := slow.Enqueue(b.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ex.Retry(b.ctx, sh.ID()); !errors.Is(err, durable.ErrNotFinished) {
		t.Errorf("retry of an unfinished execution: %v, want ErrNotFinished", err)
	}
	if err := sh.Cancel(b.ctx); err != nil {
		t.Fatal(err)
	}
}

// TestOperateDelete deletes whole trees of finished executions and refuses
// everything else without deleting anything.
func TestOperateDelete(t *testing.T) {
	b := setup(t, durable.Config{})
	leaf := durable.Must(durable.NewTask(b.ex, "leaf", func(ctx context.Context, n int) (int, error) { return n, nil }))
	parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, n int) (durable.Spawn[int], error) {
		return durable.Spawn[int]{Children: []durable.Child{durable.ChildOf(leaf, 1), durable.ChildOf(leaf, 2)}}, nil
	}))
	h, err := parent.Enqueue(b.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, h)
	kids, err := b.ex.Children(b.ctx, h.ID())
	if err != nil || len(kids) != 2 {
		t.Fatalf("children: %d, %v", len(kids), err)
	}
	lone, err := leaf.Enqueue(b.ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, lone)

	for name, c := range map[string]struct {
		ids  []string
		want error
	}{
		"unknown id beside a good one": {[]string{lone.ID(), "nope"}, durable.ErrNotFound},
		"a child":                      {[]string{kids[0].ID}, durable.ErrNotDeletable},
	} {
		if _, err := b.ex.Delete(b.ctx, c.ids...); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if _, err := b.ex.Get(b.ctx, lone.ID()); err != nil {
		t.Fatalf("a refused delete deleted %s: %v", lone.ID(), err)
	}

	n, err := b.ex.Delete(b.ctx, h.ID(), lone.ID())
	if err != nil || n != 4 {
		t.Fatalf("delete: %d rows, %v; want 4 (a parent, its 2 children, a lone task)", n, err)
	}
	for _, id := range []string{h.ID(), kids[0].ID, kids[1].ID, lone.ID()} {
		if _, err := b.ex.Get(b.ctx, id); !errors.Is(err, durable.ErrNotFound) {
			t.Errorf("after delete, Get(%s): %v, want ErrNotFound", id, err)
		}
	}
}
