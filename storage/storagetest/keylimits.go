package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// The checks of queues' limits per concurrency key and rate limits
// (storage.Store.Claim, storage.Controls.LimitControl).

// setLimits sets queue q's limits, registering the queue first.
func setLimits(b *bundle, c storage.Controls, p storage.LimitControlParams) {
	b.t.Helper()
	register(b, c, p.Now, storage.Control{Kind: storage.ControlQueue, Name: p.Name})
	p.Kind = storage.ControlQueue
	if _, err := c.LimitControl(b.ctx, p); err != nil {
		b.t.Fatalf("LimitControl(%+v): %v", p, err)
	}
}

// withKey returns a ready row of task in queue q with concurrency key key.
func withKey(id, task, q, key string) storage.Execution {
	e := queued(id, task, q, 0)
	e.ConcurrencyKey = key
	return e
}

func checkPerKeyCaps(b *bundle, c storage.Controls) {
	setLimits(b, c, storage.LimitControlParams{Now: Base, Name: "lim", PerKey: 1})
	b.insert(Base, nil, withKey("a0", "task", "lim", "A"), withKey("a1", "task", "lim", "A"),
		withKey("b0", "task", "lim", "B"), queued("n0", "task", "lim", 0), queued("n1", "task", "lim", 0))
	// One claim never takes two rows of one key, and a key at its limit
	// holds back its own rows only.
	requireIDs(b.t, "Claim with one per key", []string{"a0", "b0", "n0", "n1"}, b.claimQueues(At(time.Second), 10, "task"))
	requireIDs(b.t, "Claim with A and B at their limit", []string{}, b.claimQueues(At(time.Second), 10, "task"))
	if got := b.get("a0").ConcurrencyKey; got != "A" {
		b.t.Fatalf("a0's ConcurrencyKey: want A, got %q", got)
	}
	b.finish(At(2*time.Second), b.get("a0"), storage.StatusCompleted)
	requireIDs(b.t, "Claim after A's run ended", []string{"a1"}, b.claimQueues(At(2*time.Second), 10, "task"))
	// Raising the limit per key lets a second row of a key run.
	b.insert(At(3*time.Second), nil, withKey("b1", "task", "lim", "B"), withKey("b2", "task", "lim", "B"))
	setLimits(b, c, storage.LimitControlParams{Now: At(3 * time.Second), Name: "lim", PerKey: 2})
	requireIDs(b.t, "Claim with two per key", []string{"b1"}, b.claimQueues(At(3*time.Second), 10, "task"))
}

func checkPerKeyNoHeadOfLine(b *bundle, c storage.Controls) {
	setLimits(b, c, storage.LimitControlParams{Now: Base, Name: "lim", PerKey: 1})
	var rows []storage.Execution
	for i := range 30 {
		rows = append(rows, withKey(fmt.Sprintf("a%d", i), "task", "lim", "A"))
	}
	rows = append(rows, withKey("b0", "task", "lim", "B"), withKey("c0", "task", "lim", "C"))
	b.insert(Base, nil, rows...)
	requireIDs(b.t, "Claim of one row", []string{"a0"}, b.claimQueues(At(time.Second), 1, "task"))
	// 29 rows of the full key A come first in claim order; B and C are
	// claimed past them.
	requireIDs(b.t, "Claim of one row with A full", []string{"b0"}, b.claimQueues(At(time.Second), 1, "task"))
	requireIDs(b.t, "Claim with A and B full", []string{"c0"}, b.claimQueues(At(time.Second), 10, "task"))
}

func checkPerKeyWithConcurrency(b *bundle, c storage.Controls) {
	setLimits(b, c, storage.LimitControlParams{Now: Base, Name: "lim", Concurrency: 2, PerKey: 1})
	b.insert(Base, nil, withKey("a0", "task", "lim", "A"), withKey("a1", "task", "lim", "A"),
		withKey("b0", "task", "lim", "B"), withKey("c0", "task", "lim", "C"))
	requireIDs(b.t, "Claim with 2 slots, one per key", []string{"a0", "b0"}, b.claimQueues(At(time.Second), 10, "task"))
	b.finish(At(2*time.Second), b.get("a0"), storage.StatusCompleted)
	requireIDs(b.t, "Claim after a0 ended", []string{"a1"}, b.claimQueues(At(2*time.Second), 10, "task"))
}

