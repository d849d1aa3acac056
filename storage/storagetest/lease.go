package storagetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/durable-go/durable/storage"
)

var leaseChecks = []check{
	{"HeartbeatAfterCompleteToWaitingIsLost", checkHeartbeatAfterWaiting},
	{"HeartbeatExtendsLease", checkHeartbeatExtends},
	{"HeartbeatReturnsLostLeases", checkHeartbeatLost},
	{"LapsedLeaseBeforeBacklog", checkLapsedLeaseBeforeBacklog},
	{"LapsedLeaseHeartbeatKeepsIt", checkLapsedLeaseHeartbeat},
	{"RecoverMakesExecutorClaimsDue", checkRecover},
	{"ReleaseAfterCompleteToWaitingIsIgnored", checkReleaseAfterWaiting},
	{"ReleaseRunningRow", checkReleaseRunning},
	{"ReleaseWaitingRow", checkReleaseWaiting},
	{"ReleaseWrongFenceIgnored", checkReleaseWrongFence},
}

func lease(e storage.Execution) storage.Lease { return storage.Lease{ID: e.ID, Fence: e.Fence} }

func (b *bundle) heartbeat(now time.Time, d time.Duration, leases ...storage.Lease) []storage.Lease {
	b.t.Helper()
	lost, err := b.s.Heartbeat(b.ctx, storage.HeartbeatParams{Now: now, Lease: d, Leases: leases})
	if err != nil {
		b.t.Fatalf("Heartbeat: %v", err)
	}
	return lost
}

func (b *bundle) release(now time.Time, leases ...storage.Lease) {
	b.t.Helper()
	if err := b.s.Release(b.ctx, storage.ReleaseParams{Now: now, Leases: leases}); err != nil {
		b.t.Fatalf("Release: %v", err)
	}
}

// requireLeases compares leases as sets.
func requireLeases(b *bundle, what string, want, got []storage.Lease) {
	b.t.Helper()
	key := func(l storage.Lease) string { return fmt.Sprintf("%s@%d", l.ID, l.Fence) }
	w, g := make([]string, len(want)), make([]string, len(got))
	for i, l := range want {
		w[i] = key(l)
	}
	for i, l := range got {
		g[i] = key(l)
	}
	slices.Sort(w)
	slices.Sort(g)
	requireIDs(b.t, what, w, g)
}

// dueParent returns a parent waiting_for_children whose only child has
// completed, claimed by exec-1 (so running its continuation).
func (b *bundle) dueParent(now time.Time, id string) storage.Execution {
	b.t.Helper()
	_, kids := b.spawn(now, id, 1, false)
	b.finish(now, b.claimChild(now, kids[0]), storage.StatusCompleted)
	return b.claimOne(now, "exec-1", "t_"+id, id)
}

func checkHeartbeatExtends(b *bundle) {
	r := b.running(Base, "a")
	p := b.dueParent(Base, "p")

	now := At(20 * time.Second)
	lost := b.heartbeat(now, time.Minute, lease(r), lease(p))
	requireLeases(b, "Heartbeat lost leases", nil, lost)
	for _, e := range []storage.Execution{r, p} {
		want := e
		want.DueAt = now.Add(time.Minute)
		b.require(want, "UpdatedAt")
	}
	requireIDs(b.t, "Claim at the old lease expiry", []string{},
		b.claimIDs(At(Lease), "exec-2", 10, "t_a", "t_p"))
}

func checkHeartbeatLost(b *bundle) {
	r := b.running(Base, "a")
	done := b.running(Base, "done")
	b.finish(Base, done, storage.StatusCompleted)
	done = b.get("done")

	stale := storage.Lease{ID: "a", Fence: r.Fence + 1}
	gone := storage.Lease{ID: "missing", Fence: 1}
	lost := b.heartbeat(At(time.Second), time.Minute, stale, lease(done), gone, lease(r))
	requireLeases(b, "Heartbeat lost leases", []storage.Lease{stale, lease(done), gone}, lost)
	b.requireUnchanged(done)
	want := r
	want.DueAt = At(time.Second + time.Minute)
	b.require(want, "UpdatedAt")
}

