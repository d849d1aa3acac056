package faulty_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/faulty"
	"github.com/durable-go/durable/storage/memory"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

type bundle struct {
	inner *memory.Store
	s     *faulty.Store
	ctx   context.Context
}

func setup(t *testing.T, o faulty.Options) *bundle {
	t.Helper()
	inner := memory.New()
	t.Cleanup(func() { _ = inner.Close() })
	s, err := faulty.New(inner, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return &bundle{inner: inner, s: s, ctx: ctx}
}

func row(id string) storage.Execution {
	return storage.Execution{ID: id, TaskID: "t", Status: storage.StatusReady, Input: []byte(`1`)}
}

// insertInner stores rows directly in the inner store, bypassing faults.
func (b *bundle) insertInner(t *testing.T, ids ...string) {
	t.Helper()
	rows := make([]storage.Execution, len(ids))
	for i, id := range ids {
		rows[i] = row(id)
	}
	if err := b.inner.Insert(b.ctx, storage.InsertParams{Now: t0, Executions: rows}); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) innerHas(id string) bool {
	_, err := b.inner.Get(b.ctx, storage.GetParams{ID: id})
	return err == nil
}

// checkInjected fails unless err is an injected fault that wraps none of
// the storage sentinels.
func checkInjected(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, faulty.ErrInjected) {
		t.Fatalf("want an injected fault, got %v", err)
	}
	for _, s := range []error{storage.ErrNotFound, storage.ErrDuplicate, storage.ErrNotDeletable, storage.ErrClosed} {
		if errors.Is(err, s) {
			t.Fatalf("injected fault %q wraps the sentinel %q", err, s)
		}
	}
}