func checkPerKeyLapsed(b *bundle, c storage.Controls) {
	setLimits(b, c, storage.LimitControlParams{Now: Base, Name: "lim", PerKey: 1})
	b.insert(Base, nil, withKey("a0", "task", "lim", "A"), withKey("a1", "task", "lim", "A"))
	requireIDs(b.t, "first claim", []string{"a0"}, b.claimQueues(Base, 10, "task"))
	// a0's lease lapses: it keeps key A's slot until taken over.
	late := Base.Add(2 * Lease)
	requireIDs(b.t, "Claim after the lapse takes the run over, and only it", []string{"a0"}, b.claimQueues(late, 10, "task"))
	requireIDs(b.t, "Claim after the takeover", []string{}, b.claimQueues(late, 10, "task"))
	b.finish(late, b.get("a0"), storage.StatusCompleted)
	requireIDs(b.t, "Claim after the run ended", []string{"a1"}, b.claimQueues(late, 10, "task"))
}

func checkPerKeyConcurrent(b *bundle, c storage.Controls) {
	const keys, perKey, claimers = 4, 1, 8
	setLimits(b, c, storage.LimitControlParams{Now: Base, Name: "lim", PerKey: perKey})
	var rows []storage.Execution
	for i := range 20 {
		rows = append(rows, withKey(fmt.Sprintf("r%02d", i), "task", "lim", fmt.Sprintf("k%d", i%keys)))
	}
	b.insert(Base, nil, rows...)
	got, err := concurrentClaims(b, claimers, 3, At(time.Second))
	if err != nil {
		b.t.Fatalf("concurrent claims: %v", err)
	}
	got = append(got, b.claimQueues(At(time.Second), 10, "task")...)
	perKeyOf := map[string]int{}
	for _, id := range got {
		perKeyOf[b.get(id).ConcurrencyKey]++
	}
	for k, n := range perKeyOf {
		if n > perKey {
			b.t.Fatalf("%d concurrent claims of a queue limited to %d per key took %d rows of key %s: %v", claimers, perKey, n, k, got)
		}
	}
	if len(perKeyOf) != keys {
		b.t.Fatalf("claims of a queue limited to %d per key of %d keys took %v", perKey, keys, got)
	}
}

// concurrentClaims runs n claims of up to limit rows of task at once at
// now and returns the ids they took.
func concurrentClaims(b *bundle, n, limit int, now time.Time) ([]string, error) {
	var (
		mu    sync.Mutex
		got   []string
		errs  []error
		start sync.WaitGroup
		done  sync.WaitGroup
	)
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			rows, err := b.s.Claim(b.ctx, storage.ClaimParams{Now: now, ExecutorID: fmt.Sprintf("exec-%d", i),
				TaskIDs: []string{"task"}, Limit: limit, Lease: Lease})
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ids(rows)...)
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	start.Done()
	done.Wait()
	slices.Sort(got)
	return got, errors.Join(errs...)
}

