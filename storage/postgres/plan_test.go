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
func TestHotStatementPlans(t *testing.T) {
	pool, log := explainedPool(t)
	s, err := New(t.Context(), pool, Config{Schema: testSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// A table with history: 5,000 completed rows, 500 ready, statistics.
	const history, ready = 5000, 500
	for i := 0; i < history+ready; i += 500 {
		rows := make([]storage.Execution, 500)
		for j := range rows {
			rows[j] = storagetest.NewExecution(fmt.Sprintf("r%05d", i+j), "task")
		}
		insert(t, s, base, rows...)
	}
	for range history / 500 {
		drainOnce(t, s, 500)
	}
	if _, err := pool.Exec(t.Context(), "ANALYZE "+s.q.table); err != nil {
		t.Fatal(err)
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
		if strings.Contains(p, "Seq Scan on executions") {
			t.Errorf("a hot statement scans the whole table:\n%s", p)
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
		if !strings.Contains(p, "FOR UPDATE SKIP LOCKED") {
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
