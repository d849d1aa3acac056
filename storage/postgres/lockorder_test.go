package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestHeartbeatSkipsLockedRows: a heartbeat never waits for a row lock. An
// executor renews the leases of the runs whose outcomes its completer is
// writing (they are held until written), so its heartbeats met its own
// writes on the same rows. Waiting for them, a heartbeat was late by
// seconds under load (a batch of several statements, or one waiting in
// turn for a parent another executor's batch held), or deadlocked with
// them (a batch that spawned children locked its rows out of id order,
// and PostgreSQL broke the cycle only after deadlock_timeout, 1 s); 3 s
// leases lapsed, and other executors ran again executions whose results
// waited in the blocked batch (TestPostgresMultiProcess/NoFaults). A row
// locked at that moment is left as it is, neither extended nor lost; the
// next heartbeat extends it.
func TestHeartbeatSkipsLockedRows(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	insert(t, s, base, storagetest.NewExecution("a", "task"), storagetest.NewExecution("m", "task"),
		storagetest.NewExecution("z", "task"), storagetest.NewExecution("q", "other"))
	var leases []storage.Lease
	for _, r := range claim(t, s, base, 3, "task") {
		leases = append(leases, storage.Lease{ID: r.ID, Fence: r.Fence})
	}
	q := claim(t, s, base, 1, "other")[0]
	leases = append(leases, storage.Lease{ID: q.ID, Fence: q.Fence})
	claimForced(t, s, q) // q's lease lapsed and was taken over: lost
	tx, err := s.Pool().Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // committed below
	if _, err := tx.Exec(t.Context(), "SELECT 1 FROM "+s.q.table+" WHERE id = 'm' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}

	beat := func(now time.Time) []storage.Lease {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		lost, err := s.Heartbeat(ctx, storage.HeartbeatParams{Now: now, Lease: time.Minute, Leases: leases})
		if err != nil {
			t.Fatalf("heartbeat (m locked elsewhere): %v", err)
		}
		return lost
	}
	due := func(id string) time.Time { return get(t, s, id).DueAt }
	now := base.Add(10 * time.Second)
	if lost := beat(now); len(lost) != 1 || lost[0].ID != "q" {
		t.Fatalf("lost %v, want q only", lost)
	}
	if !due("a").Equal(now.Add(time.Minute)) || !due("z").Equal(now.Add(time.Minute)) {
		t.Errorf("a due %v, z due %v: want both extended to %v", due("a"), due("z"), now.Add(time.Minute))
	}
	if !due("m").Equal(base.Add(time.Minute)) {
		t.Errorf("m (locked) due %v, want %v as claimed", due("m"), base.Add(time.Minute))
	}
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	if lost := beat(now); len(lost) != 1 || lost[0].ID != "q" {
		t.Fatalf("lost %v, want q only", lost)
	}
	if !due("m").Equal(now.Add(time.Minute)) {
		t.Errorf("m (unlocked) due %v, want %v", due("m"), now.Add(time.Minute))
	}
}