func TestAfterFaultsApplyTheOperation(t *testing.T) {
	t.Parallel()

	t.Run("Claim", func(t *testing.T) {
		t.Parallel()
		b := setup(t, faulty.Options{Rate: 1, Kinds: []faulty.Kind{faulty.KindAfter}})
		b.insertInner(t, "a")
		rows, err := b.s.Claim(b.ctx, storage.ClaimParams{Now: t0, ExecutorID: "x", TaskIDs: []string{"t"}, Limit: 5, Lease: time.Minute})
		checkInjected(t, err)
		if rows != nil {
			t.Errorf("a failed call returned rows: %v", rows)
		}
		got, _ := b.inner.Get(b.ctx, storage.GetParams{ID: "a"})
		if got.Status != storage.StatusRunning || got.Fence != 1 || got.ExecutorID != "x" {
			t.Errorf("claim not applied: %s fence %d executor %q", got.Status, got.Fence, got.ExecutorID)
		}
	})

	t.Run("Complete", func(t *testing.T) {
		t.Parallel()
		b := setup(t, faulty.Options{})
		b.insertInner(t, "a")
		rows, err := b.inner.Claim(b.ctx, storage.ClaimParams{Now: t0, ExecutorID: "x", TaskIDs: []string{"t"}, Limit: 1, Lease: time.Minute})
		if err != nil || len(rows) != 1 {
			t.Fatalf("claim: %v %v", rows, err)
		}
		if err := b.s.FailNext(faulty.MethodComplete, faulty.KindAfter); err != nil {
			t.Fatal(err)
		}
		_, err = b.s.Complete(b.ctx, storage.CompleteParams{Now: t0, Transitions: []storage.Transition{{
			ID: "a", Fence: rows[0].Fence, From: storage.StatusRunning, To: storage.StatusCompleted, Output: []byte(`2`)}}})
		checkInjected(t, err)
		got, _ := b.inner.Get(b.ctx, storage.GetParams{ID: "a"})
		if got.Status != storage.StatusCompleted || string(got.Output) != "2" {
			t.Errorf("complete not applied: %s %q", got.Status, got.Output)
		}
	})

	t.Run("Insert", func(t *testing.T) {
		t.Parallel()
		b := setup(t, faulty.Options{Rate: 1, Kinds: []faulty.Kind{faulty.KindAfter}})
		err := b.s.Insert(b.ctx, storage.InsertParams{Now: t0, Executions: []storage.Execution{row("a")}})
		checkInjected(t, err)
		if !strings.Contains(err.Error(), "Insert") || !strings.Contains(err.Error(), "after") {
			t.Errorf("message %q does not name the method and the kind", err)
		}
		if !b.innerHas("a") {
			t.Error("insert not applied")
		}
		if st := b.s.Stats(); st.Injected[faulty.KindAfter] != 1 || st.ByMethod[faulty.MethodInsert][faulty.KindAfter] != 1 {
			t.Errorf("stats: %v", st)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		b := setup(t, faulty.Options{})
		done := row("a")
		done.Status = storage.StatusCompleted
		if err := b.inner.Insert(b.ctx, storage.InsertParams{Now: t0, Executions: []storage.Execution{done}}); err != nil {
			t.Fatal(err)
		}
		if err := b.s.FailNext(faulty.MethodDelete, faulty.KindAfter); err != nil {
			t.Fatal(err)
		}
		n, err := b.s.Delete(b.ctx, storage.DeleteParams{IDs: []string{"a"}})
		checkInjected(t, err)
		if n != 0 {
			t.Errorf("a failed call returned %d", n)
		}
		if b.innerHas("a") {
			t.Error("delete not applied")
		}
		_, err = b.s.Delete(b.ctx, storage.DeleteParams{IDs: []string{"a"}})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("retry of the delete: want ErrNotFound, got %v", err)
		}
	})

	t.Run("InnerErrorWins", func(t *testing.T) {
		t.Parallel()
		b := setup(t, faulty.Options{Rate: 1, Kinds: []faulty.Kind{faulty.KindAfter}})
		b.insertInner(t, "a")
		err := b.s.Insert(b.ctx, storage.InsertParams{Now: t0, Executions: []storage.Execution{row("a")}})
		if !errors.Is(err, storage.ErrDuplicate) || errors.Is(err, faulty.ErrInjected) {
			t.Fatalf("want the inner store's duplicate error, got %v", err)
		}
		_, err = b.s.Get(b.ctx, storage.GetParams{ID: "missing"})
		if !errors.Is(err, storage.ErrNotFound) || errors.Is(err, faulty.ErrInjected) {
			t.Fatalf("want the inner store's not found error, got %v", err)
		}
		if n := b.s.Stats().Faults(); n != 0 {
			t.Errorf("counted %d faults where none was injected", n)
		}
	})
}

func TestBeforeFaultsDoNotApply(t *testing.T) {
	t.Parallel()
	b := setup(t, faulty.Options{Rate: 1, Kinds: []faulty.Kind{faulty.KindBefore}})
	err := b.s.Insert(b.ctx, storage.InsertParams{Now: t0, Executions: []storage.Execution{row("a")}})
	checkInjected(t, err)
	if b.innerHas("a") {
		t.Error("a before fault let the insert through")
	}
	_, err = b.s.Get(b.ctx, storage.GetParams{ID: "missing"})
	checkInjected(t, err) // not ErrNotFound: the store was never asked
}