func checkRateWindow(b *bundle, c storage.Controls) {
	setLimits(b, c, storage.LimitControlParams{Now: Base, Name: "lim", Rate: 3, Per: 10 * time.Second})
	b.insert(Base, nil, queuedN("l", "task", "lim", 8)...)
	requireIDs(b.t, "Claim of one row opens the window", []string{"l0"}, b.claimQueues(At(time.Second), 1, "task"))
	requireIDs(b.t, "Claim in the window", []string{"l1", "l2"}, b.claimQueues(At(2*time.Second), 10, "task"))
	// Ending runs gives no start back: the window counts claims.
	for _, id := range []string{"l0", "l1", "l2"} {
		b.finish(At(3*time.Second), b.get(id), storage.StatusCompleted)
	}
	requireIDs(b.t, "Claim with the window's rate used", []string{}, b.claimQueues(At(10*time.Second), 10, "task"))
	// The window started at the first claim (1 s): it ends at 11 s.
	requireIDs(b.t, "Claim in the next window", []string{"l3", "l4", "l5"}, b.claimQueues(At(11*time.Second), 10, "task"))
	requireIDs(b.t, "Claim with the next window used", []string{}, b.claimQueues(At(20*time.Second), 10, "task"))
	// Setting another rate starts a new window.
	setLimits(b, c, storage.LimitControlParams{Now: At(20 * time.Second), Name: "lim", Rate: 1, Per: time.Minute})
	requireIDs(b.t, "Claim after the rate changed", []string{"l6"}, b.claimQueues(At(20*time.Second), 10, "task"))
	requireIDs(b.t, "Claim with the new window used", []string{}, b.claimQueues(At(21*time.Second), 10, "task"))
}

// checkRateNextDue: NextDue tells when a full rate window ends, since the
// queue's rows already due start then, and nothing of a window not full;
// listed or not, and nothing once the queue is paused.
func checkRateNextDue(b *bundle, c storage.Controls) {
	setLimits(b, c, storage.LimitControlParams{Now: Base, Name: "lim", Rate: 2, Per: 10 * time.Second})
	b.insert(Base, nil, queuedN("l", "task", "lim", 5)...)
	requireIDs(b.t, "Claim of one row opens the window", []string{"l0"}, b.claimQueues(At(time.Second), 1, "task"))
	// Not full: what is left to wait for is l0's lease.
	if d, ok := b.nextDueOf(At(2*time.Second), "task", "lim"); !ok || d != Lease-time.Second {
		b.t.Fatalf("NextDue of lim, its window not full: want l0's lease in %v, got %v %v", Lease-time.Second, d, ok)
	}
	requireIDs(b.t, "Claim that fills the window", []string{"l1"}, b.claimQueues(At(2*time.Second), 10, "task"))
	// Full: it ends at 11 s, before the leases.
	for _, qs := range [][]string{{"lim"}, nil} {
		if d, ok := b.nextDueOf(At(3*time.Second), "task", qs...); !ok || d != 8*time.Second {
			b.t.Fatalf("NextDue of queues %v, lim's window full until 11s: want 8s, got %v %v", qs, d, ok)
		}
	}
	// At 12 s, the window's end counts if the last claim ran before it (at
	// 10 s: that claim found the window full), not if after.
	if d, ok := b.nextDueSince(At(12*time.Second), 2*time.Second, "task", "lim"); !ok || d != 0 {
		b.t.Fatalf("NextDue of lim at 12s after a claim at 10s, its window full until 11s: want 0, got %v %v", d, ok)
	}
	if d, ok := b.nextDueSince(At(12*time.Second), 500*time.Millisecond, "task", "lim"); ok && d == 0 {
		b.t.Fatalf("NextDue of lim at 12s after a claim at 11.5s, its window full until 11s: want it not counted, got %v %v", d, ok)
	}
	requireIDs(b.t, "Claim in the next window", []string{"l2", "l3"}, b.claimQueues(At(11*time.Second), 10, "task"))
	if d, ok := b.nextDueOf(At(12*time.Second), "task", "lim"); !ok || d != 9*time.Second {
		b.t.Fatalf("NextDue of lim, its next window full until 21s: want 9s, got %v %v", d, ok)
	}
	pause(b, c, At(12*time.Second), storage.ControlQueue, "lim", true, true)
	if d, ok := b.nextDueOf(At(12*time.Second), "task", "lim"); ok {
		b.t.Fatalf("NextDue of lim paused: want none, got %v", d)
	}
}

func checkRateConcurrent(b *bundle, c storage.Controls) {
	const rate, claimers = 5, 8
	setLimits(b, c, storage.LimitControlParams{Now: Base, Name: "lim", Rate: rate, Per: time.Hour})
	b.insert(Base, nil, queuedN("l", "task", "lim", 30)...)
	got, err := concurrentClaims(b, claimers, 2, At(time.Second))
	if err != nil {
		b.t.Fatalf("concurrent claims: %v", err)
	}
	got = append(got, b.claimQueues(At(time.Second), 10, "task")...)
	if len(got) != rate {
		b.t.Fatalf("%d concurrent claims of a queue limited to %d per hour, then one more, took %d rows: %v", claimers, rate, len(got), got)
	}
}

