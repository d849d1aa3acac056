package durabletest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/durabletest"
	"github.com/durable-go/durable/storage"
)

// runUntilIdle runs env until idle and fails the test on an error.
func runUntilIdle(t *testing.T, env *durabletest.Env) {
	t.Helper()
	if err := env.RunUntilIdle(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// times records the fake times (offsets from the env's start) at which
// something happened, from any goroutine.
type times struct {
	mu   sync.Mutex
	list []time.Duration
}

func (s *times) add(d time.Duration) {
	s.mu.Lock()
	s.list = append(s.list, d)
	s.mu.Unlock()
}

func (s *times) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.list)
}

func wantTimes(t *testing.T, what string, got *times, want ...time.Duration) {
	t.Helper()
	if g := got.get(); !slices.Equal(g, want) {
		t.Errorf("%s at %v, want %v", what, g, want)
	}
}

func wantElapsed(t *testing.T, env *durabletest.Env, want time.Duration) {
	t.Helper()
	if got := env.Elapsed(); got != want {
		t.Errorf("the clock moved by %s, want %s", got, want)
	}
}

// A task that fails twice with an hour's backoff (doubling) and then
// succeeds runs at +0, +1h and +3h of fake time, in milliseconds of real
// time.
func TestRetryBackoffOfHours(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	var runs times
	flaky := durable.Must(durable.NewTask(env.Executor(), "flaky",
		func(ctx context.Context, in string) (string, error) {
			runs.add(env.Elapsed())
			info, _ := durable.Info(ctx)
			if info.Attempt < 2 {
				return "", fmt.Errorf("attempt %d: service unavailable", info.Attempt)
			}
			return in + " done", nil
		},
		durable.WithRetry(durable.RetryPolicy{MaxRetries: 5, BaseDelay: time.Hour, Multiplier: 2})))
	h := durable.Must(flaky.Enqueue(t.Context(), "call"))

	start := time.Now()
	runUntilIdle(t, env)
	took := time.Since(start)

	if out := durabletest.RequireCompleted(t, h); out != "call done" {
		t.Errorf("output %q", out)
	}
	durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusCompleted, Attempts: 3})
	wantTimes(t, "attempts", &runs, 0, time.Hour, 3*time.Hour)
	wantElapsed(t, env, 3*time.Hour)
	t.Logf("3 attempts over 3h of fake time in %s of real time", took)
	if took > 5*time.Second {
		t.Errorf("took %s of real time", took)
	}
}

// Retries that run out end the execution failed, with the last error.
func TestRetriesRunOut(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	broken := durable.Must(durable.NewTask(env.Executor(), "broken",
		func(ctx context.Context, in int) (int, error) { return 0, errors.New("still broken") },
		durable.WithRetry(durable.RetryPolicy{MaxRetries: 3, BaseDelay: 10 * time.Minute, Multiplier: 3, MaxDelay: time.Hour})))
	h := durable.Must(broken.Enqueue(t.Context(), 1))
	runUntilIdle(t, env)
	durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusFailed,
		ErrKind: storage.ErrorKindGeneric, ErrContains: "still broken", Attempts: 4})
	wantElapsed(t, env, 10*time.Minute+30*time.Minute+time.Hour)
}

// A delayed enqueue is stored at once and runs a day later, when the env
// moves the clock there.
func TestDelayedEnqueueOfADay(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	var runs times
	report := durable.Must(durable.NewTask(env.Executor(), "daily_report",
		func(ctx context.Context, day string) (string, error) {
			runs.add(env.Elapsed())
			return "report of " + day, nil
		}))
	h := durable.Must(report.Enqueue(t.Context(), "monday", durable.WithDelay(24*time.Hour)))

	// Nothing runs before the first run: the execution waits, stored.
	x := durabletest.RequireEnqueued(t, env, report, "monday")
	if x.Execution.Status != durable.StatusReady || x.Handle.ID() != h.ID() {
		t.Fatalf("enqueued: %s %s", x.Execution.ID, x.Execution.Status)
	}

	runUntilIdle(t, env)
	done := durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusCompleted, Attempts: 1})
	if got := done.StartedAt.Sub(done.CreatedAt); got != 24*time.Hour {
		t.Errorf("started %s after it was enqueued, want 24h", got)
	}
	wantTimes(t, "runs", &runs, 24*time.Hour)
	wantElapsed(t, env, 24*time.Hour)
}

