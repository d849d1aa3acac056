package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// hookLog records what the hooks were told.
type hookLog struct {
	mu sync.Mutex
	hookData
}

// hookData is what a hookLog holds.
type hookData struct {
	claimed, written, lost  []int
	failed, finished        []durable.Outcome
	takeovers               []durable.Takeover
	calls                   map[string]int
	callErrs                int
	nonPositiveCallDuration int
}

func (l *hookLog) hooks() durable.Hooks {
	lock := func(f func()) { l.mu.Lock(); defer l.mu.Unlock(); f() }
	return durable.Hooks{
		Claimed:           func(n int) { lock(func() { l.claimed = append(l.claimed, n) }) },
		BatchWritten:      func(n int) { lock(func() { l.written = append(l.written, n) }) },
		AttemptFailed:     func(o durable.Outcome) { lock(func() { l.failed = append(l.failed, o) }) },
		ExecutionFinished: func(o durable.Outcome) { lock(func() { l.finished = append(l.finished, o) }) },
		LeaseTakenOver:    func(tk durable.Takeover) { lock(func() { l.takeovers = append(l.takeovers, tk) }) },
		LeasesLost:        func(n int) { lock(func() { l.lost = append(l.lost, n) }) },
		StorageCall: func(c durable.StorageCall) {
			lock(func() {
				if l.calls == nil {
					l.calls = map[string]int{}
				}
				l.calls[c.Operation]++
				if c.Err != nil {
					l.callErrs++
				}
				if c.Duration <= 0 {
					l.nonPositiveCallDuration++
				}
			})
		},
	}
}

// snapshot returns a copy of the log, taken under its lock.
func (l *hookLog) snapshot() hookData {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := hookData{claimed: slices.Clone(l.claimed), written: slices.Clone(l.written), lost: slices.Clone(l.lost),
		failed: slices.Clone(l.failed), finished: slices.Clone(l.finished), takeovers: slices.Clone(l.takeovers),
		calls: map[string]int{}, callErrs: l.callErrs, nonPositiveCallDuration: l.nonPositiveCallDuration}
	for k, v := range l.calls {
		c.calls[k] = v
	}
	return c
}

func sum(ns []int) int {
	t := 0
	for _, n := range ns {
		t += n
	}
	return t
}

