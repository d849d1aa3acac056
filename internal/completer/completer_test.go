package completer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/faulty"
	"github.com/durable-go/durable/storage/memory"
)

const task = "t"

// base is the time of the rows' inserts and claims; the completer's clock
// stands a minute later. (storagetest's helpers import the engine, which
// imports this package.)
var base = time.Date(2030, time.January, 1, 12, 0, 0, 0, time.UTC)

func newExecution(id string) storage.Execution {
	return storage.Execution{ID: id, TaskID: task, Status: storage.StatusReady, Input: []byte(`{}`), Timeout: time.Minute}
}

func newChild(parent storage.Execution, id string, index int) storage.Execution {
	c := newExecution(id)
	c.ParentID, c.ParentTaskID, c.RootID, c.RootTaskID, c.ChildIndex = parent.ID, parent.TaskID, parent.ID, parent.TaskID, index
	return c
}

// harness is a completer of row ids over a store, with its results
// collected.
type harness struct {
	t       *testing.T
	store   storage.Store
	c       *Completer[string]
	results chan Result[string]
	fatal   chan error

	mu    sync.Mutex
	calls []int // the size of each Complete call, in order
}

// newHarness builds a completer over store. complete, if not nil, wraps
// the store's Complete (call is the 1-based index of the call).
func newHarness(t *testing.T, store storage.Store, batch int, wrap func(call int, p storage.CompleteParams) error) *harness {
	t.Helper()
	h := &harness{t: t, store: store, results: make(chan Result[string], 10_000), fatal: make(chan error, 100)}
	h.c = New(Config[string]{
		Complete: func(ctx context.Context, p storage.CompleteParams, _ []Result[string]) ([]storage.TransitionResult, error) {
			h.mu.Lock()
			h.calls = append(h.calls, len(p.Transitions))
			call := len(h.calls)
			h.mu.Unlock()
			if wrap != nil {
				if err := wrap(call, p); err != nil {
					return nil, err
				}
			}
			return store.Complete(ctx, p)
		},
		BatchSize: batch,
		Timeout:   5 * time.Second,
		Clock:     clock.NewFake(base.Add(time.Minute)),
		Backoff:   func(int) time.Duration { return 0 },
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Done: func(batch []Result[string]) {
			for _, r := range batch {
				h.results <- r
			}
		},
		Fatal: func(err error) { h.fatal <- err },
	})
	t.Cleanup(h.c.Stop)
	return h
}

func (h *harness) callSizes() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.calls...)
}

// receive waits for n results and returns them by handle; a handle
// delivered twice fails the test.
func (h *harness) receive(n int) map[string]Result[string] {
	h.t.Helper()
	got := map[string]Result[string]{}
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case r := <-h.results:
			if _, dup := got[r.Handle]; dup {
				h.t.Fatalf("result of %s delivered twice", r.Handle)
			}
			got[r.Handle] = r
		case <-timeout:
			h.t.Fatalf("received %d of %d results", len(got), n)
		}
	}
	return got
}

// noMore fails the test if a result is waiting.
func (h *harness) noMore() {
	h.t.Helper()
	select {
	case r := <-h.results:
		h.t.Fatalf("unexpected result for %s", r.Handle)
	default:
	}
}

