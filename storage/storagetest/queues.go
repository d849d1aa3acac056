package storagetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/durable-go/durable/storage"
)

// The checks of queues, priorities and controls.
var queueChecks = []check{
	{"QueueAndPriorityStoredAsGivenOrDefault", queueCheck(checkQueueStored)},
	{"QueueClaimHighestPriorityFirst", queueCheck(checkClaimPriority)},
	{"QueueClaimFutureRowOfHighPriorityDoesNotBlock", queueCheck(checkClaimPriorityFuture)},
	{"QueueClaimOrderOfMixedBatch", queueCheck(checkClaimOrderOfMixedBatch)},
	{"QueueClaimOnlyListedQueues", queueCheck(checkClaimQueues)},
	{"QueuePausedIsNotClaimed", queueCheck(checkPausedQueue)},
	{"QueueChildrenKeepTheirQueueAndPriority", queueCheck(checkChildQueue)},
	{"QueueLapsedLeaseKeepsItsPriority", queueCheck(checkLapsedPriority)},
	{"ControlsRegisterKeepsPausedAndMark", queueCheck(checkControlsRegister)},
	{"ControlsRegisterRefusesBadControls", queueCheck(checkControlsBad)},
	{"ControlsPauseAndAdvanceUnknown", queueCheck(checkControlsUnknown)},
	{"ControlsAdvanceIsCompareAndSet", queueCheck(checkControlsAdvance)},
	{"QueueLimitCapsClaims", queueCheck(checkLimitCaps)},
	{"QueueLimitNextDueIsItsNextTimeOnly", queueCheck(checkLimitNextDue)},
	{"QueueLimitLapsedLeaseHoldsItsSlotUntilTakenOver", queueCheck(checkLimitLapsed)},
	{"QueueLimitSetOnRunningRowsCountsThem", queueCheck(checkLimitOnRunning)},
	{"QueueLimitSetWhileClaiming", queueCheck(checkLimitSetWhileClaiming)},
	{"QueueLimitSleepingRowsHoldNoSlot", queueCheck(checkLimitSleeping)},
	{"QueueLimitConcurrentClaimers", queueCheck(checkLimitConcurrent)},
	{"QueueLimitDoesNotStarveOtherQueues", queueCheck(checkLimitOthers)},
	{"QueueLimitSetListedKeptAndRefused", queueCheck(checkLimitControl)},
	{"QueueLimitPerKeyCapsClaims", queueCheck(checkPerKeyCaps)},
	{"QueueLimitPerKeyNoHeadOfLineBlocking", queueCheck(checkPerKeyNoHeadOfLine)},
	{"QueueLimitPerKeyWithConcurrency", queueCheck(checkPerKeyWithConcurrency)},
	{"QueueLimitPerKeyLapsedLeaseHoldsItsSlot", queueCheck(checkPerKeyLapsed)},
	{"QueueLimitPerKeyConcurrentClaimers", queueCheck(checkPerKeyConcurrent)},
	{"QueueLimitRateWindow", queueCheck(checkRateWindow)},
	{"QueueLimitRateNextDueIsTheWindowsEnd", queueCheck(checkRateNextDue)},
	{"QueueLimitRateConcurrentClaimers", queueCheck(checkRateConcurrent)},
	{"QueueLimitsSetListedKeptAndRefused", queueCheck(checkLimitsControl)},
	{"QueueLimitConcurrencyKeyRefused", queueCheck(checkConcurrencyKeyRefused)},
}

// queueCheck runs fn with the store's controls.
func queueCheck(fn func(b *bundle, c storage.Controls)) func(b *bundle) {
	return func(b *bundle) { fn(b, b.s) }
}

// queued returns NewExecution(id, task) in queue q with priority p.
func queued(id, task, q string, p int) storage.Execution {
	e := NewExecution(id, task)
	e.Queue, e.Priority = q, p
	return e
}

// claimQueues claims up to limit rows of task from queues at now.
func (b *bundle) claimQueues(now time.Time, limit int, task string, queues ...string) []string {
	b.t.Helper()
	rows, err := b.s.Claim(b.ctx, storage.ClaimParams{
		Now: now, ExecutorID: "exec-1", TaskIDs: []string{task}, Queues: queues, Limit: limit, Lease: Lease,
	})
	if err != nil {
		b.t.Fatalf("Claim of queues %v: %v", queues, err)
	}
	return ids(rows)
}

