package storagetest

import (
	"time"

	"github.com/durable-go/durable/storage"
)

var completeChecks = []check{
	{"CompleteCascadeCancelsDescendants", checkCompleteCascade},
	{"CompleteChildrenNotInsertedWhenGuardFails", checkCompleteChildrenGuard},
	{"CompleteDuplicateChildFailsOnlyItsTransition", checkCompleteDuplicateChild},
	{"CompleteFailFastParentDueOnFailedChild", checkCompleteFailFast},
	{"CompleteGuardMismatchChangesNothing", checkCompleteGuard},
	{"CompleteSameRowTwiceInOneBatch", checkCompleteSameRowTwice},
	{"CompleteNonFailFastParentWaitsForAll", checkCompleteNonFailFast},
	{"CompleteParentDueWhenLastChildEnds", checkCompleteParentDue},
	{"CompleteParentNotWaitingUntouched", checkCompleteParentNotWaiting},
	{"CompleteTerminal", checkCompleteTerminal},
	{"CompleteTerminalStatusesAbsorbing", checkCompleteAbsorbing},
	{"CompleteToReady", checkCompleteToReady},
	{"CompleteToWaitingForChildren", checkCompleteSpawn},
	{"CompleteToWaitingForFinalize", checkCompleteFinalize},
	{"CompleteWaitingForChildrenAgain", checkCompleteSpawnAgain},
}

// checkCompleteSameRowTwice completes one row twice in one batch, among
// other rows: transitions apply as if one after the other, so the first
// completes it and the second, finding it completed, does not apply.
func checkCompleteSameRowTwice(b *bundle) {
	a, c := b.running(Base, "a"), b.running(Base, "c")
	done := func(e storage.Execution, out string) storage.Transition {
		return storage.Transition{ID: e.ID, Fence: e.Fence, From: storage.StatusRunning, To: storage.StatusCompleted, Output: []byte(out)}
	}
	res := b.complete(At(time.Second), done(a, `1`), done(c, `3`), done(a, `2`))
	if !res[0].Applied || !res[1].Applied || res[2].Applied {
		b.t.Fatalf("applied %v %v %v, want true true false", res[0].Applied, res[1].Applied, res[2].Applied)
	}
	if got := b.get("a"); got.Status != storage.StatusCompleted || string(got.Output) != `1` {
		b.t.Fatalf("row a: %s %s, want completed with the first output", got.Status, got.Output)
	}
	if got := b.get("c"); got.Status != storage.StatusCompleted {
		b.t.Fatalf("row c: %s, want completed", got.Status)
	}
}

func checkCompleteGuard(b *bundle) {
	r := b.running(Base, "a")
	res := b.complete(At(time.Second),
		storage.Transition{ID: "a", Fence: r.Fence + 1, From: storage.StatusRunning, To: storage.StatusCompleted},
		storage.Transition{ID: "a", Fence: r.Fence - 1, From: storage.StatusRunning, To: storage.StatusFailed},
		storage.Transition{ID: "a", Fence: r.Fence, From: storage.StatusReady, To: storage.StatusCompleted},
		storage.Transition{ID: "a", Fence: r.Fence, From: storage.StatusWaitingForChildren, To: storage.StatusCompleted},
		storage.Transition{ID: "missing", Fence: 1, From: storage.StatusRunning, To: storage.StatusCompleted},
	)
	for i, tr := range res {
		if tr.Applied || tr.Err != nil {
			b.t.Fatalf("transition %d: want not applied and no error, got applied=%v err=%v", i, tr.Applied, tr.Err)
		}
	}
	b.requireUnchanged(r)
	b.requireNotFound("missing")
}

