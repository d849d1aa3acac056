package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// The checks of queues' concurrency limits (storage.Store.Claim,
// storage.Controls.LimitControl).

// limit sets queue q's concurrency limit, registering the queue first.
func limit(b *bundle, c storage.Controls, now time.Time, q string, n int) {
	b.t.Helper()
	register(b, c, now, storage.Control{Kind: storage.ControlQueue, Name: q})
	if _, err := c.LimitControl(b.ctx, storage.LimitControlParams{Now: now, Kind: storage.ControlQueue, Name: q, Concurrency: n}); err != nil {
		b.t.Fatalf("LimitControl(%s, %d): %v", q, n, err)
	}
}

// queuedN returns n ready rows of task in queue q, ids prefix0..prefix(n-1).
func queuedN(prefix, task, q string, n int) []storage.Execution {
	out := make([]storage.Execution, n)
	for i := range out {
		out[i] = queued(fmt.Sprintf("%s%d", prefix, i), task, q, 0)
	}
	return out
}

func checkLimitCaps(b *bundle, c storage.Controls) {
	limit(b, c, Base, "lim", 2)
	b.insert(Base, nil, queuedN("l", "task", "lim", 5)...)
	b.insert(Base, nil, queued("d0", "task", "", 9))
	requireIDs(b.t, "Claim with lim limited to 2", []string{"l0", "l1", "d0"}, b.claimQueues(At(time.Second), 10, "task"))
	requireIDs(b.t, "Claim with lim full", []string{}, b.claimQueues(At(time.Second), 10, "task"))
	// A full queue's rows already due wait for a slot, not for a time:
	// what NextDue tells of it is the leases of its running rows.
	if d, ok := b.nextDueOf(At(time.Second), "task", "lim"); !ok || d != Lease {
		b.t.Fatalf("NextDue of a full limited queue: want the lease %v, got %v %v", Lease, d, ok)
	}
	// A run ending gives its slot back.
	b.finish(At(2*time.Second), b.get("l0"), storage.StatusCompleted)
	requireIDs(b.t, "Claim after one run of lim ended", []string{"l2"}, b.claimQueues(At(2*time.Second), 10, "task", "lim"))
	// A claim of one row takes one, however many slots are free.
	b.finish(At(3*time.Second), b.get("l1"), storage.StatusFailed)
	b.finish(At(3*time.Second), b.get("l2"), storage.StatusCompleted)
	requireIDs(b.t, "Claim of one row with two slots free", []string{"l3"}, b.claimQueues(At(3*time.Second), 1, "task"))
	// Raising the limit, then removing it.
	limit(b, c, At(4*time.Second), "lim", 3)
	requireIDs(b.t, "Claim with the limit raised to 3", []string{"l4"}, b.claimQueues(At(4*time.Second), 10, "task"))
	b.insert(At(5*time.Second), nil, queuedN("m", "task", "lim", 2)...)
	requireIDs(b.t, "Claim with one slot of 3 free", []string{"m0"}, b.claimQueues(At(5*time.Second), 10, "task"))
	requireIDs(b.t, "Claim with lim full at 3", []string{}, b.claimQueues(At(5*time.Second), 10, "task"))
	limit(b, c, At(6*time.Second), "lim", 0)
	requireIDs(b.t, "Claim with the limit removed", []string{"m1"}, b.claimQueues(At(6*time.Second), 10, "task"))
}