func (b *bundle) nextDueOf(now time.Time, task string, queues ...string) (time.Duration, bool) {
	b.t.Helper()
	return b.nextDueSince(now, 0, task, queues...)
}

// nextDueSince is nextDueOf after a claim lookback before now.
func (b *bundle) nextDueSince(now time.Time, lookback time.Duration, task string, queues ...string) (time.Duration, bool) {
	b.t.Helper()
	d, ok, err := b.s.NextDue(b.ctx, storage.NextDueParams{Now: now, Lookback: lookback, TaskIDs: []string{task}, Queues: queues})
	if err != nil {
		b.t.Fatalf("NextDue of queues %v: %v", queues, err)
	}
	return d, ok
}

func register(b *bundle, c storage.Controls, now time.Time, ctl ...storage.Control) {
	b.t.Helper()
	if err := c.RegisterControls(b.ctx, storage.RegisterControlsParams{Now: now, Controls: ctl}); err != nil {
		b.t.Fatalf("RegisterControls: %v", err)
	}
}

func pause(b *bundle, c storage.Controls, now time.Time, kind, name string, paused, wantChanged bool) {
	b.t.Helper()
	changed, err := c.PauseControl(b.ctx, storage.PauseControlParams{Now: now, Kind: kind, Name: name, Paused: paused})
	if err != nil || changed != wantChanged {
		b.t.Fatalf("PauseControl(%s %s, paused %v): want changed %v, got %v, %v", kind, name, paused, wantChanged, changed, err)
	}
}

func controls(b *bundle, c storage.Controls, kind string) []storage.Control {
	b.t.Helper()
	got, err := c.ListControls(b.ctx, storage.ListControlsParams{Kind: kind})
	if err != nil {
		b.t.Fatalf("ListControls(%s): %v", kind, err)
	}
	return got
}

func checkQueueStored(b *bundle, _ storage.Controls) {
	b.insert(Base, nil, NewExecution("plain", "task"), queued("given", "task", "emails", 2))
	for _, want := range []struct {
		id, queue string
		priority  int
	}{{"plain", storage.DefaultQueue, storage.DefaultPriority}, {"given", "emails", 2}} {
		got := b.get(want.id)
		if got.Queue != want.queue || got.Priority != want.priority {
			b.t.Fatalf("Get(%s): want queue %q priority %d, got %q %d", want.id, want.queue, want.priority, got.Queue, got.Priority)
		}
		rows, err := b.s.List(b.ctx, storage.ListParams{Filter: storage.ListFilter{IDs: []string{want.id}}, Limit: 1})
		if err != nil || len(rows) != 1 {
			b.t.Fatalf("List(%s): %v, %v", want.id, ids(rows), err)
		}
		if got := rows[0]; got.Queue != want.queue || got.Priority != want.priority {
			b.t.Fatalf("List(%s): want queue %q priority %d, got %q %d", want.id, want.queue, want.priority, got.Queue, got.Priority)
		}
	}
	claimed := b.claim(Base, "exec-1", 10, "task")
	for _, e := range claimed {
		if want := b.get(e.ID); e.Queue != want.Queue || e.Priority != want.Priority {
			b.t.Fatalf("Claim returned %s with queue %q priority %d, the row has %q %d", e.ID, e.Queue, e.Priority, want.Queue, want.Priority)
		}
	}
}

func checkClaimPriority(b *bundle, _ storage.Controls) {
	b.insert(Base, []time.Duration{0, 0, 0, 0},
		queued("low", "task", "", 9), queued("mid1", "task", "", 0), queued("high", "task", "", 1), queued("mid2", "task", "", 5))
	// Due later but of a higher priority: claimed before every row of
	// priority 5 and below once due.
	b.insert(At(time.Second), nil, queued("high2", "task", "", 1), queued("three", "task", "", 3))
	requireIDs(b.t, "Claim by priority", []string{"high", "high2", "three", "mid1"},
		b.claimIDs(At(time.Minute), "exec-1", 4, "task"))
	requireIDs(b.t, "Claim by priority, the rest", []string{"mid2", "low"},
		b.claimIDs(At(time.Minute), "exec-1", 10, "task"))
}