func checkCompleteToReady(b *bundle) {
	e := NewExecution("a", "task")
	e.RunOutput = []byte("stale run output")
	b.insert(Base, nil, e)
	r := b.claimOne(Base, "exec-1", "task", "a")

	now := At(10 * time.Second)
	fail := &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "attempt 0 failed", Retryable: true}
	b.mustApply(now, storage.Transition{
		ID: "a", Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusReady,
		Error: fail, Attempt: 1, Iteration: 2, Delay: 5 * time.Second, RunOutput: []byte("ignored"),
	})
	want := r
	want.Status = storage.StatusReady
	want.DueAt = now.Add(5 * time.Second)
	want.StartedAt = time.Time{}
	want.ExecutorID = ""
	want.RunOutput = nil
	want.Error = fail
	want.Attempt, want.Iteration = 1, 2
	want.UpdatedAt = now
	b.require(want)

	requireIDs(b.t, "Claim before the delay", []string{}, b.claimIDs(At(14*time.Second), "exec-1", 10, "task"))
	again := b.claimOne(At(15*time.Second), "exec-1", "task", "a")
	if again.Fence != r.Fence+1 || again.Crashes != 0 {
		b.t.Fatalf("claim of the retry: fence %d crashes %d", again.Fence, again.Crashes)
	}
}

func checkCompleteSpawn(b *bundle) {
	p := b.running(Base, "p")
	c0 := NewChild(p, "c0", "task_child", 0)
	c1 := NewChild(p, "c1", "task_child", 1)
	c2 := NewSleeping("c2", "task_sleep", "key", time.Hour)
	c2.ParentID, c2.ParentTaskID, c2.RootID, c2.RootTaskID, c2.ChildIndex = "p", "t_p", "p", "t_p", 2

	now := At(time.Second)
	b.mustApply(now, storage.Transition{
		ID: "p", Fence: p.Fence, From: storage.StatusRunning, To: storage.StatusWaitingForChildren,
		RunOutput: []byte(`"run"`), FailFast: true, Attempt: 1, Iteration: 3,
		Children: []storage.Execution{c0, c1, c2}, ChildDelays: []time.Duration{0, 10 * time.Second, 0},
	})
	want := p
	want.Status = storage.StatusWaitingForChildren
	want.WaitingForChildrenAt = now
	want.RunOutput = []byte(`"run"`)
	want.FailFast = true
	want.Attempt, want.Iteration = 1, 3
	want.ChildrenTotal, want.ChildrenPending = 3, 3
	want.DueAt = time.Time{}
	want.ExecutorID = ""
	want.UpdatedAt = now
	b.require(want)

	for i, c := range []storage.Execution{c0, c1, c2} {
		w := c
		w.CreatedAt, w.UpdatedAt = now, now
		w.DueAt = now.Add([]time.Duration{0, 10 * time.Second, time.Hour}[i])
		if c.SleepKey != "" {
			w.StartedAt = now
		}
		b.require(w)
	}
	if got, err := b.s.GetBySleepKey(b.ctx, storage.GetBySleepKeyParams{SleepKey: "key"}); err != nil || got.ID != "c2" {
		b.t.Fatalf("GetBySleepKey of the sleeping child: %v, %v", got.ID, err)
	}
	list, err := b.s.ListChildren(b.ctx, storage.ListChildrenParams{ParentID: "p"})
	if err != nil {
		b.t.Fatalf("ListChildren: %v", err)
	}
	requireIDs(b.t, "ListChildren", []string{"c0", "c1", "c2"}, ids(list))
	requireIDs(b.t, "Claim of the waiting parent", []string{}, b.claimIDs(At(time.Hour), "exec-1", 10, "t_p"))
	requireIDs(b.t, "Claim of the children", []string{"c0"}, b.claimIDs(now, "exec-1", 10, "task_child"))
}

func checkCompleteChildrenGuard(b *bundle) {
	p := b.running(Base, "p")
	res := b.complete(At(time.Second), storage.Transition{
		ID: "p", Fence: p.Fence + 1, From: storage.StatusRunning, To: storage.StatusWaitingForChildren,
		Children: []storage.Execution{NewChild(p, "c0", "task_child", 0)},
	})
	if res[0].Applied || res[0].Err != nil {
		b.t.Fatalf("stale spawn: applied=%v err=%v", res[0].Applied, res[0].Err)
	}
	b.requireUnchanged(p)
	b.requireNotFound("c0")
}

