package durable_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// fatalStore is a memory store whose Claim, Complete or Heartbeat can be
// made to fail with an error wrapping storage.ErrFatal, and that counts the
// calls made while failing.
type fatalStore struct {
	storage.Store
	claim, complete, heartbeat atomic.Bool
	failed                     atomic.Int64
	// beatsLost makes every heartbeat fail with an error that is not
	// fatal (it never reaches the store): leases lapse.
	beatsLost atomic.Bool
	// holdClaim makes the next Claim wait, once it began, until release
	// is closed (a claim in flight); claiming is closed when it waits.
	holdClaim         atomic.Bool
	claiming, release chan struct{}
	// completeFailed is closed at the first Complete failed.
	completeFailed chan struct{}
	failOnce       sync.Once
}

var errTestBeatLost = errors.New("test: the heartbeat timed out")

var errTestFatal = fmt.Errorf("test: the file is gone: %w", storage.ErrFatal)

func (s *fatalStore) fail(on *atomic.Bool) bool {
	if on.Load() {
		s.failed.Add(1)
		return true
	}
	return false
}

func (s *fatalStore) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	if s.fail(&s.claim) {
		return nil, errTestFatal
	}
	if s.holdClaim.CompareAndSwap(true, false) {
		close(s.claiming)
		<-s.release
	}
	return s.Store.Claim(ctx, p)
}

func (s *fatalStore) Complete(ctx context.Context, p storage.CompleteParams) ([]storage.TransitionResult, error) {
	if s.fail(&s.complete) {
		if s.completeFailed != nil {
			s.failOnce.Do(func() { close(s.completeFailed) })
		}
		return nil, errTestFatal
	}
	return s.Store.Complete(ctx, p)
}

func (s *fatalStore) Heartbeat(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
	if s.fail(&s.heartbeat) {
		return nil, errTestFatal
	}
	if s.beatsLost.Load() {
		return nil, errTestBeatLost
	}
	return s.Store.Heartbeat(ctx, p)
}

func newFatalExecutor(t *testing.T, cfg durable.Config) (*fatalStore, *durable.Executor) {
	t.Helper()
	s := &fatalStore{Store: memory.New()}
	t.Cleanup(func() { s.Close() })
	cfg.Logger = testLogger(t)
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	ex, err := durable.New(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, ex
}

// waitStopped waits for the executor to stop on its own and checks what it
// reports.
func waitStopped(t *testing.T, ex *durable.Executor) {
	t.Helper()
	select {
	case <-ex.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the executor did not stop on a fatal store error")
	}
	if err := ex.Err(); !errors.Is(err, durable.ErrStoreFailed) || !errors.Is(err, errTestFatal) {
		t.Fatalf("Err: want the store's fatal error, got %v", err)
	}
	ctx := context.Background()
	if err := ex.Shutdown(ctx); !errors.Is(err, errTestFatal) {
		t.Errorf("Shutdown: want the store's fatal error, got %v", err)
	}
	if err := ex.Start(ctx); !errors.Is(err, durable.ErrShutdown) || !errors.Is(err, errTestFatal) {
		t.Errorf("Start: want ErrShutdown wrapping the store's error, got %v", err)
	}
}

func TestFatalClaimErrorStopsTheExecutor(t *testing.T) {
	t.Parallel()
	s, ex := newFatalExecutor(t, durable.Config{})
	task := durable.Must(durable.NewTask(ex, "t", func(ctx context.Context, in int) (int, error) { return in, nil }))
	ctx := context.Background()
	if _, err := task.Enqueue(ctx, 1); err != nil {
		t.Fatal(err)
	}
	s.claim.Store(true)
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, ex)
	// The dispatcher, the only caller of Claim, has returned: the count is
	// final.
	select {
	case <-durable.DispatcherStopped(ex):
	default:
		t.Fatal("the executor stopped but its dispatcher did not")
	}
	if n := s.failed.Load(); n != 1 {
		t.Errorf("claims that failed fatally: %d, want 1 (none after the first)", n)
	}
	if _, err := task.Enqueue(ctx, 2); !errors.Is(err, durable.ErrShutdown) || !errors.Is(err, errTestFatal) {
		t.Errorf("Enqueue after the stop: want ErrShutdown wrapping the store's error, got %v", err)
	}
}

// A fatal error writing results stops the executor, and the runs still
// going are cancelled with that error as their cause.
func TestFatalCompleteErrorStopsTheExecutorAndItsRuns(t *testing.T) {
	t.Parallel()
	s, ex := newFatalExecutor(t, durable.Config{})
	cause := make(chan error, 1)
	blocked := make(chan struct{})
	slow := durable.Must(durable.NewTask(ex, "slow", func(ctx context.Context, in int) (int, error) {
		close(blocked)
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return 0, ctx.Err()
	}))
	fast := durable.Must(durable.NewTask(ex, "fast", func(ctx context.Context, in int) (int, error) { return in, nil }))
	ctx := context.Background()
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Enqueue(ctx, 1); err != nil {
		t.Fatal(err)
	}
	<-blocked
	s.complete.Store(true)
	if _, err := fast.Enqueue(ctx, 2); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, ex)
	select {
	case err := <-cause:
		if !errors.Is(err, errTestFatal) {
			t.Errorf("the running execution's cause: want the store's error, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the running execution was not cancelled")
	}
}