func TestHooks(t *testing.T) {
	t.Parallel()

	t.Run("OutcomesBatchesAndStorageCalls", func(t *testing.T) {
		t.Parallel()
		var l hookLog
		// ClaimAhead -1 and Concurrency 1: nothing starts directly while
		// the first run holds the slot, so the others are claimed.
		b := setupOn(t, memory.New(), durable.Config{Hooks: []durable.Hooks{l.hooks()}, Concurrency: 1, ClaimAhead: -1}, false)
		var tries sync.Map
		task := durable.Must(durable.NewTask(b.ex, "flaky", func(ctx context.Context, in int) (int, error) {
			n, _ := tries.LoadOrStore(in, new(int))
			*n.(*int)++
			switch {
			case in == 0 && *n.(*int) == 1:
				return 0, errors.New("first try fails")
			case in == 1:
				return 0, durable.NonRetryable(errors.New("never works"))
			}
			return in, nil
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 2})))
		hs := durable.Must(task.EnqueueMany(b.ctx, []int{0, 1, 2}))
		b.start(t)
		for _, h := range hs {
			waitFor(t, b, h)
		}
		eventually(t, "three executions finished", func() bool { return len(l.snapshot().finished) == 3 })
		got := l.snapshot()
		if len(got.failed) != 1 || got.failed[0].ExecutionID != hs[0].ID() || got.failed[0].TaskID != "flaky" ||
			got.failed[0].Status != durable.StatusReady || got.failed[0].Attempt != 0 ||
			got.failed[0].Err == nil || got.failed[0].Err.Message != "first try fails" {
			t.Errorf("AttemptFailed: %+v", got.failed)
		}
		byID := map[string]durable.Outcome{}
		for _, o := range got.finished {
			byID[o.ExecutionID] = o
		}
		if o := byID[hs[0].ID()]; o.Status != durable.StatusCompleted || o.Attempt != 1 || o.Err != nil {
			t.Errorf("ExecutionFinished of the retried one: %+v", o)
		}
		if o := byID[hs[1].ID()]; o.Status != durable.StatusFailed || o.Err == nil || !strings.Contains(o.Err.Message, "never works") {
			t.Errorf("ExecutionFinished of the failed one: %+v", o)
		}
		if o := byID[hs[2].ID()]; o.Status != durable.StatusCompleted || o.TaskID != "flaky" {
			t.Errorf("ExecutionFinished of the plain one: %+v", o)
		}
		// 3 enqueued + 1 retry, all claimed (nothing was direct: the
		// executor was not started at enqueue); 4 outcomes written.
		if sum(got.claimed) != 4 || sum(got.written) != 4 {
			t.Errorf("claimed %v (want 4 in all), written %v (want 4 in all)", got.claimed, got.written)
		}
		if got.calls["Insert"] != 1 || got.calls["Claim"] < 2 || got.calls["Complete"] < 1 || got.callErrs != 0 {
			t.Errorf("storage calls %v, %d errors", got.calls, got.callErrs)
		}
		if got.nonPositiveCallDuration != 0 {
			t.Errorf("%d storage calls reported without a duration", got.nonPositiveCallDuration)
		}
	})

	t.Run("TakeoverAndLostLease", func(t *testing.T) {
		t.Parallel()
		var l hookLog
		fc := clock.NewFake(epoch)
		b := setupOn(t, memory.New(), durable.Config{Clock: fc, LeaseDuration: time.Second, Hooks: []durable.Hooks{l.hooks()}}, false)
		started := make(chan struct{}, 2)
		task := durable.Must(durable.NewTask(b.ex, "held", func(ctx context.Context, in int) (int, error) {
			started <- struct{}{}
			if in == 1 { // the one taken over from a dead executor completes
				return in, nil
			}
			<-ctx.Done() // the other runs until its lease is lost
			return 0, context.Cause(ctx)
		}))
		taken := durable.Must(task.Enqueue(b.ctx, 1))
		if rows := claimAs(t, b, fc.Now(), "dead_executor", time.Second, "held"); len(rows) != 1 {
			t.Fatalf("claimed %d", len(rows))
		}
		b.start(t)
		advanceUntil(t, fc, 200*time.Millisecond, "takeover", func() bool { return len(l.snapshot().takeovers) > 0 })
		waitFor(t, b, taken)
		if tk := l.snapshot().takeovers; len(tk) != 1 || tk[0].ExecutionID != taken.ID() || tk[0].TaskID != "held" || tk[0].Crashes != 1 {
			t.Errorf("LeaseTakenOver: %+v", tk)
		}

		durable.Must(task.Enqueue(b.ctx, 2))
		<-started
		<-started
		// Another executor takes the running one over; the next heartbeat
		// finds its lease lost.
		if rows := claimAs(t, b, fc.Now().Add(2*time.Second), "intruder", time.Hour, "held"); len(rows) != 1 {
			t.Fatalf("takeover claimed %d", len(rows))
		}
		advanceUntil(t, fc, 200*time.Millisecond, "lost lease", func() bool { return sum(l.snapshot().lost) > 0 })
		if lost := l.snapshot().lost; !slices.Equal(lost, []int{1}) {
			t.Errorf("LeasesLost: %v, want [1]", lost)
		}
	})

	t.Run("Compose", func(t *testing.T) {
		t.Parallel()
		var order []string
		var mu sync.Mutex
		hook := func(name string) durable.Hooks {
			return durable.Hooks{ExecutionFinished: func(durable.Outcome) { mu.Lock(); order = append(order, name); mu.Unlock() }}
		}
		b := setup(t, durable.Config{Hooks: []durable.Hooks{hook("a"), {}, hook("b")}})
		task := durable.Must(durable.NewTask(b.ex, "one", func(ctx context.Context, in int) (int, error) { return in, nil }))
		waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
		eventually(t, "both hooks called", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 2 })
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(order, []string{"a", "b"}) {
			t.Errorf("hooks called in order %v, want [a b]", order)
		}
	})
}

type ctxKey string