func checkCompleteDuplicateChild(b *bundle) {
	b.insert(Base, nil, NewExecution("taken", "task_other"), NewSleeping("s", "task_sleep", "taken-key", time.Hour))
	p1 := b.running(Base, "p1")
	p2 := b.running(Base, "p2")
	p3 := b.running(Base, "p3")
	q := b.running(Base, "q")
	sleeper := NewChild(p2, "p2-s", "task_sleep", 1)
	sleeper.Status, sleeper.SleepKey = storage.StatusRunning, "taken-key"
	spawn := func(p storage.Execution, kids ...storage.Execution) storage.Transition {
		return storage.Transition{ID: p.ID, Fence: p.Fence, From: storage.StatusRunning,
			To: storage.StatusWaitingForChildren, Children: kids}
	}
	res := b.complete(At(time.Second),
		spawn(p1, NewChild(p1, "p1-ok", "task_child", 0), NewChild(p1, "taken", "task_child", 1)),
		spawn(p2, NewChild(p2, "p2-ok", "task_child", 0), sleeper),
		spawn(p3, NewChild(p3, "p3-twice", "task_child", 0), NewChild(p3, "p3-twice", "task_child", 1)),
		storage.Transition{ID: "q", Fence: q.Fence, From: storage.StatusRunning, To: storage.StatusCompleted},
	)
	for i, p := range []storage.Execution{p1, p2, p3} {
		if res[i].Applied {
			b.t.Fatalf("spawn of %s with a duplicate child: applied", p.ID)
		}
		requireErrIs(b.t, "spawn of "+p.ID+" with a duplicate child", res[i].Err, storage.ErrDuplicate)
		b.requireUnchanged(p)
	}
	for _, id := range []string{"p1-ok", "p2-ok", "p2-s", "p3-twice"} {
		b.requireNotFound(id)
	}
	if !res[3].Applied || res[3].Err != nil {
		b.t.Fatalf("other transition of the batch: applied=%v err=%v", res[3].Applied, res[3].Err)
	}
	if got := b.get("q"); got.Status != storage.StatusCompleted {
		b.t.Fatalf("other transition of the batch: status %s", got.Status)
	}
	if got := b.get("taken"); got.TaskID != "task_other" {
		b.t.Fatalf("existing row overwritten: task %s", got.TaskID)
	}
}

func checkCompleteTerminal(b *bundle) {
	e := NewExecution("a", "t_a")
	e.Error = &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "previous attempt"}
	e.RunOutput = []byte("stale")
	b.insert(Base, nil, e, NewExecution("f", "t_f"), NewExecution("x", "t_x"))
	now := At(time.Second)
	fail := &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "bad input"}
	timeout := &storage.ErrorInfo{Kind: storage.ErrorKindTimedOut, Message: "timed out", Retryable: true}
	cases := []struct {
		id     string
		to     storage.Status
		output []byte
		err    *storage.ErrorInfo
	}{
		{"a", storage.StatusCompleted, []byte(`{"ok":true}`), nil},
		{"f", storage.StatusFailed, nil, fail},
		{"x", storage.StatusTimedOut, nil, timeout},
	}
	for _, c := range cases {
		r := b.claimOne(Base, "exec-1", "t_"+c.id, c.id)
		b.mustApply(now, storage.Transition{ID: c.id, Fence: r.Fence, From: storage.StatusRunning, To: c.to,
			Output: c.output, Error: c.err, Attempt: 4, Iteration: 5})
		want := r
		want.Status = c.to
		want.FinishedAt, want.UpdatedAt = now, now
		want.DueAt = time.Time{}
		want.ExecutorID = ""
		want.RunOutput = nil
		want.Output = c.output
		want.Error = c.err
		want.Attempt, want.Iteration = 4, 5
		b.require(want)
	}
	requireIDs(b.t, "Claim of finished rows", []string{}, b.claimIDs(At(time.Hour), "exec-1", 10, "t_a", "t_f", "t_x"))
}

// parentState returns a parent's pending counter and due time.
func (b *bundle) parentState(id string) (pending int, due time.Time) {
	b.t.Helper()
	p := b.get(id)
	return p.ChildrenPending, p.DueAt
}