// checkLimitNextDue: NextDue counts a limited queue's rows by their due
// times after now only (a delayed row, a retry), full or not, and leaves
// out its rows already due, which wait for a slot; its paused rows are
// left out; listed or not, the queues without a limit are as before.
func checkLimitNextDue(b *bundle, c storage.Controls) {
	limit(b, c, Base, "lim", 1)
	b.insert(Base, nil, queuedN("l", "task", "lim", 3)...)
	if d, ok := b.nextDueOf(Base, "task", "lim"); ok {
		b.t.Fatalf("NextDue of a limited queue whose rows are all due: want none, got %v", d)
	}
	requireIDs(b.t, "Claim with lim limited to 1", []string{"l0"}, b.claimQueues(Base, 10, "task"))
	b.insert(Base, []time.Duration{10 * time.Second}, queued("late", "task", "lim", 0))
	for _, qs := range [][]string{{"lim"}, nil} {
		if d, ok := b.nextDueOf(At(time.Second), "task", qs...); !ok || d != 9*time.Second {
			b.t.Fatalf("NextDue of queues %v, lim full with a row due in 9s: want 9s, got %v %v", qs, d, ok)
		}
	}
	// At 12 s, the row due at 10 s counts if the last claim ran before it
	// (that claim could not see it due), not if after.
	if d, ok := b.nextDueSince(At(12*time.Second), 3*time.Second, "task", "lim"); !ok || d != 0 {
		b.t.Fatalf("NextDue of lim at 12s after a claim at 9s, a row due at 10s: want 0, got %v %v", d, ok)
	}
	if d, ok := b.nextDueSince(At(12*time.Second), time.Second, "task", "lim"); ok && d == 0 {
		b.t.Fatalf("NextDue of lim at 12s after a claim at 11s, a row due at 10s: want it not counted, got %v %v", d, ok)
	}
	b.insert(At(time.Second), []time.Duration{time.Second}, queued("free", "task", "", 0))
	if d, ok := b.nextDueOf(At(time.Second), "task"); !ok || d != time.Second {
		b.t.Fatalf("NextDue beside a queue without a limit with a row due in 1s: want 1s, got %v %v", d, ok)
	}
	pause(b, c, At(time.Second), storage.ControlQueue, "lim", true, true)
	if d, ok := b.nextDueOf(At(time.Second), "task", "lim"); ok {
		b.t.Fatalf("NextDue of lim paused: want none, got %v", d)
	}
}

func checkLimitLapsed(b *bundle, c storage.Controls) {
	limit(b, c, Base, "lim", 1)
	b.insert(Base, nil, queuedN("l", "task", "lim", 3)...)
	requireIDs(b.t, "first claim", []string{"l0"}, b.claimQueues(Base, 10, "task"))
	// l0's lease lapses: it still holds the queue's only slot, so no new
	// run starts, and the slot goes to the claim that takes it over.
	late := Base.Add(2 * Lease)
	rows, err := b.s.Claim(b.ctx, storage.ClaimParams{Now: late, ExecutorID: "exec-2", TaskIDs: []string{"task"}, Limit: 10, Lease: Lease})
	if err != nil {
		b.t.Fatalf("Claim after the lapse: %v", err)
	}
	requireIDs(b.t, "Claim after the lapse takes the run over, and only it", []string{"l0"}, ids(rows))
	if rows[0].ExecutorID != "exec-2" || rows[0].Crashes != 1 {
		b.t.Fatalf("taken-over row: want executor exec-2 and 1 crash, got %q and %d", rows[0].ExecutorID, rows[0].Crashes)
	}
	requireIDs(b.t, "Claim after the takeover", []string{}, b.claimQueues(late, 10, "task"))
	b.finish(late, rows[0], storage.StatusCompleted)
	requireIDs(b.t, "Claim after the run ended", []string{"l1"}, b.claimQueues(late, 10, "task"))
}

// checkLimitOnRunning: a limit set on a queue whose rows already run
// counts them, and takes them over when their leases lapse, as it does
// the rows claimed under it.
func checkLimitOnRunning(b *bundle, c storage.Controls) {
	register(b, c, Base, storage.Control{Kind: storage.ControlQueue, Name: "lim"})
	b.insert(Base, nil, queuedN("l", "task", "lim", 4)...)
	requireIDs(b.t, "Claim of lim without a limit", []string{"l0", "l1"}, b.claimQueues(Base, 2, "task"))
	limit(b, c, At(time.Second), "lim", 2)
	requireIDs(b.t, "Claim with lim limited to 2 and 2 rows running from before", []string{}, b.claimQueues(At(time.Second), 10, "task"))
	b.finish(At(time.Second), b.get("l0"), storage.StatusCompleted)
	requireIDs(b.t, "Claim after a run from before ended", []string{"l2"}, b.claimQueues(At(time.Second), 10, "task"))
	// l1 (claimed before the limit) and l2 lapse: they hold the slots, and
	// the claim after the lapse takes both over, and nothing else.
	late := Base.Add(2*Lease + time.Second)
	requireIDs(b.t, "Claim after l1 and l2 lapsed", []string{"l1", "l2"}, b.claimQueues(late, 10, "task"))
}

