package durable_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/faulty"
	"github.com/durable-go/durable/storage/memory"
)

// The engine under storage faults (RELIABILITY.md R8): 5% of storage calls
// fail, before or after the store applies them, while 1,000 executions
// (plain tasks, parents with and without finalize, sequences) run. Once the
// faults stop, every acknowledged execution must end, and end as its task
// decided: nothing lost, nothing failed by the faults.

// Known engine bugs that the scenario counts and logs instead of failing on,
// until they are fixed. Each has a minimal test, skipped meanwhile; set the
// constant to false with the fix.
const (
	// TestAmbiguousComplete/NextSequenceStep.
	knownBugSequenceStepReplay = false
	// TestEnqueueAmbiguousInsert/InsertAfterThenChecksFail and
	// TestEnqueueAmbiguousInsert/ManyInsertAfterThenCheckFails.
	knownBugEnqueueFalseDuplicate = false
)

const (
	faultRate       = 0.05
	faultPlain      = 800
	faultParents    = 150
	faultSequences  = 50
	faultPhaseLimit = 6 * time.Second  // faults stay on at most this long
	faultQuiesce    = 60 * time.Second // then everything must end within this
)

func TestEngineUnderStorageFaults(t *testing.T) {
	t.Parallel()
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprintf("Seed%d", seed), func(t *testing.T) {
			runFaultScenario(t, seed)
		})
	}
}

// faultPlainIn drives a plain task: it fails retryably on its first
// FailTimes attempts, or for good when Permanent.
type faultPlainIn struct {
	N         int
	FailTimes int
	Permanent bool
}

// faultParentIn drives a parent: K children, child j gets N*10+j.
type faultParentIn struct {
	N, K int
}

// faultTasks are the tasks of one scenario.
type faultTasks struct {
	plain     *durable.Task[faultPlainIn, int]
	parent    *durable.Task[faultParentIn, durable.ParentOutput[int]]
	parentFin *durable.Task[faultParentIn, int]
	seq2      *durable.Task[int, int]
	seq3      *durable.Task[int, int]

	mu   sync.Mutex
	runs map[string]int // plain runs per execution id
}

var faultRetry = durable.WithRetry(durable.RetryPolicy{MaxRetries: 3, BaseDelay: 5 * time.Millisecond, Multiplier: 2})

func registerFaultTasks(t *testing.T, ex *durable.Executor) *faultTasks {
	t.Helper()
	ft := &faultTasks{runs: map[string]int{}}
	ft.plain = durable.Must(durable.NewTask(ex, "plain", ft.runPlain, faultRetry))
	child := durable.Must(durable.NewTask(ex, "child", func(ctx context.Context, n int) (int, error) {
		if info, _ := durable.Info(ctx); n%4 == 0 && info.Attempt == 0 {
			return 0, errors.New("child: transient failure")
		}
		return n * 3, nil
	}, faultRetry))
	spawn := func(ctx context.Context, in faultParentIn) (durable.Spawn[int], error) {
		sp := durable.Spawn[int]{Output: in.N}
		for j := range in.K {
			sp.Children = append(sp.Children, durable.ChildOf(child, in.N*10+j))
		}
		return sp, nil
	}
	fin := durable.Must(durable.NewTask(ex, "fin", func(ctx context.Context, in durable.FinalizeInput[int]) (int, error) {
		sum := in.Output
		for _, c := range in.Children {
			v, err := durable.ChildOutput[int](c)
			if err != nil {
				return 0, durable.NonRetryable(err)
			}
			sum += v
		}
		return sum, nil
	}, faultRetry))
	ft.parent = durable.Must(durable.NewParentTask(ex, "parent", spawn, faultRetry))
	ft.parentFin = durable.Must(durable.NewParentTaskWithFinalize(ex, "parent_fin", spawn, fin, faultRetry))
	add := durable.Must(durable.NewTask(ex, "step_add", func(ctx context.Context, n int) (int, error) { return n + 1, nil }, faultRetry))
	mul := durable.Must(durable.NewTask(ex, "step_mul", func(ctx context.Context, n int) (int, error) { return n * 2, nil }, faultRetry))
	sub := durable.Must(durable.NewTask(ex, "step_sub", func(ctx context.Context, n int) (int, error) { return n - 3, nil }, faultRetry))
	ft.seq2 = durable.Must(durable.NewSequence[int, int](ex, "seq2", add, mul))
	ft.seq3 = durable.Must(durable.NewSequence[int, int](ex, "seq3", add, mul, sub))
	return ft
}

