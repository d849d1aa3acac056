package storagetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// scenarioUniqueWhileActive: an idempotency key that holds while its
// execution is active (WithIdempotencyWhileActive) returns that execution
// to every enqueue, concurrent ones included, until it finishes, whatever
// ends it (completion, failure, cancellation); then the key makes a new
// execution. Executor.Retry takes the key again.
func scenarioUniqueWhileActive(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	// Each input's run waits for its gate (or its cancellation); the
	// second execution of "a" (its retry) for the gate "a2".
	gates := map[string]chan struct{}{}
	for _, in := range []string{"a", "a2", "b", "c", "e"} {
		gates[in] = make(chan struct{})
	}
	var runsOfA atomic.Int32
	task := durable.Must(durable.NewTask(ex, "sync", func(ctx context.Context, in string) (string, error) {
		switch {
		case in == "fail":
			return "", durable.NonRetryable(errors.New("failed on purpose"))
		case in == "a" && runsOfA.Add(1) > 1:
			in = "a2"
		}
		select {
		case <-gates[in]:
			return in, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}))
	other := echo(ex, "other")
	ctx := start(t, ex)
	key := []durable.EnqueueOption{durable.WithIdempotencyKey("customer-42"), durable.WithIdempotencyWhileActive()}
	enqueue := func(in string) *durable.Handle[string] {
		t.Helper()
		h, err := task.Enqueue(ctx, in, key...)
		if err != nil {
			t.Fatalf("Enqueue(%q): %v", in, err)
		}
		return h
	}

	// While "a" is active, every enqueue of the key returns it.
	a := enqueue("a")
	var wg sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Go(func() {
			if h, err := task.Enqueue(ctx, "late", key...); err == nil {
				got[i] = h.ID()
			}
		})
	}
	wg.Wait()
	for i, id := range got {
		if id != a.ID() {
			t.Fatalf("concurrent enqueue %d while %s is active returned %q", i, a.ID(), id)
		}
	}
	if _, err := other.Enqueue(ctx, "x", key...); !errors.Is(err, durable.ErrDuplicate) {
		t.Fatalf("another task's enqueue of the held key: want ErrDuplicate, got %v", err)
	}
	if _, err := ex.EnqueueMany(ctx, durable.ChildOf(other, "y"), durable.ChildOf(task, "z", key...)); !errors.Is(err, durable.ErrDuplicate) {
		t.Fatalf("EnqueueMany of the held key: want ErrDuplicate, got %v", err)
	}
	if r, err := ex.Get(ctx, a.ID()); err != nil || r.ActiveKey != "customer-42" {
		t.Fatalf("Get(%s): ActiveKey %q, %v", a.ID(), r.ActiveKey, err)
	}
	close(gates["a"])
	if x := finished(t, ctx, a, nil); x.Output != "a" {
		t.Fatalf("the key's execution: %s %q, want completed \"a\"", x.Status, x.Output)
	}

	// Completed, failed or cancelled: the key makes a new execution.
	b := enqueue("b")
	if b.ID() == a.ID() {
		t.Fatalf("after %s completed, the key returned it again", a.ID())
	}
	if err := b.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if x := finished(t, ctx, b, nil); x.Status != durable.StatusCancelled {
		t.Fatalf("cancelled execution: %s", x.Status)
	}
	close(gates["b"]) // its run ends now, not when it hears of the cancellation
	f := enqueue("fail")
	if f.ID() == b.ID() {
		t.Fatalf("after %s was cancelled, the key returned it again", b.ID())
	}
	if x := finished(t, ctx, f, nil); x.Status != durable.StatusFailed {
		t.Fatalf("failing execution: %s", x.Status)
	}

	// Retry takes the key again: refused while another execution holds it.
	c := enqueue("c")
	if c.ID() == f.ID() {
		t.Fatalf("after %s failed, the key returned it again", f.ID())
	}
	if _, err := ex.Retry(ctx, a.ID()); !errors.Is(err, durable.ErrDuplicate) {
		t.Fatalf("Retry while %s holds the key: want ErrDuplicate, got %v", c.ID(), err)
	}
	close(gates["c"])
	finished(t, ctx, c, nil)
	r, err := ex.Retry(ctx, a.ID())
	if err != nil || r.ActiveKey != "customer-42" {
		t.Fatalf("Retry of %s once the key is free: ActiveKey %q, %v", a.ID(), r.ActiveKey, err)
	}
	// While the retry is active, the key returns it.
	if again := enqueue("d"); again.ID() != r.ID {
		t.Fatalf("enqueue while the retry %s is active returned %s", r.ID, again.ID())
	}
	close(gates["a2"])
	if x, err := ex.Wait(ctx, r.ID); err != nil || x.Status != durable.StatusCompleted {
		t.Fatalf("the retry: %s, %v", x.Status, err)
	}
	if e := enqueue("e"); e.ID() == r.ID {
		t.Fatalf("after the retry %s completed, the key returned it again", r.ID)
	}
	close(gates["e"])
}
