package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// queuedExec returns NewExecution(id, "task") in queue q with priority p.
func queuedExec(id, q string, p int) storage.Execution {
	e := storagetest.NewExecution(id, "task")
	e.Queue, e.Priority = q, p
	return e
}

// requireQueue fails unless the row id is stored in queue q at priority p.
func requireQueue(t *testing.T, s *Store, id, q string, p int) {
	t.Helper()
	if e := get(t, s, id); e.Queue != q || e.Priority != p {
		t.Fatalf("%s: want queue %q priority %d, got %q %d", id, q, p, e.Queue, e.Priority)
	}
}

// TestQueueOnEveryInsertPath: each insert path (the multi-row INSERT,
// insert_plain with and without its extra columns, claimed at insert, COPY
// with and without them, InsertTx) stores the queue and the priority
// given, or the defaults.
func TestQueueOnEveryInsertPath(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	ctx := t.Context()

	// insert_plain: a default row, then queued ones (the default row's
	// extra columns are filled in once the batch needs them).
	insert(t, s, base, queuedExec("plain-d", "", 0), queuedExec("plain-q", "emails", 2), queuedExec("plain-p", "", 9))
	requireQueue(t, s, "plain-d", storage.DefaultQueue, storage.DefaultPriority)
	requireQueue(t, s, "plain-q", "emails", 2)
	requireQueue(t, s, "plain-p", storage.DefaultQueue, 9)

	// Claimed at insert (insert_plain with @claimed_by).
	held := queuedExec("held", "emails", 1)
	held.Status, held.ExecutorID = storage.StatusRunning, "exec"
	insert(t, s, base, held)
	requireQueue(t, s, "held", "emails", 1)

	// The general INSERT: a sleeping row.
	sleeping := storagetest.NewSleeping("sleeper", "task", "key", time.Minute)
	sleeping.Queue, sleeping.Priority = "timers", 3
	insert(t, s, base, sleeping)
	requireQueue(t, s, "sleeper", "timers", 3)

	// COPY, with and without queued rows.
	for _, queued := range []bool{false, true} {
		rows := make([]storage.Execution, copyThreshold)
		for i := range rows {
			rows[i] = queuedExec(fmt.Sprintf("copy-%v-%03d", queued, i), "", 0)
		}
		if queued {
			rows[len(rows)-1].Queue, rows[len(rows)-1].Priority = "bulk", 7
		}
		insert(t, s, base, rows...)
		requireQueue(t, s, rows[0].ID, storage.DefaultQueue, storage.DefaultPriority)
		last := rows[len(rows)-1]
		requireQueue(t, s, last.ID, storage.NormalizeQueue(last.Queue), storage.NormalizePriority(last.Priority))
	}

	// InsertTx.
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := s.InsertTx(ctx, tx, storage.InsertParams{Now: base,
		Executions: []storage.Execution{queuedExec("tx", "billing", 4)}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	requireQueue(t, s, "tx", "billing", 4)

	// A priority out of range is refused, naming it.
	err = s.Insert(ctx, storage.InsertParams{Now: base, Executions: []storage.Execution{queuedExec("bad", "", 10)}})
	if err == nil {
		t.Fatal("Insert of priority 10: want an error")
	}
}

// TestResumeNotifiesOtherStores: resuming a paused queue wakes the
// executors of every process on the schema (another store hears
// Event.Ready); pausing one does not.
func TestResumeNotifiesOtherStores(t *testing.T) {
	t.Parallel()
	schema := testSchema(t)
	a, b := openOn(t, schema, Config{}), openOn(t, schema, Config{})
	evs := make(chan storage.Event, 16)
	defer b.Subscribe(func(ev storage.Event) { evs <- ev })()
	ctx := t.Context()
	if err := a.RegisterControls(ctx, storage.RegisterControlsParams{
		Controls: []storage.Control{{Kind: storage.ControlQueue, Name: "emails"}}}); err != nil {
		t.Fatal(err)
	}
	for _, paused := range []bool{true, false} {
		changed, err := a.PauseControl(ctx, storage.PauseControlParams{Kind: storage.ControlQueue, Name: "emails", Paused: paused})
		if err != nil || !changed {
			t.Fatalf("PauseControl(paused %v): %v, %v", paused, changed, err)
		}
	}
	waitEvent(t, evs, "Ready in b after a resumed the queue", func(ev storage.Event) bool { return ev.Ready })
}

// TestMigrateQueuesOnExistingRows: a schema at version 4 holding rows is
// migrated by Open: its rows read back in the default queue at the
// default priority and are claimed, and the claim index replaces the due
// index.
func TestMigrateQueuesOnExistingRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema, pool, tx := schemaAtVersion(t, 4)
	_, err := tx.Exec(ctx, `INSERT INTO executions (id, task_id, status, input, created_at, updated_at, due_at) VALUES
		('old-r', 'task', 'ready', '\x31', $1, $1, $1)`, base)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	s := openOn(t, schema, Config{Clock: ClockParams})
	requireQueue(t, s, "old-r", storage.DefaultQueue, storage.DefaultPriority)
	insert(t, s, base, queuedExec("new-high", "", 1))
	if got := claim(t, s, base, 10, "task"); len(got) != 2 || got[0].ID != "new-high" || got[1].ID != "old-r" {
		t.Fatalf("Claim after the migration: want new-high, old-r, got %d rows: %v", len(got), claimedIDs(got))
	}
	var indexes []string
	rows, err := pool.Query(ctx, "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'executions' ORDER BY 1", schema)
	if err != nil {
		t.Fatal(err)
	}
	if indexes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"executions_claim_idx": true, "executions_due_idx": false}
	for name, present := range want {
		found := false
		for _, idx := range indexes {
			found = found || idx == name
		}
		if found != present {
			t.Errorf("index %s: present %v, want %v (indexes: %v)", name, found, present, indexes)
		}
	}
}

// TestClaimMergesTheQueuesOfALevel: with several open queues, a claim
// cut by its limit takes the oldest due rows of the level across them,
// and the next level only once the level is exhausted.
func TestClaimMergesTheQueuesOfALevel(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	// Due one second apart, alternating between two queues; one more of
	// priority 1 in a third queue, due last.
	for i, id := range []string{"a0", "b1", "a2", "b3", "a4", "b5"} {
		insert(t, s, base.Add(time.Duration(i)*time.Second), queuedExec(id, "q"+id[:1], 5))
	}
	insert(t, s, base.Add(10*time.Second), queuedExec("c-high", "qc", 1))
	at := base.Add(time.Minute)
	for _, want := range [][]string{{"c-high", "a0", "b1", "a2"}, {"b3", "a4", "b5"}} {
		ids := claimedIDs(claim(t, s, at, 4, "task"))
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Fatalf("Claim of 4: want %v, got %v", want, ids)
		}
	}
}

// claimedIDs returns the IDs of rows, in order.
func claimedIDs(rows []storage.Execution) []string {
	ids := make([]string, len(rows))
	for i, e := range rows {
		ids[i] = e.ID
	}
	return ids
}