// A sleeping execution woken by another task (delayed by two hours) ends
// with the wake's output; the clock stops there, short of the sleeping
// timeout.
func TestSleepingWokenByAnotherTask(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	approval := durable.Must(durable.NewSleepingTask[string](env.Executor(), "approval", durable.WithTimeout(24*time.Hour)))
	approver := durable.Must(durable.NewTask(env.Executor(), "approver",
		func(ctx context.Context, key string) (string, error) {
			x, err := approval.Wake(ctx, key, durable.Completed("approved by alice"))
			return string(x.Status), err
		}))
	sleeper := durable.Must(approval.Enqueue(t.Context(), "order-42"))
	waker := durable.Must(approver.Enqueue(t.Context(), "order-42", durable.WithDelay(2*time.Hour)))

	runUntilIdle(t, env)
	if out := durabletest.RequireCompleted(t, sleeper); out != "approved by alice" {
		t.Errorf("sleeping output %q", out)
	}
	if out := durabletest.RequireCompleted(t, waker); out != string(durable.StatusCompleted) {
		t.Errorf("waker output %q", out)
	}
	wantElapsed(t, env, 2*time.Hour)
}

// A sleeping execution nobody wakes times out when the env moves the clock
// to its deadline.
func TestSleepingTimesOut(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	approval := durable.Must(durable.NewSleepingTask[string](env.Executor(), "approval", durable.WithTimeout(72*time.Hour)))
	h := durable.Must(approval.Enqueue(t.Context(), "order-7"))
	runUntilIdle(t, env)
	durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusTimedOut, Err: durable.ErrTimedOut})
	wantElapsed(t, env, 72*time.Hour)
}

// RunFor stops the clock: a sleeping execution can be woken by the test
// before its timeout, and what comes due later waits for a later run.
func TestRunForThenWake(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	approval := durable.Must(durable.NewSleepingTask[string](env.Executor(), "approval", durable.WithTimeout(24*time.Hour)))
	h := durable.Must(approval.Enqueue(t.Context(), "order-9"))

	if err := env.RunFor(t.Context(), 23*time.Hour); err != nil {
		t.Fatal(err)
	}
	wantElapsed(t, env, 23*time.Hour)
	durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusRunning})

	if _, err := approval.Wake(t.Context(), "order-9", durable.Completed("late but in time")); err != nil {
		t.Fatal(err)
	}
	runUntilIdle(t, env)
	if out := durabletest.RequireCompleted(t, h); out != "late but in time" {
		t.Errorf("output %q", out)
	}
	wantElapsed(t, env, 23*time.Hour)
}