func checkClaimPriorityFuture(b *bundle, _ storage.Controls) {
	// Many rows of the highest priority not due yet, and one of the lowest
	// that is: the claim takes it.
	var rows []storage.Execution
	var delays []time.Duration
	for i := range 50 {
		rows = append(rows, queued(fmt.Sprintf("later%02d", i), "task", "", storage.PriorityFirst))
		delays = append(delays, time.Hour)
	}
	rows = append(rows, queued("now", "task", "", storage.PriorityLast))
	delays = append(delays, 0)
	b.insert(Base, delays, rows...)
	requireIDs(b.t, "Claim past rows not due", []string{"now"}, b.claimIDs(At(time.Second), "exec-1", 10, "task"))
}

// checkClaimOrderOfMixedBatch: one batch of rows of two queues, three
// priorities and two due times, given in turn, is claimed priority first,
// then due time, ties in the order given, across the queues too, however
// the store lays the batch out.
func checkClaimOrderOfMixedBatch(b *bundle, _ storage.Controls) {
	type row struct {
		id       string
		priority int
		delay    time.Duration
	}
	var rows []storage.Execution
	var delays []time.Duration
	var want []row
	for i := range 24 {
		r := row{id: fmt.Sprintf("m%02d", i), priority: 1 + i%3*4, delay: time.Duration(i/2%2) * time.Second}
		rows = append(rows, queued(r.id, "task", []string{"a", "b"}[i%2], r.priority))
		delays = append(delays, r.delay)
		want = append(want, r)
	}
	b.insert(Base, delays, rows...)
	slices.SortStableFunc(want, func(x, y row) int {
		if x.priority != y.priority {
			return x.priority - y.priority
		}
		return int(x.delay - y.delay)
	})
	var wantIDs, got []string
	for _, r := range want {
		wantIDs = append(wantIDs, r.id)
	}
	for range len(want) {
		ids := b.claimQueues(At(time.Minute), 5, "task")
		if len(ids) == 0 {
			break
		}
		got = append(got, ids...)
	}
	requireIDs(b.t, "Claims of a mixed batch, 5 at a time", wantIDs, got)
}

func checkClaimQueues(b *bundle, _ storage.Controls) {
	b.insert(Base, nil, queued("d1", "task", "", 0), queued("e1", "task", "emails", 0),
		queued("b1", "task", "billing", 0), queued("e2", "task", "emails", 0))
	d1 := b.get("d1")
	requireIDs(b.t, "Claim of emails", []string{"e1", "e2"}, b.claimQueues(Base, 10, "task", "emails", "unknown"))
	b.requireUnchanged(d1)
	// What is left of emails is the leases of its claimed rows.
	if d, ok := b.nextDueOf(Base, "task", "emails"); !ok || d != Lease {
		b.t.Fatalf("NextDue of emails: want the lease %v, got %v %v", Lease, d, ok)
	}
	if d, ok := b.nextDueOf(Base, "task", "billing", storage.DefaultQueue); !ok || d != 0 {
		b.t.Fatalf("NextDue of billing and default: want 0, got %v %v", d, ok)
	}
	// No queue listed: every queue.
	requireIDs(b.t, "Claim of every queue", []string{"d1", "b1"}, b.claimQueues(Base, 10, "task"))
}

func checkPausedQueue(b *bundle, c storage.Controls) {
	register(b, c, Base, storage.Control{Kind: storage.ControlQueue, Name: "emails"})
	pause(b, c, Base, storage.ControlQueue, "emails", true, true)
	pause(b, c, Base, storage.ControlQueue, "emails", true, false)
	b.insert(Base, nil, queued("e1", "task", "emails", 1), queued("d1", "task", "", 9))
	e1 := b.get("e1")
	requireIDs(b.t, "Claim with emails paused", []string{"d1"}, b.claimQueues(At(time.Second), 10, "task"))
	requireIDs(b.t, "Claim of emails paused", []string{}, b.claimQueues(At(time.Second), 10, "task", "emails"))
	b.requireUnchanged(e1)
	if d, ok := b.nextDueOf(At(time.Second), "task", "emails"); ok {
		b.t.Fatalf("NextDue of emails paused: want none, got %v", d)
	}
	if got := controls(b, c, storage.ControlQueue); len(got) != 1 || !got[0].Paused || got[0].Name != "emails" {
		b.t.Fatalf("ListControls: want emails paused, got %+v", got)
	}

	events, _ := b.subscribe()
	pause(b, c, At(2*time.Second), storage.ControlQueue, "emails", false, true)
	events.waitFor(b, "Event.Ready after the queue's resume", func(evs []storage.Event) bool {
		for _, ev := range evs {
			if ev.Ready {
				return true
			}
		}
		return false
	})
	requireIDs(b.t, "Claim after resume", []string{"e1"}, b.claimQueues(At(3*time.Second), 10, "task", "emails"))
}