func (b *bundle) requireParent(what, id string, pending int, due time.Time) {
	b.t.Helper()
	gotPending, gotDue := b.parentState(id)
	if gotPending != pending || !timeEqual(due, gotDue) {
		b.t.Fatalf("%s: parent %s has ChildrenPending %d, DueAt %s; want %d, %s",
			what, id, gotPending, show(gotDue), pending, show(due))
	}
}

func checkCompleteParentDue(b *bundle) {
	p, kids := b.spawn(Base, "p", 2, false)
	b.finish(At(time.Second), b.claimChild(Base, kids[0]), storage.StatusCompleted)
	b.requireParent("after the first child", "p", 1, time.Time{})
	b.finish(At(2*time.Second), b.claimChild(Base, kids[1]), storage.StatusCompleted)
	b.requireParent("after the last child", "p", 0, At(2*time.Second))

	want := p
	want.ChildrenPending, want.DueAt = 0, At(2*time.Second)
	b.require(want, "UpdatedAt")
	b.claimOne(At(2*time.Second), "exec-1", "t_p", "p")
}

func checkCompleteFailFast(b *bundle) {
	_, kids := b.spawn(Base, "p", 3, true)
	b.finish(At(time.Second), b.claimChild(Base, kids[0]), storage.StatusCompleted)
	b.requireParent("after a completed child", "p", 2, time.Time{})
	b.finish(At(2*time.Second), b.claimChild(Base, kids[1]), storage.StatusFailed)
	b.requireParent("after a failed child", "p", 1, At(2*time.Second))
}

func checkCompleteNonFailFast(b *bundle) {
	_, kids := b.spawn(Base, "p", 2, false)
	b.finish(At(time.Second), b.claimChild(Base, kids[0]), storage.StatusFailed)
	b.requireParent("after a failed child", "p", 1, time.Time{})
	b.finish(At(2*time.Second), b.claimChild(Base, kids[1]), storage.StatusCompleted)
	b.requireParent("after the last child", "p", 0, At(2*time.Second))
}

func checkCompleteParentNotWaiting(b *bundle) {
	p := NewExecution("p", "t_p")
	p.ChildrenTotal, p.ChildrenPending = 1, 1
	b.insert(Base, []time.Duration{time.Hour, 0}, p, NewChild(p, "c", "t_c", 0))
	before := b.get("p")
	b.finish(At(time.Second), b.claimOne(Base, "exec-1", "t_c", "c"), storage.StatusFailed)
	b.requireUnchanged(before)
}

func checkCompleteFinalize(b *bundle) {
	_, kids := b.spawn(Base, "p", 1, true)
	b.finish(Base, b.claimChild(Base, kids[0]), storage.StatusCompleted)
	p := b.claimOne(Base, "exec-1", "t_p", "p")

	now := At(time.Second)
	fin := NewChild(p, "fin", "t_fin", 1)
	fin.IsFinalize = true
	b.mustApply(now, storage.Transition{
		ID: "p", Fence: p.Fence, From: storage.StatusWaitingForChildren, To: storage.StatusWaitingForFinalize,
		RunOutput: []byte("ignored"), Children: []storage.Execution{fin},
	})
	want := p
	want.Status = storage.StatusWaitingForFinalize
	want.WaitingForFinalizeAt = now
	want.FailFast = false
	want.ChildrenTotal, want.ChildrenPending = 2, 1
	want.DueAt = time.Time{}
	want.ExecutorID = ""
	want.UpdatedAt = now
	b.require(want) // RunOutput and WaitingForChildrenAt kept

	b.finish(At(2*time.Second), b.claimOne(now, "exec-1", "t_fin", "fin"), storage.StatusCompleted)
	b.requireParent("after the finalize", "p", 0, At(2*time.Second))
}