func (ft *faultTasks) runPlain(ctx context.Context, in faultPlainIn) (int, error) {
	info, _ := durable.Info(ctx)
	ft.mu.Lock()
	ft.runs[info.ExecutionID]++
	ft.mu.Unlock()
	switch {
	case in.Permanent:
		return 0, durable.NonRetryable(errors.New("plain: permanent failure"))
	case info.Attempt < in.FailTimes:
		return 0, fmt.Errorf("plain: transient failure %d of %d", info.Attempt+1, in.FailTimes)
	}
	return in.N * 2, nil
}

// plainInput is the input of plain task i: most succeed at once, some after
// 1..3 retries, a few exhaust their retries or fail for good.
func plainInput(i int) faultPlainIn {
	in := faultPlainIn{N: i}
	switch {
	case i%50 == 7:
		in.Permanent = true
	case i%40 == 3:
		in.FailTimes = 4 // MaxRetries is 3: fails for good
	case i%10 < 3:
		in.FailTimes = i%10 + 1
	}
	return in
}

// faultCheck waits for one acknowledged execution and checks its outcome.
type faultCheck struct {
	id       string
	sequence bool
	wait     func(ctx context.Context) (durable.Status, error) // error: did not end
	check    func() error                                      // after wait: the outcome is the expected one
}

func track[O any](h *durable.Handle[O], want func(durable.Execution[O]) error) *faultCheck {
	c := &faultCheck{id: h.ID()}
	var x durable.Execution[O]
	c.wait = func(ctx context.Context) (durable.Status, error) {
		var err error
		x, err = h.Wait(ctx)
		return x.Status, err
	}
	c.check = func() error { return want(x) }
	return c
}

func wantOutput[O comparable](want O) func(durable.Execution[O]) error {
	return func(x durable.Execution[O]) error {
		if x.Status != durable.StatusCompleted || x.Output != want {
			return fmt.Errorf("want completed with %v, got %s %v (err %v)", want, x.Status, x.Output, x.Err)
		}
		return nil
	}
}

func wantPlain(in faultPlainIn) func(durable.Execution[int]) error {
	if !in.Permanent && in.FailTimes <= 3 {
		return wantOutput(in.N * 2)
	}
	return func(x durable.Execution[int]) error {
		if x.Status != durable.StatusFailed || x.Err == nil || !strings.Contains(x.Err.Message, "plain:") {
			return fmt.Errorf("want failed by the task itself, got %s (err %v)", x.Status, x.Err)
		}
		return nil
	}
}

func wantParent(in faultParentIn) func(durable.Execution[durable.ParentOutput[int]]) error {
	return func(x durable.Execution[durable.ParentOutput[int]]) error {
		if x.Status != durable.StatusCompleted || x.Output.Output != in.N || len(x.Output.Children) != in.K {
			return fmt.Errorf("want completed with %d children, got %s %+v (err %v)", in.K, x.Status, x.Output, x.Err)
		}
		for j, c := range x.Output.Children {
			if v, err := durable.ChildOutput[int](c); err != nil || v != (in.N*10+j)*3 {
				return fmt.Errorf("child %d: %v %v", j, v, err)
			}
		}
		return nil
	}
}