func checkLimitSleeping(b *bundle, c storage.Controls) {
	limit(b, c, Base, "lim", 1)
	sleeper := NewSleeping("s", "task", "key-s", 10*time.Second)
	sleeper.Queue = "lim"
	b.insert(Base, nil, sleeper, queued("l0", "task", "lim", 0))
	// The sleeping row holds no slot.
	requireIDs(b.t, "Claim beside a sleeping row", []string{"l0"}, b.claimQueues(At(time.Second), 10, "task"))
	// Past its deadline it needs a slot to be claimed (to time out), and
	// does not keep it.
	requireIDs(b.t, "Claim past the sleeping deadline, lim full", []string{}, b.claimQueues(At(20*time.Second), 10, "task"))
	b.finish(At(20*time.Second), b.get("l0"), storage.StatusCompleted)
	b.insert(At(20*time.Second), nil, queued("l1", "task", "lim", 0))
	requireIDs(b.t, "Claim past the sleeping deadline", []string{"s"}, b.claimQueues(At(20*time.Second), 10, "task"))
	requireIDs(b.t, "Claim after the sleeping row's claim", []string{"l1"}, b.claimQueues(At(20*time.Second), 10, "task"))
}

func checkLimitConcurrent(b *bundle, c storage.Controls) {
	const slots, claimers = 3, 8
	limit(b, c, Base, "lim", slots)
	b.insert(Base, nil, queuedN("l", "task", "lim", 20)...)
	got, err := concurrentClaims(b, claimers, 2, At(time.Second))
	if err != nil {
		b.t.Fatalf("concurrent claims: %v", err)
	}
	if len(got) > slots {
		b.t.Fatalf("%d concurrent claims of a queue limited to %d took %d rows: %v", claimers, slots, len(got), got)
	}
	// A claim may take fewer rows than were free (its candidates taken by
	// another); the next takes the rest, and no more.
	more := b.claimQueues(At(time.Second), 10, "task")
	if len(got)+len(more) != slots {
		b.t.Fatalf("claims of a queue limited to %d took %v, then %v", slots, got, more)
	}
}

func checkLimitOthers(b *bundle, c storage.Controls) {
	limit(b, c, Base, "lim", 1)
	b.insert(Base, nil, queuedN("l", "task", "lim", 10)...)
	b.insert(Base, nil, queued("d", "task", "", 9))
	requireIDs(b.t, "Claim of one row", []string{"l0"}, b.claimQueues(At(time.Second), 1, "task"))
	// lim is full and its rows are ahead of d in claim order: d is claimed.
	requireIDs(b.t, "Claim with lim full", []string{"d"}, b.claimQueues(At(time.Second), 1, "task"))
}