func TestRunMiddleware(t *testing.T) {
	t.Parallel()

	t.Run("WrapsInOrderAndSeesTheResult", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var trace []string
		note := func(s string) { mu.Lock(); trace = append(trace, s); mu.Unlock() }
		mw := func(name string) durable.Middleware {
			return durable.Middleware{Run: func(ctx context.Context, next func(context.Context) error) error {
				info, _ := durable.Info(ctx)
				note(name + " in " + info.TaskID)
				err := next(context.WithValue(ctx, ctxKey(name), name))
				note(fmt.Sprintf("%s out %v", name, err))
				return err
			}}
		}
		b := setup(t, durable.Config{Middleware: []durable.Middleware{mw("a"), {}, mw("b")}})
		task := durable.Must(durable.NewTask(b.ex, "wrapped", func(ctx context.Context, in int) (string, error) {
			a, _ := ctx.Value(ctxKey("a")).(string)
			bb, _ := ctx.Value(ctxKey("b")).(string)
			note("task")
			if in == 1 {
				return "", durable.NonRetryable(errors.New("boom"))
			}
			return a + bb, nil
		}))
		x := waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 0)))
		if x.Status != durable.StatusCompleted || x.Output != "ab" {
			t.Fatalf("got %s %q, want completed \"ab\" (both contexts passed on)", x.Status, x.Output)
		}
		x = waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
		if x.Status != durable.StatusFailed {
			t.Fatalf("got %s", x.Status)
		}
		mu.Lock()
		defer mu.Unlock()
		want := []string{"a in wrapped", "b in wrapped", "task", "b out <nil>", "a out <nil>",
			"a in wrapped", "b in wrapped", "task", "b out boom", "a out boom"}
		if !slices.Equal(trace, want) {
			t.Errorf("got\n%q\nwant\n%q", trace, want)
		}
	})

	t.Run("ItsErrorIsTheRuns", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name string
			mw   func(ctx context.Context, next func(context.Context) error) error
			fail bool // the task fails
			want string
		}{
			{"FailsASuccess", func(ctx context.Context, next func(context.Context) error) error {
				_ = next(ctx)
				return durable.NonRetryable(errors.New("refused by middleware"))
			}, false, "refused by middleware"},
			{"CannotRescueAFailure", func(ctx context.Context, next func(context.Context) error) error {
				_ = next(ctx)
				return nil
			}, true, "task failed"},
			{"NextNotCalled", func(ctx context.Context, next func(context.Context) error) error {
				return nil
			}, false, "without calling next"},
			{"Panics", func(ctx context.Context, next func(context.Context) error) error {
				panic("middleware panic")
			}, false, "middleware panic"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, durable.Config{Middleware: []durable.Middleware{{Run: c.mw}}})
				task := durable.Must(durable.NewTask(b.ex, "t", func(ctx context.Context, in int) (int, error) {
					if c.fail {
						return 0, errors.New("task failed")
					}
					return in, nil
				}))
				x := waitFor(t, b, durable.Must(task.Enqueue(b.ctx, 1)))
				if x.Status != durable.StatusFailed || x.Err == nil || !strings.Contains(x.Err.Error(), c.want) {
					t.Fatalf("got %s %v, want failed with %q", x.Status, x.Err, c.want)
				}
			})
		}
	})
}