func finalizeSum(in faultParentIn) int {
	sum := in.N
	for j := range in.K {
		sum += (in.N*10 + j) * 3
	}
	return sum
}

// enqueueCounts are the figures of the enqueue phase.
type enqueueCounts struct {
	acknowledged, retries, falseDuplicates int
}

// enqueueRetrying retries an enqueue failed by an injected fault. It
// returns nil if no try was acknowledged.
func enqueueRetrying[O any](t *testing.T, n *enqueueCounts, enqueue func() (*durable.Handle[O], error)) *durable.Handle[O] {
	t.Helper()
	for range 50 {
		h, err := enqueue()
		if err == nil {
			n.acknowledged++
			return h
		}
		if knownBugEnqueueFalseDuplicate && errors.Is(err, durable.ErrDuplicate) {
			n.falseDuplicates++
			t.Logf("known engine bug: enqueue reported a duplicate: %v", err)
			return nil
		}
		if !errors.Is(err, faulty.ErrInjected) {
			t.Errorf("enqueue failed with a non-transient error: %v", err)
			return nil
		}
		n.retries++
	}
	t.Errorf("enqueue still failing after 50 tries")
	return nil
}

func enqueueFaultWork(t *testing.T, ctx context.Context, ft *faultTasks) (checks []*faultCheck, n enqueueCounts) {
	t.Helper()
	add := func(c *faultCheck) { checks = append(checks, c) }
	for i := range faultPlain {
		in := plainInput(i)
		if h := enqueueRetrying(t, &n, func() (*durable.Handle[int], error) { return ft.plain.Enqueue(ctx, in) }); h != nil {
			add(track(h, wantPlain(in)))
		}
	}
	for i := range faultParents {
		in := faultParentIn{N: i, K: 2 + i%2}
		if i%3 == 0 {
			if h := enqueueRetrying(t, &n, func() (*durable.Handle[int], error) { return ft.parentFin.Enqueue(ctx, in) }); h != nil {
				add(track(h, wantOutput(finalizeSum(in))))
			}
			continue
		}
		if h := enqueueRetrying(t, &n, func() (*durable.Handle[durable.ParentOutput[int]], error) { return ft.parent.Enqueue(ctx, in) }); h != nil {
			add(track(h, wantParent(in)))
		}
	}
	for i := range faultSequences {
		seq, want := ft.seq2, (i+1)*2
		if i%2 == 1 {
			seq, want = ft.seq3, (i+1)*2-3
		}
		if h := enqueueRetrying(t, &n, func() (*durable.Handle[int], error) { return seq.Enqueue(ctx, i) }); h != nil {
			c := track(h, wantOutput(want))
			c.sequence = true
			add(c)
		}
	}
	return checks, n
}

// countTerminal reads the acknowledged executions straight from the inner
// store (no faults) and counts the finished ones.
func countTerminal(ctx context.Context, inner storage.Store, checks []*faultCheck) int {
	n := 0
	for _, c := range checks {
		if row, err := inner.Get(ctx, storage.GetParams{ID: c.id}); err == nil && row.Status.Terminal() {
			n++
		}
	}
	return n
}

// faultPhase keeps the faults on until every acknowledged execution ended
// or the phase limit passed.
func faultPhase(ctx context.Context, inner storage.Store, checks []*faultCheck) {
	deadline := time.Now().Add(faultPhaseLimit)
	for time.Now().Before(deadline) && countTerminal(ctx, inner, checks) < len(checks) {
		time.Sleep(50 * time.Millisecond)
	}
}

// quiesceCounts are the figures of the quiesce phase.
type quiesceCounts struct {
	terminal, lost, wrong, knownBug int
}