// RunFor runs what comes due within its span, and only that.
func TestRunForRunsWhatComesDueWithin(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	var runs times
	job := durable.Must(durable.NewTask(env.Executor(), "job",
		func(ctx context.Context, in int) (int, error) {
			runs.add(env.Elapsed())
			return in, nil
		}))
	for _, d := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		durable.Must(job.Enqueue(t.Context(), int(d/time.Hour), durable.WithDelay(d)))
	}
	if err := env.RunFor(t.Context(), 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	wantTimes(t, "runs", &runs, time.Hour, 2*time.Hour)
	wantElapsed(t, env, 2*time.Hour)
	if n := len(env.Executions(durabletest.Filter{TaskID: "job", Status: durable.StatusReady})); n != 1 {
		t.Errorf("%d executions still ready, want 1", n)
	}
	if err := env.RunFor(t.Context(), 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	wantElapsed(t, env, 150*time.Minute)
	runUntilIdle(t, env)
	wantTimes(t, "runs", &runs, time.Hour, 2*time.Hour, 3*time.Hour)
	wantElapsed(t, env, 3*time.Hour)
}

// A loop with a pause between iterations runs each iteration one pause
// after the last.
func TestLoopWithDelay(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	var runs times
	poll := durable.Must(durable.NewLoopTask(env.Executor(), "poll_job",
		func(ctx context.Context, job string) (durable.LoopResult[string], error) {
			runs.add(env.Elapsed())
			info, _ := durable.Info(ctx)
			if info.Iteration < 3 {
				return durable.Continue[string](), nil
			}
			return durable.Done(job + " finished"), nil
		},
		durable.LoopOptions{MaxIterations: 10, Delay: 10 * time.Minute}))
	h := durable.Must(poll.Enqueue(t.Context(), "job-7"))
	runUntilIdle(t, env)
	out := durabletest.RequireCompleted(t, h)
	if !out.Done || out.Iterations != 4 || out.Output != "job-7 finished" {
		t.Errorf("output %+v", out)
	}
	wantTimes(t, "iterations", &runs, 0, 10*time.Minute, 20*time.Minute, 30*time.Minute)
	wantElapsed(t, env, 30*time.Minute)
}

// A parent's children run (one retried after its backoff), then the
// finalize with every child's result; the kit lists the children and how
// each ended.
func TestParentWithFinalize(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	ex := env.Executor()
	var failedOnce sync.Once
	fetch := durable.Must(durable.NewTask(ex, "fetch",
		func(ctx context.Context, url string) (int, error) {
			if strings.HasSuffix(url, "/missing") {
				return 0, durable.NonRetryable(errors.New("404 not found"))
			}
			fail := false
			if strings.HasSuffix(url, "/slow") {
				failedOnce.Do(func() { fail = true })
			}
			if fail {
				return 0, errors.New("503 try later")
			}
			return len(url), nil
		},
		durable.WithRetry(durable.RetryPolicy{MaxRetries: 2, BaseDelay: 30 * time.Minute})))
	summarize := durable.Must(durable.NewTask(ex, "summarize",
		func(ctx context.Context, in durable.FinalizeInput[string]) (string, error) {
			var parts []string
			for _, c := range in.Children {
				if c.Status != durable.StatusCompleted {
					parts = append(parts, fmt.Sprintf("#%d %s", c.Index, c.Status))
					continue
				}
				n, err := durable.ChildOutput[int](c)
				if err != nil {
					return "", err
				}
				parts = append(parts, fmt.Sprintf("#%d %d", c.Index, n))
			}
			return in.Output + ": " + strings.Join(parts, ", "), nil
		}))
	crawl := durable.Must(durable.NewParentTaskWithFinalize(ex, "crawl",
		func(ctx context.Context, site string) (durable.Spawn[string], error) {
			return durable.Spawn[string]{Output: site, Children: []durable.Child{
				durable.ChildOf(fetch, site+"/"),
				durable.ChildOf(fetch, site+"/slow"),
				durable.ChildOf(fetch, site+"/missing"),
			}}, nil
		}, summarize))
	h := durable.Must(crawl.Enqueue(t.Context(), "example.com"))

	runUntilIdle(t, env)
	if out := durabletest.RequireCompleted(t, h); out != "example.com: #0 12, #1 16, #2 failed" {
		t.Errorf("output %q", out)
	}
	wantElapsed(t, env, 30*time.Minute)

	children := durabletest.RequireEnqueuedN(t, env, fetch, 3)
	for _, c := range children {
		if c.Execution.ParentID != h.ID() {
			t.Errorf("child %s has parent %q", c.Execution.ID, c.Execution.ParentID)
		}
	}
	durabletest.RequireOutcome(t, children[0].Handle, durabletest.Outcome{Status: durable.StatusCompleted, Attempts: 1})
	durabletest.RequireOutcome(t, children[1].Handle, durabletest.Outcome{Status: durable.StatusCompleted, Attempts: 2})
	durabletest.RequireOutcome(t, children[2].Handle, durabletest.Outcome{Status: durable.StatusFailed, ErrContains: "404", Attempts: 1})
	slow := durabletest.RequireEnqueued(t, env, fetch, "example.com/slow")
	if slow.Execution.ID != children[1].Execution.ID || slow.Execution.Output != 16 {
		t.Errorf("RequireEnqueued found %s (output %d)", slow.Execution.ID, slow.Execution.Output)
	}
	fin := durabletest.RequireEnqueuedN(t, env, summarize, 1)[0]
	if !fin.Execution.IsFinalize || fin.Execution.ParentID != h.ID() || fin.Input.Output != "example.com" || len(fin.Input.Children) != 3 {
		t.Errorf("finalize %+v", fin.Execution)
	}
	if tree := env.Executions(durabletest.Filter{RootID: h.ID()}); len(tree) != 4 {
		t.Errorf("%d executions under the root, want 4", len(tree))
	}
}

// A sequence's steps run one after another, each after the previous one's
// retries, and a step registered WithDelay that long after the previous
// one completed.
func TestSequence(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	ex := env.Executor()
	var runs times
	var failed sync.Once
	double := durable.Must(durable.NewTask(ex, "double", func(ctx context.Context, n int) (int, error) {
		runs.add(env.Elapsed())
		fail := false
		failed.Do(func() { fail = true })
		if fail {
			return 0, errors.New("flaky")
		}
		return 2 * n, nil
	}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 1, BaseDelay: 5 * time.Minute})))
	inc := durable.Must(durable.NewTask(ex, "inc", func(ctx context.Context, n int) (int, error) {
		runs.add(env.Elapsed())
		return n + 1, nil
	}, durable.WithDelay(time.Hour)))
	seq := durable.Must(durable.NewSequence[int, int](ex, "double_then_inc", double, inc))
	h := durable.Must(seq.Enqueue(t.Context(), 20))
	runUntilIdle(t, env)
	if out := durabletest.RequireCompleted(t, h); out != 41 {
		t.Errorf("output %d", out)
	}
	wantTimes(t, "steps", &runs, 0, 5*time.Minute, time.Hour+5*time.Minute)
}