func checkLimitControl(b *bundle, c storage.Controls) {
	register(b, c, Base, storage.Control{Kind: storage.ControlQueue, Name: "lim"},
		storage.Control{Kind: storage.ControlSchedule, Name: "nightly"})
	set := func(kind, name string, n int) (bool, error) {
		return c.LimitControl(b.ctx, storage.LimitControlParams{Now: At(time.Second), Kind: kind, Name: name, Concurrency: n})
	}
	if changed, err := set(storage.ControlQueue, "lim", 4); err != nil || !changed {
		b.t.Fatalf("LimitControl(lim, 4): want changed, got %v, %v", changed, err)
	}
	if changed, err := set(storage.ControlQueue, "lim", 4); err != nil || changed {
		b.t.Fatalf("LimitControl(lim, 4) again: want unchanged, got %v, %v", changed, err)
	}
	// Registering the queue again (as every executor does at Start) keeps
	// its limit.
	register(b, c, At(2*time.Second), storage.Control{Kind: storage.ControlQueue, Name: "lim"})
	if got := controls(b, c, storage.ControlQueue); len(got) != 1 || got[0].Concurrency != 4 {
		b.t.Fatalf("ListControls: want lim with concurrency 4, got %+v", got)
	}
	if _, err := set(storage.ControlQueue, "nosuch", 1); !errors.Is(err, storage.ErrNotFound) {
		b.t.Fatalf("LimitControl of an unknown queue: want ErrNotFound, got %v", err)
	}
	for _, bad := range []struct {
		kind, name string
		n          int
		says       string
	}{
		{storage.ControlQueue, "lim", -1, "-1"},
		{storage.ControlQueue, "lim", storage.MaxConcurrencyLimit + 1, "1000001"},
		{storage.ControlSchedule, "nightly", 1, "only a queue"},
		{storage.ControlQueue, "bad name", 1, "bad name"},
	} {
		_, err := set(bad.kind, bad.name, bad.n)
		if err == nil {
			b.t.Fatalf("LimitControl(%s %q, %d): want an error, got none", bad.kind, bad.name, bad.n)
		}
		requireContains(b.t, "LimitControl error", err.Error(), bad.says)
	}
	if got := controls(b, c, storage.ControlQueue); len(got) != 1 || got[0].Concurrency != 4 {
		b.t.Fatalf("ListControls after refused limits: want lim with concurrency 4, got %+v", got)
	}
}

// checkLimitSetWhileClaiming: a limit set while claimers take a queue's
// rows as an unlimited queue's counts every run they started, those of the
// claims in flight when it was set included: once more runs than the limit
// have started, no claim that starts after LimitControl returned takes a
// row of the queue.
func checkLimitSetWhileClaiming(b *bundle, c storage.Controls) {
	const claimers, perClaim, slots, claimsAfter = 4, 3, 4, 40
	register(b, c, Base, storage.Control{Kind: storage.ControlQueue, Name: "lim"})
	b.insert(Base, nil, queuedN("l", "task", "lim", 600)...)
	now := At(time.Second)
	var (
		mu      sync.Mutex
		limited bool     // LimitControl has returned
		before  int      // rows taken by the claims that started before
		after   []string // rows taken by the claims that started after
		nAfter  int      // claims that started after
		errs    []error
		wg      sync.WaitGroup
	)
	stop := make(chan struct{})
	for i := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				started := limited
				mu.Unlock()
				rows, err := b.s.Claim(b.ctx, storage.ClaimParams{Now: now, ExecutorID: fmt.Sprintf("exec-%d", i),
					TaskIDs: []string{"task"}, Limit: perClaim, Lease: Lease})
				mu.Lock()
				if started {
					after, nAfter = append(after, ids(rows)...), nAfter+1
				} else {
					before += len(rows)
				}
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wait := func(done func() bool) {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			mu.Lock()
			ok := done() || len(errs) > 0
			mu.Unlock()
			if ok {
				return
			}
		}
	}
	wait(func() bool { return before >= 2*slots })
	limit(b, c, now, "lim", slots)
	mu.Lock()
	limited = true
	mu.Unlock()
	wait(func() bool { return nAfter >= claimsAfter })
	close(stop)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.t.Fatalf("claims: %v", err)
	}
	if before < 2*slots || nAfter < claimsAfter {
		b.t.Fatalf("claims: %d rows before the limit (want %d), %d claims after (want %d) within a minute", before, 2*slots, nAfter, claimsAfter)
	}
	if len(after) > 0 {
		b.t.Fatalf("a limit of %d set after %d runs started: the %d claims that started after it took %v", slots, before, nAfter, after)
	}
}
