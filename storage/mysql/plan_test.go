package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// planStore opens a store on the params clock and fills it with rows of
// two queues: many rows of the first priority due in an hour, a few due
// rows of the last, and finished rows; then it refreshes the tables'
// statistics, as a server does on its own after large changes.
func planStore(t *testing.T) *Store {
	t.Helper()
	s := openStore(t, Config{Clock: ClockParams})
	ctx := t.Context()
	var rows []storage.Execution
	var delays []time.Duration
	for i := range 600 {
		e := storagetest.NewExecution(fmt.Sprintf("later%03d", i), "task")
		e.Queue, e.Priority = []string{"", "emails"}[i%2], storage.PriorityFirst
		rows, delays = append(rows, e), append(delays, time.Hour)
	}
	for i := range 6 {
		e := storagetest.NewExecution(fmt.Sprintf("now%d", i), "task")
		e.Queue, e.Priority = []string{"", "emails"}[i%2], storage.PriorityLast
		rows, delays = append(rows, e), append(delays, 0)
	}
	for i := range 200 {
		e := storagetest.NewExecution(fmt.Sprintf("done%03d", i), "task")
		e.Status, e.FinishedAt = storage.StatusCompleted, storagetest.Base
		rows, delays = append(rows, e), append(delays, 0)
	}
	if err := s.Insert(ctx, storage.InsertParams{Now: storagetest.Base, Executions: rows, Delays: delays}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, "ANALYZE TABLE "+s.q.data.T); err != nil {
		t.Fatal(err)
	}
	return s
}

// planRow is one row of EXPLAIN.
type planRow struct{ table, typ, key, extra string }

func (r planRow) String() string {
	return fmt.Sprintf("table %s type %s key %s extra %q", r.table, r.typ, r.key, r.extra)
}

