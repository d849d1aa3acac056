package storagetest

import (
	"time"

	"github.com/durable-go/durable/storage"
)

var cancelChecks = []check{
	{"CancelPropagatesToParent", checkCancelParent},
	{"CancelReadyRow", checkCancelReady},
	{"CancelRunningRow", checkCancelRunning},
	{"CancelTerminalRowIsNoop", checkCancelTerminal},
	{"CancelUnknownIsNotFound", checkCancelUnknown},
	{"CancelWaitingParentCancelsSubtree", checkCancelSubtree},
}

// byUser is the error the suite's cancellations store.
var byUser = storage.ErrorInfo{Kind: storage.ErrorKindCancelled, Message: "cancelled by the user"}

// cancel cancels id at now and reports whether this call cancelled it.
func (b *bundle) cancel(now time.Time, id string) bool {
	b.t.Helper()
	ok, err := b.s.Cancel(b.ctx, storage.CancelParams{Now: now, ID: id, Error: byUser})
	if err != nil {
		b.t.Fatalf("Cancel(%q): %v", id, err)
	}
	return ok
}

// cancelled returns e as Cancel leaves it at now. RunOutput and UpdatedAt
// are not specified; compare with them ignored.
func cancelled(e storage.Execution, now time.Time, err storage.ErrorInfo) storage.Execution {
	e.Status = storage.StatusCancelled
	e.FinishedAt = now
	e.DueAt = time.Time{}
	e.Error = &err
	return e
}

func checkCancelReady(b *bundle) {
	b.insert(Base, nil, NewExecution("a", "task"))
	before := b.get("a")
	now := At(time.Second)
	if !b.cancel(now, "a") {
		b.t.Fatal("Cancel of a ready row: false")
	}
	b.require(cancelled(before, now, byUser), "UpdatedAt", "RunOutput")
	requireIDs(b.t, "Claim of a cancelled row", []string{}, b.claimIDs(At(time.Hour), "exec-1", 10, "task"))
}

func checkCancelRunning(b *bundle) {
	r := b.running(Base, "a")
	now := At(time.Second)
	if !b.cancel(now, "a") {
		b.t.Fatal("Cancel of a running row: false")
	}
	b.require(cancelled(r, now, byUser), "UpdatedAt", "RunOutput") // ExecutorID and Fence kept
	res := b.complete(At(2*time.Second), storage.Transition{ID: "a", Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusCompleted})
	if res[0].Applied {
		b.t.Fatal("the owner's completion applied after Cancel")
	}
	requireLeases(b, "Heartbeat after Cancel", []storage.Lease{lease(r)},
		b.heartbeat(At(2*time.Second), time.Minute, lease(r)))
}

func checkCancelTerminal(b *bundle) {
	b.finish(Base, b.running(Base, "a"), storage.StatusCompleted)
	done := b.get("a")
	if b.cancel(At(time.Second), "a") {
		b.t.Fatal("Cancel of a completed row: true")
	}
	b.requireUnchanged(done)
}

func checkCancelUnknown(b *bundle) {
	_, err := b.s.Cancel(b.ctx, storage.CancelParams{Now: Base, ID: "missing", Error: byUser})
	requireErrIs(b.t, "Cancel of an unknown id", err, storage.ErrNotFound)
}

// checkCancelSubtree cancels p with children c0 (completed), c1 (waiting on
// its running child g) and c2 (ready).
func checkCancelSubtree(b *bundle) {
	_, kids := b.spawn(Base, "p", 3, false)
	b.finish(Base, b.claimChild(Base, kids[0]), storage.StatusCompleted)
	_, grand := b.spawnFrom(Base, b.claimChild(Base, kids[1]), 1, false)
	b.claimChild(Base, grand[0])
	c0 := b.get(kids[0].ID)
	before := map[string]storage.Execution{}
	for _, id := range []string{"p", kids[1].ID, kids[2].ID, grand[0].ID} {
		before[id] = b.get(id)
	}

	now := At(time.Minute)
	if !b.cancel(now, "p") {
		b.t.Fatal("Cancel of a waiting parent: false")
	}
	b.requireUnchanged(c0)
	b.require(cancelled(before["p"], now, byUser), "UpdatedAt", "RunOutput")
	for _, id := range []string{kids[1].ID, kids[2].ID, grand[0].ID} {
		b.require(cancelled(before[id], now, byUser), "UpdatedAt", "RunOutput", "Error")
		if got := b.get(id); got.Error == nil || got.Error.Kind != storage.ErrorKindCancelled {
			b.t.Fatalf("cancelled descendant %s: Error %+v", id, got.Error)
		}
	}
}

func checkCancelParent(b *bundle) {
	_, kids := b.spawn(Base, "ff", 2, true)
	b.cancel(At(time.Second), kids[0].ID)
	b.requireParent("FailFast parent after a cancelled child", "ff", 1, At(time.Second))

	_, kids = b.spawn(Base, "all", 2, false)
	b.cancel(At(time.Second), kids[0].ID)
	b.requireParent("parent after a cancelled child", "all", 1, time.Time{})
	b.cancel(At(2*time.Second), kids[1].ID)
	b.requireParent("parent after its last child was cancelled", "all", 0, At(2*time.Second))
}
