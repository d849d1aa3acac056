package sqlite

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// queryPlan returns the lines of EXPLAIN QUERY PLAN of q.
func queryPlan(t *testing.T, s *Store, q string, args ...any) []string {
	t.Helper()
	rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v\n%s", err, q)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExpiredPlans pins how DeleteExpired's statements read: along
// durable_executions_created from the range's start (the range's end and
// its span of ids from the index alone), and the descendants of a root
// through the root index.
func TestExpiredPlans(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	const rangeScan = "SEARCH e USING INDEX durable_executions_created ((created_at,id)>(?,?) AND (created_at,id)<(?,?))"
	args := append([]any{int64(1), "a", int64(2), "b", int64(3)}, expiredStatuses([]storage.Status{storage.StatusCompleted})...)
	for name, want := range map[string][]string{
		"expired_end":              {"SEARCH durable_executions USING COVERING INDEX durable_executions_created ((created_at,id)>(?,?) AND created_at<?)"},
		"expired_last":             {rangeScan},
		"expired_delete_alone":     {rangeScan, "SEARCH d USING COVERING INDEX durable_executions_root (root_id=?)"},
		"expired_roots":            {rangeScan},
		"expired_delete_childless": {rangeScan},
		"expired_span":             {"SEARCH e USING COVERING INDEX durable_executions_created ((created_at,id)>(?,?) AND (created_at,id)<(?,?))"},
		"expired_uncounted": {"SEARCH d USING COVERING INDEX durable_executions_root (root_id>? AND root_id<?)",
			"SEARCH r USING INDEX sqlite_autoindex_durable_executions_1 (id=?)"},
	} {
		a := args
		switch name {
		case "expired_end":
			a = []any{int64(1), "a", int64(3), 10}
		case "expired_span":
			a = args[:4]
		case "expired_uncounted":
			a = []any{"a", "b"}
		}
		text := strings.Join(queryPlan(t, s, query(name), a...), "\n")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: plan does not hold %q:\n%s", name, w, text)
			}
		}
		if strings.Contains(text, "TEMP B-TREE") {
			t.Errorf("%s: plan sorts:\n%s", name, text)
		}
	}
}

