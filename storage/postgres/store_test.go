package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

var base = storagetest.Base

func insert(t testing.TB, s *Store, now time.Time, rows ...storage.Execution) {
	t.Helper()
	if err := s.Insert(t.Context(), storage.InsertParams{Now: now, Executions: rows}); err != nil {
		t.Fatalf("Insert: %v", err)
	}
}

func get(t testing.TB, s *Store, id string) storage.Execution {
	t.Helper()
	e, err := s.Get(t.Context(), storage.GetParams{ID: id})
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return e
}

func claim(t testing.TB, s *Store, now time.Time, limit int, tasks ...string) []storage.Execution {
	t.Helper()
	rows, err := s.Claim(t.Context(), storage.ClaimParams{
		Now: now, ExecutorID: "exec", TaskIDs: tasks, Limit: limit, Lease: time.Minute,
	})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return rows
}

func complete(t testing.TB, s *Store, now time.Time, trs ...storage.Transition) []storage.TransitionResult {
	t.Helper()
	res, err := s.Complete(t.Context(), storage.CompleteParams{Now: now, Transitions: trs})
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return res
}

func done(e storage.Execution) storage.Transition {
	return storage.Transition{ID: e.ID, Fence: e.Fence, From: e.Status, To: storage.StatusCompleted, Output: []byte(`1`)}
}

func failed(e storage.Execution, to storage.Status) storage.Transition {
	return storage.Transition{ID: e.ID, Fence: e.Fence, From: e.Status, To: to,
		Error: &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "boom"}}
}

// spawn claims parent (a ready top-level row) and moves it to
// waiting_for_children with n running children, returned in order.
func spawn(t testing.TB, s *Store, parentID string, n int, failFast bool) []storage.Execution {
	t.Helper()
	insert(t, s, base, storagetest.NewExecution(parentID, "parent"))
	p := claim(t, s, base, 1, "parent")[0]
	var kids []storage.Execution
	for i := range n {
		kids = append(kids, storagetest.NewChild(p, fmt.Sprintf("%s.c%d", parentID, i), "child", i))
	}
	res := complete(t, s, base, storage.Transition{ID: p.ID, Fence: p.Fence, From: p.Status,
		To: storage.StatusWaitingForChildren, FailFast: failFast, Children: kids})
	if !res[0].Applied {
		t.Fatalf("spawn %s: %+v", parentID, res[0])
	}
	rows := claim(t, s, base, n, "child")
	slices.SortFunc(rows, func(a, b storage.Execution) int { return a.ChildIndex - b.ChildIndex })
	return rows
}

func TestNilAndEmptyBytesRoundTrip(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	a := storagetest.NewExecution("a", "task")
	a.Input, a.Output, a.RunOutput = nil, []byte{}, []byte{0}
	insert(t, s, base, a)
	got := get(t, s, "a")
	if got.Input != nil || got.Output == nil || len(got.Output) != 0 || len(got.RunOutput) != 1 {
		t.Fatalf("bytes: input %#v output %#v run output %#v", got.Input, got.Output, got.RunOutput)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreatedAt location %v, want UTC", got.CreatedAt.Location())
	}
}

