package durable_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// recorder records the inputs of the runs of a task, in run order.
type recorder struct {
	mu  sync.Mutex
	ran []string
}

func (r *recorder) task(t *testing.T, ex *durable.Executor, id string, opts ...durable.TaskOption) *durable.Task[string, string] {
	t.Helper()
	return durable.Must(durable.NewTask(ex, id, func(ctx context.Context, in string) (string, error) {
		r.mu.Lock()
		r.ran = append(r.ran, in)
		r.mu.Unlock()
		return in, nil
	}, opts...))
}

func (r *recorder) runs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ran)
}

func TestPrioritiesOrderTheClaims(t *testing.T) {
	b := setupOn(t, memory.New(), durable.Config{Concurrency: 1, ClaimAhead: -1, ClaimBatch: 1}, false)
	var rec recorder
	task := rec.task(t, b.ex, "work")
	urgent := rec.task(t, b.ex, "urgent", durable.WithPriority(2))
	var hs []*durable.Handle[string]
	enqueue := func(tk *durable.Task[string, string], in string, opts ...durable.EnqueueOption) {
		h, err := tk.Enqueue(b.ctx, in, opts...)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	enqueue(task, "default-1")
	enqueue(task, "last", durable.WithPriority(9))
	enqueue(urgent, "task-priority-2")
	enqueue(task, "first", durable.WithPriority(1))
	enqueue(task, "default-2")
	enqueue(urgent, "override-8", durable.WithPriority(8))
	b.start(t)
	for _, h := range hs {
		waitFor(t, b, h)
	}
	want := []string{"first", "task-priority-2", "default-1", "default-2", "override-8", "last"}
	if got := rec.runs(); !slices.Equal(got, want) {
		t.Fatalf("run order: want %v, got %v", want, got)
	}
	x, err := b.ex.Get(b.ctx, hs[2].ID())
	if err != nil || x.Priority != 2 || x.Queue != storage.DefaultQueue {
		t.Fatalf("Get: want priority 2 in the default queue, got %d %q, %v", x.Priority, x.Queue, err)
	}
}

func TestExecutorsServeTheirQueues(t *testing.T) {
	store := memory.New()
	emails := setupOn(t, store, durable.Config{Queues: []string{"emails"}}, false)
	plain := setupOn(t, store, durable.Config{Queues: []string{storage.DefaultQueue}}, false)
	ran := map[string]*recorder{"emails": {}, "default": {}}
	for name, b := range map[string]*bundle{"emails": emails, "default": plain} {
		ran[name].task(t, b.ex, "send")
	}
	// Enqueued through the default-queue executor: into emails it must
	// not start there, directly or by claim.
	plain.start(t)
	sendOnPlain := mustTask(t, plain.ex, "send")
	h1, err := sendOnPlain.EnqueueByID(plain.ctx, "to-emails", durable.WithQueue("emails"))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := sendOnPlain.EnqueueByID(plain.ctx, "to-default")
	if err != nil {
		t.Fatal(err)
	}
	afterDispatchRound(t, plain.ex)
	if x, _ := plain.ex.Get(plain.ctx, h1); x.Status != storage.StatusReady {
		t.Fatalf("execution of queue emails: want ready (no executor serves emails yet), got %s", x.Status)
	}
	emails.start(t)
	for _, id := range []string{h1, h2} {
		if _, err := plain.ex.Wait(plain.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := ran["emails"].runs(); !slices.Equal(got, []string{"to-emails"}) {
		t.Fatalf("the emails executor ran %v, want [to-emails]", got)
	}
	if got := ran["default"].runs(); !slices.Equal(got, []string{"to-default"}) {
		t.Fatalf("the default executor ran %v, want [to-default]", got)
	}
	qs, err := plain.ex.Queues(plain.ctx)
	if err != nil || len(qs) != 2 || qs[0].Name != storage.DefaultQueue || qs[1].Name != "emails" {
		t.Fatalf("Queues: want default and emails, got %+v, %v", qs, err)
	}
}

// mustTask returns the task id registered with ex, for enqueues by id.
func mustTask(t *testing.T, ex *durable.Executor, id string) byID {
	t.Helper()
	if _, ok := ex.Task(id); !ok {
		t.Fatalf("task %s not registered", id)
	}
	return byID{ex: ex, id: id}
}

// byID enqueues a string input to a task by its id.
type byID struct {
	ex *durable.Executor
	id string
}

func (b byID) EnqueueByID(ctx context.Context, in string, opts ...durable.EnqueueOption) (string, error) {
	c, err := b.ex.ChildByID(b.id, []byte(`"`+in+`"`), opts...)
	if err != nil {
		return "", err
	}
	ids, err := b.ex.EnqueueMany(ctx, c)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func TestPausedQueueIsNotClaimed(t *testing.T) {
	store := memory.New()
	b := setupOn(t, store, durable.Config{Queues: []string{"emails"}}, true)
	var rec recorder
	send := rec.task(t, b.ex, "send", durable.WithQueue("emails"))
	if changed, err := b.ex.PauseQueue(b.ctx, "emails"); err != nil || !changed {
		t.Fatalf("PauseQueue: %v %v", changed, err)
	}
	// Another executor on the store, started after the pause, enqueues
	// into the paused queue: neither starts it.
	other := setupOn(t, store, durable.Config{Queues: []string{"emails"}}, true)
	rec.task(t, other.ex, "send", durable.WithQueue("emails"))
	h, err := mustTask(t, other.ex, "send").EnqueueByID(other.ctx, "held")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := send.Enqueue(b.ctx, "held too")
	if err != nil {
		t.Fatal(err)
	}
	afterDispatchRound(t, b.ex)
	afterDispatchRound(t, other.ex)
	if got := rec.runs(); len(got) != 0 {
		t.Fatalf("runs while the queue is paused: %v", got)
	}
	qs, err := other.ex.Queues(other.ctx)
	if err != nil || !slices.ContainsFunc(qs, func(q durable.QueueInfo) bool { return q.Name == "emails" && q.Paused }) {
		t.Fatalf("Queues: want emails paused, got %+v, %v", qs, err)
	}
	if changed, err := other.ex.ResumeQueue(other.ctx, "emails"); err != nil || !changed {
		t.Fatalf("ResumeQueue: %v %v", changed, err)
	}
	if _, err := b.ex.Wait(b.ctx, h); err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, h2)
	if changed, err := b.ex.ResumeQueue(b.ctx, "emails"); err != nil || changed {
		t.Fatalf("ResumeQueue of a running queue: want unchanged, got %v %v", changed, err)
	}
}

func TestChildrenAndRetriesKeepQueueAndPriority(t *testing.T) {
	b := setup(t, durable.Config{Queues: []string{"orders", "emails"}})
	child := durable.Must(durable.NewTask(b.ex, "child", func(ctx context.Context, in int) (int, error) {
		return in, nil
	}))
	mailer := durable.Must(durable.NewTask(b.ex, "mailer", func(ctx context.Context, in int) (int, error) {
		return in, nil
	}, durable.WithQueue("emails")))
	parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, in int) (durable.Spawn[int], error) {
		return durable.Spawn[int]{Children: []durable.Child{
			durable.ChildOf(child, 1), durable.ChildOf(mailer, 2), durable.ChildOf(child, 3, durable.WithPriority(9)),
		}}, nil
	}, durable.WithQueue("orders")))
	h, err := parent.Enqueue(b.ctx, 0, durable.WithPriority(3))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, h)
	kids, err := b.ex.Children(b.ctx, h.ID())
	if err != nil || len(kids) != 3 {
		t.Fatalf("Children: %v, %v", kids, err)
	}
	want := []struct {
		queue    string
		priority int
	}{{"orders", 3}, {"emails", 3}, {"orders", 9}}
	for i, k := range kids {
		if k.Queue != want[i].queue || k.Priority != want[i].priority {
			t.Errorf("child %d: want queue %q priority %d, got %q %d", i, want[i].queue, want[i].priority, k.Queue, k.Priority)
		}
	}
	r, err := b.ex.Retry(b.ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if r.Queue != "orders" || r.Priority != 3 {
		t.Fatalf("retry: want queue orders priority 3, got %q %d", r.Queue, r.Priority)
	}
}