// quiesce waits for every acknowledged execution and checks its outcome.
func quiesce(t *testing.T, checks []*faultCheck) (n quiesceCounts) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), faultQuiesce)
	defer cancel()
	for _, c := range checks {
		st, err := c.wait(ctx)
		if err != nil || !st.Terminal() {
			n.lost++
			t.Errorf("execution %s lost: status %q, wait: %v", c.id, st, err)
			continue
		}
		n.terminal++
		err = c.check()
		switch {
		case err == nil:
		case knownBugSequenceStepReplay && c.sequence && strings.Contains(err.Error(), "spawning children failed") &&
			strings.Contains(err.Error(), "duplicate"):
			n.knownBug++
			t.Logf("known engine bug: sequence %s: %v", c.id, err)
		default:
			n.wrong++
			t.Errorf("execution %s: %v", c.id, err)
		}
	}
	return n
}

// duplicateRuns counts plain runs beyond one per attempt recorded, and the
// crashes (lease lapses) recorded, over the acknowledged plain executions.
func duplicateRuns(ctx context.Context, inner storage.Store, ft *faultTasks) (dups, crashes int) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for id, runs := range ft.runs {
		row, err := inner.Get(ctx, storage.GetParams{ID: id})
		if err != nil {
			continue
		}
		dups += max(runs-(row.Attempt+1), 0)
		crashes += row.Crashes
	}
	return dups, crashes
}

func runFaultScenario(t *testing.T, seed int64) {
	start := time.Now()
	inner := memory.New()
	store, err := faulty.New(inner, faulty.Options{Seed: seed, Rate: faultRate,
		Kinds: []faulty.Kind{faulty.KindBefore, faulty.KindAfter}})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	// Every claim whose answer a fault loses counts as a crash of the rows
	// it took (TestClaimLostAfterCommit), and the rows taken over come back
	// first: a row can meet the default budget's four lost claims in one
	// run, and fail by it (seen under -race). The budget is TestClaimLostAfterCommit's
	// subject; here it is out of the way.
	b := setupOn(t, store, durable.Config{Logger: logger, LeaseDuration: 300 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, CrashBudget: 100}, false)
	ft := registerFaultTasks(t, b.ex)
	b.start(t)

	checks, en := enqueueFaultWork(t, b.ctx, ft)
	faultPhase(b.ctx, inner, checks)
	store.Disable()
	faultsOff := time.Since(start)
	st := store.Stats()

	q := quiesce(t, checks)
	dups, crashes := duplicateRuns(b.ctx, inner, ft)
	t.Logf("seed=%d rate=%v calls=%d faults=%d before=%d after=%d acknowledged=%d enqueue_retries=%d "+
		"enqueue_false_duplicates=%d terminal=%d lost=%d wrong_outcome=%d known_bug_outcome=%d "+
		"duplicate_runs=%d crashes=%d faults_on=%s duration=%s",
		seed, faultRate, st.Calls, st.Faults(), st.Injected[faulty.KindBefore], st.Injected[faulty.KindAfter],
		en.acknowledged, en.retries, en.falseDuplicates, q.terminal, q.lost, q.wrong, q.knownBug, dups, crashes,
		faultsOff.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	t.Logf("faults by method: %v", st)
	if en.acknowledged+en.falseDuplicates != faultPlain+faultParents+faultSequences {
		t.Errorf("acknowledged %d of %d enqueues", en.acknowledged, faultPlain+faultParents+faultSequences)
	}
}

// A claim that commits but whose answer is lost leaves the row leased to
// nobody: it is taken over when the lease lapses, and counts as a crash
// against the crash budget.
func TestClaimLostAfterCommit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		crashBudget int
		wantStatus  durable.Status
	}{
		{"DefaultBudgetReruns", 0, durable.StatusCompleted},
		{"NoBudgetFails", -1, durable.StatusFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			store, err := faulty.New(memory.New(), faulty.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b := setupOn(t, store, durable.Config{CrashBudget: c.crashBudget, LeaseDuration: 100 * time.Millisecond}, false)
			task := durable.Must(durable.NewTask(b.ex, "work", func(ctx context.Context, n int) (int, error) { return n, nil }))
			h := durable.Must(task.Enqueue(b.ctx, 7))
			if err := store.FailNext(faulty.MethodClaim, faulty.KindAfter); err != nil {
				t.Fatal(err)
			}
			b.start(t)
			x := waitFor(t, b, h)
			if x.Status != c.wantStatus || x.Crashes != 1 {
				t.Fatalf("want %s after 1 crash, got %s after %d (err %v)", c.wantStatus, x.Status, x.Crashes, x.Err)
			}
			if c.wantStatus == durable.StatusFailed && !errors.Is(x.Err, durable.ErrCrashBudget) {
				t.Errorf("want ErrCrashBudget, got %v", x.Err)
			}
		})
	}
}