func TestFatalHeartbeatErrorStopsTheExecutor(t *testing.T) {
	t.Parallel()
	s, ex := newFatalExecutor(t, durable.Config{LeaseDuration: time.Second})
	blocked := make(chan struct{})
	var once sync.Once // under load the short lease may lapse and the task run again
	slow := durable.Must(durable.NewTask(ex, "slow", func(ctx context.Context, in int) (int, error) {
		once.Do(func() { close(blocked) })
		<-ctx.Done()
		return 0, ctx.Err()
	}))
	ctx := context.Background()
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Enqueue(ctx, 1); err != nil {
		t.Fatal(err)
	}
	<-blocked
	s.heartbeat.Store(true)
	waitStopped(t, ex)
}

// An executor whose heartbeats do not reach the store claims its own
// execution again once the lease lapsed: the run of the old claim is
// cancelled (lease lost) when the new claim is taken, and a fatal store
// error then stops the executor at once. Before, the old run went on
// unseen by the heartbeats and by the stop, which cancels the runs of the
// claims held: the stop waited for it until StorageTimeout (a minute
// here), and the run was never cancelled.
func TestOwnTakeoverCancelsTheOldRun(t *testing.T) {
	t.Parallel()
	s, ex := newFatalExecutor(t, durable.Config{LeaseDuration: 100 * time.Millisecond, StorageTimeout: time.Minute, Concurrency: 2})
	s.beatsLost.Store(true)
	runs := make(chan context.Context, 2)
	slow := durable.Must(durable.NewTask(ex, "slow", func(ctx context.Context, in int) (int, error) {
		if info, _ := durable.Info(ctx); info.Fence <= 1 { // a third claim may come while the test ends
			runs <- ctx
		}
		<-ctx.Done()
		return 0, ctx.Err()
	}, durable.WithTimeout(time.Hour)))
	ctx := context.Background()
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Enqueue(ctx, 1); err != nil {
		t.Fatal(err)
	}
	first, second := <-runs, <-runs
	for i, c := range []context.Context{first, second} {
		if info, _ := durable.Info(c); info.Fence != int64(i) {
			t.Fatalf("run %d has fence %d, want %d (the first is started directly)", i+1, info.Fence, i)
		}
	}
	select {
	case <-first.Done():
		if cause := context.Cause(first); !errors.Is(cause, durable.ErrLeaseLost) {
			t.Fatalf("the old run was cancelled with %v, want ErrLeaseLost", cause)
		}
	default:
		t.Fatal("the executor took its own execution over and its old run goes on")
	}
	s.heartbeat.Store(true)
	waitStopped(t, ex)
}

// A claim in flight when the store fails returns a row after the runs were
// cancelled: its run is cancelled as it starts (the claim is given up, as
// those held were), and the executor stops without waiting for it. Before,
// the run started uncancelled and the stop waited for it until
// StorageTimeout (a minute here).
func TestFatalErrorGivesUpTheClaimInFlight(t *testing.T) {
	t.Parallel()
	s, ex := newFatalExecutor(t, durable.Config{StorageTimeout: time.Minute, Concurrency: 2})
	s.claiming, s.release, s.completeFailed = make(chan struct{}), make(chan struct{}), make(chan struct{})
	runs := make(chan context.Context, 1)
	slow := func(ctx context.Context, in int) (int, error) {
		runs <- ctx
		<-ctx.Done()
		return 0, ctx.Err()
	}
	durable.Must(durable.NewTask(ex, "slow", slow))
	stopping := make(chan (<-chan struct{}), 1)
	quick := durable.Must(durable.NewTask(ex, "quick", func(ctx context.Context, in int) (int, error) {
		stopping <- durable.ShuttingDown(ctx)
		return 1, nil
	}))
	// The client enqueues without starting anything itself.
	client, err := durable.New(s, durable.Config{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	slowByClient := durable.Must(durable.NewTask(client, "slow", slow))

	ctx := context.Background()
	if _, err := slowByClient.Enqueue(ctx, 1); err != nil { // due before the claim's time
		t.Fatal(err)
	}
	s.holdClaim.Store(true)
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-s.claiming // the dispatcher's first claim is in flight
	s.complete.Store(true)
	if _, err := quick.Enqueue(ctx, 1); err != nil { // started here directly; its result's write fails
		t.Fatal(err)
	}
	<-s.completeFailed
	<-<-stopping     // the stop began: the runs held were cancelled
	close(s.release) // the claim takes slow
	run := <-runs
	waitStopped(t, ex)
	<-run.Done()
	if cause := context.Cause(run); !errors.Is(cause, storage.ErrFatal) {
		t.Fatalf("the run of the claim in flight was cancelled with %v, want the fatal store error", cause)
	}
}

// A clean Shutdown closes Done and leaves Err nil.
func TestDoneAfterShutdown(t *testing.T) {
	t.Parallel()
	_, ex := newFatalExecutor(t, durable.Config{})
	ctx := context.Background()
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ex.Done():
		t.Fatal("Done closed while running")
	default:
	}
	if err := ex.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ex.Done():
	default:
		t.Fatal("Done still open after Shutdown")
	}
	if err := ex.Err(); err != nil {
		t.Fatalf("Err after a clean Shutdown: %v", err)
	}
}