func checkChildQueue(b *bundle, _ storage.Controls) {
	b.insert(Base, nil, queued("p", "parent", "orders", 2))
	p := b.claimOne(Base, "exec-1", "parent", "p")
	kids := []storage.Execution{queued("p.0", "child", "", 0), queued("p.1", "child", "emails", 7)}
	for i := range kids {
		kids[i].RootID, kids[i].RootTaskID, kids[i].ParentID, kids[i].ParentTaskID = "p", "parent", "p", "parent"
		kids[i].ChildIndex = i
	}
	b.mustApply(Base, storage.Transition{ID: "p", Fence: p.Fence, From: storage.StatusRunning,
		To: storage.StatusWaitingForChildren, Children: kids})
	for _, want := range []struct {
		id, queue string
		priority  int
	}{{"p.0", storage.DefaultQueue, storage.DefaultPriority}, {"p.1", "emails", 7}} {
		if got := b.get(want.id); got.Queue != want.queue || got.Priority != want.priority {
			b.t.Fatalf("child %s: want queue %q priority %d, got %q %d", want.id, want.queue, want.priority, got.Queue, got.Priority)
		}
	}
	requireIDs(b.t, "Claim of emails", []string{"p.1"}, b.claimQueues(Base, 10, "child", "emails"))
}

func checkLapsedPriority(b *bundle, _ storage.Controls) {
	b.insert(Base, nil, queued("old", "task", "", 8))
	b.claimOne(Base, "exec-1", "task", "old")
	// Lease lapsed; a newer row of a higher priority goes first.
	b.insert(At(time.Minute), nil, queued("new", "task", "", 2))
	requireIDs(b.t, "Claim after the lapse", []string{"new", "old"}, b.claimQueues(At(2*time.Minute), 10, "task"))
	if got := b.get("old"); got.Priority != 8 || got.Crashes != 1 {
		b.t.Fatalf("taken-over row: want priority 8 and 1 crash, got %d and %d", got.Priority, got.Crashes)
	}
}

func checkControlsRegister(b *bundle, c storage.Controls) {
	register(b, c, Base,
		storage.Control{Kind: storage.ControlSchedule, Name: "nightly", Spec: []byte(`{"v":1}`), Mark: 10},
		storage.Control{Kind: storage.ControlQueue, Name: "emails"},
		storage.Control{Kind: storage.ControlSchedule, Name: "hourly", Spec: []byte(`{"v":1}`)})
	pause(b, c, At(time.Second), storage.ControlSchedule, "nightly", true, true)
	if ok, err := c.AdvanceControl(b.ctx, storage.AdvanceControlParams{Now: At(time.Second),
		Kind: storage.ControlSchedule, Name: "nightly", From: 10, To: 20}); err != nil || !ok {
		b.t.Fatalf("AdvanceControl 10→20: %v %v", ok, err)
	}
	// Registered again (an executor's restart): the spec changes, the
	// pause and the mark stay.
	register(b, c, At(2*time.Second), storage.Control{Kind: storage.ControlSchedule, Name: "nightly", Spec: []byte(`{"v":2}`), Mark: 0})
	got := controls(b, c, storage.ControlSchedule)
	if len(got) != 2 || got[0].Name != "hourly" || got[1].Name != "nightly" {
		b.t.Fatalf("ListControls(schedule): want hourly, nightly, got %+v", got)
	}
	n := got[1]
	if !n.Paused || n.Mark != 20 || string(n.Spec) != `{"v":2}` || !timeEqual(n.UpdatedAt, At(2*time.Second)) {
		b.t.Fatalf("nightly after a new registration: want paused, mark 20, spec v2, updated at +2s, got %+v (spec %s)", n, n.Spec)
	}
	if h := got[0]; h.Paused || h.Mark != 0 || string(h.Spec) != `{"v":1}` || !timeEqual(h.UpdatedAt, Base) {
		b.t.Fatalf("hourly: want not paused, mark 0, spec v1, updated at Base, got %+v", h)
	}
	if q := controls(b, c, storage.ControlQueue); len(q) != 1 || q[0].Name != "emails" || q[0].Paused {
		b.t.Fatalf("ListControls(queue): want emails, got %+v", q)
	}
}

