package storagetest

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

var claimChecks = []check{
	{"ClaimConcurrentClaimersNeverShareARow", checkClaimConcurrent},
	{"ClaimEmptyTaskIDsOrLimitClaimsNothing", checkClaimNothing},
	{"ClaimLapsedLeaseCountsACrash", checkClaimLapsedLease},
	{"ClaimLimitIsExact", checkClaimLimit},
	{"ClaimOnlyDueRows", checkClaimOnlyDue},
	{"ClaimOnlyListedTasks", checkClaimTaskIDs},
	{"ClaimOrderDueAtThenInsertion", checkClaimOrder},
	{"ClaimReadyRow", checkClaimReady},
	{"ClaimSleepingRowPastDeadline", checkClaimSleeping},
	{"ClaimWaitingRowKeepsStatus", checkClaimWaiting},
}

func checkClaimReady(b *bundle) {
	e := NewExecution("a", "task")
	e.Attempt = 1
	e.Error = &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "previous attempt"}
	b.insert(Base, nil, e)
	inserted := b.get("a")

	now := At(5 * time.Second)
	got := b.claim(now, "exec-1", 10, "task")
	want := inserted
	want.Status = storage.StatusRunning
	want.StartedAt = now
	want.Fence = 1
	want.ExecutorID = "exec-1"
	want.DueAt = now.Add(Lease)
	want.UpdatedAt = now
	if len(got) != 1 {
		b.t.Fatalf("Claim: want 1 row, got %v", ids(got))
	}
	RequireExecution(b.t, want, got[0])
	b.require(want)
}

func checkClaimOnlyDue(b *bundle) {
	b.insert(Base, []time.Duration{0, 10 * time.Second, 20 * time.Second},
		NewExecution("a", "task"), NewExecution("b", "task"), NewExecution("c", "task"))
	notDue := b.get("c")

	// b is due exactly at now: due.
	requireIDs(b.t, "Claim at +10s", []string{"a", "b"}, b.claimIDs(At(10*time.Second), "exec-1", 10, "task"))
	b.requireUnchanged(notDue)
	requireIDs(b.t, "Claim at +19s", []string{}, b.claimIDs(At(19*time.Second), "exec-1", 10, "task"))
	b.requireUnchanged(notDue)
	requireIDs(b.t, "Claim at +20s", []string{"c"}, b.claimIDs(At(20*time.Second), "exec-1", 10, "task"))
}

func checkClaimOrder(b *bundle) {
	b.insert(Base, []time.Duration{30 * time.Second, 10 * time.Second, 10 * time.Second, 0},
		NewExecution("x1", "task_x"), NewExecution("x2", "task_x"), NewExecution("x3", "task_x"), NewExecution("x4", "task_x"))
	// Inserted later: y1 ties with x2 and x3 on DueAt and comes after them.
	b.insert(At(time.Second), []time.Duration{9 * time.Second, 0},
		NewExecution("y1", "task_y"), NewExecution("y2", "task_y"))
	got := b.claimIDs(At(time.Minute), "exec-1", 100, "task_x", "task_y")
	requireIDs(b.t, "Claim order", []string{"x4", "y2", "x2", "x3", "y1", "x1"}, got)
}

func checkClaimLimit(b *bundle) {
	rows := make([]storage.Execution, 5)
	for i := range rows {
		rows[i] = NewExecution(fmt.Sprintf("r%d", i), "task")
	}
	b.insert(Base, nil, rows...)
	for _, want := range [][]string{{"r0", "r1"}, {"r2", "r3"}, {"r4"}, {}} {
		requireIDs(b.t, "Claim with limit 2", want, b.claimIDs(Base, "exec-1", 2, "task"))
	}
}

func checkClaimTaskIDs(b *bundle) {
	b.insert(Base, nil, NewExecution("a1", "task_a"), NewExecution("b1", "task_b"),
		NewExecution("a2", "task_a"), NewExecution("b2", "task_b"))
	b1 := b.get("b1")
	requireIDs(b.t, "Claim of task_a", []string{"a1", "a2"}, b.claimIDs(Base, "exec-1", 10, "task_a", "unknown_task"))
	b.requireUnchanged(b1)
	// Listing a task twice claims its rows once.
	requireIDs(b.t, "Claim of task_b", []string{"b1", "b2"}, b.claimIDs(Base, "exec-1", 10, "task_b", "task_b"))
}

