package storagetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// RunEngine runs end-to-end executor scenarios on stores made by open: task
// trees, retries, failures, finalize, fan-out, loops, sleeping tasks,
// cancellation, two executors sharing one store, and two executors on the
// store behind injected faults, where no fencing token may be handed out
// twice for one execution. Each scenario is a parallel subtest on a fresh
// store.
func RunEngine(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	scenarios := []struct {
		name string
		fn   func(t *testing.T, store storage.Store)
	}{
		{"AlwaysFailingTaskFails", scenarioAlwaysFails},
		{"CancelRunningTask", scenarioCancelRunning},
		{"ChildFailureFailsParentWithoutFinalize", scenarioFailFast},
		{"FailingChildSeenByFinalize", scenarioFailingChildFinalize},
		{"FailingFinalizeFailsParent", scenarioFailingFinalize},
		{"FencesUniqueUnderFaults", scenarioFencesUniqueUnderFaults},
		{"FiveHundredChildren", scenarioFiveHundredChildren},
		{"LoopingTask", scenarioLoop},
		{"ManyTasksConcurrently", scenarioManyTasks},
		{"RetryThenComplete", scenarioRetry},
		{"LimitedQueueDelayAndRetryOnTime", scenarioLimitedOnTime},
		{"RateLimitedQueueNextWindowOnTime", scenarioRateWindowOnTime},
		{"SleepingChildWoken", scenarioSleepingChild},
		{"TaskTree", scenarioTree},
		{"TwoExecutorsRunEachOnce", scenarioTwoExecutors},
		{"UniqueWhileActive", scenarioUniqueWhileActive},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.fn(t, open(t))
		})
	}
}

// executor returns an executor on store, shut down when the test ends; it
// is started by start.
func executor(t *testing.T, store storage.Store) *durable.Executor {
	t.Helper()
	return executorPolling(t, store, 50*time.Millisecond)
}

// executorPolling is executor with PollInterval poll.
func executorPolling(t *testing.T, store storage.Store, poll time.Duration) *durable.Executor {
	t.Helper()
	ex, err := durable.New(store, durable.Config{
		PollInterval: poll,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ex.Shutdown(ctx)
	})
	return ex
}

