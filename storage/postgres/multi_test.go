package postgres

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestClaimExclusive: goroutines on two stores (two pools) claim the same
// rows at once: no call returns more than its limit and no row is claimed
// twice (RELIABILITY.md R3, pitfall 1).
func TestClaimExclusive(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	stores := []*Store{openOn(t, schema, Config{}), openOn(t, schema, Config{})}
	const n, limit, perStore = 3000, 7, 4
	var rows []storage.Execution
	for i := range n {
		rows = append(rows, storagetest.NewExecution(fmt.Sprintf("r%05d", i), "task"))
	}
	if err := stores[0].Insert(t.Context(), storage.InsertParams{Executions: rows}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := make(map[string]int)
	var calls, overLimit atomic.Int64
	var wg sync.WaitGroup
	for si, s := range stores {
		for w := range perStore {
			wg.Go(func() {
				exec := fmt.Sprintf("s%d-w%d", si, w)
				for {
					got, err := s.Claim(t.Context(), storage.ClaimParams{
						ExecutorID: exec, TaskIDs: []string{"task"}, Limit: limit, Lease: time.Hour,
					})
					if err != nil {
						t.Error(err)
						return
					}
					calls.Add(1)
					if len(got) > limit {
						overLimit.Add(1)
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, e := range got {
						seen[e.ID]++
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	twice := 0
	for _, c := range seen {
		if c > 1 {
			twice++
		}
	}
	t.Logf("claim exclusivity: %d rows, %d claimers on 2 stores, %d calls, limit %d: over limit %d, claimed twice %d, claimed %d",
		n, 2*perStore, calls.Load(), limit, overLimit.Load(), twice, len(seen))
	if overLimit.Load() != 0 || twice != 0 || len(seen) != n {
		t.Fatalf("over limit %d, claimed twice %d, claimed %d of %d", overLimit.Load(), twice, len(seen), n)
	}
}

// TestNotifyBetweenStores: one store's writes reach another store's
// subscribers through LISTEN/NOTIFY; a store's own writes reach its
// subscribers once (directly).
func TestNotifyBetweenStores(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	a, b := openOn(t, schema, Config{}), openOn(t, schema, Config{})
	aEvs, bEvs := make(chan storage.Event, 64), make(chan storage.Event, 64)
	defer a.Subscribe(func(ev storage.Event) { aEvs <- ev })()
	defer b.Subscribe(func(ev storage.Event) { bEvs <- ev })()

	start := time.Now()
	insert(t, a, time.Time{}, storagetest.NewExecution("x", "task"))
	waitEvent(t, bEvs, "Ready in b after a's insert", func(ev storage.Event) bool { return ev.Ready })
	t.Logf("insert in a -> Ready in b: %v", time.Since(start))

	x := claim(t, a, time.Time{}, 1, "task")[0]
	start = time.Now()
	complete(t, a, time.Time{}, done(x))
	waitEvent(t, bEvs, "Finished [x] in b", func(ev storage.Event) bool { return slices.Equal(ev.Finished, []string{"x"}) })
	t.Logf("complete in a -> Finished in b: %v", time.Since(start))

	// a saw its own events once each: Ready for the insert, Finished [x].
	// b's writes of y are the barrier: their notifications reach a's
	// listener after those of a's own writes, which it must have skipped.
	// So a sees exactly: its own Ready and Finished [x] (delivered
	// directly), then b's Ready and Finished [y].
	insert(t, b, time.Time{}, storagetest.NewExecution("y", "other"))
	y := claim(t, b, time.Time{}, 1, "other")[0]
	complete(t, b, time.Time{}, done(y))
	var got []storage.Event
	for ev := range aEvs {
		got = append(got, ev)
		if slices.Equal(ev.Finished, []string{"y"}) || len(got) > 4 {
			break
		}
	}
	if len(got) != 4 || !got[0].Ready || !slices.Equal(got[1].Finished, []string{"x"}) ||
		!got[2].Ready || !slices.Equal(got[3].Finished, []string{"y"}) {
		t.Fatalf("a's events: %+v, want Ready, Finished [x] (its own, once each), then b's Ready, Finished [y]", got)
	}
}

// TestNotificationsOff: without notifications, writes still work and
// subscribers see the store's own events.
func TestNotificationsOff(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{DisableNotifications: true})
	evs := make(chan storage.Event, 8)
	defer s.Subscribe(func(ev storage.Event) { evs <- ev })()
	insert(t, s, time.Time{}, storagetest.NewExecution("x", "task"))
	waitEvent(t, evs, "own Ready", func(ev storage.Event) bool { return ev.Ready })
	if s.listener != nil {
		t.Fatal("listener running with notifications off")
	}
}

// TestListenerPingsIdleConnection: an idle listener pings its connection
// and keeps it (no reconnect), and notifications still arrive.
func TestListenerPingsIdleConnection(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	a, b := openOn(t, schema, Config{pingEvery: 50 * time.Millisecond}), openOn(t, schema, Config{})
	evs := make(chan storage.Event, 16)
	defer a.Subscribe(func(ev storage.Event) { evs <- ev })()
	deadline := time.Now().Add(30 * time.Second)
	for a.listener.pings.Load() < 3 { // several pings
		if time.Now().After(deadline) {
			t.Fatalf("the idle listener pinged %d times in 30 s, want 3", a.listener.pings.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	insert(t, b, time.Time{}, storagetest.NewExecution("x", "task"))
	waitEvent(t, evs, "Ready from b after idle pings", func(ev storage.Event) bool { return ev.Ready })
	if n := a.listener.connects.Load(); n != 1 {
		t.Fatalf("listener connected %d times, want 1", n)
	}
}
