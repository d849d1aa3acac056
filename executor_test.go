package durable_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

func TestExecutor(t *testing.T) {
	t.Parallel()

	t.Run("GracefulShutdownLetsRunsFinish", func(t *testing.T) {
		t.Parallel()
		b := setup(t, durable.Config{})
		started := make(chan struct{})
		task := durable.Must(durable.NewTask(b.ex, "saver", func(ctx context.Context, in int) (string, error) {
			close(started)
			<-durable.ShuttingDown(ctx)
			return "saved", nil
		}))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		<-started
		if err := b.ex.Shutdown(b.ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.ex.Shutdown(b.ctx); err != nil { // idempotent
			t.Fatal(err)
		}
		x := durable.Must(h.Get(b.ctx)) // reads work after shutdown
		if x.Status != durable.StatusCompleted || x.Output != "saved" {
			t.Fatalf("got %s %q", x.Status, x.Output)
		}
		if _, err := task.Enqueue(b.ctx, 2); !errors.Is(err, durable.ErrShutdown) {
			t.Errorf("enqueue after shutdown: %v", err)
		}
	})

	t.Run("HardShutdownReleasesClaimsToAnotherExecutor", func(t *testing.T) {
		t.Parallel()
		store := memory.New()
		a := setupOn(t, store, durable.Config{LeaseDuration: time.Hour}, true)
		var runs atomic.Int32
		stubborn := func(ex *durable.Executor, block bool) *durable.Task[int, int] {
			return durable.Must(durable.NewTask(ex, "stubborn", func(ctx context.Context, in int) (int, error) {
				runs.Add(1)
				if block {
					<-ctx.Done()
					return 0, ctx.Err()
				}
				return in, nil
			}))
		}
		task := stubborn(a.ex, true)
		h := durable.Must(task.Enqueue(a.ctx, 5))
		eventually(t, "running", func() bool { return runs.Load() == 1 })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := a.ex.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if x := durable.Must(h.Get(a.ctx)); x.Status != durable.StatusReady || x.Attempt != 0 {
			t.Fatalf("released execution is %s attempt %d", x.Status, x.Attempt)
		}
		b := setupOn(t, store, durable.Config{LeaseDuration: time.Hour}, false)
		taskB := stubborn(b.ex, false)
		b.start(t)
		x := waitFor(t, b, durable.Must(taskB.Handle(b.ctx, h.ID())))
		if x.Status != durable.StatusCompleted || x.Output != 5 || x.Crashes != 0 {
			t.Fatalf("got %s %d crashes=%d", x.Status, x.Output, x.Crashes)
		}
	})

	t.Run("TwoExecutorsRunEachTaskOnce", func(t *testing.T) {
		t.Parallel()
		store := memory.New()
		var mu sync.Mutex
		count := map[int]int{}
		var tasks []*durable.Task[int, int]
		var b *bundle
		for range 2 {
			b = setupOn(t, store, durable.Config{Concurrency: 8}, true)
			tasks = append(tasks, durable.Must(durable.NewTask(b.ex, "once", func(ctx context.Context, in int) (int, error) {
				mu.Lock()
				count[in]++
				mu.Unlock()
				return in, nil
			})))
		}
		inputs := make([]int, 200)
		for i := range inputs {
			inputs[i] = i
		}
		for _, h := range durable.Must(tasks[0].EnqueueMany(b.ctx, inputs)) {
			waitFor(t, b, h)
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range 200 {
			if count[i] != 1 {
				t.Fatalf("task %d ran %d times", i, count[i])
			}
		}
	})

	t.Run("UnknownTaskWaitsForAnExecutorThatKnowsIt", func(t *testing.T) {
		t.Parallel()
		store := memory.New()
		producer := setupOn(t, store, durable.Config{}, false)
		newTask := durable.Must(durable.NewTask(producer.ex, "v2_only", func(ctx context.Context, in int) (int, error) { return in + 1, nil }))
		oldStore := &watched{Store: store}
		old := setupOn(t, oldStore, durable.Config{}, true)
		durable.Must(durable.NewTask(old.ex, "v1_task", func(ctx context.Context, in int) (int, error) { return in, nil }))
		h := durable.Must(newTask.Enqueue(producer.ctx, 1))
		// The old executor claims again after the insert, and takes nothing.
		if c := oldStore.awaitClaim(t, oldStore.claimsBegun()); c.rows != 0 {
			t.Fatalf("an executor without the task claimed %d rows", c.rows)
		}
		if x := durable.Must(h.Get(producer.ctx)); x.Status != durable.StatusReady {
			t.Fatalf("an executor without the task touched it: %s", x.Status)
		}
		producer.start(t)
		if x := waitFor(t, producer, h); x.Output != 2 {
			t.Fatalf("got %d", x.Output)
		}
	})

	t.Run("LapsedLeaseIsTakenOverAndCounted", func(t *testing.T) {
		t.Parallel()
		fc := clock.NewFake(epoch)
		b := setupOn(t, memory.New(), durable.Config{Clock: fc, LeaseDuration: time.Second}, false)
		var prev atomic.Value
		task := durable.Must(durable.NewTask(b.ex, "recovered", func(ctx context.Context, in int) (int, error) {
			info, _ := durable.Info(ctx)
			prev.Store(info.PrevError)
			return info.Crashes, nil
		}))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		if rows := claimAs(t, b, fc.Now(), "dead_executor", time.Second, "recovered"); len(rows) != 1 {
			t.Fatalf("claimed %d", len(rows))
		}
		b.start(t)
		advanceUntil(t, fc, 200*time.Millisecond, "takeover", func() bool { x, _ := h.Get(b.ctx); return x.Status.Terminal() })
		x := waitFor(t, b, h)
		if x.Status != durable.StatusCompleted || x.Output != 1 || x.Crashes != 1 {
			t.Fatalf("got %s out=%d crashes=%d", x.Status, x.Output, x.Crashes)
		}
		if pe, _ := prev.Load().(*durable.ExecutionError); pe == nil || !errors.Is(pe, durable.ErrLeaseLost) {
			t.Errorf("PrevError = %v, want lease lost", prev.Load())
		}
	})

	t.Run("CrashBudgetEndsACrashLoop", func(t *testing.T) {
		t.Parallel()
		fc := clock.NewFake(epoch)
		b := setupOn(t, memory.New(), durable.Config{Clock: fc, CrashBudget: 2}, false)
		var runs atomic.Int32
		task := durable.Must(durable.NewTask(b.ex, "killer", func(ctx context.Context, in int) (int, error) {
			runs.Add(1)
			return in, nil
		}))
		h := durable.Must(task.Enqueue(b.ctx, 1))
		for range 3 { // the process "dies" three times while running it
			if rows := claimAs(t, b, fc.Now(), "doomed", time.Second, "killer"); len(rows) != 1 {
				t.Fatal("no claim")
			}
			fc.Advance(2 * time.Second)
		}
		b.start(t)
		x := waitFor(t, b, h)
		if x.Status != durable.StatusFailed || !errors.Is(x.Err, durable.ErrCrashBudget) || runs.Load() != 0 {
			t.Fatalf("got %s runs=%d %+v", x.Status, runs.Load(), x.Err)
		}
	})

	t.Run("StableIdentityTakesBackWorkAtOnce", func(t *testing.T) {
		t.Parallel()
		fc := clock.NewFake(epoch)
		store := memory.New()
		b := setupOn(t, store, durable.Config{Clock: fc, ExecutorID: "host-1", LeaseDuration: time.Hour}, false)
		task := durable.Must(durable.NewTask(b.ex, "mine", func(ctx context.Context, in int) (int, error) { return in, nil }))
		h := durable.Must(task.Enqueue(b.ctx, 9))
		claimAs(t, b, fc.Now(), "host-1", time.Hour, "mine") // the previous incarnation
		b.start(t)                                           // no clock advance: the lease has not lapsed
		if x := waitFor(t, b, h); x.Status != durable.StatusCompleted || x.Output != 9 {
			t.Fatalf("got %s", x.Status)
		}
	})

	t.Run("StaleRunCannotOverwriteTakeover", func(t *testing.T) {
		t.Parallel()
		fc := clock.NewFake(epoch)
		store := memory.New()
		storeA := &watched{Store: store}
		a := setupOn(t, storeA, durable.Config{Clock: fc, LeaseDuration: time.Second}, false)
		release := make(chan struct{})
		startedA := make(chan struct{})
		durable.Must(durable.NewTask(a.ex, "fenced", func(ctx context.Context, in int) (string, error) {
			close(startedA)
			<-release // ignores its context: a paused process
			return "stale", nil
		}))
		a.start(t)
		b := setupOn(t, store, durable.Config{Clock: fc, LeaseDuration: time.Second}, false)
		tb := durable.Must(durable.NewTask(b.ex, "fenced", func(ctx context.Context, in int) (string, error) { return "fresh", nil }))
		h := durable.Must(tb.Enqueue(b.ctx, 1))
		<-startedA
		// A's lease lapses without renewal: simulate a paused executor by
		// taking the row over directly in the store, as a lapse would allow.
		rows := claimAs(t, b, fc.Now().Add(2*time.Second), "intruder", time.Hour, "fenced")
		if len(rows) != 1 {
			t.Fatalf("takeover claimed %d", len(rows))
		}
		close(release)
		eventually(t, "A writes its stale result", func() bool { return storeA.wrote(h.ID()) })
		if x := durable.Must(h.Get(b.ctx)); x.Status != durable.StatusRunning || x.Crashes != 1 {
			t.Fatalf("stale result accepted: %s %q", x.Status, x.Output)
		}
	})
}

func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{Concurrency: 3})
	var running, peak atomic.Int32
	release := make(chan struct{})
	task := durable.Must(durable.NewTask(b.ex, "limited", func(ctx context.Context, in int) (int, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return in, nil
	}))
	hs := durable.Must(task.EnqueueMany(b.ctx, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}))
	claimed := func() (n int) {
		for _, h := range hs {
			if x := durable.Must(h.Get(b.ctx)); x.Status == durable.StatusRunning {
				n++
			}
		}
		return n
	}
	eventually(t, "three running", func() bool { return running.Load() == 3 })
	// The dispatcher had its chance to claim a fourth if the limit leaked.
	afterDispatchRound(t, b.ex)
	if p, n := peak.Load(), claimed(); p != 3 || n != 3 {
		t.Fatalf("peak concurrency %d, %d claimed; want 3 and 3", p, n)
	}
	close(release)
	for _, h := range hs {
		waitFor(t, b, h)
	}
	if p := peak.Load(); p > 3 {
		t.Fatalf("peak concurrency %d, want <= 3", p)
	}
}