func TestQueueBadInput(t *testing.T) {
	store := memory.New()
	for _, q := range [][]string{{"has space"}, {""}, {"a", "a"}} {
		if _, err := durable.New(store, durable.Config{Queues: q}); !errors.Is(err, durable.ErrInvalidOption) {
			t.Errorf("New with Queues %q: want ErrInvalidOption, got %v", q, err)
		}
	}
	b := setup(t, durable.Config{})
	for i, bad := range []struct {
		name string
		opt  durable.Option
	}{
		{"queue with a slash", durable.WithQueue("a/b")}, {"empty queue", durable.WithQueue("")},
		{"priority 0", durable.WithPriority(0)}, {"priority 10", durable.WithPriority(10)}, {"priority -1", durable.WithPriority(-1)},
	} {
		id := "bad_" + string(rune('a'+i))
		if _, err := durable.NewTask(b.ex, id, func(ctx context.Context, in int) (int, error) { return in, nil }, bad.opt); err == nil {
			t.Errorf("NewTask with %s: want an error", bad.name)
		}
	}
	task := durable.Must(durable.NewTask(b.ex, "ok", func(ctx context.Context, in int) (int, error) { return in, nil }))
	if _, err := task.Enqueue(b.ctx, 1, durable.WithPriority(42)); !errors.Is(err, durable.ErrInvalidOption) {
		t.Errorf("Enqueue with priority 42: want ErrInvalidOption, got %v", err)
	}
	if _, err := b.ex.PauseQueue(b.ctx, "nobody-serves-it"); !errors.Is(err, durable.ErrNotFound) {
		t.Errorf("PauseQueue of an unknown queue: want ErrNotFound, got %v", err)
	}
	if _, err := b.ex.PauseQueue(b.ctx, "bad name"); !errors.Is(err, durable.ErrInvalidOption) {
		t.Errorf("PauseQueue of a bad name: want ErrInvalidOption, got %v", err)
	}
	if n, _ := b.store.Count(b.ctx, storage.CountParams{}); len(n) != 0 {
		t.Errorf("bad enqueues stored executions: %+v", n)
	}
}