// callAll calls every decorated method once and returns their errors by
// method name.
func callAll(ctx context.Context, s *faulty.Store) map[string]error {
	lease := []storage.Lease{{ID: "a", Fence: 1}}
	errs := map[string]error{}
	errs[faulty.MethodInsert] = s.Insert(ctx, storage.InsertParams{Now: t0, Executions: []storage.Execution{row("new")}})
	_, errs[faulty.MethodGet] = s.Get(ctx, storage.GetParams{ID: "a"})
	_, errs[faulty.MethodGetBySleepKey] = s.GetBySleepKey(ctx, storage.GetBySleepKeyParams{SleepKey: "k"})
	_, errs[faulty.MethodListChildren] = s.ListChildren(ctx, storage.ListChildrenParams{ParentID: "a"})
	_, errs[faulty.MethodClaim] = s.Claim(ctx, storage.ClaimParams{Now: t0, ExecutorID: "x", TaskIDs: []string{"t"}, Limit: 1, Lease: time.Minute})
	_, _, errs[faulty.MethodNextDue] = s.NextDue(ctx, storage.NextDueParams{Now: t0, TaskIDs: []string{"t"}})
	_, errs[faulty.MethodHeartbeat] = s.Heartbeat(ctx, storage.HeartbeatParams{Now: t0, Lease: time.Minute, Leases: lease})
	_, errs[faulty.MethodComplete] = s.Complete(ctx, storage.CompleteParams{Now: t0})
	_, errs[faulty.MethodCancel] = s.Cancel(ctx, storage.CancelParams{Now: t0, ID: "a", Error: storage.ErrorInfo{Kind: storage.ErrorKindCancelled}})
	errs[faulty.MethodRelease] = s.Release(ctx, storage.ReleaseParams{Now: t0, Leases: lease})
	_, errs[faulty.MethodRecover] = s.Recover(ctx, storage.RecoverParams{Now: t0, ExecutorID: "x"})
	_, errs[faulty.MethodList] = s.List(ctx, storage.ListParams{Limit: 10})
	_, errs[faulty.MethodCount] = s.Count(ctx, storage.CountParams{Now: t0})
	_, errs[faulty.MethodDelete] = s.Delete(ctx, storage.DeleteParams{IDs: []string{"a"}}) // cancelled above
	_, errs[faulty.MethodDeleteExpired] = s.DeleteExpired(ctx, storage.DeleteExpiredParams{
		Statuses: []storage.Status{storage.StatusCompleted}, Before: t0, Limit: 10})
	_, errs[faulty.MethodLead] = s.Lead(ctx, storage.LeadParams{Now: t0, Name: "n", Owner: "x", TTL: time.Minute})
	return errs
}