func checkControlsBad(b *bundle, c storage.Controls) {
	for _, bad := range []storage.Control{
		{Kind: "lane", Name: "x"},
		{Kind: storage.ControlQueue, Name: ""},
		{Kind: storage.ControlQueue, Name: "has space"},
		{Kind: storage.ControlSchedule, Name: "big", Spec: make([]byte, storage.MaxControlSpecBytes+1)},
	} {
		err := c.RegisterControls(b.ctx, storage.RegisterControlsParams{Now: Base, Controls: []storage.Control{
			{Kind: storage.ControlQueue, Name: "good"}, bad}})
		if err == nil {
			b.t.Fatalf("RegisterControls(%q %q): want an error", bad.Kind, bad.Name)
		}
	}
	for _, kind := range []string{storage.ControlQueue, storage.ControlSchedule} {
		if got := controls(b, c, kind); len(got) != 0 {
			b.t.Fatalf("ListControls(%s) after refused registrations: want none, got %+v", kind, got)
		}
	}
}

func checkControlsUnknown(b *bundle, c storage.Controls) {
	register(b, c, Base, storage.Control{Kind: storage.ControlQueue, Name: "emails"})
	_, err := c.PauseControl(b.ctx, storage.PauseControlParams{Now: Base, Kind: storage.ControlQueue, Name: "unknown", Paused: true})
	requireErrIs(b.t, "PauseControl of an unknown queue", err, storage.ErrNotFound)
	_, err = c.PauseControl(b.ctx, storage.PauseControlParams{Now: Base, Kind: storage.ControlSchedule, Name: "emails", Paused: true})
	requireErrIs(b.t, "PauseControl of a queue's name as a schedule", err, storage.ErrNotFound)
	_, err = c.AdvanceControl(b.ctx, storage.AdvanceControlParams{Now: Base, Kind: storage.ControlSchedule, Name: "unknown", From: 0, To: 1})
	requireErrIs(b.t, "AdvanceControl of an unknown schedule", err, storage.ErrNotFound)
	if got := controls(b, c, storage.ControlQueue); len(got) != 1 || got[0].Paused {
		b.t.Fatalf("ListControls(queue): want emails not paused, got %+v", got)
	}
}

func checkControlsAdvance(b *bundle, c storage.Controls) {
	register(b, c, Base, storage.Control{Kind: storage.ControlSchedule, Name: "s", Mark: 5})
	advance := func(from, to int64) bool {
		ok, err := c.AdvanceControl(b.ctx, storage.AdvanceControlParams{Now: At(time.Second),
			Kind: storage.ControlSchedule, Name: "s", From: from, To: to})
		if err != nil {
			b.t.Fatalf("AdvanceControl %d→%d: %v", from, to, err)
		}
		return ok
	}
	if advance(4, 9) {
		b.t.Fatal("AdvanceControl from a stale mark: want false")
	}
	// Many callers race from the same mark: one wins.
	wins := make(chan bool, 8)
	for range 8 {
		go func() { wins <- advance(5, 6) }()
	}
	won := 0
	for range 8 {
		if <-wins {
			won++
		}
	}
	if won != 1 {
		b.t.Fatalf("8 AdvanceControl 5→6 at once: want 1 win, got %d", won)
	}
	if got := controls(b, c, storage.ControlSchedule); len(got) != 1 || got[0].Mark != 6 {
		b.t.Fatalf("ListControls: want mark 6, got %+v", got)
	}
}