func TestInsertRejectsBadInput(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	bad := []storage.InsertParams{
		{Executions: []storage.Execution{{TaskID: "t", Status: storage.StatusReady}}},
		{Executions: []storage.Execution{{ID: "x", Status: storage.StatusReady}}},
		{Executions: []storage.Execution{{ID: "x", TaskID: "t", Status: "bogus"}}},
		{Executions: []storage.Execution{storagetest.NewExecution("x", "t")}, Delays: []time.Duration{1, 2}},
	}
	for i, p := range bad {
		if err := s.Insert(t.Context(), p); err == nil {
			t.Errorf("bad insert %d: want an error", i)
		}
	}
	if _, err := s.Get(t.Context(), storage.GetParams{ID: "x"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a rejected insert left a row: %v", err)
	}
	_, err := s.Complete(t.Context(), storage.CompleteParams{Transitions: []storage.Transition{
		{ID: "x", From: storage.StatusReady, To: storage.StatusRunning},
	}})
	if err == nil {
		t.Fatal("Complete to running: want an error")
	}
}

func TestInsertTx(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	s := openOn(t, schema, Config{Clock: ClockParams})
	other := openOn(t, schema, Config{})
	evs := make(chan storage.Event, 16)
	defer other.Subscribe(func(ev storage.Event) { evs <- ev })()

	// Rolled back: nothing.
	tx, err := s.Pool().Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertTx(t.Context(), tx, storage.InsertParams{Now: base,
		Executions: []storage.Execution{storagetest.NewExecution("rolled", "task")}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), storage.GetParams{ID: "rolled"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("row of a rolled back InsertTx: %v", err)
	}

	// Committed, with a duplicate on the way that leaves tx usable.
	insert(t, s, base, storagetest.NewExecution("taken", "task"))
	tx, err = s.Pool().Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(t.Context()) }()
	if err := s.InsertTx(t.Context(), tx, storage.InsertParams{Now: base,
		Executions: []storage.Execution{storagetest.NewExecution("kept", "task")}}); err != nil {
		t.Fatal(err)
	}
	err = s.InsertTx(t.Context(), tx, storage.InsertParams{Now: base,
		Executions: []storage.Execution{storagetest.NewExecution("taken", "task")}})
	if !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("InsertTx of a duplicate: want ErrDuplicate, got %v", err)
	}
	if _, err := s.Get(t.Context(), storage.GetParams{ID: "kept"}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("uncommitted row visible outside the transaction: %v", err)
	}
	drain(evs)
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatalf("Commit after a duplicate: %v", err)
	}
	if e := get(t, s, "kept"); e.Status != storage.StatusReady || !e.DueAt.Equal(base) {
		t.Fatalf("committed row: %+v", e)
	}
	waitEvent(t, evs, "Ready after the commit", func(ev storage.Event) bool { return ev.Ready })
}

// TestInsertTxActiveKey: InsertTx of a key held while active by a
// committed row fails with an *storage.ActiveKeyError naming it, and of a
// key held earlier in the same transaction with ErrDuplicate; tx stays
// usable, and what it inserted commits.
func TestInsertTxActiveKey(t *testing.T) {
	t.Parallel()
	s := openOn(t, testSchema(t), Config{Clock: ClockParams})
	keyed := func(id, key string) storage.Execution {
		e := storagetest.NewExecution(id, "task")
		e.ActiveKey = key
		return e
	}
	insert(t, s, base, keyed("holder", "k"))
	tx, err := s.Pool().Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(t.Context()) }()
	err = s.InsertTx(t.Context(), tx, storage.InsertParams{Now: base, Executions: []storage.Execution{keyed("second", "k")}})
	var ak *storage.ActiveKeyError
	if !errors.As(err, &ak) || ak.ID != "holder" {
		t.Fatalf("InsertTx of a held key: want an *ActiveKeyError naming holder, got %v", err)
	}
	if err := s.InsertTx(t.Context(), tx, storage.InsertParams{Now: base, Executions: []storage.Execution{keyed("mine", "m")}}); err != nil {
		t.Fatal(err)
	}
	err = s.InsertTx(t.Context(), tx, storage.InsertParams{Now: base, Executions: []storage.Execution{keyed("again", "m")}})
	if !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("InsertTx of a key held earlier in the transaction: want ErrDuplicate, got %v", err)
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatalf("Commit after refused keys: %v", err)
	}
	if e := get(t, s, "mine"); e.ActiveKey != "m" {
		t.Fatalf("committed row: ActiveKey %q, want m", e.ActiveKey)
	}
}

func drain(ch chan storage.Event) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// waitEvent waits up to 5s for an event satisfying cond.
func waitEvent(t testing.TB, ch chan storage.Event, what string, cond func(storage.Event) bool) storage.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-ch:
			if cond(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event: %s", what)
		}
	}
}