// Many executions retrying at once, with jitter, all finish; the kit
// and the engine are race-free with real goroutines running tasks.
func TestManyConcurrentRetries(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t, durabletest.WithConfig(durable.Config{Concurrency: 8}))
	var mu sync.Mutex
	failed := map[int]bool{}
	job := durable.Must(durable.NewTask(env.Executor(), "job",
		func(ctx context.Context, n int) (int, error) {
			mu.Lock()
			first := !failed[n]
			failed[n] = true
			mu.Unlock()
			if first {
				return 0, fmt.Errorf("job %d: first attempt fails", n)
			}
			return n * n, nil
		},
		durable.WithRetry(durable.RetryPolicy{MaxRetries: 1, BaseDelay: time.Hour, Jitter: 0.5})))
	ins := make([]int, 500)
	for i := range ins {
		ins[i] = i
	}
	hs := durable.Must(job.EnqueueMany(t.Context(), ins))
	runUntilIdle(t, env)
	for i, h := range hs {
		x := durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusCompleted, Attempts: 2})
		if x.Output != i*i {
			t.Errorf("job %d: output %d", i, x.Output)
		}
	}
	if e := env.Elapsed(); e < 30*time.Minute || e > 90*time.Minute {
		t.Errorf("the clock moved by %s, want the longest jittered backoff (30m..90m)", e)
	}
}

// An execution claimed by an executor that then died is taken over once
// its lease lapses: the env moves the clock to the lapse.
func TestDeadExecutorIsTakenOver(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	job := durable.Must(durable.NewTask(env.Executor(), "job",
		func(ctx context.Context, n int) (int, error) { return n + 1, nil }))
	h := durable.Must(job.Enqueue(t.Context(), 1))
	rows, err := env.Store().Claim(t.Context(), storage.ClaimParams{Now: env.Now(), ExecutorID: "dead",
		TaskIDs: []string{"job"}, Limit: 1, Lease: 10 * time.Minute})
	if err != nil || len(rows) != 1 {
		t.Fatalf("claim: %d rows, %v", len(rows), err)
	}
	runUntilIdle(t, env)
	x := durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusCompleted})
	if x.Crashes != 1 || x.Output != 2 {
		t.Errorf("crashes %d, output %d", x.Crashes, x.Output)
	}
	wantElapsed(t, env, 10*time.Minute)
}