// claimed inserts n ready rows and claims them, as an executor would.
func claimed(t *testing.T, s storage.Store, prefix string, n int) []storage.Execution {
	t.Helper()
	ctx := context.Background()
	rows := make([]storage.Execution, n)
	for i := range rows {
		rows[i] = newExecution(fmt.Sprintf("%s%03d", prefix, i))
	}
	if err := s.Insert(ctx, storage.InsertParams{Now: base, Executions: rows}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Claim(ctx, storage.ClaimParams{Now: base, ExecutorID: "ex", TaskIDs: []string{task}, Limit: n, Lease: time.Hour})
	if err != nil || len(got) != n {
		t.Fatalf("claim: %d rows, %v", len(got), err)
	}
	return got
}

func completed(row storage.Execution) storage.Transition {
	return storage.Transition{ID: row.ID, Fence: row.Fence, From: row.Status, To: storage.StatusCompleted, Output: []byte(`"ok"`)}
}

// requireStatus checks the stored status of rows.
func requireStatus(t *testing.T, s storage.Store, want storage.Status, rows ...storage.Execution) {
	t.Helper()
	for _, row := range rows {
		got, err := s.Get(context.Background(), storage.GetParams{ID: row.ID})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != want {
			t.Errorf("%s: status %s, want %s", row.ID, got.Status, want)
		}
	}
}

func requireApplied(t *testing.T, got map[string]Result[string], replayed bool) {
	t.Helper()
	for id, r := range got {
		if !r.Applied || r.Replayed != replayed || r.Err != nil || r.Unwritten != nil {
			t.Errorf("%s: %+v, want applied (replayed %v)", id, r, replayed)
		}
	}
}

func faultyStore(t *testing.T, o faulty.Options) *faulty.Store {
	t.Helper()
	s, err := faulty.New(memory.New(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gate makes the first Complete call wait until release is closed;
// started is closed when it begins.
type gate struct{ started, release chan struct{} }

func newGate() gate { return gate{make(chan struct{}), make(chan struct{})} }

func (g gate) wrap(call int, _ storage.CompleteParams) error {
	if call == 1 {
		close(g.started)
		<-g.release
	}
	return nil
}

func TestBatchesGroupConcurrentSubmissions(t *testing.T) {
	s := memory.New()
	rows := claimed(t, s, "r", 26)
	g := newGate()
	h := newHarness(t, s, 10, g.wrap)
	h.c.Start()

	h.c.Submit(rows[0].ID, completed(rows[0]))
	<-g.started
	// While the first write is in flight, 25 runs finish at once.
	var wg sync.WaitGroup
	for _, row := range rows[1:] {
		wg.Go(func() { h.c.Submit(row.ID, completed(row)) })
	}
	wg.Wait()
	if n := h.c.Backlog(); n != 26 {
		t.Errorf("Backlog: %d, want 26", n)
	}
	close(g.release)

	requireApplied(t, h.receive(26), false)
	if got, want := fmt.Sprint(h.callSizes()), "[1 10 10 5]"; got != want {
		t.Errorf("writes of %s transitions, want %s (one, then the 25 queued meanwhile in batches of at most 10)", got, want)
	}
	if n := h.c.Backlog(); n != 0 {
		t.Errorf("Backlog after the writes: %d, want 0", n)
	}
	requireStatus(t, s, storage.StatusCompleted, rows...)
}

func TestFailedWriteIsRetriedUntilWritten(t *testing.T) {
	s := faultyStore(t, faulty.Options{})
	rows := claimed(t, s, "r", 3)
	for range 4 {
		if err := s.FailNext(faulty.MethodComplete, faulty.KindBefore); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, s, 10, nil)
	// Queued before Start, so the first write takes all three (started
	// first, a loaded machine may run the writer between two submissions).
	for _, row := range rows {
		h.c.Submit(row.ID, completed(row))
	}
	h.c.Start()
	got := h.receive(3)
	// The last try applied them: observed, not inferred.
	requireApplied(t, got, false)
	requireStatus(t, s, storage.StatusCompleted, rows...)
	if n := s.Stats().ByMethod[faulty.MethodComplete][faulty.KindBefore]; n != 4 {
		t.Errorf("faults injected into Complete: %d, want 4", n)
	}
	if got, want := fmt.Sprint(h.callSizes()), "[3 3 3 3 3]"; got != want {
		t.Errorf("writes of %s transitions, want %s", got, want)
	}
}

func TestAmbiguousCommitIsForgiven(t *testing.T) {
	s := faultyStore(t, faulty.Options{})
	rows := claimed(t, s, "r", 2)
	// The store applies the write, then the call fails: the retry finds
	// the transitions not applied (their guard no longer matches).
	if err := s.FailNext(faulty.MethodComplete, faulty.KindAfter); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, s, 10, nil)
	// Submitted before Start, so that both go in the first write however
	// the goroutines are scheduled.
	for _, row := range rows {
		h.c.Submit(row.ID, completed(row))
	}
	h.c.Start()
	requireApplied(t, h.receive(2), true)
	requireStatus(t, s, storage.StatusCompleted, rows...)
	if got, want := fmt.Sprint(h.callSizes()), "[2 2]"; got != want {
		t.Errorf("writes of %s transitions, want %s", got, want)
	}
}

// A transition whose guard stays as it is (a sequence's step, waiting ->
// waiting) applies again on a replay, and its children then clash with
// those the first try inserted: after an ambiguous failure that counts as
// applied; without one it is the store's refusal.
func TestReplayedChildrenAreForgiven(t *testing.T) {
	ctx := context.Background()
	s := faultyStore(t, faulty.Options{})
	parent := waitingParent(t, s)
	step := func(id string) storage.Transition {
		return storage.Transition{ID: parent.ID, Fence: parent.Fence, From: parent.Status, To: storage.StatusWaitingForChildren,
			Children: []storage.Execution{newChild(parent, id, 1)}, ChildDelays: []time.Duration{0}}
	}
	h := newHarness(t, s, 10, nil)
	h.c.Start()

	if err := s.FailNext(faulty.MethodComplete, faulty.KindAfter); err != nil {
		t.Fatal(err)
	}
	h.c.Submit("step", step("p.1"))
	requireApplied(t, h.receive(1), true)
	if _, err := s.Get(ctx, storage.GetParams{ID: "p.1"}); err != nil {
		t.Fatalf("the step's child: %v", err)
	}

	h.c.Submit("again", step("p.1"))
	r := h.receive(1)["again"]
	if r.Applied || r.Replayed || !errors.Is(r.Err, storage.ErrDuplicate) || r.Unwritten != nil {
		t.Errorf("a clash without an ambiguous failure: %+v, want the store's ErrDuplicate", r)
	}
}

// waitingParent makes a parent that waits for its children, all finished,
// and claims it for its continuation.
func waitingParent(t *testing.T, s storage.Store) storage.Execution {
	t.Helper()
	ctx := context.Background()
	p := claimed(t, s, "p", 1)[0]
	child := newChild(p, "p.0", 0)
	spawn := storage.Transition{ID: p.ID, Fence: p.Fence, From: p.Status, To: storage.StatusWaitingForChildren,
		Children: []storage.Execution{child}, ChildDelays: []time.Duration{0}}
	if res, err := s.Complete(ctx, storage.CompleteParams{Now: base, Transitions: []storage.Transition{spawn}}); err != nil || !res[0].Applied {
		t.Fatalf("spawn: %v %v", res, err)
	}
	claim := func() storage.Execution {
		rows, err := s.Claim(ctx, storage.ClaimParams{Now: base, ExecutorID: "ex", TaskIDs: []string{task}, Limit: 1, Lease: time.Hour})
		if err != nil || len(rows) != 1 {
			t.Fatalf("claim: %v %v", rows, err)
		}
		return rows[0]
	}
	c := claim()
	if res, err := s.Complete(ctx, storage.CompleteParams{Now: base, Transitions: []storage.Transition{completed(c)}}); err != nil || !res[0].Applied {
		t.Fatalf("child: %v %v", res, err)
	}
	p = claim()
	if p.ID != "p000" || p.Status != storage.StatusWaitingForChildren {
		t.Fatalf("claimed %s (%s), want the waiting parent", p.ID, p.Status)
	}
	return p
}

func TestStopFlushesEverythingQueued(t *testing.T) {
	t.Run("BeforeStart", func(t *testing.T) {
		s := memory.New()
		rows := claimed(t, s, "r", 5)
		h := newHarness(t, s, 2, nil)
		for _, row := range rows {
			h.c.Submit(row.ID, completed(row))
		}
		h.c.Stop()
		if len(h.results) != 5 {
			t.Fatalf("%d results when Stop returned, want 5", len(h.results))
		}
		requireApplied(t, h.receive(5), false)
		requireStatus(t, s, storage.StatusCompleted, rows...)
		h.c.Start() // does nothing after Stop
		h.c.Stop()  // idempotent
		requireStopped(t, h, rows[0])
	})
	t.Run("WhileWriting", func(t *testing.T) {
		s := memory.New()
		rows := claimed(t, s, "r", 21)
		g := newGate()
		h := newHarness(t, s, 8, g.wrap)
		h.c.Start()
		h.c.Submit(rows[0].ID, completed(rows[0]))
		<-g.started
		for _, row := range rows[1:] {
			h.c.Submit(row.ID, completed(row))
		}
		stopped := make(chan struct{})
		go func() {
			h.c.Stop()
			close(stopped)
		}()
		close(g.release)
		<-stopped
		if len(h.results) != 21 {
			t.Fatalf("%d results when Stop returned, want 21", len(h.results))
		}
		requireApplied(t, h.receive(21), false)
		requireStatus(t, s, storage.StatusCompleted, rows...)
		requireStopped(t, h, rows[0])
	})
}

// requireStopped checks that a submission after Stop is given up at once.
func requireStopped(t *testing.T, h *harness, row storage.Execution) {
	t.Helper()
	h.c.Submit("late", completed(row))
	if len(h.results) != 1 {
		t.Fatal("a submission after Stop was not settled at once")
	}
	if r := h.receive(1)["late"]; !errors.Is(r.Unwritten, ErrStopped) || r.Applied {
		t.Errorf("a submission after Stop: %+v, want ErrStopped", r)
	}
	if n := h.c.Backlog(); n != 0 {
		t.Errorf("Backlog: %d, want 0", n)
	}
}

func TestStopGivesUpAfterAFewTries(t *testing.T) {
	s := memory.New()
	rows := claimed(t, s, "r", 1)
	errDown := errors.New("connection refused")
	h := newHarness(t, s, 10, func(int, storage.CompleteParams) error { return errDown })
	h.c.Submit(rows[0].ID, completed(rows[0]))
	h.c.Stop()
	if r := h.receive(1)[rows[0].ID]; !errors.Is(r.Unwritten, errDown) || r.Applied {
		t.Errorf("result: %+v, want unwritten with the store's error", r)
	}
	if got := len(h.callSizes()); got != stopTries {
		t.Errorf("%d tries while stopping, want %d", got, stopTries)
	}
	requireStatus(t, s, storage.StatusRunning, rows...)
}

func TestFatalErrorStopsRetrying(t *testing.T) {
	s := memory.New()
	rows := claimed(t, s, "r", 2)
	errCorrupt := fmt.Errorf("the file is corrupt: %w", storage.ErrFatal)
	var failing atomic.Bool
	failing.Store(true)
	h := newHarness(t, s, 10, func(int, storage.CompleteParams) error {
		if failing.Load() {
			return errCorrupt
		}
		return nil
	})
	h.c.Start()
	h.c.Submit(rows[0].ID, completed(rows[0]))
	if r := h.receive(1)[rows[0].ID]; !errors.Is(r.Unwritten, storage.ErrFatal) || r.Applied {
		t.Errorf("result: %+v, want unwritten with the fatal error", r)
	}
	if err := <-h.fatal; !errors.Is(err, errCorrupt) {
		t.Errorf("Fatal told %v, want the store's error", err)
	}
	if got := len(h.callSizes()); got != 1 {
		t.Errorf("%d tries, want 1", got)
	}
	// The completer gave up on that batch only.
	failing.Store(false)
	h.c.Submit(rows[1].ID, completed(rows[1]))
	requireApplied(t, h.receive(1), false)
	requireStatus(t, s, storage.StatusRunning, rows[0])
	requireStatus(t, s, storage.StatusCompleted, rows[1])
}

func TestClosedStoreIsNotRetried(t *testing.T) {
	s := memory.New()
	rows := claimed(t, s, "r", 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, s, 10, nil)
	h.c.Start()
	h.c.Submit(rows[0].ID, completed(rows[0]))
	if r := h.receive(1)[rows[0].ID]; !errors.Is(r.Unwritten, storage.ErrClosed) {
		t.Errorf("result: %+v, want unwritten with ErrClosed", r)
	}
	if got := len(h.callSizes()); got != 1 {
		t.Errorf("%d tries, want 1", got)
	}
	if len(h.fatal) != 0 {
		t.Error("a closed store was reported fatal")
	}
}

func TestAbandonEndsTheWaitBeforeARetry(t *testing.T) {
	s := memory.New()
	rows := claimed(t, s, "r", 1)
	errDown := errors.New("connection refused")
	h := newHarness(t, s, 10, func(int, storage.CompleteParams) error { return errDown })
	abandon, waiting := make(chan struct{}), make(chan int, 100)
	h.c.cfg.Abandon = abandon
	h.c.cfg.Backoff = func(failures int) time.Duration {
		waiting <- failures
		return time.Hour // on the fake clock: until abandoned
	}
	h.c.Start()
	h.c.Submit(rows[0].ID, completed(rows[0]))
	if n := <-waiting; n != 1 {
		t.Fatalf("backoff asked for failure %d, want 1", n)
	}
	close(abandon)
	if r := h.receive(1)[rows[0].ID]; !errors.Is(r.Unwritten, errDown) {
		t.Errorf("result: %+v, want unwritten with the store's error", r)
	}
	if got := len(h.callSizes()); got != 1 {
		t.Errorf("%d tries, want 1", got)
	}
}

// Under random faults, before and after the store applies a write, every
// submission is written and reported once.
func TestEveryResultOnce(t *testing.T) {
	s := faultyStore(t, faulty.Options{Seed: 7, Rate: 0.3, Methods: []string{faulty.MethodComplete}})
	const submitters, each = 8, 40
	rows := claimed(t, s, "r", submitters*each)
	h := newHarness(t, s, 7, nil)
	h.c.Start()
	var wg sync.WaitGroup
	for g := range submitters {
		wg.Go(func() {
			for _, row := range rows[g*each : (g+1)*each] {
				h.c.Submit(row.ID, completed(row))
			}
		})
	}
	wg.Wait()
	// Every result arrives before Stop: a stop gives up after a few tries,
	// which under a 30 % fault rate could leave writes unwritten.
	got := h.receive(len(rows))
	h.c.Stop()
	h.noMore()
	requireApplied(t, nonReplayed(got), false)
	for id, r := range got {
		if !r.Applied {
			t.Errorf("%s: %+v, want applied", id, r)
		}
	}
	requireStatus(t, s, storage.StatusCompleted, rows...)
	st := s.Stats()
	if st.ByMethod[faulty.MethodComplete][faulty.KindBefore] == 0 || st.ByMethod[faulty.MethodComplete][faulty.KindAfter] == 0 {
		t.Errorf("faults injected: %v, want both kinds", st.ByMethod)
	}
}

func nonReplayed(m map[string]Result[string]) map[string]Result[string] {
	out := map[string]Result[string]{}
	for id, r := range m {
		if !r.Replayed {
			out[id] = r
		}
	}
	return out
}

// Steady operation allocates nothing in the completer: a batch costs only
// the write's context (the store's results are the store's).
func TestSteadyStateAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const n = 100
	results := make([]storage.TransitionResult, n)
	for i := range results {
		results[i].Applied = true
	}
	settled := 0
	c := New(Config[int]{
		Complete: func(_ context.Context, p storage.CompleteParams, _ []Result[int]) ([]storage.TransitionResult, error) {
			return results[:len(p.Transitions)], nil
		},
		BatchSize: n,
		Timeout:   time.Second,
		Clock:     clock.Real(),
		Backoff:   func(int) time.Duration { return 0 },
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Done:      func(batch []Result[int]) { settled += len(batch) },
		Fatal:     func(error) {},
	})
	tr := storage.Transition{ID: "r", Fence: 1, From: storage.StatusRunning, To: storage.StatusCompleted}
	batch := func() {
		for i := range n {
			c.Submit(i, tr)
		}
		c.flush(false) // on this goroutine: the completer is not started
	}
	batch() // grow the buffers
	got := testing.AllocsPerRun(50, batch)
	ctx := testing.AllocsPerRun(50, func() {
		_, cancel := context.WithTimeout(context.Background(), time.Second)
		cancel()
	})
	if got > ctx {
		t.Errorf("a batch of %d allocates %.0f times, want at most the %.0f of its context", n, got, ctx)
	}
	if settled != 52*n { // batch() once, AllocsPerRun 1 + 50
		t.Errorf("settled %d, want %d", settled, 52*n)
	}
}