// upperCodec is a codec that stores JSON upper-cased: it shows the codec
// really is the executor's.
type upperCodec struct{ durable.JSONCodec }

func (c upperCodec) Encode(v any) ([]byte, error) {
	b, err := c.JSONCodec.Encode(v)
	return bytes.ToUpper(b), err
}

func TestCustomCodec(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{Codec: upperCodec{}})
	task := durable.Must(durable.NewTask(b.ex, "shout", func(ctx context.Context, in string) (string, error) {
		return in + "!", nil
	}))
	h := durable.Must(task.Enqueue(b.ctx, "hey"))
	x := waitFor(t, b, h)
	if x.Output != "HEY!" {
		t.Fatalf("output %q, want HEY! (input stored upper-cased by the codec)", x.Output)
	}
	row, err := b.store.Get(b.ctx, storage.GetParams{ID: h.ID()})
	if err != nil || string(row.Output) != `"HEY!"` {
		t.Fatalf("stored output %q %v", row.Output, err)
	}
}

// TestFewFreeSlotsStillClaim checks that an executor whose free capacity is
// below a useful claim batch still takes new work at once.
func TestFewFreeSlotsStillClaim(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{Concurrency: 10})
	release := make(chan struct{})
	var running atomic.Int32
	block := durable.Must(durable.NewTask(b.ex, "block", func(ctx context.Context, in int) (int, error) {
		running.Add(1)
		<-release
		return in, nil
	}))
	quick := durable.Must(durable.NewTask(b.ex, "quick", func(ctx context.Context, in int) (int, error) { return in, nil }))
	blocked := durable.Must(block.EnqueueMany(b.ctx, []int{1, 2, 3, 4, 5, 6, 7, 8}))
	eventually(t, "eight running", func() bool { return running.Load() == 8 })
	x := waitFor(t, b, durable.Must(quick.Enqueue(b.ctx, 42)))
	if x.Output != 42 || running.Load() != 8 {
		t.Fatalf("got %d with %d blocked", x.Output, running.Load())
	}
	close(release)
	for _, h := range blocked {
		waitFor(t, b, h)
	}
}