func start(t *testing.T, ex *durable.Executor) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func finished[O any](t *testing.T, ctx context.Context, h *durable.Handle[O], err error) durable.Execution[O] {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	x, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func echo(ex *durable.Executor, id string) *durable.Task[string, string] {
	return durable.Must(durable.NewTask(ex, id, func(ctx context.Context, in string) (string, error) {
		return in + "_" + id, nil
	}))
}

func joinChildren(in durable.FinalizeInput[string]) (string, error) {
	parts := []string{in.Output}
	for _, c := range in.Children {
		s, err := durable.ChildOutput[string](c)
		if err != nil {
			return "", durable.NonRetryable(err)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "|"), nil
}

func scenarioTree(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	leaf := echo(ex, "leaf")
	join := durable.Must(durable.NewTask(ex, "join", func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
		return joinChildren(in)
	}))
	a := durable.Must(durable.NewParentTaskWithFinalize(ex, "a", func(ctx context.Context, in string) (durable.Spawn[string], error) {
		return durable.Spawn[string]{Output: "a", Children: []durable.Child{
			durable.ChildOf(leaf, "1"), durable.ChildOf(leaf, "2"), durable.ChildOf(leaf, "3")}}, nil
	}, join))
	s1, s2, s3 := echo(ex, "s1"), echo(ex, "s2"), echo(ex, "s3")
	seq := durable.Must(durable.NewSequence[string, string](ex, "b", s1, s2, s3))
	root := durable.Must(durable.NewParentTaskWithFinalize(ex, "root", func(ctx context.Context, in string) (durable.Spawn[string], error) {
		return durable.Spawn[string]{Output: in, Children: []durable.Child{durable.ChildOf(a, ""), durable.ChildOf(seq, "x")}}, nil
	}, join))
	ctx := start(t, ex)
	h, err := root.Enqueue(ctx, "root")
	x := finished(t, ctx, h, err)
	want := "root|a|1_leaf|2_leaf|3_leaf|x_s1_s2_s3"
	if x.Status != durable.StatusCompleted || x.Output != want {
		t.Fatalf("got %s %q (%v), want %q", x.Status, x.Output, x.Err, want)
	}
	if x.WaitingForChildrenAt.IsZero() || x.WaitingForFinalizeAt.IsZero() {
		t.Errorf("waiting timestamps missing: %v %v", x.WaitingForChildrenAt, x.WaitingForFinalizeAt)
	}
}

func scenarioManyTasks(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	tasks := make([]*durable.Task[int, string], 25)
	for i := range tasks {
		id := fmt.Sprintf("t%d", i)
		tasks[i] = durable.Must(durable.NewTask(ex, id, func(ctx context.Context, in int) (string, error) {
			return fmt.Sprintf("%s:%d", id, in), nil
		}))
	}
	ctx := start(t, ex)
	var wg sync.WaitGroup
	errs := make(chan error, 250)
	for i := range 250 {
		wg.Go(func() {
			task := tasks[i%len(tasks)]
			h, err := task.Enqueue(ctx, i)
			if err != nil {
				errs <- err
				return
			}
			x, err := h.Wait(ctx)
			if want := fmt.Sprintf("t%d:%d", i%len(tasks), i); err != nil || x.Output != want {
				errs <- fmt.Errorf("task %d: got %q %v, want %q", i, x.Output, err, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func scenarioRetry(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	var runs atomic.Int32
	task := durable.Must(durable.NewTask(ex, "retry", func(ctx context.Context, in int) (int, error) {
		if runs.Add(1) <= 2 {
			return 0, errors.New("not yet")
		}
		return in, nil
	}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 3})))
	ctx := start(t, ex)
	h, err := task.Enqueue(ctx, 5)
	x := finished(t, ctx, h, err)
	if x.Status != durable.StatusCompleted || x.Attempt != 2 || x.Output != 5 {
		t.Fatalf("got %s attempt=%d out=%d", x.Status, x.Attempt, x.Output)
	}
}

// scenarioLimitedOnTime: in a queue with a concurrency limit, a delayed
// execution and a retry start when due, though the executor polls once an
// hour: the store's NextDue gives the dispatcher's timer their due times.
// (A limited queue's rows already due wait for a slot instead: a
// completion frees it and wakes the dispatcher.)
func scenarioLimitedOnTime(t *testing.T, store storage.Store) {
	ex := executorPolling(t, store, time.Hour)
	var runs atomic.Int32
	task := durable.Must(durable.NewTask(ex, "limited", func(ctx context.Context, in int) (int, error) {
		if runs.Add(1) == 1 {
			return 0, errors.New("not yet")
		}
		return in, nil
	}, durable.WithQueue("lim"), durable.WithRetry(durable.RetryPolicy{MaxRetries: 1, BaseDelay: 50 * time.Millisecond})))
	ctx := start(t, ex)
	if _, err := ex.SetQueueLimit(ctx, "lim", durable.QueueLimit{Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	h, err := task.Enqueue(ctx, 7, durable.WithDelay(50*time.Millisecond))
	x := finished(t, ctx, h, err)
	if x.Status != durable.StatusCompleted || x.Attempt != 1 || x.Output != 7 {
		t.Fatalf("got %s attempt=%d out=%d", x.Status, x.Attempt, x.Output)
	}
}

// scenarioRateWindowOnTime: in a queue limited to one start per 100 ms,
// three executions run one window after another, though the executor
// polls once an hour: the store's NextDue gives the dispatcher's timer the
// end of each full window.
func scenarioRateWindowOnTime(t *testing.T, store storage.Store) {
	ex := executorPolling(t, store, time.Hour)
	task := durable.Must(durable.NewTask(ex, "rated", func(ctx context.Context, in int) (int, error) {
		return in, nil
	}, durable.WithQueue("rated")))
	ctx := start(t, ex)
	if _, err := ex.SetQueueLimit(ctx, "rated", durable.QueueLimit{Rate: 1, Per: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var hs []*durable.Handle[int]
	for i := range 3 {
		h, err := task.Enqueue(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for i, h := range hs {
		if x := finished(t, ctx, h, nil); x.Status != durable.StatusCompleted || x.Output != i {
			t.Fatalf("execution %d: got %s out=%d", i, x.Status, x.Output)
		}
	}
}

func scenarioAlwaysFails(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	task := durable.Must(durable.NewTask(ex, "fails", func(ctx context.Context, in int) (int, error) {
		return 0, errors.New("Failed")
	}))
	ctx := start(t, ex)
	h, err := task.Enqueue(ctx, 1)
	x := finished(t, ctx, h, err)
	if x.Status != durable.StatusFailed || x.Err == nil || x.Err.Message != "Failed" {
		t.Fatalf("got %s %v", x.Status, x.Err)
	}
}

func scenarioFailingChildFinalize(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	good := echo(ex, "good")
	bad := durable.Must(durable.NewTask(ex, "bad", func(ctx context.Context, in string) (string, error) {
		return "", errors.New("Failed")
	}))
	strict := durable.Must(durable.NewTask(ex, "strict", func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
		for _, c := range in.Children {
			if c.Status != durable.StatusCompleted {
				return "", durable.NonRetryable(errors.New(c.Error.Message))
			}
		}
		return "ok", nil
	}))
	parent := durable.Must(durable.NewParentTaskWithFinalize(ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
		return durable.Spawn[string]{Children: []durable.Child{durable.ChildOf(good, ""), durable.ChildOf(bad, "")}}, nil
	}, strict))
	ctx := start(t, ex)
	h, err := parent.Enqueue(ctx, "")
	x := finished(t, ctx, h, err)
	if x.Status != durable.StatusFinalizeFailed || !strings.Contains(x.Err.Message, "Failed") {
		t.Fatalf("got %s %v", x.Status, x.Err)
	}
}

func scenarioFailingFinalize(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	child := echo(ex, "child")
	fin := durable.Must(durable.NewTask(ex, "fin", func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
		return "", errors.New("Failed")
	}))
	parent := durable.Must(durable.NewParentTaskWithFinalize(ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
		return durable.Spawn[string]{Children: []durable.Child{durable.ChildOf(child, "")}}, nil
	}, fin))
	ctx := start(t, ex)
	h, err := parent.Enqueue(ctx, "")
	x := finished(t, ctx, h, err)
	if x.Status != durable.StatusFinalizeFailed || !errors.Is(x.Err, durable.ErrFinalizeFailed) {
		t.Fatalf("got %s %v", x.Status, x.Err)
	}
}

func scenarioFailFast(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	bad := durable.Must(durable.NewTask(ex, "bad", func(ctx context.Context, in string) (string, error) {
		return "", errors.New("Failed")
	}))
	slow := durable.Must(durable.NewTask(ex, "slow", func(ctx context.Context, in string) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}))
	parent := durable.Must(durable.NewParentTask(ex, "parent", func(ctx context.Context, in string) (durable.Spawn[string], error) {
		return durable.Spawn[string]{Children: []durable.Child{durable.ChildOf(slow, ""), durable.ChildOf(bad, "")}}, nil
	}))
	ctx := start(t, ex)
	h, err := parent.Enqueue(ctx, "")
	x := finished(t, ctx, h, err)
	if x.Status != durable.StatusChildrenFailed || !errors.Is(x.Err, durable.ErrChildrenFailed) {
		t.Fatalf("got %s %v", x.Status, x.Err)
	}
	rows, err := store.ListChildren(ctx, storage.ListChildrenParams{ParentID: h.ID()})
	if err != nil || len(rows) != 2 {
		t.Fatalf("children: %d %v", len(rows), err)
	}
	if rows[0].Status != storage.StatusCancelled {
		t.Errorf("unfinished sibling is %s, want cancelled", rows[0].Status)
	}
}

func scenarioFiveHundredChildren(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	child := durable.Must(durable.NewTask(ex, "child", func(ctx context.Context, in int) (int, error) { return in, nil }))
	parent := durable.Must(durable.NewParentTask(ex, "parent", func(ctx context.Context, n int) (durable.Spawn[int], error) {
		cs := make([]durable.Child, n)
		for i := range cs {
			cs[i] = durable.ChildOf(child, i)
		}
		return durable.Spawn[int]{Children: cs}, nil
	}))
	ctx := start(t, ex)
	h, err := parent.Enqueue(ctx, 500)
	x := finished(t, ctx, h, err)
	if x.Status != durable.StatusCompleted || len(x.Output.Children) != 500 || !x.WaitingForFinalizeAt.IsZero() {
		t.Fatalf("got %s with %d children", x.Status, len(x.Output.Children))
	}
	for i, c := range x.Output.Children {
		if v, err := durable.ChildOutput[int](c); err != nil || v != i {
			t.Fatalf("child %d: %d %v", i, v, err)
		}
	}
}

func scenarioLoop(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	var calls atomic.Int32
	loop := durable.Must(durable.NewLoopTask(ex, "poll", func(ctx context.Context, in int) (durable.LoopResult[int], error) {
		if calls.Add(1) < 5 {
			return durable.Continue[int](), nil
		}
		return durable.Done(in), nil
	}, durable.LoopOptions{MaxIterations: 20, Delay: 10 * time.Millisecond}))
	ctx := start(t, ex)
	h, err := loop.Enqueue(ctx, 10)
	x := finished(t, ctx, h, err)
	if x.Status != durable.StatusCompleted || !x.Output.Done || x.Output.Output != 10 || x.Output.Iterations != 5 {
		t.Fatalf("got %s %+v", x.Status, x.Output)
	}
}

func scenarioSleepingChild(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	hook := durable.Must(durable.NewSleepingTask[string](ex, "hook", durable.WithTimeout(time.Hour)))
	parent := durable.Must(durable.NewParentTask(ex, "parent", func(ctx context.Context, key string) (durable.Spawn[string], error) {
		return durable.Spawn[string]{Children: []durable.Child{hook.Child(key)}}, nil
	}))
	ctx := start(t, ex)
	h, err := parent.Enqueue(ctx, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	for {
		x, err := h.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if x.Status == durable.StatusWaitingForChildren {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	w, err := hook.Wake(ctx, "key-1", durable.Completed("woken"))
	if err != nil || w.Status != durable.StatusCompleted || !w.WaitingForChildrenAt.IsZero() {
		t.Fatalf("wake: %+v %v", w, err)
	}
	x := finished(t, ctx, h, nil)
	if v, _ := durable.ChildOutput[string](x.Output.Children[0]); x.Status != durable.StatusCompleted || v != "woken" {
		t.Fatalf("got %s %q", x.Status, v)
	}
}

func scenarioCancelRunning(t *testing.T, store storage.Store) {
	ex := executor(t, store)
	started := make(chan struct{})
	task := durable.Must(durable.NewTask(ex, "long", func(ctx context.Context, in int) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	}))
	ctx := start(t, ex)
	h, err := task.Enqueue(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := h.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if x := finished(t, ctx, h, nil); x.Status != durable.StatusCancelled {
		t.Fatalf("got %s", x.Status)
	}
}

func scenarioTwoExecutors(t *testing.T, store storage.Store) {
	var mu sync.Mutex
	runs := map[int]int{}
	var first *durable.Task[int, int]
	var ctx context.Context
	for range 2 {
		ex := executor(t, store)
		task := durable.Must(durable.NewTask(ex, "once", func(ctx context.Context, in int) (int, error) {
			mu.Lock()
			runs[in]++
			mu.Unlock()
			return in, nil
		}))
		if first == nil {
			first = task
		}
		ctx = start(t, ex)
	}
	ins := make([]int, 200)
	for i := range ins {
		ins[i] = i
	}
	hs, err := first.EnqueueMany(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		finished(t, ctx, h, nil)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range ins {
		if runs[i] != 1 {
			t.Fatalf("task %d ran %d times", i, runs[i])
		}
	}
}
