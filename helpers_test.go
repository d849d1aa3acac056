package durable_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// testLogger writes the engine's logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

type bundle struct {
	store storage.Store
	ex    *durable.Executor
	ctx   context.Context
}

// setup returns a started executor on a fresh memory store; it is shut down
// at the end of the test.
func setup(t *testing.T, cfg durable.Config) *bundle {
	t.Helper()
	return setupOn(t, memory.New(), cfg, true)
}

func setupOn(t *testing.T, store storage.Store, cfg durable.Config, start bool) *bundle {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	ex, err := durable.New(store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	b := &bundle{store: store, ex: ex, ctx: ctx}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		if err := ex.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	if start {
		b.start(t)
	}
	return b
}

func (b *bundle) start(t *testing.T) {
	t.Helper()
	if err := b.ex.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits for an execution to finish and fails the test if it does
// not within the test context.
func waitFor[O any](t *testing.T, b *bundle, h *durable.Handle[O]) durable.Execution[O] {
	t.Helper()
	x, err := h.Wait(b.ctx)
	if err != nil {
		t.Fatalf("wait %s: %v", h.ID(), err)
	}
	return x
}

// eventually polls cond every millisecond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// afterDispatchRound waits until the dispatcher has finished a round
// begun after the call: it has then looked at the state the caller saw and
// claimed what that allows. It is how a test knows that the dispatcher had
// its chance to claim wrongly, which no store call shows when it rightly
// claims nothing. The round in progress at the call may have begun before
// it, so it waits for two; it wakes the dispatcher (as new work would) so
// as not to wait for the poll interval.
func afterDispatchRound(t *testing.T, ex *durable.Executor) {
	t.Helper()
	r := durable.DispatchRounds(ex)
	eventually(t, "two dispatch rounds", func() bool {
		durable.WakeDispatcher(ex)
		return durable.DispatchRounds(ex) >= r+2
	})
}

func listChildren(parentID string) storage.ListChildrenParams {
	return storage.ListChildrenParams{ParentID: parentID}
}

// watched is a store that records the claims and the result writes made
// through it, so that a test can wait until the engine has looked at the
// store again (it had its chance to do something wrong) instead of
// sleeping for a while.
type watched struct {
	storage.Store
	mu      sync.Mutex
	begun   int         // claims begun
	claims  []claimCall // claims returned, in the order they returned
	written []string    // the executions named by the result writes returned
}

// claimCall is one claim made through a watched store.
type claimCall struct {
	seq  int       // its place among the claims begun, from 1
	now  time.Time // the time it claimed at
	rows int       // how many rows it returned
}

func (w *watched) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	w.mu.Lock()
	w.begun++
	seq := w.begun
	w.mu.Unlock()
	rows, err := w.Store.Claim(ctx, p)
	w.mu.Lock()
	w.claims = append(w.claims, claimCall{seq: seq, now: p.Now, rows: len(rows)})
	w.mu.Unlock()
	return rows, err
}

func (w *watched) Complete(ctx context.Context, p storage.CompleteParams) ([]storage.TransitionResult, error) {
	res, err := w.Store.Complete(ctx, p)
	w.mu.Lock()
	for _, tr := range p.Transitions { // the caller may reuse p's slice
		w.written = append(w.written, tr.ID)
	}
	w.mu.Unlock()
	return res, err
}

// claimsBegun is how many claims have begun so far: a mark for
// awaitClaim.
func (w *watched) claimsBegun() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.begun
}

// awaitClaim waits until a claim begun after mark (see claimsBegun) has
// returned, and returns it.
func (w *watched) awaitClaim(t *testing.T, mark int) claimCall {
	t.Helper()
	var got claimCall
	eventually(t, "a claim", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		i := slices.IndexFunc(w.claims, func(c claimCall) bool { return c.seq > mark })
		if i < 0 {
			return false
		}
		got = w.claims[i]
		return true
	})
	return got
}

// lastClaim is the claim that returned last (zero before any).
func (w *watched) lastClaim() claimCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.claims) == 0 {
		return claimCall{}
	}
	return w.claims[len(w.claims)-1]
}

// wrote reports whether a result write naming execution id has returned.
func (w *watched) wrote(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Contains(w.written, id)
}