// A task that waits for its own timeout holds the run (the env does not
// move the clock while tasks run); Advance moves it, and the attempt
// times out.
func TestAdvanceTimesOutABlockedRun(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	started := make(chan struct{})
	var once sync.Once
	slow := durable.Must(durable.NewTask(env.Executor(), "slow",
		func(ctx context.Context, n int) (int, error) {
			once.Do(func() { close(started) })
			<-ctx.Done()
			return 0, context.Cause(ctx)
		}, durable.WithTimeout(time.Minute)))
	env.Start()
	h := durable.Must(slow.Enqueue(t.Context(), 1))
	<-started
	env.Advance(time.Minute)
	runUntilIdle(t, env)
	durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusTimedOut, Err: durable.ErrTimedOut})
	wantElapsed(t, env, time.Minute)
}

// A run that makes no progress is reported, naming the execution, after
// WithStuckAfter; released, it finishes.
func TestStuckRunIsReported(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t, durabletest.WithStuckAfter(200*time.Millisecond))
	release := make(chan struct{})
	blocked := durable.Must(durable.NewTask(env.Executor(), "blocked",
		func(ctx context.Context, n int) (int, error) {
			<-release
			return n, nil
		}))
	h := durable.Must(blocked.Enqueue(t.Context(), 5))
	err := env.RunUntilIdle(t.Context())
	if !errors.Is(err, durabletest.ErrStuck) || !strings.Contains(err.Error(), h.ID()) || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("got %v, want ErrStuck naming %s", err, h.ID())
	}
	close(release)
	// The run ends now; Wait is woken by its result (no clock needed),
	// so the short WithStuckAfter cannot run out on a loaded machine.
	if _, err := h.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	runUntilIdle(t, env)
	durabletest.RequireCompleted(t, h)
}