func checkClaimNothing(b *bundle) {
	b.insert(Base, nil, NewExecution("a", "task"))
	before := b.get("a")
	for _, p := range []storage.ClaimParams{
		{TaskIDs: nil, Limit: 10},
		{TaskIDs: []string{}, Limit: 10},
		{TaskIDs: []string{"task"}, Limit: 0},
		{TaskIDs: []string{"task"}, Limit: -1},
	} {
		p.Now, p.ExecutorID, p.Lease = At(time.Minute), "exec-1", Lease
		got, err := b.s.Claim(b.ctx, p)
		if err != nil || len(got) != 0 {
			b.t.Fatalf("Claim(TaskIDs %v, Limit %d): want nothing, got %v, %v", p.TaskIDs, p.Limit, ids(got), err)
		}
	}
	b.requireUnchanged(before)
}

func checkClaimLapsedLease(b *bundle) {
	b.insert(Base, nil, NewExecution("a", "task"))
	first := b.claimOne(Base, "exec-a", "task", "a")
	requireIDs(b.t, "Claim before the lease lapsed", []string{}, b.claimIDs(At(Lease-time.Second), "exec-b", 10, "task"))

	now := At(Lease)
	got := b.claimOne(now, "exec-b", "task", "a")
	want := first
	want.Fence = 2
	want.ExecutorID = "exec-b"
	want.Crashes = 1
	want.DueAt = now.Add(Lease)
	want.UpdatedAt = now
	RequireExecution(b.t, want, got, "Error")
	b.require(want, "Error")
	if got.Error == nil || got.Error.Kind != storage.ErrorKindLeaseExpired {
		b.t.Fatalf("Error after a lapsed lease: want kind %q, got %+v", storage.ErrorKindLeaseExpired, got.Error)
	}
	requireContains(b.t, "lease_expired message", got.Error.Message, "exec-a")
}

func checkClaimSleeping(b *bundle) {
	b.insert(Base, nil, NewSleeping("s", "task_sleep", "key", time.Minute))
	inserted := b.get("s")
	requireIDs(b.t, "Claim before the deadline", []string{}, b.claimIDs(At(59*time.Second), "exec-a", 10, "task_sleep"))
	b.requireUnchanged(inserted)

	now := At(time.Minute)
	got := b.claimOne(now, "exec-a", "task_sleep", "s")
	want := inserted
	want.Fence = 1
	want.ExecutorID = "exec-a"
	want.DueAt = now.Add(Lease)
	want.UpdatedAt = now
	RequireExecution(b.t, want, got)

	// Its lease lapses too: still no crash counted.
	now = now.Add(Lease)
	got = b.claimOne(now, "exec-b", "task_sleep", "s")
	want.Fence = 2
	want.ExecutorID = "exec-b"
	want.DueAt = now.Add(Lease)
	want.UpdatedAt = now
	RequireExecution(b.t, want, got)
}

func checkClaimWaiting(b *bundle) {
	_, kids := b.spawn(Base, "p", 1, false)
	c := b.claimChild(Base, kids[0])
	b.finish(At(time.Second), c, storage.StatusCompleted)
	before := b.get("p")

	now := At(2 * time.Second)
	got := b.claimOne(now, "exec-2", "t_p", "p")
	want := before
	want.Fence = before.Fence + 1
	want.ExecutorID = "exec-2"
	want.DueAt = now.Add(Lease)
	want.UpdatedAt = now
	RequireExecution(b.t, want, got)
	if got.Status != storage.StatusWaitingForChildren || got.Crashes != 0 {
		b.t.Fatalf("claimed waiting parent: status %s, crashes %d", got.Status, got.Crashes)
	}
}

func checkClaimConcurrent(b *bundle) {
	const rows, claimers, limit = 500, 8, 7
	batch := make([]storage.Execution, rows)
	for i := range batch {
		batch[i] = NewExecution(fmt.Sprintf("r%03d", i), "task")
	}
	b.insert(Base, nil, batch...)

	var mu sync.Mutex
	seen := make(map[string]string, rows)
	var wg sync.WaitGroup
	for w := range claimers {
		executor := fmt.Sprintf("exec-%d", w)
		wg.Go(func() {
			for {
				got, err := b.s.Claim(b.ctx, storage.ClaimParams{
					Now: Base, ExecutorID: executor, TaskIDs: []string{"task"}, Limit: limit, Lease: Lease,
				})
				if err != nil || len(got) > limit {
					b.t.Errorf("Claim: %d rows (limit %d), err %v", len(got), limit, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, e := range got {
					if prev, ok := seen[e.ID]; ok {
						b.t.Errorf("row %s claimed by %s and %s", e.ID, prev, executor)
					}
					seen[e.ID] = executor
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != rows {
		b.t.Fatalf("claimers got %d distinct rows, want %d", len(seen), rows)
	}
	for _, e := range batch[:3] {
		if got := b.get(e.ID); got.Fence != 1 || !strings.HasPrefix(got.ExecutorID, "exec-") {
			b.t.Fatalf("row %s: fence %d, executor %q after one claim", e.ID, got.Fence, got.ExecutorID)
		}
	}
}