// TestClaimAhead checks Config.ClaimAhead: the executor claims up to
// Concurrency + ClaimAhead executions when its runs are quick, runs at most
// Concurrency of them, starts the waiting ones as slots free up, gives back
// those still waiting at Shutdown, unrun, and those that would wait too
// long when runs become slow; before any run has finished, it claims only
// what can start.
func TestClaimAhead(t *testing.T) {
	t.Parallel()
	claimed := func(b *bundle, ids []string) (running int) {
		for _, id := range ids {
			row, err := b.store.Get(b.ctx, storage.GetParams{ID: id})
			if err != nil {
				t.Fatal(err)
			}
			if row.Status == storage.StatusRunning {
				running++
			}
		}
		return running
	}
	// blocking registers a task whose runs of input 0 return at once (to
	// set the executor's pace) and of other inputs block until release is
	// closed; ran records the inputs that ran.
	type blocking struct {
		task    *durable.Task[int, int]
		release chan struct{}
		mu      sync.Mutex
		ran     map[int]bool
	}
	newBlocking := func(b *bundle) *blocking {
		bl := &blocking{release: make(chan struct{}), ran: map[int]bool{}}
		bl.task = durable.Must(durable.NewTask(b.ex, "blocking", func(ctx context.Context, in int) (int, error) {
			bl.mu.Lock()
			bl.ran[in] = true
			bl.mu.Unlock()
			if in != 0 {
				select {
				case <-bl.release:
				case <-durable.ShuttingDown(ctx):
				}
			}
			return in, nil
		}))
		return bl
	}
	// start sets up an executor whose runs count as quick however long
	// they block, with the blocking task.
	start := func(t *testing.T, concurrency, ahead int) (*bundle, *blocking) {
		b := setup(t, durable.Config{Concurrency: concurrency, ClaimAhead: ahead, LeaseDuration: time.Hour})
		durable.SetAheadWait(b.ex, time.Hour)
		return b, newBlocking(b)
	}
	// finish releases the blocked runs and waits until every handle has
	// completed.
	finish := func(b *bundle, bl *blocking, hs []*durable.Handle[int]) {
		close(bl.release)
		for _, h := range hs {
			if x := waitFor(t, b, h); x.Status != durable.StatusCompleted {
				t.Fatalf("%s ended %s", h.ID(), x.Status)
			}
		}
	}
	hasRun := func(bl *blocking, in int) bool {
		bl.mu.Lock()
		defer bl.mu.Unlock()
		return bl.ran[in]
	}
	// enqueue sets the pace with a quick run, then enqueues ins.
	enqueue := func(b *bundle, bl *blocking, ins []int) ([]*durable.Handle[int], []string) {
		waitFor(t, b, durable.Must(bl.task.Enqueue(b.ctx, 0)))
		hs := durable.Must(bl.task.EnqueueMany(b.ctx, ins))
		ids := make([]string, len(hs))
		for i, h := range hs {
			ids[i] = h.ID()
		}
		return hs, ids
	}

	t.Run("ClaimsAheadRunsAtMostConcurrency", func(t *testing.T) {
		t.Parallel()
		b, bl := start(t, 2, 3)
		hs, ids := enqueue(b, bl, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
		started := func() (n int) {
			for i := 1; i <= 10; i++ {
				if hasRun(bl, i) {
					n++
				}
			}
			return n
		}
		// Claimed rows are running in the store before their runs start.
		eventually(t, "five claimed, two runs started", func() bool { return claimed(b, ids) == 5 && started() == 2 })
		// The dispatcher had its chance to claim more if a limit leaked.
		afterDispatchRound(t, b.ex)
		if n := claimed(b, ids); n != 5 {
			t.Fatalf("%d executions claimed, want 5 (Concurrency 2 + ClaimAhead 3)", n)
		}
		if n := started(); n != 2 {
			t.Fatalf("%d runs started, want 2", n)
		}
		finish(b, bl, hs)
	})

	t.Run("NoClaimAheadBeforeARunFinished", func(t *testing.T) {
		t.Parallel()
		b, bl := start(t, 2, 3)
		hs := durable.Must(bl.task.EnqueueMany(b.ctx, []int{1, 2, 3, 4, 5, 6}))
		ids := make([]string, len(hs))
		for i, h := range hs {
			ids[i] = h.ID()
		}
		eventually(t, "two claimed", func() bool { return claimed(b, ids) == 2 })
		// The dispatcher had its chance to claim ahead wrongly.
		afterDispatchRound(t, b.ex)
		if n := claimed(b, ids); n != 2 {
			t.Fatalf("%d executions claimed before any run finished, want 2 (only what can start)", n)
		}
		close(bl.release)
		for _, h := range hs {
			waitFor(t, b, h)
		}
	})

	t.Run("GivesBackWhatWouldWaitTooLong", func(t *testing.T) {
		t.Parallel()
		b, bl := start(t, 1, 3)
		hs, ids := enqueue(b, bl, []int{1, 2, 3, 4})
		eventually(t, "four claimed", func() bool { return claimed(b, ids) == 4 })
		// Runs now block for long: what waits beyond the slot goes back.
		durable.SetAheadWait(b.ex, time.Millisecond)
		eventually(t, "three given back", func() bool { return claimed(b, ids) == 1 })
		for _, id := range ids {
			row := durable.Must(b.store.Get(b.ctx, storage.GetParams{ID: id}))
			if row.Status == storage.StatusReady && row.ExecutorID != "" {
				t.Errorf("%s given back but still names executor %q", id, row.ExecutorID)
			}
		}
		finish(b, bl, hs)
	})

	t.Run("CancelledWhileWaitingNeverStarts", func(t *testing.T) {
		t.Parallel()
		b, bl := start(t, 1, 2)
		// The fourth is claimed after the third, and so starts on the one
		// slot only once the third has had its turn.
		hs, ids := enqueue(b, bl, []int{1, 2, 3, 4})
		eventually(t, "three claimed, the first running", func() bool { return claimed(b, ids) == 3 && hasRun(bl, 1) })
		if err := hs[2].Cancel(b.ctx); err != nil {
			t.Fatal(err)
		}
		close(bl.release)
		if x := waitFor(t, b, hs[1]); x.Status != durable.StatusCompleted {
			t.Fatalf("second ended %s", x.Status)
		}
		if x := waitFor(t, b, hs[2]); x.Status != durable.StatusCancelled {
			t.Fatalf("third ended %s, want cancelled", x.Status)
		}
		if x := waitFor(t, b, hs[3]); x.Status != durable.StatusCompleted {
			t.Fatalf("fourth ended %s", x.Status)
		}
		if hasRun(bl, 3) {
			t.Fatal("the execution cancelled while it waited for a slot ran")
		}
	})

	t.Run("ShutdownGivesBackWaitingClaims", func(t *testing.T) {
		t.Parallel()
		b, bl := start(t, 1, 2)
		_, ids := enqueue(b, bl, []int{1, 2, 3})
		eventually(t, "three claimed, one running", func() bool { return claimed(b, ids) == 3 && hasRun(bl, 1) })
		if err := b.ex.Shutdown(b.ctx); err != nil {
			t.Fatal(err)
		}
		if hasRun(bl, 2) || hasRun(bl, 3) {
			t.Fatal("waiting claims started after shutdown began")
		}
		var completed, ready int
		for _, id := range ids {
			row := durable.Must(b.store.Get(b.ctx, storage.GetParams{ID: id}))
			switch {
			case row.Status == storage.StatusCompleted:
				completed++
			case row.Status == storage.StatusReady && row.ExecutorID == "":
				ready++
			default:
				t.Errorf("%s: status %s, executor %q after shutdown", id, row.Status, row.ExecutorID)
			}
		}
		if completed != 1 || ready != 2 {
			t.Fatalf("after shutdown: %d completed, %d ready; want 1 and 2", completed, ready)
		}
	})
}

// claimCounter is a store that counts the rows its claims return.
type claimCounter struct {
	storage.Store
	rows atomic.Int64
}

func (c *claimCounter) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	rows, err := c.Store.Claim(ctx, p)
	c.rows.Add(int64(len(rows)))
	return rows, err
}