// TestExpiredEndStopsAtTheCutoff checks the range of DeleteExpired's last
// batch: when fewer entries than asked are created before the cutoff, the
// range ends at the cutoff, so that its statements do not read the rows
// created since (a drain's), only to find them not expired.
func TestExpiredEndStopsAtTheCutoff(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	ctx := t.Context()
	for i, now := range []time.Time{testNow, testNow.Add(time.Second), testNow.Add(time.Hour)} {
		if err := s.Insert(ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{readyRow(fmt.Sprintf("x%d", i))}}); err != nil {
			t.Fatal(err)
		}
	}
	before := micros(testNow.Add(time.Minute))
	var (
		got  [2]expiredKey
		ends [2]bool
	)
	err := s.submit(ctx, "test", func(tx *writeTx) error {
		var err error
		if got[0], ends[0], err = tx.expiredEnd(expiredKey{at: math.MinInt64}, before, 1); err != nil {
			return err
		}
		got[1], ends[1], err = tx.expiredEnd(expiredKey{at: math.MinInt64}, before, 3)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (expiredKey{at: micros(testNow), id: "x0"}); got[0] != want || ends[0] {
		t.Errorf("range of 1 entry: end %+v (last %v), want %+v, not last", got[0], ends[0], want)
	}
	if want := (expiredKey{at: before}); got[1] != want || !ends[1] {
		t.Errorf("range of 3 entries, 2 before the cutoff: end %+v (last %v), want %+v (the cutoff), last", got[1], ends[1], want)
	}
}

// TestRangeCounted checks the guard of DeleteExpired's statement without
// subquery: a range is counted when no row with a root in its span of
// ids has a root whose children_total is 0; a child inserted by Insert
// under a root that does not count it makes its root's ranges uncounted.
func TestRangeCounted(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	ctx := t.Context()
	a := readyRow("a")
	a.ChildrenTotal = 1
	ac := readyRow("a-c")
	ac.RootID, ac.ParentID = "a", "a"
	b := readyRow("b")
	bc := readyRow("b-c")
	bc.RootID, bc.ParentID = "b", "b"
	c := readyRow("c")
	for i, rows := range [][]storage.Execution{{a}, {ac}, {b}, {bc}, {c}} {
		if err := s.Insert(ctx, storage.InsertParams{Now: testNow.Add(time.Duration(i) * time.Second), Executions: rows}); err != nil {
			t.Fatal(err)
		}
	}
	key := func(i int, id string) []any { return []any{micros(testNow.Add(time.Duration(i) * time.Second)), id} }
	cases := []struct {
		name     string
		from, to []any // (from excluded, to]
		want     bool
	}{
		{"a counts its child", []any{int64(math.MinInt64), ""}, key(1, "a-c"), true},
		{"b does not", key(1, "a-c"), key(3, "b-c"), false},
		{"from a to b", []any{int64(math.MinInt64), ""}, key(2, "b"), false},
		{"c alone", key(3, "b-c"), key(4, "c"), true},
		{"empty", key(4, "c"), key(5, ""), true},
	}
	for _, tc := range cases {
		var got bool
		err := s.submit(ctx, "test", func(tx *writeTx) error {
			var err error
			got, err = tx.rangeCounted(append(slices.Clone(tc.from), tc.to...))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: counted %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestListPlans pins how each shape of list reads its rows: through the
// index chosen for its filter, and, for an index kept in list order,
// without sorting what it reads (a sort of a page, to merge arms, is
// allowed).
func TestListPlans(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	at := testNow
	failed := []storage.Status{storage.StatusFailed}
	cases := []struct {
		name   string
		f      storage.ListFilter
		index  string // every arm reads this index
		sorted bool   // the index gives the list order
	}{
		{"all", storage.ListFilter{}, "USING INDEX durable_executions_created", true},
		{"failed", storage.ListFilter{Statuses: failed}, "USING INDEX durable_executions_status (status=?", true},
		{"failed+cancelled", storage.ListFilter{Statuses: []storage.Status{storage.StatusFailed, storage.StatusCancelled}},
			"USING INDEX durable_executions_status (status=?", true},
		{"ready", storage.ListFilter{Statuses: []storage.Status{storage.StatusReady}}, "USING INDEX durable_executions_created", true},
		{"task", storage.ListFilter{TaskIDs: []string{"a"}}, "USING INDEX durable_executions_task (task_id=?", true},
		{"tasks", storage.ListFilter{TaskIDs: []string{"a", "b", "c"}}, "USING INDEX durable_executions_task (task_id=?", true},
		{"task+failed", storage.ListFilter{TaskIDs: []string{"a"}, Statuses: failed}, "USING INDEX durable_executions_status (status=?", true},
		{"tag", storage.ListFilter{Tag: "x", TopLevel: true}, "USING PRIMARY KEY (tag=?", true},
		{"root", storage.ListFilter{RootID: "r", Statuses: failed}, "USING INDEX durable_executions_root (root_id=?", true},
		{"parent", storage.ListFilter{ParentID: "p"}, "USING INDEX durable_executions_parent (parent_id=?", false},
		{"ids", storage.ListFilter{IDs: []string{"a", "b"}, RootID: "r"}, "USING INDEX sqlite_autoindex_durable_executions_1 (id=?", false},
		{"created", storage.ListFilter{CreatedFrom: at, CreatedTo: at.Add(time.Hour)}, "USING INDEX durable_executions_created (created_at>? AND created_at<?", true},
		{"expired", storage.ListFilter{TopLevel: true, FinishedTo: at, Statuses: []storage.Status{storage.StatusCompleted}},
			"USING INDEX durable_executions_created (created_at<?", true},
	}
	for _, c := range cases {
		for _, o := range []storage.Order{storage.NewestFirst, storage.OldestFirst} {
			for _, after := range []*storage.ListKey{nil, {CreatedAt: at, ID: "x"}} {
				p := storage.ListParams{Filter: c.f, Order: o, After: after, Limit: 50}
				q, args := listQuery(&p, false)
				lines := queryPlan(t, s, q, args...)
				text := strings.Join(lines, "\n")
				want := c.index
				if after != nil { // the keyset may be the range instead
					want, _, _ = strings.Cut(want, " (")
				}
				if !strings.Contains(text, want) {
					t.Errorf("%s (order %d, after %v): plan does not use %s:\n%s", c.name, o, after != nil, want, text)
				}
				sorts := strings.Count(text, "USE TEMP B-TREE FOR ORDER BY")
				merged := strings.Count(text, "SCAN (subquery")
				if c.sorted && sorts > merged {
					t.Errorf("%s (order %d, after %v): the plan sorts the index's rows:\n%s", c.name, o, after != nil, text)
				}
				if strings.Contains(text, "SCAN e") && !strings.Contains(text, "SCAN e USING INDEX durable_executions_created") {
					t.Errorf("%s: the plan scans the table:\n%s", c.name, text)
				}
			}
		}
	}
	// The arm of rows finished early reads its partial index.
	p := storage.ListParams{Filter: storage.ListFilter{FinishedTo: at}, Limit: 50}
	q, args := listQuery(&p, true)
	if text := strings.Join(queryPlan(t, s, q, args...), "\n"); !strings.Contains(text, "USING INDEX durable_executions_finished_early") {
		t.Errorf("list with rows finished early:\n%s", text)
	}
	if text := strings.Join(queryPlan(t, s, query("finished_early"), micros(at)), "\n"); !strings.Contains(text, "durable_executions_finished_early") {
		t.Errorf("finished_early:\n%s", text)
	}
	// Delete finds its rows by index or rowid, never by a scan.
	for name, want := range map[string]string{
		"delete_roots":       "USING INDEX sqlite_autoindex_durable_executions_1 (id=?)",
		"delete_descendants": "USING INDEX durable_executions_root (root_id=?)",
		"delete_tags":        "USING INTEGER PRIMARY KEY (rowid=?)",
		"delete_rows":        "USING INTEGER PRIMARY KEY (rowid=?)",
	} {
		if text := strings.Join(queryPlan(t, s, query(name), `["a"]`), "\n"); !strings.Contains(text, want) {
			t.Errorf("%s: plan does not use %s:\n%s", name, want, text)
		}
	}
	// Counts of the indexed fields read their index.
	for _, f := range []storage.ListFilter{{Statuses: failed}, {TaskIDs: []string{"a", "b"}}, {Tag: "x"}} {
		q, args := countQuery(&storage.CountParams{Now: at, Filter: f})
		if text := strings.Join(queryPlan(t, s, q, args...), "\n"); strings.Contains(text, "SCAN e") {
			t.Errorf("count of %+v scans the table:\n%s", f, text)
		}
	}
	// A count of every row reads the table in rowid order, not through an
	// index (SQLite would walk the task index for the GROUP BY).
	q, args = countQuery(&storage.CountParams{Now: at, Filter: storage.ListFilter{TopLevel: true}})
	if text := strings.Join(queryPlan(t, s, q, args...), "\n"); !strings.Contains(text, "SCAN e") || strings.Contains(text, "INDEX") {
		t.Errorf("count of every top-level row:\n%s", text)
	}
}

// TestListFinishedBeforeCreated lists rows whose FinishedAt is before
// their CreatedAt (a clock that disagrees between the inserting and the
// finishing process) by FinishedTo: the list bounds its walk by
// created_at < FinishedTo, and reads these rows beside it.
func TestListFinishedBeforeCreated(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	ctx := t.Context()
	ins := func(now time.Time, id string) {
		t.Helper()
		e := storage.Execution{ID: id, TaskID: "t", Status: storage.StatusReady}
		if err := s.Insert(ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{e}}); err != nil {
			t.Fatal(err)
		}
	}
	finish := func(now time.Time, id string) {
		t.Helper()
		c, err := s.Claim(ctx, storage.ClaimParams{Now: now.Add(time.Hour), ExecutorID: "x", TaskIDs: []string{"t"}, Limit: 1, Lease: time.Minute})
		if err != nil || len(c) != 1 || c[0].ID != id {
			t.Fatalf("claim %s: %v, %v", id, c, err)
		}
		res, err := s.Complete(ctx, storage.CompleteParams{Now: now, Transitions: []storage.Transition{
			{ID: id, Fence: c[0].Fence, From: storage.StatusRunning, To: storage.StatusCompleted}}})
		if err != nil || !res[0].Applied {
			t.Fatalf("complete %s: %v, %v", id, res, err)
		}
	}
	at := func(s int) time.Time { return testNow.Add(time.Duration(s) * time.Second) }
	ins(at(0), "normal")
	finish(at(5), "normal")
	ins(at(20), "early") // created at 20 s, finished at 8 s
	finish(at(8), "early")
	ins(at(1), "late") // finished at 30 s
	finish(at(30), "late")
	for _, o := range []storage.Order{storage.NewestFirst, storage.OldestFirst} {
		for _, limit := range []int{1, 2, 10} {
			var got []string
			var after *storage.ListKey
			for {
				page, err := s.List(ctx, storage.ListParams{Filter: storage.ListFilter{FinishedTo: at(10)}, Order: o, After: after, Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					got = append(got, e.ID)
				}
				if len(page) < limit {
					break
				}
				k := storage.KeyOf(&page[len(page)-1])
				after = &k
			}
			want := []string{"normal", "early"}
			if o == storage.NewestFirst {
				want = []string{"early", "normal"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("FinishedTo 10s, order %d, pages of %d: %v, want %v", o, limit, got, want)
			}
		}
	}
}

// TestTagsStoredAsBytes: tags with quotes, backslashes and characters that
// JSON encoders escape come back as they were, are listed by, and leave
// the tag table with their row; so does the tag of an ID of any bytes.
func TestTagsStoredAsBytes(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	ctx := t.Context()
	tags := []string{`a"b`, `c\d`, `\"`, "ü", `["x"]`, "\u2028<&>"}
	e := storage.Execution{ID: "a", TaskID: "t", Status: storage.StatusCompleted, Tags: tags}
	// An ID of any bytes, with tags: its tag rows are found by it.
	odd := storage.Execution{ID: "b\x01\xff\"\\", TaskID: "t\n", Status: storage.StatusCompleted, Tags: []string{"odd"}}
	if err := s.Insert(ctx, storage.InsertParams{Now: testNow, Executions: []storage.Execution{e, odd}}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.List(ctx, storage.ListParams{Filter: storage.ListFilter{Tag: "odd", TaskIDs: []string{"t\n"}, IDs: []string{odd.ID}}, Limit: 10})
	if err != nil || len(rows) != 1 || rows[0].ID != odd.ID {
		t.Fatalf("List of an ID of any bytes by its tag: %v, %v", rows, err)
	}
	if n, err := s.Delete(ctx, storage.DeleteParams{IDs: []string{odd.ID}}); err != nil || n != 1 {
		t.Fatalf("Delete of an ID of any bytes: %d, %v", n, err)
	}
	got, err := s.Get(ctx, storage.GetParams{ID: "a"})
	if err != nil || !slices.Equal(got.Tags, tags) {
		t.Fatalf("Get: tags %q, %v; want %q", got.Tags, err, tags)
	}
	for _, tag := range tags {
		for _, f := range []storage.ListFilter{{Tag: tag}, {Tag: tag, ParentID: ""}, {Tag: tag, IDs: []string{"a"}}} {
			rows, err := s.List(ctx, storage.ListParams{Filter: f, Limit: 10})
			if err != nil || len(rows) != 1 {
				t.Fatalf("List by tag %q (%+v): %d rows, %v", tag, f, len(rows), err)
			}
		}
	}
	var n int
	count := func() int {
		t.Helper()
		if err := s.rdb.QueryRow("SELECT count(*) FROM durable_execution_tags").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count() != len(tags) {
		t.Fatalf("%d tag rows, want %d", n, len(tags))
	}
	if k, err := s.Delete(ctx, storage.DeleteParams{IDs: []string{"a"}}); err != nil || k != 1 {
		t.Fatalf("Delete: %d, %v", k, err)
	}
	if count() != 0 {
		t.Fatalf("%d tag rows after Delete, want none", n)
	}
}

// TestMigration004 opens a database at schema version 3 holding rows, as
// the code before migration 004 left it: Open migrates it, the old rows
// read back without attempts, tags or retry link, and can be listed,
// counted, finished and deleted.
func TestMigration004(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "v3.db")
	db := openAtVersion(t, path, 3)
	now := testNow.UnixMicro()
	_, err := db.Exec(`INSERT INTO durable_executions (id, task_id, status, input, due_at, created_at, updated_at)
		VALUES ('old-ready', 't', 'ready', x'01', ?1, ?1, ?1)`, now)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO durable_executions (id, task_id, status, output, created_at, updated_at, finished_at)
		VALUES ('old-done', 't', 'completed', x'02', ?1, ?1, ?1)`, now-1)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(t.Context(), path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	for _, id := range []string{"old-ready", "old-done"} {
		e, err := s.Get(ctx, storage.GetParams{ID: id})
		if err != nil || e.Attempts != nil || e.Tags != nil || e.RetryOf != "" {
			t.Fatalf("Get(%s) after the migration: %+v, %v", id, e, err)
		}
	}
	rows, err := s.List(ctx, storage.ListParams{Limit: 10})
	if err != nil || len(rows) != 2 || rows[0].ID != "old-ready" {
		t.Fatalf("List after the migration: %v, %v", rows, err)
	}
	counts, err := s.Count(ctx, storage.CountParams{Now: testNow})
	if err != nil || len(counts) != 2 {
		t.Fatalf("Count after the migration: %v, %v", counts, err)
	}
	c, err := s.Claim(ctx, storage.ClaimParams{Now: testNow, ExecutorID: "x", TaskIDs: []string{"t"}, Limit: 1, Lease: time.Minute})
	if err != nil || len(c) != 1 || c[0].Attempts != nil {
		t.Fatalf("Claim after the migration: %+v, %v", c, err)
	}
	a := []storage.Attempt{{Attempt: 0, Outcome: storage.StatusFailed, StartedAt: testNow, FinishedAt: testNow}}
	res, err := s.Complete(ctx, storage.CompleteParams{Now: testNow, Transitions: []storage.Transition{
		{ID: "old-ready", Fence: c[0].Fence, From: storage.StatusRunning, To: storage.StatusFailed, Attempts: a}}})
	if err != nil || !res[0].Applied {
		t.Fatalf("Complete after the migration: %+v, %v", res, err)
	}
	if e, _ := s.Get(ctx, storage.GetParams{ID: "old-ready"}); len(e.Attempts) != 1 {
		t.Fatalf("attempts after Complete: %+v", e.Attempts)
	}
	if n, err := s.Delete(ctx, storage.DeleteParams{IDs: []string{"old-ready", "old-done"}}); err != nil || n != 2 {
		t.Fatalf("Delete after the migration: %d, %v", n, err)
	}
	_, err = s.Delete(ctx, storage.DeleteParams{IDs: []string{"old-ready"}})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Delete of a deleted row: %v", err)
	}
}

// TestClaimPlansUseTheDueIndex: claims, NextDue and the rescue read due
// rows from the due index (migrations 007 and 011: queue, priority,
// due_at, seq, status, sleep_key, task_id) alone, one range search per
// (queue, priority) level, each in due order: the levels and queues are
// found by skip scans of the index, and a claim sorts only the few rows
// its levels gave, never the due rows themselves; claim_priority then
// reads the rows it keeps by rowid, and claim_level reads its level's rows
// in index order. The task index (migration 004) would serve
// their task_id IN (...) too, and SQLite would take it, reading every row
// of the tasks (finished ones too) and sorting them.
func TestClaimPlansUseTheDueIndex(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	const (
		level     = "USING COVERING INDEX durable_executions_due (queue=? AND priority=? AND due_at>? AND due_at<?)"
		nextLevel = "USING COVERING INDEX durable_executions_due (queue=? AND priority=? AND due_at>?)"
	)
	for _, c := range []struct {
		name  string
		args  []any
		want  []string
		sorts int // USE TEMP B-TREE FOR ORDER BY: the merge of the levels' rows
	}{
		{"claim_candidates", []any{micros(testNow), `["a","b"]`, 10}, []string{level,
			"SCAN c\nSEARCH durable_executions USING INTEGER PRIMARY KEY (rowid=?)"}, 1},
		{"claim_candidates_in", []any{micros(testNow), `["a","b"]`, 10, `["q1","q2"]`}, []string{level,
			"SCAN c\nSEARCH durable_executions USING INTEGER PRIMARY KEY (rowid=?)"}, 1},
		{"claim_level", []any{micros(testNow), `["a","b"]`, 10, "q1", 3}, []string{
			"SEARCH durable_executions USING INDEX durable_executions_due (queue=? AND priority=? AND due_at>? AND due_at<?)"}, 0},
		{"claim_priority", []any{micros(testNow), `["a","b"]`, 10, `["q1","q2"]`, 3}, []string{level,
			"SEARCH durable_executions USING INTEGER PRIMARY KEY (rowid=?)"}, 1},
		{"claim_queues2", []any{micros(testNow), `["a","b"]`, 10, 3, "q1", "q2"}, []string{level, "MERGE (UNION ALL)",
			"SEARCH durable_executions USING INTEGER PRIMARY KEY (rowid=?)"}, 2},
		{"claim_queues4", []any{micros(testNow), `["a","b"]`, 10, 3, "q1", "q2", "q3", "q4"}, []string{level, "MERGE (UNION ALL)",
			"SEARCH durable_executions USING INTEGER PRIMARY KEY (rowid=?)"}, 4},
		{"claim_levels", nil, []string{"USING COVERING INDEX durable_executions_due"}, 1},
		{"claim_levels_in", []any{`["q1","q2"]`}, []string{"USING COVERING INDEX durable_executions_due"}, 1},
		{"next_due", []any{`["a","b"]`, micros(testNow)}, []string{nextLevel}, 0},
		{"next_due_in", []any{`["a","b"]`, micros(testNow), `["q1"]`}, []string{nextLevel}, 0},
		{"rescue_candidates", []any{0, micros(testNow)}, []string{"USING COVERING INDEX durable_executions_due (queue=? AND priority=? AND due_at>? AND due_at<?)"}, 0},
		{"recover", []any{"x", micros(testNow)}, []string{"SCAN durable_executions USING INDEX durable_executions_due"}, 0},
	} {
		text := strings.Join(queryPlan(t, s, query(c.name), c.args...), "\n")
		for _, want := range c.want {
			if !strings.Contains(text, want) {
				t.Errorf("%s: the plan does not read %q:\n%s", c.name, want, text)
			}
		}
		if n := strings.Count(text, "USE TEMP B-TREE FOR ORDER BY"); n != c.sorts {
			t.Errorf("%s: %d sorts, want %d:\n%s", c.name, n, c.sorts, text)
		}
		// Every read of durable_executions is a search of an index or
		// by rowid, but the skip scan's first step (ORDER BY queue
		// LIMIT 1) and recover's walk of the due index.
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "SCAN durable_executions") && !strings.Contains(line, "durable_executions_due") {
				t.Errorf("%s: the plan scans the table:\n%s", c.name, text)
			}
		}
	}
}

// TestListBoundsBetweenMicroseconds: stored times are whole microseconds;
// a cursor or a time bound between two compares with them exactly.
func TestListBoundsBetweenMicroseconds(t *testing.T) {
	t.Parallel()
	s := openInternal(t, Config{})
	ctx := t.Context()
	at := func(us int) time.Time { return testNow.Add(time.Duration(us) * time.Microsecond) }
	for i, id := range []string{"a", "b", "c"} {
		e := storage.Execution{ID: id, TaskID: "t", Status: storage.StatusCompleted, FinishedAt: at(10 + i)}
		if err := s.Insert(ctx, storage.InsertParams{Now: at(i), Executions: []storage.Execution{e}}); err != nil {
			t.Fatal(err)
		}
	}
	half := 500 * time.Nanosecond
	list := func(p storage.ListParams) []string {
		t.Helper()
		p.Limit = 10
		rows, err := s.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range rows {
			ids = append(ids, e.ID)
		}
		return ids
	}
	for _, c := range []struct {
		name string
		p    storage.ListParams
		want []string
	}{
		{"newest after 1.5", storage.ListParams{After: &storage.ListKey{CreatedAt: at(1).Add(half), ID: "zzz"}}, []string{"b", "a"}},
		{"newest after 1.5 empty ID", storage.ListParams{After: &storage.ListKey{CreatedAt: at(1).Add(half)}}, []string{"b", "a"}},
		{"oldest after 0.5", storage.ListParams{Order: storage.OldestFirst, After: &storage.ListKey{CreatedAt: at(0).Add(half), ID: ""}}, []string{"b", "c"}},
		{"oldest after 0.5 zzz", storage.ListParams{Order: storage.OldestFirst, After: &storage.ListKey{CreatedAt: at(0).Add(half), ID: "zzz"}}, []string{"b", "c"}},
		{"created from 0.5", storage.ListParams{Filter: storage.ListFilter{CreatedFrom: at(0).Add(half)}}, []string{"c", "b"}},
		{"created to 1.5", storage.ListParams{Filter: storage.ListFilter{CreatedTo: at(1).Add(half)}}, []string{"b", "a"}},
		{"finished from 10.5", storage.ListParams{Filter: storage.ListFilter{FinishedFrom: at(10).Add(half)}}, []string{"c", "b"}},
		{"finished to 11.5", storage.ListParams{Filter: storage.ListFilter{FinishedTo: at(11).Add(half)}}, []string{"b", "a"}},
		{"finished to 11", storage.ListParams{Filter: storage.ListFilter{FinishedTo: at(11)}}, []string{"a"}},
	} {
		if got := list(c.p); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