// scriptedFault is one fault queued with FailNext.
type scriptedFault struct {
	method string
	kind   faulty.Kind
}

// An Insert that commits but reports an error is retried by the engine; the
// retry finds the rows (duplicate) and checks that they are its own. If the
// reads checking that fail too, Enqueue must not report the stored
// executions as a definite ErrDuplicate.
func TestEnqueueAmbiguousInsert(t *testing.T) {
	t.Parallel()
	insertAfter := scriptedFault{faulty.MethodInsert, faulty.KindAfter}
	checkFails := scriptedFault{faulty.MethodGet, faulty.KindBefore}
	cases := []struct {
		name   string
		many   bool // EnqueueMany of two inputs, else Enqueue
		faults []scriptedFault
		bug    bool
	}{
		{"InsertAfter", false, []scriptedFault{insertAfter}, false},
		{"InsertAfterThenCheckFails", false, []scriptedFault{insertAfter, checkFails}, false},
		{"InsertAfterThenChecksFail", false, []scriptedFault{insertAfter, checkFails, checkFails}, true},
		{"ManyInsertAfter", true, []scriptedFault{insertAfter}, false},
		{"ManyInsertAfterThenCheckFails", true, []scriptedFault{insertAfter, checkFails}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.bug && knownBugEnqueueFalseDuplicate {
				t.Skip("engine bug: Enqueue/EnqueueMany return ErrDuplicate for executions they stored when the reads " +
					"checking their own retried insert fail (insert -> committed)")
			}
			store, err := faulty.New(memory.New(), faulty.Options{})
			if err != nil {
				t.Fatal(err)
			}
			b := setupOn(t, store, durable.Config{}, false)
			task := durable.Must(durable.NewTask(b.ex, "work", func(ctx context.Context, n int) (int, error) { return n, nil }))
			for _, f := range c.faults {
				if err := store.FailNext(f.method, f.kind); err != nil {
					t.Fatal(err)
				}
			}
			var hs []*durable.Handle[int]
			if c.many {
				hs, err = task.EnqueueMany(b.ctx, []int{7, 7})
			} else {
				var h *durable.Handle[int]
				h, err = task.Enqueue(b.ctx, 7)
				hs = append(hs, h)
			}
			if err != nil {
				t.Fatalf("enqueue of stored executions failed: %v", err)
			}
			b.start(t)
			for _, h := range hs {
				if x := waitFor(t, b, h); x.Status != durable.StatusCompleted || x.Output != 7 {
					t.Fatalf("got %s %v", x.Status, x.Output)
				}
			}
		})
	}
}