// TestCompleteRelatedRowsInOrder: a batch holding a parent's failure and
// its child's completion has the outcome of applying them in order.
func TestCompleteRelatedRowsInOrder(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})

	// Child first: it completes, then the parent fails.
	kids := spawn(t, s, "p1", 2, true)
	p1 := get(t, s, "p1")
	p1c, _ := claimForced(t, s, p1)
	res := complete(t, s, base, done(kids[0]), failed(p1c, storage.StatusChildrenFailed))
	if !res[0].Applied || !res[1].Applied {
		t.Fatalf("child then parent: %+v", res)
	}
	if got := get(t, s, kids[0].ID).Status; got != storage.StatusCompleted {
		t.Fatalf("child completed first: status %s", got)
	}
	if got := get(t, s, kids[1].ID).Status; got != storage.StatusCancelled {
		t.Fatalf("other child: status %s, want cancelled", got)
	}

	// Parent first: it cascades to the child, whose completion then fails.
	kids = spawn(t, s, "p2", 2, true)
	p2c, _ := claimForced(t, s, get(t, s, "p2"))
	res = complete(t, s, base, failed(p2c, storage.StatusChildrenFailed), done(kids[0]))
	if !res[0].Applied || res[1].Applied {
		t.Fatalf("parent then child: %+v", res)
	}
	for _, k := range kids {
		if got := get(t, s, k.ID).Status; got != storage.StatusCancelled {
			t.Fatalf("child %s: status %s, want cancelled", k.ID, got)
		}
	}
}

