package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// planLog collects the plans auto_explain reports for the statements a
// pool's connections run.
type planLog struct {
	mu    sync.Mutex
	plans []string
}

func (l *planLog) add(_ *pgconn.PgConn, n *pgconn.Notice) {
	if !strings.Contains(n.Message, "Query Text:") {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.plans = append(l.plans, n.Message)
}

func (l *planLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.plans
	l.plans = nil
	return p
}

// explainedPool returns a pool whose connections report the plan of every
// statement they run (auto_explain, sent to the client as LOG messages),
// or skips the test when the server does not allow loading auto_explain.
func explainedPool(t *testing.T) (*pgxpool.Pool, *planLog) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	log := &planLog{}
	cfg.ConnConfig.OnNotice = log.add
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "+
			"SET auto_explain.log_nested_statements = on; SET client_min_messages = log")
		return err
	}
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err == nil {
		err = pool.Ping(t.Context())
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		t.Skipf("auto_explain is not available to this role: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, log
}

// TestHotStatementPlans checks that the statements a drain runs over and
// over (claim, completions, heartbeat, release) find their rows through an
// index or by TID, never by a sequential scan of the table, on a table
// with statistics and plans made generic (as the store forces for the hot
// statements): a generic plan of the claim once joined the picked rows to
// the whole table, which made every claim cost O(table).
//
// It runs twice: on a table with statistics, and on a new table that has
// none yet (autovacuum has not analyzed it), where the planner takes the
// table for ten pages: there a generic plan of the claim once joined the
// picked rows to a sequential scan of the table, which it kept until the
// table was analyzed, minutes into a busy drain.
func TestHotStatementPlans(t *testing.T) {
	t.Run("Analyzed", func(t *testing.T) { testHotStatementPlans(t, true) })
	t.Run("NeverAnalyzed", func(t *testing.T) { testHotStatementPlans(t, false) })
}

func testHotStatementPlans(t *testing.T, analyze bool) {
	pool, log := explainedPool(t)
	s, err := New(t.Context(), pool, Config{Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !analyze {
		if _, err := pool.Exec(t.Context(), "ALTER TABLE "+s.q.table+" SET (autovacuum_enabled = off)"); err != nil {
			t.Fatal(err)
		}
	}

	// Analyzed: a table with history (5,000 completed rows, 500 ready)
	// and statistics. Never analyzed: 100 ready rows on a few pages, the
	// state in which a new store makes its first plans.
	history, ready := 5000, 500
	if !analyze {
		history, ready = 0, 100
	}
	for i := 0; i < history+ready; i += 100 {
		rows := make([]storage.Execution, 100)
		for j := range rows {
			rows[j] = storagetest.NewExecution(fmt.Sprintf("r%05d", i+j), "task")
		}
		insert(t, s, base, rows...)
	}
	for range history / 500 {
		drainOnce(t, s, 500)
	}
	if analyze {
		if _, err := pool.Exec(t.Context(), "ANALYZE "+s.q.table); err != nil {
			t.Fatal(err)
		}
	}
	log.take()

	// Generic plans are chosen after five executions; the store forces
	// them for claims and completions, and repeats make sure of the rest.
	for range 7 {
		rows := claimRows(t, s, 10)
		leases := make([]storage.Lease, len(rows))
		for i, r := range rows {
			leases[i] = storage.Lease{ID: r.ID, Fence: r.Fence}
		}
		if _, err := s.Heartbeat(t.Context(), storage.HeartbeatParams{Leases: leases, Lease: time.Minute}); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(t.Context(), storage.ReleaseParams{Leases: leases[:1]}); err != nil {
			t.Fatal(err)
		}
		trs := make([]storage.Transition, 0, len(rows)-2)
		for _, r := range rows[2:] {
			trs = append(trs, done(r))
		}
		if _, err := s.Complete(t.Context(), storage.CompleteParams{Transitions: trs}); err != nil {
			t.Fatal(err)
		}
		// A retry goes through the general completion statement.
		retry := storage.Transition{ID: rows[1].ID, Fence: rows[1].Fence, From: rows[1].Status,
			To: storage.StatusReady, Attempt: 1, Delay: time.Hour}
		if _, err := s.Complete(t.Context(), storage.CompleteParams{Transitions: []storage.Transition{retry}}); err != nil {
			t.Fatal(err)
		}
	}
	plans := log.take()
	// Each hot statement, by a phrase of its text (queries.sql).
	hot := map[string]string{
		"claim":              "FOR UPDATE SKIP LOCKED",
		"complete_done":      "AS u(id, fence, output, attempt, iteration)",
		"complete (a retry)": "AS u(id, fence, from_status, to_status",
		"heartbeat":          "RETURNING t.id, t.fence",
		"release":            "THEN 'ready' ELSE t.status END",
	}
	for name, phrase := range hot {
		if !slices.ContainsFunc(plans, func(p string) bool { return strings.Contains(p, phrase) }) {
			t.Errorf("auto_explain reported no plan of %s", name)
		}
	}
	for _, p := range plans {
		for _, whole := range []string{"Seq Scan on executions", "Bitmap Heap Scan on executions"} {
			if strings.Contains(p, whole) {
				t.Errorf("a hot statement scans the whole table (%s):\n%s", whole, p)
			}
		}
		// Every walk of the primary key seeks: a walk of the whole index
		// filtered by a join (the planner's choice on a table it takes for
		// a few pages) would cost O(table) as a sequential scan does.
		lines := strings.Split(p, "\n")
		for i, l := range lines {
			if strings.Contains(l, "Index Scan using executions_pkey") &&
				(i+1 == len(lines) || !strings.Contains(lines[i+1], "Index Cond:")) {
				t.Errorf("a hot statement walks the whole primary key:\n%s", p)
			}
		}
		// The claim updates the rows it picked by their TIDs.
		if strings.Contains(p, "fence = t.fence + 1") && !strings.Contains(p, "Tid Scan on executions") {
			t.Errorf("the claim does not update its rows by TID:\n%s", p)
		}
	}
}

// claimRows claims up to n rows of "task" now.
func claimRows(t *testing.T, s *Store, n int) []storage.Execution {
	t.Helper()
	rows, err := s.Claim(t.Context(), storage.ClaimParams{ExecutorID: "e", TaskIDs: []string{"task"}, Limit: n, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// drainOnce claims up to n rows and completes them.
func drainOnce(t *testing.T, s *Store, n int) {
	t.Helper()
	rows := claimRows(t, s, n)
	trs := make([]storage.Transition, len(rows))
	for i, r := range rows {
		trs[i] = done(r)
	}
	if _, err := s.Complete(t.Context(), storage.CompleteParams{Transitions: trs}); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteExpiredPlanWithStaleStatistics checks the plan of the
// retention cleaner's statement on a table whose statistics were taken
// when it held 200 rows, before it grew to 20,000 completed ones (as a
// table grows faster than autovacuum analyzes it): the roots are read in
// order from executions_completed_idx, with no sort of the table's rows,
// no bitmap or sequential scan and no JIT compilation. With the planner's own choice, List's plan for the same
// rows read every completed row and sorted them, for each batch.
func TestDeleteExpiredPlanWithStaleStatistics(t *testing.T) {
	pool, log := explainedPool(t)
	s, err := New(t.Context(), pool, Config{Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	if _, err := pool.Exec(ctx, "ALTER TABLE "+s.q.table+" SET (autovacuum_enabled = off)"); err != nil {
		t.Fatal(err)
	}
	fill := func(first, last int) {
		t.Helper()
		if _, err := pool.Exec(ctx, fmt.Sprintf(bigSingles, s.q.table), pgx.StrictNamedArgs{
			"first": first, "last": last, "base": bigBase.Add(time.Duration(first) * time.Second), "step_us": 1000}); err != nil {
			t.Fatal(err)
		}
	}
	fill(1, 200)
	if _, err := pool.Exec(ctx, "ANALYZE "+s.q.table); err != nil {
		t.Fatal(err)
	}
	fill(201, 20_000)
	log.take()

	completed := []storage.Status{storage.StatusCompleted}
	var after *storage.ListKey
	for range 7 { // generic plans are forced; repeats make sure
		res, err := s.DeleteExpired(ctx, storage.DeleteExpiredParams{Statuses: completed,
			Before: bigBase.Add(100 * bigSpan), After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if res.Roots != 1000 || res.Rows != 1000 {
			t.Fatalf("DeleteExpired took %d roots, deleted %d rows; want 1000 and 1000", res.Roots, res.Rows)
		}
		after = &res.Last
	}
	var seen bool
	for _, p := range log.take() {
		if !strings.Contains(p, "executions_root_idx") || !strings.Contains(p, "Delete on") {
			continue
		}
		seen = true
		for _, bad := range []string{"Bitmap Heap Scan", "Seq Scan", "JIT:"} {
			if strings.Contains(p, bad) {
				t.Errorf("the plan of DeleteExpired has a %s:\n%s", bad, p)
			}
		}
		// The only sort: of the roots taken, to return the last one.
		for _, line := range strings.Split(p, "\n") {
			if strings.Contains(line, "Sort Key:") && !strings.Contains(line, "Sort Key: roots.") {
				t.Errorf("the plan of DeleteExpired sorts rows of the table (%s):\n%s", strings.TrimSpace(line), p)
			}
		}
		if !strings.Contains(p, "Index Scan using executions_completed_idx") {
			t.Errorf("the plan of DeleteExpired does not walk executions_completed_idx:\n%s", p)
		}
	}
	if !seen {
		t.Fatal("auto_explain reported no plan of DeleteExpired")
	}
}

// TestQueueStatementPlans checks the plans of the statements that read
// executions_claim_idx by queue and priority (claim over every queue and
// over listed queues, rescue, NextDue), generic as the store forces them,
// on a table with statistics where most rows are of the highest priority
// and not due yet: each probe is a range of executions_claim_idx bounded
// by queue, priority and due_at (so the rows not due are never read), and
// no statement scans the table.
func TestQueueStatementPlans(t *testing.T) {
	pool, log := explainedPool(t)
	s, err := New(t.Context(), pool, Config{Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()

	// 5,000 rows of priority 1 due in an hour, 500 due now in each of the
	// default queue (priority 5), "emails" (3) and "paused", paused.
	var rows []storage.Execution
	var delays []time.Duration
	for i := range 6500 {
		e := storagetest.NewExecution(fmt.Sprintf("r%05d", i), "task")
		delay := time.Duration(0)
		switch {
		case i < 5000:
			e.Priority, delay = 1, time.Hour
		case i < 5500:
		case i < 6000:
			e.Queue, e.Priority = "emails", 3
		default:
			e.Queue = "paused"
		}
		rows, delays = append(rows, e), append(delays, delay)
	}
	if err := s.Insert(ctx, storage.InsertParams{Executions: rows, Delays: delays}); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterControls(ctx, storage.RegisterControlsParams{
		Controls: []storage.Control{{Kind: storage.ControlQueue, Name: "paused"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PauseControl(ctx, storage.PauseControlParams{Kind: storage.ControlQueue, Name: "paused", Paused: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+s.q.table); err != nil {
		t.Fatal(err)
	}
	log.take()

	for i := range 7 { // generic plans are forced; repeats make sure
		for _, queues := range [][]string{nil, {"emails", storage.DefaultQueue}} {
			got, err := s.Claim(ctx, storage.ClaimParams{ExecutorID: "e", TaskIDs: []string{"task"}, Queues: queues,
				Limit: 10, Lease: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 10 || got[0].Priority != 3 {
				t.Fatalf("claim %d of queues %v: %d rows, the first of priority %d; want 10 from priority 3",
					i, queues, len(got), got[0].Priority)
			}
			if _, _, err := s.NextDue(ctx, storage.NextDueParams{TaskIDs: []string{"task"}, Queues: queues}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each statement, by a phrase of its text (queries.sql).
	phrases := map[string]string{
		"claim":    "fence = t.fence + 1",
		"rescue":   "updated_at = t.due_at",
		"next_due": "SELECT min(n.due_at)",
	}
	// How each probes the index: the claim and the rescue read the due
	// rows of a level only; NextDue, which wants the earliest due time
	// even in the future, reads the first entry of each level (after now,
	// in a limited queue).
	probes := map[string]string{
		"claim":    ".name) AND (priority = lv.p) AND (due_at <= ",
		"rescue":   ".name) AND (priority = lv.p) AND (due_at > ",
		"next_due": ".name) AND (priority = lv.p) AND (due_at > CASE WHEN ",
	}
	plans := log.take()
	for name, phrase := range phrases {
		seen := false
		for _, p := range plans {
			if !strings.Contains(p, phrase) {
				continue
			}
			seen = true
			if strings.Contains(p, "Seq Scan on executions") {
				t.Errorf("%s scans the whole table:\n%s", name, p)
			}
			// The rescue may read executions_running_idx instead (the
			// running rows of a queue in the window), as good a probe.
			byRunning := name == "rescue" && strings.Contains(p, "Index Scan using executions_running_idx")
			if !strings.Contains(p, "Index Cond: ((queue = ") || !strings.Contains(p, probes[name]) && !byRunning {
				t.Errorf("%s does not probe executions_claim_idx by %q:\n%s", name, probes[name], p)
			}
		}
		if !seen {
			t.Errorf("auto_explain reported no plan of %s", name)
		}
	}
}