func TestEnqueueMiddleware(t *testing.T) {
	t.Parallel()

	t.Run("SeesEnqueuesAndChildren", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var calls [][]durable.Enqueued
		var parentCtxValues []string
		mw := durable.Middleware{
			Enqueue: func(ctx context.Context, call *durable.EnqueueCall, next func(context.Context) error) error {
				v, _ := ctx.Value(ctxKey("run")).(string)
				mu.Lock()
				calls = append(calls, slices.Clone(call.Executions))
				parentCtxValues = append(parentCtxValues, v)
				mu.Unlock()
				return next(ctx)
			},
			Run: func(ctx context.Context, next func(context.Context) error) error {
				info, _ := durable.Info(ctx)
				return next(context.WithValue(ctx, ctxKey("run"), info.ExecutionID))
			},
		}
		b := setup(t, durable.Config{Middleware: []durable.Middleware{mw}})
		child := durable.Must(durable.NewTask(b.ex, "child", func(ctx context.Context, in int) (int, error) { return in, nil }))
		parent := durable.Must(durable.NewParentTask(b.ex, "parent", func(ctx context.Context, n int) (durable.Spawn[int], error) {
			return durable.Spawn[int]{Output: n, Children: []durable.Child{durable.ChildOf(child, 1), durable.ChildOf(child, 2)}}, nil
		}))
		h := durable.Must(parent.Enqueue(b.ctx, 2))
		if x := waitFor(t, b, h); x.Status != durable.StatusCompleted {
			t.Fatalf("got %s", x.Status)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 2 {
			t.Fatalf("enqueue middleware called %d times, want 2 (the enqueue, the children): %v", len(calls), calls)
		}
		if len(calls[0]) != 1 || calls[0][0].ID != h.ID() || calls[0][0].TaskID != "parent" || calls[0][0].ParentID != "" || parentCtxValues[0] != "" {
			t.Errorf("the enqueue: %+v (ctx value %q)", calls[0], parentCtxValues[0])
		}
		if len(calls[1]) != 2 || calls[1][0].TaskID != "child" || calls[1][1].ParentID != h.ID() || parentCtxValues[1] != h.ID() {
			t.Errorf("the children: %+v (ctx value %q, want the parent's run context)", calls[1], parentCtxValues[1])
		}
	})

	t.Run("ItsErrorIsTheEnqueues", func(t *testing.T) {
		t.Parallel()
		refuse := errors.New("refused")
		var skipNext bool
		mw := durable.Middleware{Enqueue: func(ctx context.Context, call *durable.EnqueueCall, next func(context.Context) error) error {
			if skipNext {
				return nil
			}
			if call.Executions[0].TaskID == "refused" {
				return refuse
			}
			return next(ctx)
		}}
		store := memory.New()
		b := setupOn(t, store, durable.Config{Middleware: []durable.Middleware{mw}}, false)
		refused := durable.Must(durable.NewTask(b.ex, "refused", func(ctx context.Context, in int) (int, error) { return in, nil }))
		if _, err := refused.Enqueue(b.ctx, 1); !errors.Is(err, refuse) {
			t.Fatalf("got %v, want the middleware's error", err)
		}
		if _, err := refused.EnqueueTx(b.ctx, store, 1); !errors.Is(err, refuse) {
			t.Fatalf("EnqueueTx: got %v, want the middleware's error", err)
		}
		skipNext = true
		if _, err := refused.Enqueue(b.ctx, 1); err == nil || !strings.Contains(err.Error(), "without calling next") {
			t.Fatalf("got %v, want an error saying next was not called", err)
		}
		if n := countAll(t, b); n != 0 {
			t.Errorf("%d executions stored, want none", n)
		}
	})
}

// countAll counts every execution in b's store.
func countAll(t *testing.T, b *bundle) int64 {
	t.Helper()
	counts, err := b.store.Count(b.ctx, storage.CountParams{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range counts {
		n += c.N
	}
	return n
}

func TestRunLogger(t *testing.T) {
	t.Parallel()
	logs := newLogRecorder()
	b := setup(t, durable.Config{Logger: logs.logger()})
	outside := durable.Logger(b.ctx)
	if outside != slog.Default() {
		t.Errorf("Logger outside a run is not slog.Default()")
	}
	replaced := slog.New(slog.DiscardHandler)
	if durable.Logger(durable.WithLogger(b.ctx, replaced)) != replaced {
		t.Errorf("WithLogger's logger not returned")
	}
	var same bool
	task := durable.Must(durable.NewTask(b.ex, "logging", func(ctx context.Context, in int) (int, error) {
		first := durable.Logger(ctx)
		same = durable.Logger(ctx) == first
		durable.Logger(ctx).Info("inside the run", "n", in)
		return in, nil
	}))
	h := durable.Must(task.Enqueue(b.ctx, 7))
	waitFor(t, b, h)
	rec := logs.await(t, b.ctx, "inside the run", 1)[0]
	requireRecord(t, rec, slog.LevelInfo, map[string]any{"task": "logging", "execution": h.ID(), "attempt": 1, "n": 7})
	if rec["executor"] != b.ex.ID() {
		t.Errorf("executor %v, want %s", rec["executor"], b.ex.ID())
	}
	if !same {
		t.Errorf("the run's logger was made twice")
	}
}