func checkLimitsControl(b *bundle, c storage.Controls) {
	register(b, c, Base, storage.Control{Kind: storage.ControlQueue, Name: "lim"})
	set := func(p storage.LimitControlParams) (bool, error) {
		p.Now, p.Kind, p.Name = At(time.Second), storage.ControlQueue, "lim"
		return c.LimitControl(b.ctx, p)
	}
	want := storage.LimitControlParams{Concurrency: 5, PerKey: 2, Rate: 100, Per: time.Minute}
	if changed, err := set(want); err != nil || !changed {
		b.t.Fatalf("LimitControl(%+v): want changed, got %v, %v", want, changed, err)
	}
	if changed, err := set(want); err != nil || changed {
		b.t.Fatalf("LimitControl(%+v) again: want unchanged, got %v, %v", want, changed, err)
	}
	register(b, c, At(2*time.Second), storage.Control{Kind: storage.ControlQueue, Name: "lim"})
	requireLimits := func(what string) {
		b.t.Helper()
		got := controls(b, c, storage.ControlQueue)
		if len(got) != 1 || !want.SameLimits(&got[0]) {
			b.t.Fatalf("ListControls %s: want lim with %+v, got %+v", what, want, got)
		}
	}
	requireLimits("after registering again")
	for _, bad := range []struct {
		p    storage.LimitControlParams
		says string
	}{
		{storage.LimitControlParams{PerKey: -1}, "per key"},
		{storage.LimitControlParams{PerKey: storage.MaxConcurrencyLimit + 1}, "1000001"},
		{storage.LimitControlParams{Rate: -1, Per: time.Second}, "rate limit -1"},
		{storage.LimitControlParams{Rate: storage.MaxRateLimit + 1, Per: time.Second}, "rate limit 1000001"},
		{storage.LimitControlParams{Rate: 10}, "period"},
		{storage.LimitControlParams{Per: time.Second}, "give both"},
		{storage.LimitControlParams{Rate: 10, Per: time.Nanosecond}, "period"},
		{storage.LimitControlParams{Rate: 10, Per: 1500 * time.Microsecond / 1000}, "period"},
		{storage.LimitControlParams{Concurrency: 1, PerKey: 1, Rate: 10, Per: time.Millisecond + time.Nanosecond}, "microseconds"},
	} {
		_, err := set(bad.p)
		if err == nil {
			b.t.Fatalf("LimitControl(%+v): want an error, got none", bad.p)
		}
		requireContains(b.t, "LimitControl error", err.Error(), bad.says)
	}
	requireLimits("after refused limits")
	want = storage.LimitControlParams{}
	if changed, err := set(want); err != nil || !changed {
		b.t.Fatalf("LimitControl(none): want changed, got %v, %v", changed, err)
	}
	requireLimits("after the limits were removed")
}

func checkConcurrencyKeyRefused(b *bundle, _ storage.Controls) {
	for _, bad := range []struct{ key, says string }{
		{string(make([]byte, storage.MaxConcurrencyKey+1)), "256 bytes"},
		{"a\x00b", "control character"},
		{"tab\there", "control character"},
		{"\xff\xfe", "UTF-8"},
	} {
		e := withKey("bad", "task", "", bad.key)
		err := b.s.Insert(b.ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{e}})
		if err == nil {
			b.t.Fatalf("Insert with concurrency key %q: want an error, got none", bad.key)
		}
		requireContains(b.t, "Insert error", err.Error(), bad.says)
	}
	if _, err := b.s.Get(b.ctx, storage.GetParams{ID: "bad"}); !errors.Is(err, storage.ErrNotFound) {
		b.t.Fatalf("Get of a refused row: want ErrNotFound, got %v", err)
	}
}