// checkCompleteSpawnAgain is a sequence's next step: a parent whose child
// completed spawns the next child and stays waiting_for_children, keeping
// the time it started waiting and its own run output.
func checkCompleteSpawnAgain(b *bundle) {
	_, kids := b.spawn(Base, "p", 1, false)
	b.finish(Base, b.claimChild(Base, kids[0]), storage.StatusCompleted)
	p := b.claimOne(At(time.Second), "exec-1", "t_p", "p")

	now := At(2 * time.Second)
	b.mustApply(now, storage.Transition{
		ID: "p", Fence: p.Fence, From: storage.StatusWaitingForChildren, To: storage.StatusWaitingForChildren,
		RunOutput: []byte("ignored"), Iteration: 1, Children: []storage.Execution{NewChild(p, "next", "t_next", 1)},
	})
	want := p
	want.Iteration = 1
	want.ChildrenTotal, want.ChildrenPending = 2, 1
	want.DueAt = time.Time{}
	want.ExecutorID = ""
	want.UpdatedAt = now
	b.require(want) // RunOutput and WaitingForChildrenAt kept
	b.claimOne(now, "exec-1", "t_next", "next")
}

// checkCompleteCascade builds p -> {a, b, c}, a -> {a0, a1}; a0 and b
// complete, a1 runs, c fails (p is FailFast), and p's continuation fails p.
func checkCompleteCascade(b *bundle) {
	_, kids := b.spawn(Base, "p", 3, true)
	a, bb, c := kids[0], kids[1], kids[2]
	_, grand := b.spawnFrom(Base, b.claimChild(Base, a), 2, false)
	b.finish(Base, b.claimChild(Base, grand[0]), storage.StatusCompleted)
	a1 := b.claimChild(Base, grand[1])
	b.finish(Base, b.claimChild(Base, bb), storage.StatusCompleted)
	b.finish(Base, b.claimChild(Base, c), storage.StatusFailed)
	p := b.claimOne(Base, "exec-1", "t_p", "p")

	finished := map[string]storage.Execution{}
	for _, id := range []string{grand[0].ID, bb.ID, c.ID} {
		finished[id] = b.get(id)
	}
	aBefore := b.get(a.ID)

	now := At(time.Minute)
	b.mustApply(now, storage.Transition{
		ID: "p", Fence: p.Fence, From: storage.StatusWaitingForChildren, To: storage.StatusChildrenFailed,
		Error: &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "child failed"},
	})
	for _, e := range finished {
		b.requireUnchanged(e)
	}
	for _, e := range []storage.Execution{aBefore, a1} {
		want := e
		want.Status = storage.StatusCancelled
		want.FinishedAt, want.UpdatedAt = now, now
		want.DueAt = time.Time{}
		b.require(want, "Error", "RunOutput")
		got := b.get(e.ID)
		if got.Error == nil || got.Error.Kind != storage.ErrorKindCancelled {
			b.t.Fatalf("cancelled descendant %s: Error %+v, want kind %q", e.ID, got.Error, storage.ErrorKindCancelled)
		}
		requireContains(b.t, "cancellation message of "+e.ID, got.Error.Message, "p")
	}
	// Cancelled ancestors' counters are not decremented: a still counts a1,
	// p still counts a.
	b.requireParent("cancelled child a", a.ID, 1, time.Time{})
	b.requireParent("failed root p", "p", 1, time.Time{})
	requireIDs(b.t, "Claim after the cascade", []string{},
		b.claimIDs(At(time.Hour), "exec-1", 10, "t_p", a.TaskID, a1.TaskID))
}

func checkCompleteAbsorbing(b *bundle) {
	r := b.running(Base, "a")
	b.finish(At(time.Second), r, storage.StatusCompleted)
	done := b.get("a")
	for _, to := range []storage.Status{storage.StatusReady, storage.StatusFailed, storage.StatusWaitingForChildren} {
		res := b.complete(At(2*time.Second), storage.Transition{ID: "a", Fence: done.Fence, From: storage.StatusCompleted, To: to})
		if res[0].Applied {
			b.t.Fatalf("transition out of completed to %s applied", to)
		}
	}
	b.cancel(At(3*time.Second), "a")
	b.release(At(3*time.Second), lease(done))
	b.heartbeat(At(3*time.Second), time.Minute, lease(done))
	if _, err := b.s.Recover(b.ctx, storage.RecoverParams{Now: At(3 * time.Second), ExecutorID: "exec-1"}); err != nil {
		b.t.Fatalf("Recover: %v", err)
	}
	requireIDs(b.t, "Claim of a finished row", []string{}, b.claimIDs(At(time.Hour), "exec-1", 10, "t_a"))
	b.requireUnchanged(done)
}
