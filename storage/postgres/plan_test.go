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