// claimForced makes a waiting row due (as a failed child of a fail-fast
// parent would) and claims it.
func claimForced(t testing.TB, s *Store, e storage.Execution) (storage.Execution, error) {
	t.Helper()
	_, err := s.Pool().Exec(t.Context(), "UPDATE "+s.q.table+" SET due_at = $1 WHERE id = $2", base, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	rows := claim(t, s, base, 1, e.TaskID)
	if len(rows) != 1 {
		t.Fatalf("claim %s: %d rows", e.ID, len(rows))
	}
	return rows[0], nil
}

// TestCompleteConcurrentSiblings: many executors completing children of
// shared parents at once, in random orders, neither deadlock nor lose a
// decrement.
func TestCompleteConcurrentSiblings(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	const parents, perParent, workers = 8, 40, 4
	var kids []storage.Execution
	for i := range parents {
		kids = append(kids, spawn(t, s, fmt.Sprintf("p%d", i), perParent, false)...)
	}
	rand.Shuffle(len(kids), func(i, j int) { kids[i], kids[j] = kids[j], kids[i] })
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w * 10; i < len(kids); i += workers * 10 {
				var trs []storage.Transition
				for _, k := range kids[i:min(i+10, len(kids))] {
					trs = append(trs, done(k))
				}
				res, err := s.Complete(t.Context(), storage.CompleteParams{Now: base, Transitions: trs})
				if err != nil {
					errs <- err
					return
				}
				for _, r := range res {
					if !r.Applied {
						errs <- fmt.Errorf("transition not applied: %+v", r)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range parents {
		p := get(t, s, fmt.Sprintf("p%d", i))
		if p.ChildrenPending != 0 || !p.DueAt.Equal(base) {
			t.Fatalf("parent %s: pending %d due %v", p.ID, p.ChildrenPending, p.DueAt)
		}
	}
}

// TestCompleteBigMixedBatch: one batch of plain transitions, children
// with parents, and a cascade.
func TestCompleteBigMixedBatch(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	kids := spawn(t, s, "p", 3, false)
	cascKids := spawn(t, s, "q", 2, false)
	var plain []storage.Execution
	for i := range 300 {
		plain = append(plain, storagetest.NewExecution(fmt.Sprintf("r%03d", i), "plain"))
	}
	if err := s.Insert(t.Context(), storage.InsertParams{Now: base, Executions: plain}); err != nil {
		t.Fatal(err)
	}
	rows := claim(t, s, base, 1000, "plain")
	q, _ := claimForced(t, s, get(t, s, "q"))
	evs := make(chan storage.Event, 16)
	defer s.Subscribe(func(ev storage.Event) { evs <- ev })()

	var trs []storage.Transition
	for i, r := range rows {
		switch i % 3 {
		case 0:
			trs = append(trs, done(r))
		case 1:
			trs = append(trs, failed(r, storage.StatusFailed))
		default:
			trs = append(trs, storage.Transition{ID: r.ID, Fence: r.Fence, From: r.Status, To: storage.StatusReady, Attempt: 1})
		}
	}
	trs = append(trs, done(kids[0]), failed(kids[1], storage.StatusFailed), failed(q, storage.StatusFailed))
	res := complete(t, s, base.Add(time.Second), trs...)
	for i, r := range res {
		if !r.Applied || r.Err != nil {
			t.Fatalf("transition %d (%s): %+v", i, trs[i].ID, r)
		}
	}
	if p := get(t, s, "p"); p.ChildrenPending != 1 || !p.DueAt.IsZero() {
		t.Fatalf("parent p: pending %d due %v", p.ChildrenPending, p.DueAt)
	}
	for _, k := range cascKids {
		if e := get(t, s, k.ID); e.Status != storage.StatusCancelled || e.Error == nil || !strings.Contains(e.Error.Message, "q") {
			t.Fatalf("descendant %s of a failed row: %+v", k.ID, e)
		}
	}
	ev := <-evs
	if !ev.Ready || len(ev.Finished) != 200+2+1+2 {
		t.Fatalf("event: ready %v, %d finished", ev.Ready, len(ev.Finished))
	}
}

func TestPayloadsChunk(t *testing.T) {
	t.Parallel()
	var ids []string
	for i := range 2000 {
		ids = append(ids, fmt.Sprintf("execution-%06d-\"quoted\"-%s", i, strings.Repeat("x", i%50)))
	}
	ids = append(ids, strings.Repeat("y", 9000)) // cannot be sent
	ps := payloads("tag", storage.Event{Ready: true, Finished: ids})
	if len(ps) < 2 {
		t.Fatalf("%d payloads", len(ps))
	}
	var got []string
	for i, p := range ps {
		if len(p) >= 8000 {
			t.Fatalf("payload %d: %d bytes", i, len(p))
		}
		var pl payload
		if err := json.Unmarshal([]byte(p), &pl); err != nil {
			t.Fatalf("payload %d: %v", i, err)
		}
		if pl.Sender != "tag" || pl.Ready != (i == 0) {
			t.Fatalf("payload %d: sender %q ready %v", i, pl.Sender, pl.Ready)
		}
		got = append(got, pl.Finished...)
	}
	if !slices.Equal(got, ids[:2000]) {
		t.Fatalf("ids through payloads: %d, want %d", len(got), 2000)
	}
	if ps := payloads("", storage.Event{Ready: true}); len(ps) != 1 || ps[0] != `{"r":true}` {
		t.Fatalf("ready payload: %q", ps)
	}
	if ps := payloads("", storage.Event{}); len(ps) != 0 {
		t.Fatalf("empty event payloads: %q", ps)
	}
}

// TestOwnPayload checks the listener's shortcut for its own store's
// notifications, in both encodings that send them.
func TestOwnPayload(t *testing.T) {
	const tag = "0123456789abcdef"
	cases := []struct {
		raw  string
		want bool
	}{
		{payloads(tag, storage.Event{Ready: true, Finished: []string{"a"}})[0], true},
		{`{"s" : "0123456789abcdef", "r" : false, "f" : ["a","b"]}`, true},
		{payloads("fedcba9876543210", storage.Event{Finished: []string{tag}})[0], false},
		{`{"r":true}`, false},
		{`{"f":["0123456789abcdef"]}`, false},
		{"", false},
	}
	for _, c := range cases {
		if got := ownPayload(c.raw, tag); got != c.want {
			t.Errorf("ownPayload(%q) = %v, want %v", c.raw, got, c.want)
		}
	}
}