// checkHeartbeatAfterWaiting: a heartbeat racing with the completion that
// put the row in waiting_for_children (same fence) must not make the parent
// due: its children are still running.
func checkHeartbeatAfterWaiting(b *bundle) {
	r := b.running(Base, "p")
	p, _ := b.spawnFrom(Base, r, 2, false)
	lost := b.heartbeat(At(time.Second), time.Minute, lease(r))
	requireLeases(b, "Heartbeat after the completion", []storage.Lease{lease(r)}, lost)
	b.require(p, "UpdatedAt")
	requireIDs(b.t, "Claim of the waiting parent", []string{}, b.claimIDs(At(time.Hour), "exec-2", 10, "t_p"))
}

func checkReleaseRunning(b *bundle) {
	e := NewExecution("a", "task")
	e.Attempt, e.Crashes = 2, 1
	b.insert(Base, nil, e)
	claimed := b.claimOne(Base, "exec-1", "task", "a")

	now := At(5 * time.Second)
	b.release(now, lease(claimed))
	want := claimed
	want.Status = storage.StatusReady
	want.DueAt = now
	want.ExecutorID = ""
	want.StartedAt = time.Time{}
	b.require(want, "UpdatedAt")

	again := b.claimOne(now, "exec-2", "task", "a")
	if again.Fence != 2 || again.Crashes != 1 || again.Attempt != 2 {
		b.t.Fatalf("claim after release: fence %d crashes %d attempt %d, want 2, 1, 2", again.Fence, again.Crashes, again.Attempt)
	}
}

func checkReleaseWaiting(b *bundle) {
	p := b.dueParent(Base, "p")
	now := At(5 * time.Second)
	b.release(now, lease(p))
	want := p
	want.DueAt = now
	b.require(want, "UpdatedAt", "ExecutorID")
	b.claimOne(now, "exec-2", "t_p", "p")
}

func checkReleaseWrongFence(b *bundle) {
	r := b.running(Base, "a")
	b.release(At(time.Second), storage.Lease{ID: "a", Fence: 0}, storage.Lease{ID: "a", Fence: 2},
		storage.Lease{ID: "missing", Fence: 1})
	b.requireUnchanged(r)
}

// checkReleaseAfterWaiting: releasing a lease whose row was meanwhile
// completed into waiting_for_children (same fence) must not make the parent
// due while its children run.
func checkReleaseAfterWaiting(b *bundle) {
	r := b.running(Base, "p")
	p, _ := b.spawnFrom(Base, r, 2, false)
	b.release(At(time.Second), lease(r))
	b.requireUnchanged(p)
	requireIDs(b.t, "Claim of the waiting parent", []string{}, b.claimIDs(At(time.Hour), "exec-2", 10, "t_p"))
}

func checkRecover(b *bundle) {
	a1 := b.running(Base, "a1") // claimed by exec-1
	b.insert(Base, nil, NewExecution("a2", "t_a2"), NewExecution("other", "t_other"))
	a2 := b.claimOne(Base, "exec-1", "t_a2", "a2")
	b.finish(Base, a2, storage.StatusCompleted) // no longer claimed
	a2 = b.get("a2")
	p := b.dueParent(Base, "p") // a waiting parent claimed by exec-1
	other := b.claimOne(Base, "exec-2", "t_other", "other")
	b.insert(Base, []time.Duration{time.Hour}, NewExecution("later", "t_later"))
	later := b.get("later")

	now := At(10 * time.Second)
	n, err := b.s.Recover(b.ctx, storage.RecoverParams{Now: now, ExecutorID: "exec-1"})
	if err != nil || n != 2 {
		b.t.Fatalf("Recover(exec-1): want 2, nil; got %d, %v", n, err)
	}
	for _, e := range []storage.Execution{a1, p} {
		want := e
		want.DueAt = now
		b.require(want, "UpdatedAt")
	}
	b.requireUnchanged(other)
	b.requireUnchanged(later)
	b.requireUnchanged(a2)

	n, err = b.s.Recover(b.ctx, storage.RecoverParams{Now: now, ExecutorID: "exec-unknown"})
	if err != nil || n != 0 {
		b.t.Fatalf("Recover(exec-unknown): want 0, nil; got %d, %v", n, err)
	}
	got := b.claimIDs(now, "exec-3", 10, "t_a1", "t_p", "t_other", "t_later")
	slices.Sort(got)
	requireIDs(b.t, "Claim after Recover", []string{"a1", "p"}, got)
}

