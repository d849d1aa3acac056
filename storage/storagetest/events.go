package storagetest

import (
	"slices"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

var eventChecks = []check{
	{"EventsFinishedListsCascade", checkEventsFinished},
	{"EventsReadyAfterInsert", checkEventsReadyAfterInsert},
	{"EventsNoReadyAfterClaimedInsert", checkEventsNoReadyAfterClaimedInsert},
	{"EventsReadyAfterWrites", checkEventsReadyAfterWrites},
	{"EventsUnsubscribeStopsDelivery", checkEventsUnsubscribe},
}

// eventWait bounds how long the suite waits for an event: stores may
// deliver them asynchronously (PostgreSQL LISTEN/NOTIFY).
const eventWait = 10 * time.Second

// eventLog records the events a subscriber receives.
type eventLog struct {
	mu     sync.Mutex
	events []storage.Event
	signal chan struct{} // receives a value after each event, never blocks
}

// subscribe registers a new eventLog; it unsubscribes at the end of the test.
func (b *bundle) subscribe() (*eventLog, func()) {
	l := &eventLog{signal: make(chan struct{}, 1)}
	unsub := b.s.Subscribe(func(ev storage.Event) {
		l.mu.Lock()
		l.events = append(l.events, ev)
		l.mu.Unlock()
		select {
		case l.signal <- struct{}{}:
		default:
		}
	})
	b.t.Cleanup(unsub)
	return l, unsub
}

// reset forgets the events received so far.
func (l *eventLog) reset() {
	l.mu.Lock()
	l.events = nil
	l.mu.Unlock()
}

func (l *eventLog) snapshot() []storage.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// waitFor waits until cond holds on the events received, or fails.
func (l *eventLog) waitFor(b *bundle, what string, cond func([]storage.Event) bool) {
	b.t.Helper()
	deadline := time.NewTimer(eventWait)
	defer deadline.Stop()
	for !cond(l.snapshot()) {
		select {
		case <-l.signal:
		case <-deadline.C:
			b.t.Fatalf("no %s within %v; events received: %+v", what, eventWait, l.snapshot())
		}
	}
}

func anyReady(evs []storage.Event) bool {
	return slices.ContainsFunc(evs, func(e storage.Event) bool { return e.Ready })
}

// finishedIDs returns the ids listed in the events, sorted, without repeats.
func finishedIDs(evs []storage.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Finished...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func checkEventsReadyAfterInsert(b *bundle) {
	l, _ := b.subscribe()
	b.insert(Base, nil, NewExecution("a", "task"))
	l.waitFor(b, "Ready event after Insert", anyReady)
}

// checkEventsNoReadyAfterClaimedInsert checks that inserting rows claimed
// by their executor (direct start) publishes no Ready event: there is
// nothing for a dispatcher to claim. A ready row inserted next is
// announced, and only it.
func checkEventsNoReadyAfterClaimedInsert(b *bundle) {
	l, _ := b.subscribe()
	a := NewExecution("a", "task")
	a.Status, a.ExecutorID = storage.StatusRunning, "exec-a"
	b.insert(Base, []time.Duration{Lease}, a)
	b.insert(Base, nil, NewExecution("b", "task"))
	l.waitFor(b, "Ready event after Insert", anyReady)
	ready := 0
	for _, ev := range l.snapshot() {
		if ev.Ready {
			ready++
		}
	}
	if ready != 1 {
		b.t.Fatalf("%d Ready events after inserting a claimed row and a ready one, want 1 (the ready one's): %+v", ready, l.snapshot())
	}
}

// checkEventsReadyAfterWrites checks a Ready event follows each kind of
// write that creates due work.
func checkEventsReadyAfterWrites(b *bundle) {
	l, _ := b.subscribe()
	r := b.running(Base, "a")
	p := b.running(Base, "p")
	l.waitFor(b, "Ready event after Insert", anyReady)

	step := func(what string, write func()) {
		b.t.Helper()
		l.reset()
		write()
		l.waitFor(b, "Ready event after "+what, anyReady)
	}
	step("a transition to ready", func() {
		b.mustApply(Base, storage.Transition{ID: "a", Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusReady})
	})
	var kids []storage.Execution
	step("spawning children", func() { _, kids = b.spawnFrom(Base, p, 1, false) })
	c := b.claimChild(Base, kids[0])
	step("a parent made due", func() { b.finish(Base, c, storage.StatusCompleted) })
	a := b.claimOne(Base, "exec-1", "t_a", "a")
	step("Release", func() { b.release(Base, lease(a)) })
	b.claimOne(Base, "exec-1", "t_a", "a")
	step("Recover", func() {
		if _, err := b.s.Recover(b.ctx, storage.RecoverParams{Now: Base, ExecutorID: "exec-1"}); err != nil {
			b.t.Fatalf("Recover: %v", err)
		}
	})
}

// checkEventsFinished fails p, whose children are c0 (completed), c1
// (running) and c2 (ready): the events list p, c1 and c2.
func checkEventsFinished(b *bundle) {
	_, kids := b.spawn(Base, "p", 3, true)
	b.finish(Base, b.claimChild(Base, kids[0]), storage.StatusCompleted)
	b.claimChild(Base, kids[1])
	b.cancel(Base, kids[2].ID) // FailFast: p becomes due
	p := b.claimOne(Base, "exec-1", "t_p", "p")

	l, _ := b.subscribe()
	b.mustApply(At(time.Second), storage.Transition{
		ID: "p", Fence: p.Fence, From: storage.StatusWaitingForChildren, To: storage.StatusChildrenFailed,
	})
	// Events of earlier writes may still arrive (asynchronous stores): only
	// require that p and its cascaded cancellation are listed.
	want := []string{"p", kids[1].ID}
	l.waitFor(b, "Finished event listing p and "+kids[1].ID, func(evs []storage.Event) bool {
		got := finishedIDs(evs)
		return !slices.ContainsFunc(want, func(id string) bool { return !slices.Contains(got, id) })
	})
}

func checkEventsUnsubscribe(b *bundle) {
	gone, unsub := b.subscribe()
	stays, _ := b.subscribe()
	unsub()
	unsub() // harmless
	b.insert(Base, nil, NewExecution("a", "task"))
	stays.waitFor(b, "Ready event for the remaining subscriber", anyReady)
	if evs := gone.snapshot(); len(evs) > 0 {
		b.t.Fatalf("unsubscribed function received %+v", evs)
	}
}
