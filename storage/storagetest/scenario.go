package storagetest

import (
	"time"

	"github.com/durable-go/durable/storage"
)

var scenarioChecks = []check{
	{"ScenarioFencingRejectsStaleExecutor", checkScenarioFencing},
	{"ScenarioFinishedRowIsNeverReclaimed", checkScenarioNotReclaimed},
}

// checkScenarioFencing is RELIABILITY.md pitfall 3: executor A claims, is
// paused past its lease, B takes the row over; A's heartbeat and completion
// must be rejected and B's must stand.
func checkScenarioFencing(b *bundle) {
	b.insert(Base, nil, NewExecution("a", "task"))
	byA := b.claimOne(Base, "exec-a", "task", "a")
	byB := b.claimOne(At(Lease+time.Second), "exec-b", "task", "a")
	if byB.Fence != byA.Fence+1 || byB.Crashes != 1 {
		b.t.Fatalf("takeover: fence %d (A had %d), crashes %d", byB.Fence, byA.Fence, byB.Crashes)
	}

	now := At(Lease + 2*time.Second)
	requireLeases(b, "A's heartbeat", []storage.Lease{lease(byA)}, b.heartbeat(now, Lease, lease(byA)))
	res := b.complete(now, storage.Transition{ID: "a", Fence: byA.Fence, From: storage.StatusRunning,
		To: storage.StatusCompleted, Output: []byte(`"from A"`)})
	if res[0].Applied {
		b.t.Fatal("A's stale completion applied")
	}
	requireLeases(b, "B's heartbeat", nil, b.heartbeat(now, Lease, lease(byB)))

	b.mustApply(now.Add(time.Second), storage.Transition{ID: "a", Fence: byB.Fence, From: storage.StatusRunning,
		To: storage.StatusCompleted, Output: []byte(`"from B"`)})
	res = b.complete(now.Add(2*time.Second), storage.Transition{ID: "a", Fence: byA.Fence, From: storage.StatusRunning,
		To: storage.StatusFailed})
	if res[0].Applied {
		b.t.Fatal("A's stale completion applied after B's")
	}
	if got := b.get("a"); got.Status != storage.StatusCompleted || string(got.Output) != `"from B"` {
		b.t.Fatalf("final row: status %s, output %s; want completed, B's output", got.Status, got.Output)
	}
}

// checkScenarioNotReclaimed is RELIABILITY.md R10: a row finished (or
// moved on) after a claim set its lease must not be claimed when that lease
// would have lapsed.
func checkScenarioNotReclaimed(b *bundle) {
	done := b.running(Base, "done")
	b.finish(At(time.Second), done, storage.StatusCompleted)
	parent := b.running(Base, "parent")
	b.spawnFrom(At(time.Second), parent, 1, false)
	retry := b.running(Base, "retry")
	b.mustApply(At(time.Second), storage.Transition{ID: "retry", Fence: retry.Fence, From: storage.StatusRunning,
		To: storage.StatusReady, Delay: time.Hour, Attempt: 1})
	before := map[string]storage.Execution{}
	for _, id := range []string{"done", "parent", "retry"} {
		before[id] = b.get(id)
	}

	requireIDs(b.t, "Claim after the old leases lapsed", []string{},
		b.claimIDs(At(2*Lease), "exec-2", 10, "t_done", "t_parent", "t_retry"))
	for _, e := range before {
		b.requireUnchanged(e)
	}
}