// A due execution whose task the executor has not registered is reported
// as soon as a claim passes it by, not after WithStuckAfter.
func TestUnregisteredTaskIsReported(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t, durabletest.WithStuckAfter(time.Minute))
	durable.Must(durable.NewTask(env.Executor(), "known", func(ctx context.Context, n int) (int, error) { return n, nil }))
	err := env.Store().Insert(t.Context(), storage.InsertParams{Now: env.Now(), Executions: []storage.Execution{
		{ID: "ghost_1", TaskID: "ghost", Status: storage.StatusReady, Input: []byte("1")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = env.RunUntilIdle(t.Context())
	if !errors.Is(err, durabletest.ErrStuck) || !strings.Contains(err.Error(), "ghost_1") || !strings.Contains(err.Error(), "not registered") {
		t.Fatalf("got %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("reported after %s", took)
	}
}

// A loop that never ends fails the run with ErrTooManyRuns.
func TestEndlessLoopIsBounded(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t, durabletest.WithMaxRuns(20))
	forever := durable.Must(durable.NewLoopTask(env.Executor(), "forever",
		func(ctx context.Context, n int) (durable.LoopResult[int], error) { return durable.Continue[int](), nil },
		durable.LoopOptions{MaxIterations: 1_000_000, Delay: time.Second}))
	durable.Must(forever.Enqueue(t.Context(), 1))
	err := env.RunUntilIdle(t.Context())
	if !errors.Is(err, durabletest.ErrTooManyRuns) || !strings.Contains(err.Error(), "forever") {
		t.Fatalf("got %v", err)
	}
}

// RunUntilIdle returns the context's error.
func TestRunUntilIdleHonoursItsContext(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	release := make(chan struct{})
	blocked := durable.Must(durable.NewTask(env.Executor(), "blocked",
		func(ctx context.Context, n int) (int, error) {
			<-release
			return n, nil
		}))
	durable.Must(blocked.Enqueue(t.Context(), 5))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := env.RunUntilIdle(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	close(release)
	runUntilIdle(t, env)
}

// A cancelled execution ends cancelled, with its children.
func TestCancel(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	job := durable.Must(durable.NewTask(env.Executor(), "job",
		func(ctx context.Context, n int) (int, error) { return n, nil }))
	h := durable.Must(job.Enqueue(t.Context(), 1, durable.WithDelay(time.Hour)))
	if err := h.Cancel(t.Context()); err != nil {
		t.Fatal(err)
	}
	runUntilIdle(t, env)
	durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusCancelled, Err: durable.ErrCancelled})
	wantElapsed(t, env, 0)
}

// With nothing enqueued RunUntilIdle returns at once, RunFor moves the
// clock by its span, and what was enqueued is listed.
func TestEmptyAndAssertions(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	a := durable.Must(durable.NewTask(env.Executor(), "a", func(ctx context.Context, n int) (int, error) { return n, nil }))
	b := durable.Must(durable.NewSleepingTask[int](env.Executor(), "b"))
	runUntilIdle(t, env)
	if err := env.RunFor(t.Context(), 90*time.Minute); err != nil {
		t.Fatal(err)
	}
	wantElapsed(t, env, 90*time.Minute)
	durabletest.RequireNotEnqueued(t, env, a)
	durabletest.RequireNotEnqueued(t, env, b)
	if got := durabletest.EnqueuedOf(t, env, a); len(got) != 0 {
		t.Errorf("EnqueuedOf: %d", len(got))
	}
	hs := durable.Must(a.EnqueueMany(t.Context(), []int{3, 1, 2}))
	runUntilIdle(t, env)
	var ins []int
	for _, x := range durabletest.RequireEnqueuedN(t, env, a, 3) {
		ins = append(ins, x.Input)
	}
	if !slices.Equal(ins, []int{3, 1, 2}) {
		t.Errorf("inputs in the order stored: %v", ins)
	}
	if x := durabletest.RequireEnqueued(t, env, a, 1); x.Handle.ID() != hs[1].ID() {
		t.Errorf("RequireEnqueued(1) found %s, want %s", x.Handle.ID(), hs[1].ID())
	}
	if d := env.Describe(); !strings.Contains(d, hs[0].ID()) || !strings.Contains(d, "completed") {
		t.Errorf("Describe:\n%s", d)
	}
}

// recordingTB is a durabletest.TB that records failures instead of
// failing the test, to check the kit's messages.
type recordingTB struct {
	mu       sync.Mutex
	failed   bool
	msgs     []string
	logs     []string
	cleanups []func()
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Cleanup(f func()) {
	r.mu.Lock()
	r.cleanups = append(r.cleanups, f)
	r.mu.Unlock()
}
func (r *recordingTB) Failed() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.failed }
func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// failure runs f with a recordingTB on a goroutine of its own (Fatalf
// ends it) and returns the failure's message, "" if it passed.
func failure(f func(tb durabletest.TB)) string {
	var r recordingTB
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(&r)
	}()
	<-done
	return strings.Join(r.msgs, "\n")
}

// The assertions' failures say what the execution is instead.
func TestAssertionMessages(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	job := durable.Must(durable.NewTask(env.Executor(), "job",
		func(ctx context.Context, n int) (int, error) {
			if n < 0 {
				return 0, durable.NonRetryable(errors.New("negative input"))
			}
			return n, nil
		}))
	bad := durable.Must(job.Enqueue(t.Context(), -1))
	durable.Must(job.Enqueue(t.Context(), 7))

	msg := failure(func(tb durabletest.TB) { durabletest.RequireCompleted(tb, bad) })
	if !strings.Contains(msg, "want status completed") || !strings.Contains(msg, "ready on attempt 1") {
		t.Errorf("not yet run: %q", msg)
	}
	runUntilIdle(t, env)
	for _, c := range []struct {
		f    func(tb durabletest.TB)
		want []string
	}{
		{func(tb durabletest.TB) { durabletest.RequireCompleted(tb, bad) },
			[]string{bad.ID(), "want status completed", `failed on attempt 1, error generic: "negative input"`}},
		{func(tb durabletest.TB) {
			durabletest.RequireOutcome(tb, bad, durabletest.Outcome{Status: durable.StatusFailed, Err: durable.ErrTimedOut, Attempts: 2})
		}, []string{"want an error matching", "want it ended on attempt 2"}},
		{func(tb durabletest.TB) { durabletest.RequireEnqueued(tb, env, job, 8) },
			[]string{"0 executions of job with input 8, want 1", "(failed): -1", "(completed): 7"}},
		{func(tb durabletest.TB) { durabletest.RequireEnqueuedN(tb, env, job, 1) }, []string{"2 executions of job, want 1"}},
		{func(tb durabletest.TB) { durabletest.RequireNotEnqueued(tb, env, job) }, []string{"2 executions of job", bad.ID()}},
	} {
		msg := failure(c.f)
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("message %q lacks %q", msg, w)
			}
		}
	}
	if msg := failure(func(tb durabletest.TB) {
		durabletest.RequireOutcome(tb, bad, durabletest.Outcome{Status: durable.StatusFailed, ErrContains: "negative", Attempts: 1})
	}); msg != "" {
		t.Errorf("a matching outcome failed: %s", msg)
	}
}

