package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestCompleteClaim: CompleteClaim completes a batch and, in the same
// transaction, claims the slots it freed in a limited queue (never more
// than the limit running); with a queue that has no limit, or a batch that
// is not all completions, it only completes.
func TestCompleteClaim(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	ctx := t.Context()
	var rows []storage.Execution
	for i := range 10 {
		rows = append(rows, queuedExec(fmt.Sprintf("lim-%d", i), "lim", 5), queuedExec(fmt.Sprintf("free-%d", i), "free", 5))
	}
	insert(t, s, base, rows...)
	err := s.RegisterControls(ctx, storage.RegisterControlsParams{Now: base, Controls: []storage.Control{
		{Kind: storage.ControlQueue, Name: "lim"}, {Kind: storage.ControlQueue, Name: "free"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LimitControl(ctx, storage.LimitControlParams{Now: base, Kind: storage.ControlQueue, Name: "lim", Concurrency: 3}); err != nil {
		t.Fatal(err)
	}
	now := base.Add(time.Second)
	cp := func(limit int, queues ...string) storage.ClaimParams {
		return storage.ClaimParams{Now: now, ExecutorID: "exec", TaskIDs: []string{"task"}, Queues: queues, Limit: limit, Lease: time.Minute}
	}
	held, err := s.Claim(ctx, cp(10, "lim"))
	if err != nil || len(held) != 3 {
		t.Fatalf("Claim of lim: %d rows, %v; want 3", len(held), err)
	}

	// Two of the three complete: the claim takes two more, not ten.
	res, got, claimed, err := s.CompleteClaim(ctx, storage.CompleteParams{Now: now,
		Transitions: []storage.Transition{done(held[0]), done(held[1])}}, cp(10, "lim"))
	if err != nil || !claimed {
		t.Fatalf("CompleteClaim: claimed %v, %v", claimed, err)
	}
	if len(res) != 2 || !res[0].Applied || !res[1].Applied {
		t.Fatalf("results %+v, want both applied", res)
	}
	if len(got) != 2 || got[0].ID != "lim-3" || got[1].ID != "lim-4" || got[0].Status != storage.StatusRunning {
		t.Fatalf("claimed %v, want lim-3 and lim-4 running", idsOf(got))
	}
	for _, id := range []string{held[0].ID, held[1].ID} {
		if e := get(t, s, id); e.Status != storage.StatusCompleted {
			t.Fatalf("%s is %s, want completed", id, e.Status)
		}
	}
	if n := runningIn(t, s, "lim"); n != 3 {
		t.Fatalf("%d running in lim, want the limit of 3", n)
	}

	// The claim is bounded by its Limit as well.
	res, got, claimed, err = s.CompleteClaim(ctx, storage.CompleteParams{Now: now,
		Transitions: []storage.Transition{done(held[2]), done(got[0])}}, cp(1, "lim"))
	if err != nil || !claimed || len(res) != 2 || len(got) != 1 {
		t.Fatalf("CompleteClaim with Limit 1: claimed %v, %d rows, %v", claimed, len(got), err)
	}
	if n := runningIn(t, s, "lim"); n != 2 {
		t.Fatalf("%d running in lim, want 2", n)
	}

	// A queue without a limit: completed, nothing claimed.
	free, err := s.Claim(ctx, cp(2, "free"))
	if err != nil || len(free) != 2 {
		t.Fatalf("Claim of free: %d rows, %v", len(free), err)
	}
	res, got, claimed, err = s.CompleteClaim(ctx, storage.CompleteParams{Now: now,
		Transitions: []storage.Transition{done(free[0])}}, cp(10, "free"))
	if err != nil || claimed || len(got) != 0 || !res[0].Applied {
		t.Fatalf("CompleteClaim of an unlimited queue: claimed %v, %d rows, %+v, %v", claimed, len(got), res, err)
	}

	// A queue limited per key: completed, nothing claimed (the freed key's
	// slot is left to every process's claims).
	if _, err := s.LimitControl(ctx, storage.LimitControlParams{Now: now, Kind: storage.ControlQueue, Name: "free", PerKey: 1}); err != nil {
		t.Fatal(err)
	}
	keyed, err := s.Claim(ctx, cp(1, "free"))
	if err != nil || len(keyed) != 1 {
		t.Fatalf("Claim of free: %d rows, %v", len(keyed), err)
	}
	res, _, claimed, err = s.CompleteClaim(ctx, storage.CompleteParams{Now: now,
		Transitions: []storage.Transition{done(keyed[0])}}, cp(10, "free"))
	if err != nil || claimed || !res[0].Applied {
		t.Fatalf("CompleteClaim of a queue limited per key: claimed %v, %+v, %v", claimed, res, err)
	}

	// A batch with a failure: completed as Complete does, nothing claimed.
	res, got, claimed, err = s.CompleteClaim(ctx, storage.CompleteParams{Now: now,
		Transitions: []storage.Transition{failed(free[1], storage.StatusFailed)}}, cp(10, "lim"))
	if err != nil || claimed || len(got) != 0 || !res[0].Applied {
		t.Fatalf("CompleteClaim of a failure: claimed %v, %d rows, %+v, %v", claimed, len(got), res, err)
	}
	if e := get(t, s, free[1].ID); e.Status != storage.StatusFailed {
		t.Fatalf("%s is %s, want failed", free[1].ID, e.Status)
	}
}

// runningIn counts the running rows of queue q.
func runningIn(t *testing.T, s *Store, q string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(t.Context(), "SELECT count(*) FROM "+s.q.table+" WHERE queue = $1 AND status = 'running'", q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// idsOf returns the IDs of rows.
func idsOf(rows []storage.Execution) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// TestLimitTurns: a claim with Recheck that finds a limited queue full
// while it has due rows takes the turn at the queue's slots: until then
// (twice Recheck) the claims of other executors, CompleteClaim's included,
// leave the slots that free up to it, and tell the other processes that
// there is work; its next claim takes them and ends its turn. A claim
// without Recheck never takes a turn.
func TestLimitTurns(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	s, other := openOn(t, schema, Config{Clock: ClockParams}), openOn(t, schema, Config{Clock: ClockParams})
	ctx := t.Context()
	var rows []storage.Execution
	for i := range 10 {
		rows = append(rows, queuedExec(fmt.Sprintf("lim-%d", i), "lim", 5))
	}
	insert(t, s, base, rows...)
	if err := s.RegisterControls(ctx, storage.RegisterControlsParams{Now: base, Controls: []storage.Control{{Kind: storage.ControlQueue, Name: "lim"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LimitControl(ctx, storage.LimitControlParams{Now: base, Kind: storage.ControlQueue, Name: "lim", Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	evs := make(chan storage.Event, 64)
	defer other.Subscribe(func(ev storage.Event) { evs <- ev })()
	now := base.Add(time.Second)
	cp := func(exec string, limit int, recheck time.Duration) storage.ClaimParams {
		return storage.ClaimParams{Now: now, ExecutorID: exec, TaskIDs: []string{"task"}, Queues: []string{"lim"},
			Limit: limit, Lease: time.Minute, Recheck: recheck}
	}
	a, err := s.Claim(ctx, cp("a", 10, time.Second))
	if err != nil || len(a) != 2 {
		t.Fatalf("a's claim: %d rows, %v; want 2", len(a), err)
	}
	// Full: b's claim without Recheck takes no turn, with it takes one.
	if got, err := other.Claim(ctx, cp("b", 10, 0)); err != nil || len(got) != 0 {
		t.Fatalf("b's claim of a full queue: %d rows, %v", len(got), err)
	}
	if w := waiterOf(t, s, "lim"); w != "" {
		t.Fatalf("waiter %q after a claim without Recheck, want none", w)
	}
	if got, err := other.Claim(ctx, cp("b", 10, time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("b's claim of a full queue: %d rows, %v", len(got), err)
	}
	if w := waiterOf(t, s, "lim"); w != "b" {
		t.Fatalf("waiter %q, want b", w)
	}

	// a's run ends: its CompleteClaim leaves the slot to b and wakes b's
	// process; a's own claim takes nothing either.
	drain(evs)
	_, got, claimed, err := s.CompleteClaim(ctx, storage.CompleteParams{Now: now,
		Transitions: []storage.Transition{done(a[0])}}, cp("a", 10, time.Second))
	if err != nil || !claimed || len(got) != 0 {
		t.Fatalf("a's CompleteClaim during b's turn: claimed %v, %v, %v; want nothing", claimed, idsOf(got), err)
	}
	waitEvent(t, evs, "Ready in b's store after a left it the slot", func(ev storage.Event) bool { return ev.Ready })
	if got, err := s.Claim(ctx, cp("a", 10, time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("a's claim during b's turn: %v, %v; want nothing", idsOf(got), err)
	}
	b, err := other.Claim(ctx, cp("b", 10, time.Second))
	if err != nil || len(b) != 1 {
		t.Fatalf("b's claim in its turn: %v, %v; want one row", idsOf(b), err)
	}
	if w := waiterOf(t, s, "lim"); w != "" {
		t.Fatalf("waiter %q after b's claim took rows, want none", w)
	}
	if n := runningIn(t, s, "lim"); n != 2 {
		t.Fatalf("%d running in lim, want the limit of 2", n)
	}

	// The turn is over: a's CompleteClaim takes the slot its run frees.
	_, got, claimed, err = s.CompleteClaim(ctx, storage.CompleteParams{Now: now,
		Transitions: []storage.Transition{done(a[1])}}, cp("a", 10, time.Second))
	if err != nil || !claimed || len(got) != 1 {
		t.Fatalf("a's CompleteClaim after b's turn: claimed %v, %v, %v; want one row", claimed, idsOf(got), err)
	}

	// A turn lapses after twice Recheck: b takes it, and once it lapsed
	// a's claims take the slots again.
	if got, err := other.Claim(ctx, cp("b", 10, time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("b's claim of a full queue: %d rows, %v", len(got), err)
	}
	now = now.Add(2*time.Second + time.Millisecond)
	_, got, claimed, err = s.CompleteClaim(ctx, storage.CompleteParams{Now: now,
		Transitions: []storage.Transition{done(got[0])}}, cp("a", 10, time.Second))
	if err != nil || !claimed || len(got) != 1 {
		t.Fatalf("a's CompleteClaim after b's turn lapsed: claimed %v, %v, %v; want one row", claimed, idsOf(got), err)
	}
	if n := runningIn(t, s, "lim"); n != 2 {
		t.Fatalf("%d running in lim, want the limit of 2", n)
	}
}

// waiterOf is the executor whose turn it is at queue q's slots, "" for
// none.
func waiterOf(t *testing.T, s *Store, q string) string {
	t.Helper()
	var w *string
	if err := s.pool.QueryRow(t.Context(), "SELECT waiter FROM "+s.q.data.Controls+" WHERE kind = 'queue' AND name = $1", q).Scan(&w); err != nil {
		t.Fatal(err)
	}
	if w == nil {
		return ""
	}
	return *w
}