func TestEveryMethodIsDecorated(t *testing.T) {
	t.Parallel()
	b := setup(t, faulty.Options{})
	b.insertInner(t, "a")
	for _, m := range faulty.Methods {
		if err := b.s.FailNext(m, faulty.KindBefore); err != nil {
			t.Fatal(err)
		}
	}
	errs := callAll(b.ctx, b.s)
	for _, m := range faulty.Methods {
		if !errors.Is(errs[m], faulty.ErrInjected) || !strings.Contains(errs[m].Error(), m) {
			t.Errorf("%s: want an injected fault naming the method, got %v", m, errs[m])
		}
	}
	st := b.s.Stats()
	if st.Calls != int64(len(faulty.Methods)) || st.Injected[faulty.KindBefore] != int64(len(faulty.Methods)) {
		t.Errorf("stats: %v", st)
	}
	// The script is used up: the same calls now succeed.
	for m, err := range callAll(b.ctx, b.s) {
		if err != nil && m != faulty.MethodGetBySleepKey { // no sleeping row: not found
			t.Errorf("%s after the script: %v", m, err)
		}
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	const calls, rate = 4000, 0.1
	b := setup(t, faulty.Options{Seed: 7, Rate: rate})
	b.insertInner(t, "a")
	failed := 0
	for range calls {
		if _, err := b.s.Get(b.ctx, storage.GetParams{ID: "a"}); err != nil {
			checkInjected(t, err)
			failed++
		}
	}
	st := b.s.Stats()
	// Binomial(4000, 0.1): mean 400, sd 19. Allow 5 sd.
	if math.Abs(float64(failed)-calls*rate) > 95 || int64(failed) != st.Faults() || st.Calls != calls {
		t.Fatalf("%d of %d calls failed at rate %v; stats %v", failed, calls, rate, st)
	}
	for _, k := range []faulty.Kind{faulty.KindBefore, faulty.KindAfter} {
		if n := st.Injected[k]; n < 130 || n > 270 { // mean 200, sd 13
			t.Errorf("%s faults: %d, want about half of %d", k, n, failed)
		}
	}
	t.Logf("%v", st)
}

// pattern records which of n Get calls failed, and how.
func pattern(t *testing.T, seed int64, n int) []string {
	b := setup(t, faulty.Options{Seed: seed, Rate: 0.2, Kinds: faulty.AllKinds, MaxLatency: time.Microsecond})
	b.insertInner(t, "a")
	out := make([]string, n)
	for i := range out {
		_, err := b.s.Get(b.ctx, storage.GetParams{ID: "a"})
		out[i] = fmt.Sprint(err)
	}
	return out
}

func TestDeterministicPerSeed(t *testing.T) {
	t.Parallel()
	a, a2, c := pattern(t, 1, 300), pattern(t, 1, 300), pattern(t, 2, 300)
	if strings.Join(a, "\n") != strings.Join(a2, "\n") {
		t.Error("the same seed gave different fault patterns")
	}
	if strings.Join(a, "\n") == strings.Join(c, "\n") {
		t.Error("different seeds gave the same fault pattern")
	}
}

func TestSetRateAndDisable(t *testing.T) {
	t.Parallel()
	b := setup(t, faulty.Options{Rate: 0})
	b.insertInner(t, "a")
	get := func() error { _, err := b.s.Get(b.ctx, storage.GetParams{ID: "a"}); return err }
	if err := get(); err != nil {
		t.Fatalf("rate 0: %v", err)
	}
	if err := b.s.SetRate(1); err != nil {
		t.Fatal(err)
	}
	checkInjected(t, get())
	b.s.Disable()
	if err := get(); err != nil || b.s.Rate() != 0 {
		t.Fatalf("disabled: %v (rate %v)", err, b.s.Rate())
	}
	for _, r := range []float64{-0.1, 1.5, math.NaN()} {
		if err := b.s.SetRate(r); err == nil || !strings.Contains(err.Error(), "rate") {
			t.Errorf("SetRate(%v): %v", r, err)
		}
	}
	if b.s.Rate() != 0 {
		t.Errorf("a refused rate changed the rate to %v", b.s.Rate())
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()

	t.Run("DelaysThenRuns", func(t *testing.T) {
		t.Parallel()
		b := setup(t, faulty.Options{Rate: 1, Kinds: []faulty.Kind{faulty.KindLatency}, MaxLatency: 5 * time.Millisecond})
		for i := range 10 {
			err := b.s.Insert(b.ctx, storage.InsertParams{Now: t0, Executions: []storage.Execution{row(fmt.Sprint("r", i))}})
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := b.s.Stats().Injected[faulty.KindLatency]; n != 10 {
			t.Errorf("latency faults: %d", n)
		}
	})

	t.Run("ContextEndsFirst", func(t *testing.T) {
		t.Parallel()
		b := setup(t, faulty.Options{Rate: 1, Kinds: []faulty.Kind{faulty.KindLatency}, MaxLatency: time.Hour})
		ctx, cancel := context.WithTimeout(b.ctx, 20*time.Millisecond)
		defer cancel()
		err := b.s.Insert(ctx, storage.InsertParams{Now: t0, Executions: []storage.Execution{row("a")}})
		checkInjected(t, err)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("want the context's error wrapped, got %v", err)
		}
		if b.innerHas("a") {
			t.Error("insert applied although the context ended during the latency")
		}
	})
}

func TestMethodsOption(t *testing.T) {
	t.Parallel()
	b := setup(t, faulty.Options{Rate: 1, Methods: []string{faulty.MethodNextDue}})
	b.insertInner(t, "a")
	for m, err := range callAll(b.ctx, b.s) {
		switch {
		case m == faulty.MethodNextDue:
			checkInjected(t, err)
		case m == faulty.MethodGetBySleepKey:
		case err != nil:
			t.Errorf("%s is not in Methods but failed: %v", m, err)
		}
	}
}

func TestFailNextOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, faulty.Options{})
	b.insertInner(t, "a")
	_ = b.s.FailNext(faulty.MethodGet, faulty.KindAfter)
	_ = b.s.FailNext(faulty.MethodGet, faulty.KindBefore)
	for _, want := range []string{"after", "before", ""} {
		_, err := b.s.Get(b.ctx, storage.GetParams{ID: "a"})
		if want == "" {
			if err != nil {
				t.Fatalf("script used up, got %v", err)
			}
			continue
		}
		checkInjected(t, err)
		if !strings.Contains(err.Error(), want) {
			t.Errorf("want a %s fault, got %v", want, err)
		}
	}
	if err := b.s.FailNext("Frobnicate", faulty.KindBefore); err == nil || !strings.Contains(err.Error(), "Frobnicate") {
		t.Errorf("unknown method: %v", err)
	}
	if err := b.s.FailNext(faulty.MethodGet, "sideways"); err == nil || !strings.Contains(err.Error(), "sideways") {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b := setup(t, faulty.Options{Seed: 3, Rate: 0.3})
	b.insertInner(t, "a")
	const workers, calls = 8, 200
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				if _, err := b.s.Get(b.ctx, storage.GetParams{ID: "a"}); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	for range 20 { // switching while in use
		_ = b.s.SetRate(0.3)
		_ = b.s.Stats()
	}
	wg.Wait()
	st := b.s.Stats()
	if st.Calls != workers*calls || st.Faults() != failed.Load() || st.CallsByMethod[faulty.MethodGet] != workers*calls {
		t.Fatalf("stats %v, observed %d failures", st, failed.Load())
	}
}

func TestSubscribeAndClosePassThrough(t *testing.T) {
	t.Parallel()
	b := setup(t, faulty.Options{Rate: 1, Kinds: []faulty.Kind{faulty.KindAfter}})
	var events atomic.Int32
	unsubscribe := b.s.Subscribe(func(ev storage.Event) {
		if ev.Ready {
			events.Add(1)
		}
	})
	defer unsubscribe()
	err := b.s.Insert(b.ctx, storage.InsertParams{Now: t0, Executions: []storage.Execution{row("a")}})
	checkInjected(t, err)
	if events.Load() != 1 { // the insert committed, so it was published
		t.Errorf("events: %d", events.Load())
	}
	if err := b.s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = b.s.Get(b.ctx, storage.GetParams{ID: "a"})
	if !errors.Is(err, storage.ErrClosed) || errors.Is(err, faulty.ErrInjected) {
		t.Errorf("after Close: %v", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		inner storage.Store
		o     faulty.Options
		want  string
	}{
		{"NilInner", nil, faulty.Options{}, "nil inner store"},
		{"NegativeRate", memory.New(), faulty.Options{Rate: -1}, "rate"},
		{"RateOverOne", memory.New(), faulty.Options{Rate: 1.01}, "rate"},
		{"NaNRate", memory.New(), faulty.Options{Rate: math.NaN()}, "rate"},
		{"UnknownKind", memory.New(), faulty.Options{Kinds: []faulty.Kind{"sideways"}}, "sideways"},
		{"NegativeLatency", memory.New(), faulty.Options{MaxLatency: -time.Second}, "MaxLatency"},
		{"UnknownMethod", memory.New(), faulty.Options{Methods: []string{"Subscribe"}}, "Subscribe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := faulty.New(c.inner, c.o)
			if err == nil || s != nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, %v; want an error mentioning %q", s, err, c.want)
			}
		})
	}
}

func TestFailNextWhere(t *testing.T) {
	t.Parallel()
	b := setup(t, faulty.Options{})
	b.insertInner(t, "a", "b")
	onB := func(p any) bool { g, ok := p.(storage.GetParams); return ok && g.ID == "b" }
	if err := b.s.FailNextWhere(faulty.MethodGet, faulty.KindBefore, onB); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.Get(b.ctx, storage.GetParams{ID: "a"}); err != nil {
		t.Fatalf("a call that does not match failed: %v", err)
	}
	_, err := b.s.Get(b.ctx, storage.GetParams{ID: "b"})
	checkInjected(t, err)
	if _, err := b.s.Get(b.ctx, storage.GetParams{ID: "b"}); err != nil {
		t.Fatalf("a scripted fault applied twice: %v", err)
	}
}