// An env made on any TB shuts down at its cleanup and, when the test
// failed, logs every execution it saw.
func TestFailedTestLogsTheExecutions(t *testing.T) {
	t.Parallel()
	var r recordingTB
	env := durabletest.New(&r)
	job := durable.Must(durable.NewTask(env.Executor(), "job", func(ctx context.Context, n int) (int, error) { return n, nil }))
	h := durable.Must(job.Enqueue(t.Context(), 1, durable.WithDelay(time.Hour)))
	r.Errorf("the test failed")
	r.runCleanups()
	logs := strings.Join(r.logs, "\n")
	if !strings.Contains(logs, h.ID()) || !strings.Contains(logs, "ready") || !strings.Contains(logs, "+1h0m0s") {
		t.Errorf("logs:\n%s", logs)
	}
	select {
	case <-env.Executor().Done():
	default:
		t.Error("the executor was not shut down")
	}
}

// The executor's operations (Get with the attempts, Retry, List, Delete)
// work on the env's store; a retry is an execution like any other.
func TestOperateOnTheEnv(t *testing.T) {
	t.Parallel()
	env := durabletest.New(t)
	ex := env.Executor()
	var mu sync.Mutex
	broken := true
	job := durable.Must(durable.NewTask(ex, "job",
		func(ctx context.Context, n int) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			if broken {
				return 0, errors.New("broken")
			}
			return n, nil
		}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 1, BaseDelay: time.Hour})))
	h := durable.Must(job.Enqueue(t.Context(), 4))
	runUntilIdle(t, env)
	durabletest.RequireOutcome(t, h, durabletest.Outcome{Status: durable.StatusFailed, Attempts: 2})
	rec, err := ex.Get(t.Context(), h.ID())
	if err != nil || len(rec.Attempts) != 2 {
		t.Fatalf("Get: %d attempts, %v", len(rec.Attempts), err)
	}

	mu.Lock()
	broken = false
	mu.Unlock()
	retry, err := ex.Retry(t.Context(), h.ID())
	if err != nil {
		t.Fatal(err)
	}
	runUntilIdle(t, env)
	all := durabletest.RequireEnqueuedN(t, env, job, 2)
	if all[1].Execution.ID != retry.ID || all[1].Execution.Status != durable.StatusCompleted || all[1].Execution.Output != 4 {
		t.Errorf("the retry: %+v", all[1].Execution)
	}
	page, err := ex.List(t.Context(), durable.ListOptions{})
	if err != nil || len(page.Records) != 2 {
		t.Fatalf("List: %+v, %v", page, err)
	}
	if n, err := ex.Delete(t.Context(), h.ID()); err != nil || n != 1 {
		t.Fatalf("Delete: %d, %v", n, err)
	}
	if rows := env.Executions(durabletest.Filter{TaskID: "job"}); len(rows) != 1 || rows[0].ID != retry.ID {
		t.Errorf("after the delete: %d executions", len(rows))
	}
	runUntilIdle(t, env)
}