// explain returns the plan of stmt, read by column name (MySQL and
// MariaDB print different columns).
func explain(t *testing.T, db *sql.DB, stmt string, args ...any) []planRow {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN "+stmt, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", stmt, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []planRow
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		dests := make([]any, len(cols))
		for i := range vals {
			dests[i] = &vals[i]
		}
		if err := rows.Scan(dests...); err != nil {
			t.Fatal(err)
		}
		var r planRow
		for i, c := range cols {
			switch strings.ToLower(c) {
			case "table":
				r.table = vals[i].String
			case "type":
				r.typ = vals[i].String
			case "key":
				r.key = vals[i].String
			case "extra":
				r.extra = vals[i].String
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClaimPlansUseTheClaimIndex: claims (of one queue, and of several),
// the rescue of lapsed leases, NextDue and the list of queues read the
// executions table through the claim index, by ranges; the claim of one
// queue reads them in claim order (no sort), the claim of several reads
// the index alone and then the rows it keeps by primary key, and the list
// of queues skips from level to level (a loose index scan).
func TestClaimPlansUseTheClaimIndex(t *testing.T) {
	t.Parallel()
	s := planStore(t)
	now := micros(storagetest.At(time.Second))
	p := storage.ClaimParams{Now: storagetest.At(time.Second), TaskIDs: []string{"task", "other"}, Limit: 10}
	one, oneArgs, _, _, _ := s.pickSQL(p, []string{storage.DefaultQueue})
	two, twoArgs, _, _, _ := s.pickSQL(p, []string{storage.DefaultQueue, "emails"})
	// With floors on some levels, then on every level.
	key := floorsKey{storage.DefaultQueue, tasksKey(p.TaskIDs)}
	s.floors.queues = map[floorsKey]*floors{key: {until: time.Now().Add(time.Hour)}}
	s.floors.queues[key].due[0] = floor{now - 5, 3}
	s.floors.queues[key].due[4] = floor{now - 7, 1}
	some, someArgs, full, _, _ := s.pickSQL(p, []string{storage.DefaultQueue})
	if full[0] || !strings.Contains(some, "t.seq >= ") {
		t.Fatalf("claim with floors: read in full: %q", some)
	}
	for l := range storage.PriorityLevels {
		s.floors.queues[key].due[l] = floor{now - int64(l), int64(l)}
	}
	every, everyArgs, _, _, _ := s.pickSQL(p, []string{storage.DefaultQueue})
	s.floors.drop()
	nextDue, nextDueArgs := s.nextDueSQL(storage.NextDueParams{Now: p.Now, TaskIDs: []string{"task"}},
		[]level{{storage.DefaultQueue, 1, false}, {storage.DefaultQueue, 9, false}, {"emails", 1, true}})
	index := s.q.data.Due
	for _, c := range []struct {
		name   string
		stmt   string
		args   []any
		extra  string // what the claim index's rows must say
		sorted bool   // no filesort allowed on the claim index's rows
		join   bool   // one read of the kept rows by primary key
	}{
		{"claim of one queue", one, oneArgs, "", true, false},
		{"claim of two queues", two, twoArgs, "Using index", false, true},
		{"claim of one queue from floors on two levels", some, someArgs, "", true, false},
		{"claim of one queue from floors on every level", every, everyArgs, "", true, false},
		{"rescue", expand(s.q.rescuePick, 2), []any{storage.DefaultQueue, "emails", 0, now}, "", true, false},
		{"next due", nextDue, nextDueArgs, "", true, false},
		{"queues", s.q.claimQueues, nil, "Using index for group-by", true, false},
	} {
		plan := explain(t, s.db, c.stmt, c.args...)
		var onIndex, joins int
		for _, r := range plan {
			if r.table != "t" && r.table != "q" {
				continue
			}
			if c.join && r.key == "PRIMARY" && r.typ == "eq_ref" {
				joins++
				continue
			}
			onIndex++
			ok := r.key == index && r.typ == "range" &&
				strings.Contains(r.extra, c.extra) && (!c.sorted || !strings.Contains(r.extra, "filesort"))
			if !ok {
				t.Errorf("%s: %s, want a read of %s by ranges (extra %q, sorted %v); plan:\n%v", c.name, r, index, c.extra, c.sorted, plan)
			}
		}
		if onIndex == 0 {
			t.Errorf("%s: no read of the executions table in the plan:\n%v", c.name, plan)
		}
		if want := map[bool]int{true: 1}[c.join]; joins != want {
			t.Errorf("%s: %d reads of the rows by primary key, want %d; plan:\n%v", c.name, joins, want, plan)
		}
	}
}

// TestClaimSkipsRowsNotDue: a claim of the only due rows, of the lowest
// priority, behind 300 rows of the highest priority due in an hour (per
// queue), reads a handful of index entries, not the rows not due: the
// server's handler counters tell.
func TestClaimSkipsRowsNotDue(t *testing.T) {
	t.Parallel()
	s := planStore(t)
	ctx := t.Context()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := storage.ClaimParams{Now: storagetest.At(time.Second), TaskIDs: []string{"task"}, Limit: 10}
	// The first claim opens the tables in the session (its reads count
	// the controls' and the dictionary's): it is not measured.
	for i, queues := range [][]string{{storage.DefaultQueue}, {storage.DefaultQueue}, {storage.DefaultQueue, "emails"}} {
		before := handlerReads(t, conn)
		stmt, args, _, _, _ := s.pickSQL(p, queues)
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := tx.QueryContext(ctx, stmt, args...)
		if err != nil {
			t.Fatal(err)
		}
		var now int64
		picked, _, err := scanExecutions(rows, &now)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		read := handlerReads(t, conn) - before
		if i == 0 {
			continue
		}
		if want := 3 * len(queues); len(picked) != want {
			t.Errorf("claim of %v: %d rows, want %d", queues, len(picked), want)
		}
		// One dive per priority level and queue, the due rows, and the
		// end of each range; a walk past the rows not due would read
		// hundreds.
		if limit := int64(len(queues) * (2*storage.PriorityLevels + 10)); read > limit {
			t.Errorf("claim of %v read %d index entries, want at most %d", queues, read, limit)
		}
		t.Logf("claim of %v: %d rows, %d handler reads", queues, len(picked), read)
	}
}

// handlerReads is the sum of the session's counters of index reads
// (Handler_read_key, _next, _prev, _first, _last); the scans of temporary
// tables (a union's, SHOW STATUS's own) count in others.
func handlerReads(t *testing.T, conn *sql.Conn) int64 {
	t.Helper()
	rows, err := conn.QueryContext(context.WithoutCancel(t.Context()), "SHOW SESSION STATUS WHERE Variable_name IN "+
		"('Handler_read_key', 'Handler_read_next', 'Handler_read_prev', 'Handler_read_first', 'Handler_read_last')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var sum int64
	for rows.Next() {
		var name string
		var v int64
		if err := rows.Scan(&name, &v); err != nil {
			t.Fatal(err)
		}
		sum += v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}