// Transient storage failures while Wait polls must not end the Wait: it
// returns early only with its context's error.
func TestWaitRidesOutTransientFaults(t *testing.T) {
	t.Parallel()
	store, err := faulty.New(memory.New(), faulty.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := setupOn(t, store, durable.Config{}, true)
	release := make(chan struct{})
	task := durable.Must(durable.NewTask(b.ex, "work", func(ctx context.Context, n int) (int, error) {
		<-release
		return n, nil
	}))
	h := durable.Must(task.Enqueue(b.ctx, 7))
	for range 5 {
		_ = store.FailNext(faulty.MethodGet, faulty.KindBefore)
	}
	go func() { // the run ends once Wait has met every fault
		defer close(release)
		deadline := time.Now().Add(10 * time.Second)
		for store.Stats().Injected[faulty.KindBefore] < 5 {
			if time.Now().After(deadline) {
				t.Error("Wait did not read the execution five times")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	x, err := h.Wait(b.ctx)
	if err != nil || x.Status != durable.StatusCompleted {
		t.Fatalf("wait: %v (status %s)", err, x.Status)
	}
}

// A Complete that commits but reports an error is retried by the engine's
// completer with the same transitions; the replay must change nothing,
// whatever the transition.
func TestAmbiguousComplete(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		from, to durable.Status
	}{
		{"CompleteRun", durable.StatusRunning, durable.StatusCompleted},
		{"SpawnChildren", durable.StatusRunning, durable.StatusWaitingForChildren},
		{"SpawnFinalize", durable.StatusWaitingForChildren, durable.StatusWaitingForFinalize},
		{"NextSequenceStep", durable.StatusWaitingForChildren, durable.StatusWaitingForChildren},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.from == c.to && knownBugSequenceStepReplay {
				t.Skip("engine bug: a sequence's next-step transition (waiting_for_children -> waiting_for_children, same fence) " +
					"is applied again when the completer replays an ambiguous Complete; the replayed child insert fails with a " +
					"duplicate id and the sequence ends finalize_failed")
			}
			store, err := faulty.New(memory.New(), faulty.Options{})
			if err != nil {
				t.Fatal(err)
			}
			err = store.FailNextWhere(faulty.MethodComplete, faulty.KindAfter, func(p any) bool {
				for _, tr := range p.(storage.CompleteParams).Transitions {
					if tr.From == c.from && tr.To == c.to {
						return true
					}
				}
				return false
			})
			if err != nil {
				t.Fatal(err)
			}
			b := setupOn(t, store, durable.Config{}, true)
			x := runAmbiguousCompleteWorkflow(t, b)
			if x.Status != durable.StatusCompleted || x.Output != 10 {
				t.Fatalf("got %s %v (err %v)", x.Status, x.Output, x.Err)
			}
			if n := store.Stats().Injected[faulty.KindAfter]; n != 1 {
				t.Fatalf("%d faults injected, want 1: the workflow did not make a %s -> %s transition", n, c.from, c.to)
			}
		})
	}
}

// runAmbiguousCompleteWorkflow runs a sequence whose first step is a parent
// with a finalize, so that it makes every kind of transition once: it
// returns 10 (= ((1+1)+(1+2)) * 2).
func runAmbiguousCompleteWorkflow(t *testing.T, b *bundle) durable.Execution[int] {
	t.Helper()
	inc := durable.Must(durable.NewTask(b.ex, "inc", func(ctx context.Context, n int) (int, error) { return n + 1, nil }))
	sum := durable.Must(durable.NewTask(b.ex, "sum", func(ctx context.Context, in durable.FinalizeInput[int]) (int, error) {
		total := 0
		for _, c := range in.Children {
			v, err := durable.ChildOutput[int](c)
			if err != nil {
				return 0, err
			}
			total += v
		}
		return total, nil
	}))
	fan := durable.Must(durable.NewParentTaskWithFinalize(b.ex, "fan", func(ctx context.Context, n int) (durable.Spawn[int], error) {
		return durable.Spawn[int]{Output: n, Children: []durable.Child{durable.ChildOf(inc, n), durable.ChildOf(inc, n+1)}}, nil
	}, sum))
	double := durable.Must(durable.NewTask(b.ex, "double", func(ctx context.Context, n int) (int, error) { return n * 2, nil }))
	seq := durable.Must(durable.NewSequence[int, int](b.ex, "flow", fan, double))
	return waitFor(t, b, durable.Must(seq.Enqueue(b.ctx, 1)))
}