// checkLapsedLeaseBeforeBacklog: a lapsed lease is claimed as of its row's
// creation, not of its lease expiry: a run whose executor died is taken
// over before the backlog enqueued after it, even though that backlog
// became due before the lease lapsed.
func checkLapsedLeaseBeforeBacklog(b *bundle) {
	b.insert(Base, nil, NewExecution("x", "task"))
	first := b.claimOne(Base, "exec-a", "task", "x")
	backlog := make([]storage.Execution, 50)
	want := make([]string, len(backlog))
	for i := range backlog {
		want[i] = fmt.Sprintf("b%02d", i)
		backlog[i] = NewExecution(want[i], "task")
	}
	b.insert(At(time.Second), nil, backlog...)
	requireIDs(b.t, "Claim before the lease lapsed", []string{"b00"}, b.claimIDs(At(2*time.Second), "exec-b", 1, "task"))

	now := At(Lease)
	got := b.claim(now, "exec-b", 1, "task")
	if len(got) != 1 || got[0].ID != "x" {
		b.t.Fatalf("Claim with limit 1 once x's lease lapsed behind a backlog: want [x], got %v", ids(got))
	}
	if got[0].Crashes != 1 || got[0].Fence != first.Fence+1 || got[0].ExecutorID != "exec-b" || !got[0].DueAt.Equal(now.Add(Lease)) {
		b.t.Fatalf("x taken over: crashes %d fence %d executor %q due %s; want 1, %d, exec-b, %s",
			got[0].Crashes, got[0].Fence, got[0].ExecutorID, got[0].DueAt, first.Fence+1, now.Add(Lease))
	}
	if got[0].Error == nil || got[0].Error.Kind != storage.ErrorKindLeaseExpired {
		b.t.Fatalf("Error after a lapsed lease: want kind %q, got %+v", storage.ErrorKindLeaseExpired, got[0].Error)
	}
	requireContains(b.t, "lease_expired message", got[0].Error.Message, "exec-a")
	// The message gives the lease expiry (Base + 30s), not the creation.
	requireContains(b.t, "lease_expired message", got[0].Error.Message, ":00:30")
	requireIDs(b.t, "Claim of the backlog after x", want[1:], b.claimIDs(now, "exec-b", 100, "task"))
}

// checkLapsedLeaseHeartbeat: a heartbeat of the owner whose lease lapsed
// still extends it when no claim took the row over, whatever the store did
// to the row meanwhile (a claim of other tasks ran at that time).
func checkLapsedLeaseHeartbeat(b *bundle) {
	r := b.running(Base, "a")
	b.insert(Base, []time.Duration{time.Hour}, NewExecution("o", "other"))
	requireIDs(b.t, "Claim of another task", []string{}, b.claimIDs(At(Lease+time.Second), "exec-2", 10, "other"))
	now := At(Lease + 2*time.Second)
	lost := b.heartbeat(now, time.Minute, lease(r))
	requireLeases(b, "Heartbeat lost leases", nil, lost)
	want := r
	want.DueAt = now.Add(time.Minute)
	b.require(want, "UpdatedAt")
	requireIDs(b.t, "Claim within the extended lease", []string{}, b.claimIDs(now.Add(time.Second), "exec-2", 10, "t_a"))
}