// TestDirectStart checks that a started executor with a free slot inserts
// what it enqueues already claimed by itself and runs it without a claim,
// and that without a free slot the execution is enqueued ready.
func TestDirectStart(t *testing.T) {
	t.Parallel()
	store := &claimCounter{Store: memory.New()}
	b := setupOn(t, store, durable.Config{Concurrency: 1}, true)
	release := make(chan struct{})
	started := make(chan int, 2)
	task := durable.Must(durable.NewTask(b.ex, "direct", func(ctx context.Context, in int) (int, error) {
		started <- in
		<-release
		return in, nil
	}))

	first := durable.Must(task.Enqueue(b.ctx, 1))
	row := durable.Must(b.store.Get(b.ctx, storage.GetParams{ID: first.ID()}))
	if row.Status != storage.StatusRunning || row.ExecutorID != b.ex.ID() || row.Fence != 0 || row.DueAt.IsZero() {
		t.Fatalf("right after Enqueue: status %s, executor %q, fence %d, due %v; want running, %q, 0, the lease",
			row.Status, row.ExecutorID, row.Fence, row.DueAt, b.ex.ID())
	}
	if in := <-started; in != 1 {
		t.Fatalf("started %d", in)
	}

	second := durable.Must(task.Enqueue(b.ctx, 2)) // the only slot is taken
	if row := durable.Must(b.store.Get(b.ctx, storage.GetParams{ID: second.ID()})); row.Status != storage.StatusReady && row.ExecutorID == b.ex.ID() && row.Fence == 0 {
		t.Fatalf("with no free slot the execution was claimed at insert (status %s)", row.Status)
	}
	close(release)
	for _, h := range []*durable.Handle[int]{first, second} {
		if x := waitFor(t, b, h); x.Status != durable.StatusCompleted {
			t.Fatalf("%s ended %s", h.ID(), x.Status)
		}
	}
	if n := store.rows.Load(); n != 1 {
		t.Fatalf("claims returned %d rows, want 1 (the second execution only)", n)
	}
}
