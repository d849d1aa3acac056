package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// This file holds the operator's part of the contract (storage.Lister):
// List, Count and Delete, over the indexes of migration 004.
//
// A list is read in list order from an index whose columns end in
// (created_at, id), so that its first page reads a page of index entries
// and rows, not every row that matches: the statement is built for the
// filter's shape (listQuery), choosing the index of its narrowest field
// (see access), and run on a read connection. It is prepared at each call
// (the shapes are many; preparing costs little beside reading a page).
// Delete runs through the writer, in one request. docs/sqlite.md says
// what each filter costs.

var _ storage.Lister = (*Store)(nil)

// List returns a page of executions matching p.Filter in p.Order, after
// p.After when set, without Input, Output, RunOutput and Attempts.
func (s *Store) List(ctx context.Context, p storage.ListParams) ([]storage.Execution, error) {
	const op = "list"
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if s.isClosed() {
		return nil, errClosed(op)
	}
	early := false
	if finishedBound(&p) {
		// Rows finished before they were created: normally none, and
		// then the list needs no arm for them.
		st, err := s.readStmt(op, "finished_early")
		if err != nil {
			return nil, err
		}
		err = st.QueryRowContext(ctx, microsCeil(p.Filter.FinishedTo)).Scan(&early)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, s.readError(op, err)
		}
	}
	q, args := listQuery(&p, early)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.readError(op, err)
	}
	defer rows.Close()
	out := make([]storage.Execution, 0, p.Limit)
	sc := newExecScanner()
	for rows.Next() {
		e, _, err := sc.scan(rows)
		if err != nil {
			return nil, s.readError(op, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(op, err)
	}
	return out, nil
}

// Count counts the executions matching p.Filter by task and status,
// ordered by task, then status (both as bytes).
func (s *Store) Count(ctx context.Context, p storage.CountParams) ([]storage.Count, error) {
	const op = "count"
	if err := p.Filter.Validate(); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if s.isClosed() {
		return nil, errClosed(op)
	}
	q, args := countQuery(&p)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.readError(op, err)
	}
	defer rows.Close()
	var out []storage.Count
	for rows.Next() {
		var (
			c      storage.Count
			status string
			due    sql.NullInt64
		)
		if err := rows.Scan(&c.TaskID, &status, &c.N, &due); err != nil {
			return nil, s.readError(op, err)
		}
		c.Status, c.OldestDueAt = storage.Status(status), timeOf(due)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.readError(op, err)
	}
	return out, nil
}

// Delete deletes each named top-level terminal execution with its whole
// tree, all or nothing, in one write transaction, and returns the number
// of rows deleted.
func (s *Store) Delete(ctx context.Context, p storage.DeleteParams) (int, error) {
	const op = "delete"
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	ids := distinct(p.IDs)
	var n int
	err := s.submit(ctx, op, func(tx *writeTx) error {
		var err error
		if n, err = tx.deleteTrees(ids); err != nil {
			return fmt.Errorf("sqlite: %s: %w", op, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// deleteTrees checks that every root in ids (distinct) may be deleted with
// its tree, then deletes them. It reads each root (by id) and the rows of
// its tree (a range of the root index) once, checks them, and deletes
// every row by seq. On an error it has deleted nothing (and the caller's
// request is rolled back in any case).
func (tx *writeTx) deleteTrees(ids []string) (int, error) {
	idList := jsonStrings(ids)
	var all, tagged seqList
	if err := tx.deletableRoots(ids, idList, &all, &tagged); err != nil {
		return 0, err
	}
	err := tx.descendants(idList, func(d descendant) error {
		if !storage.Status(d.status).Terminal() {
			return fmt.Errorf("execution %q: its descendant %q is %s, not finished: %w",
				d.root, d.id, d.status, storage.ErrNotDeletable)
		}
		all.add(d.seq)
		if d.hasTags {
			tagged.add(d.seq)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return tx.deleteRows(&all, &tagged)
}

// descendant is a row of a tree, as delete_descendants reads it.
type descendant struct {
	seq              int64
	root, id, status string
	hasTags          bool
}

// descendants calls visit on each descendant of the roots in idList (a
// JSON array of ids), until it returns an error, which it returns.
func (tx *writeTx) descendants(idList string, visit func(d descendant) error) error {
	rows, err := tx.query("delete_descendants", idList)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d descendant
		if err := rows.Scan(&d.seq, &d.root, &d.id, &d.status, &d.hasTags); err != nil {
			return err
		}
		if err := visit(d); err != nil {
			return err
		}
	}
	return rows.Err()
}

// deleteRows deletes the rows whose seqs are in all, and the tag rows of
// those in tagged, and returns the number of rows deleted.
func (tx *writeTx) deleteRows(all, tagged *seqList) (int, error) {
	if all.n == 0 {
		return 0, nil
	}
	if tagged.n > 0 {
		if _, err := tx.exec("delete_tags", tagged.json()); err != nil {
			return 0, err
		}
	}
	res, err := tx.exec("delete_rows", all.json())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// seqList accumulates seqs as a JSON array.
type seqList struct {
	b strings.Builder
	n int
}

func (l *seqList) add(seq int64) {
	if l.n == 0 {
		l.b.WriteByte('[')
	} else {
		l.b.WriteByte(',')
	}
	l.b.WriteString(strconv.FormatInt(seq, 10))
	l.n++
}

func (l *seqList) json() string {
	if l.n == 0 {
		return "[]"
	}
	return l.b.String() + "]"
}

// rootRow is what Delete reads of a root it names.
type rootRow struct {
	seq     int64
	status  string
	parent  sql.NullString
	hasTags bool
}

// deletableRoots checks the roots a Delete names (ids, distinct; idList,
// the same as a JSON array), in order: the first that is unknown fails with
// ErrNotFound, the first that is a child or not finished with
// ErrNotDeletable. It adds their seqs to all, and those of the roots with
// tags to tagged.
func (tx *writeTx) deletableRoots(ids []string, idList string, all, tagged *seqList) error {
	rows, err := tx.query("delete_roots", idList)
	if err != nil {
		return err
	}
	found := make(map[string]rootRow, len(ids))
	for rows.Next() {
		var id string
		var r rootRow
		if err := rows.Scan(&id, &r.seq, &r.status, &r.parent, &r.hasTags); err != nil {
			rows.Close()
			return err
		}
		found[id] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		r, ok := found[id]
		switch {
		case !ok:
			return fmt.Errorf("execution %q: %w", id, storage.ErrNotFound)
		case r.parent.Valid:
			return fmt.Errorf("execution %q is a child of %q (delete its root, %q, to delete its tree): %w",
				id, r.parent.String, rootOf(tx, id, r.parent.String), storage.ErrNotDeletable)
		case !storage.Status(r.status).Terminal():
			return fmt.Errorf("execution %q is %s, not finished: %w", id, r.status, storage.ErrNotDeletable)
		}
		all.add(r.seq)
		if r.hasTags {
			tagged.add(r.seq)
		}
	}
	return nil
}

// rootOf returns the root of a child, for an error message; its parent
// if it cannot be read.
func rootOf(tx *writeTx, id, parent string) string {
	st, err := tx.named("root_of")
	if err != nil {
		return parent
	}
	var root sql.NullString
	if st.QueryRow(id).Scan(&root) != nil || !root.Valid {
		return parent
	}
	return root.String
}

// distinct returns ids without repeats, in order of first appearance.
func distinct(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// access is how a list or count finds its rows: through the index of one
// field of the filter; the others are tested on each row found.
type access int

const (
	// byCreated walks durable_executions_created in list order.
	byCreated access = iota
	// byIDs looks each ID up (the unique index on id), then sorts.
	byIDs
	// byParent reads the children of ParentID (durable_executions_parent),
	// then sorts.
	byParent
	// byRoot walks the descendants of RootID in list order
	// (durable_executions_root).
	byRoot
	// byTag walks the rows of Tag in durable_execution_tags in list order,
	// joining each execution by seq.
	byTag
	// byStatus walks each status of durable_executions_status in list
	// order (one arm each, merged); only when every status is indexed.
	byStatus
	// byTask walks each task of durable_executions_task in list order (one
	// arm each, merged); only for a few tasks.
	byTask
)

// maxTaskArms is the most tasks a list walks one by one (byTask); a list
// of more tasks walks durable_executions_created instead, since together
// they are likely a large part of the table.
const maxTaskArms = 8

// indexedStatuses are the statuses in durable_executions_status (migration
// 004): all but ready, running and completed. Its WHERE clause, whose
// terms a query must repeat for SQLite to use the index, is
// statusIndexWhere.
var indexedStatuses = []storage.Status{
	storage.StatusWaitingForChildren, storage.StatusWaitingForFinalize, storage.StatusFailed,
	storage.StatusTimedOut, storage.StatusChildrenFailed, storage.StatusFinalizeFailed, storage.StatusCancelled,
}

const statusIndexWhere = "e.status <> 'ready' AND e.status <> 'running' AND e.status <> 'completed'"

// chooseAccess returns how to find the rows of f: through its narrowest
// field, in this order: IDs, ParentID, RootID, Tag, Statuses (when all are
// indexed), TaskIDs (when few), else the walk of every row in list order.
func chooseAccess(f *storage.ListFilter) access {
	switch {
	case len(f.IDs) > 0:
		return byIDs
	case f.ParentID != "":
		return byParent
	case f.RootID != "":
		return byRoot
	case f.Tag != "":
		return byTag
	case len(f.Statuses) > 0 && allIndexed(f.Statuses):
		return byStatus
	case len(f.TaskIDs) > 0 && len(f.TaskIDs) <= maxTaskArms:
		return byTask
	}
	return byCreated
}

func allIndexed(ss []storage.Status) bool {
	for _, s := range ss {
		if !slices.Contains(indexedStatuses, s) {
			return false
		}
	}
	return true
}

// sqlBuilder accumulates the conditions of a statement and their
// arguments.
type sqlBuilder struct {
	conds []string
	args  []any
}

func (b *sqlBuilder) add(cond string, args ...any) {
	b.conds = append(b.conds, cond)
	b.args = append(b.args, args...)
}

func (b *sqlBuilder) where() string {
	if len(b.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(b.conds, " AND ")
}

// filterConds adds the conditions of every field of f but the one the
// access a uses (which its arms add). col is the table whose created_at
// and id the list is ordered by (e, or t for byTag).
func filterConds(b *sqlBuilder, f *storage.ListFilter, a access, col string) {
	if len(f.IDs) > 0 {
		b.add("e.id IN (SELECT value FROM json_each(?))", jsonStrings(f.IDs))
	}
	if len(f.Statuses) > 0 && a != byStatus {
		ss := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			ss[i] = string(s)
		}
		b.add("e.status IN (SELECT value FROM json_each(?))", jsonStrings(ss))
	}
	if len(f.TaskIDs) > 0 && a != byTask {
		b.add("e.task_id IN (SELECT value FROM json_each(?))", jsonStrings(f.TaskIDs))
	}
	if f.RootID != "" {
		b.add("e.root_id = ?", f.RootID)
	}
	if f.ParentID != "" {
		b.add("e.parent_id = ?", f.ParentID)
	}
	if f.TopLevel {
		b.add("e.parent_id IS NULL")
	}
	if f.Tag != "" {
		if a == byTag {
			b.add("t.tag = ?", f.Tag)
		} else {
			b.add("EXISTS (SELECT 1 FROM json_each(e.tags) WHERE value = ?)", f.Tag)
		}
	}
	if !f.CreatedFrom.IsZero() {
		b.add(col+".created_at >= ?", microsCeil(f.CreatedFrom))
	}
	if !f.CreatedTo.IsZero() {
		b.add(col+".created_at < ?", microsCeil(f.CreatedTo))
	}
	if !f.FinishedFrom.IsZero() {
		b.add("e.finished_at >= ?", microsCeil(f.FinishedFrom))
	}
	if !f.FinishedTo.IsZero() {
		b.add("e.finished_at < ?", microsCeil(f.FinishedTo))
	}
}

// from returns the FROM clause of access a, and the column prefix of its
// list order.
func from(a access) (string, string) {
	switch a {
	case byIDs:
		// The index of the table's UNIQUE (id).
		return "durable_executions AS e INDEXED BY sqlite_autoindex_durable_executions_1", "e"
	case byParent:
		return "durable_executions AS e INDEXED BY durable_executions_parent", "e"
	case byRoot:
		return "durable_executions AS e INDEXED BY durable_executions_root", "e"
	case byTag:
		// CROSS JOIN: SQLite keeps the tag table as the outer loop.
		return "durable_execution_tags AS t CROSS JOIN durable_executions AS e ON e.seq = t.seq", "t"
	case byStatus:
		return "durable_executions AS e INDEXED BY durable_executions_status", "e"
	case byTask:
		return "durable_executions AS e INDEXED BY durable_executions_task", "e"
	}
	return "durable_executions AS e INDEXED BY durable_executions_created", "e"
}

// listColumns is the columns section with NULL for what a list leaves out
// (the payloads and the attempt history), each column of the table e.
var listColumns = func() string {
	var cols []string
	for _, c := range strings.Split(query("columns"), ",") {
		c = strings.TrimSpace(c)
		switch c {
		case "input", "output", "run_output", "attempts":
			cols = append(cols, "NULL AS "+c)
		default:
			cols = append(cols, "e."+c)
		}
	}
	return strings.Join(cols, ", ")
}()

// finishedBound reports whether a list bounds its walk by FinishedTo (see
// listQuery): it walks an index in list order, and CreatedTo does not
// bound it as much already.
func finishedBound(p *storage.ListParams) bool {
	f := &p.Filter
	a := chooseAccess(f)
	return a != byIDs && a != byParent && !f.FinishedTo.IsZero() &&
		(f.CreatedTo.IsZero() || f.CreatedTo.After(f.FinishedTo))
}

// listQuery returns the statement of a list and its arguments.
//
// The statement is one SELECT, or, for byStatus and byTask with several
// values and for rows finished early (below), a UNION ALL of arms, each
// reading at most a page in list order from its own range of an index,
// merged and cut to a page.
//
// A list with FinishedTo bounds its walk by created_at < FinishedTo too (a
// row finishes after it is created), so that a list of the rows finished
// before T (retention's) reads only rows created before T. A row can
// finish before it was created when the clocks of the processes that
// inserted and finished it disagree: when there are such rows (early; the
// caller looks in durable_executions_finished_early), the list reads
// those created from FinishedTo on from that index, in an arm of their
// own.
func listQuery(p *storage.ListParams, early bool) (string, []any) {
	f := &p.Filter
	a := chooseAccess(f)
	desc := p.Order == storage.NewestFirst
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	type arm struct {
		from, col string
		b         sqlBuilder
	}
	after := func(b *sqlBuilder, col string) {
		if p.After != nil {
			c, op, id := keysetBound(p.After, desc)
			b.add("("+col+".created_at, "+col+".id) "+op+" (?, ?)", c, id)
		}
	}
	newArm := func(a access) *arm {
		from, col := from(a)
		r := &arm{from: from, col: col}
		filterConds(&r.b, f, a, col)
		after(&r.b, col)
		return r
	}
	var arms []*arm
	switch a {
	case byStatus:
		for _, s := range distinctStatuses(f.Statuses) {
			r := newArm(a)
			r.b.add("e.status = ? AND "+statusIndexWhere, string(s))
			arms = append(arms, r)
		}
	case byTask:
		for _, task := range distinct(f.TaskIDs) {
			r := newArm(a)
			r.b.add("e.task_id = ?", task)
			arms = append(arms, r)
		}
	default:
		arms = append(arms, newArm(a))
	}
	if finishedBound(p) {
		for _, r := range arms {
			r.b.add(r.col+".created_at < ?", microsCeil(f.FinishedTo))
		}
	}
	if finishedBound(p) && early {
		early := &arm{from: "durable_executions AS e INDEXED BY durable_executions_finished_early", col: "e"}
		filterConds(&early.b, f, byCreated, "e")
		early.b.add("e.finished_at < e.created_at AND e.created_at >= ?", microsCeil(f.FinishedTo))
		after(&early.b, "e")
		arms = append(arms, early)
	}
	var q strings.Builder
	var args []any
	limit := int64(p.Limit)
	for i, r := range arms {
		if len(arms) > 1 {
			if i > 0 {
				q.WriteString(" UNION ALL ")
			}
			q.WriteString("SELECT * FROM (")
		}
		q.WriteString("SELECT " + listColumns + " FROM " + r.from + r.b.where() +
			" ORDER BY " + r.col + ".created_at" + dir + ", " + r.col + ".id" + dir + " LIMIT ?")
		args = append(append(args, r.b.args...), limit)
		if len(arms) > 1 {
			q.WriteString(")")
		}
	}
	if len(arms) > 1 {
		q.WriteString(" ORDER BY created_at" + dir + ", id" + dir + " LIMIT ?")
		args = append(args, limit)
	}
	return q.String(), args
}

// countQuery returns the statement of a count and its arguments. It reads
// every matching row, through the index of the filter's narrowest field
// when it has one (as a list does, without arms: IN on the index's first
// column), else the whole table.
func countQuery(p *storage.CountParams) (string, []any) {
	f := &p.Filter
	a := chooseAccess(f)
	var b sqlBuilder
	b.args = append(b.args, micros(p.Now))
	fromClause, col := from(a)
	switch a {
	case byCreated:
		// No order to keep: the table in rowid order (SQLite would walk
		// the task index for the GROUP BY, reading the rows in random
		// order), or the created index for a range of CreatedFrom/To.
		fromClause = "durable_executions AS e NOT INDEXED"
		if !f.CreatedFrom.IsZero() || !f.CreatedTo.IsZero() {
			fromClause = "durable_executions AS e INDEXED BY durable_executions_created"
		}
	case byStatus:
		ss := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			ss[i] = string(s)
		}
		b.add("e.status IN (SELECT value FROM json_each(?)) AND "+statusIndexWhere, jsonStrings(ss))
	case byTask:
		b.add("e.task_id IN (SELECT value FROM json_each(?))", jsonStrings(f.TaskIDs))
	}
	filterConds(&b, f, a, col)
	return "SELECT e.task_id, e.status, count(*), min(CASE WHEN e.due_at <= ? THEN e.due_at END) FROM " +
		fromClause + b.where() + " GROUP BY e.task_id, e.status ORDER BY e.task_id, e.status", b.args
}

// keysetBound returns the condition on (created_at, id) of the rows after
// key k in a list: the operator and the key, in stored form. Stored times
// are whole microseconds; a key between two (from another store, or made
// by hand) compares as the next whole microsecond with the empty ID,
// which no row has: rows at or before the previous one come before it,
// rows from the next one on after it.
func keysetBound(k *storage.ListKey, desc bool) (int64, string, string) {
	c := micros(k.CreatedAt)
	if k.CreatedAt.Nanosecond()%1000 == 0 {
		if desc {
			return c, "<", k.ID
		}
		return c, ">", k.ID
	}
	if desc {
		return c + 1, "<", ""
	}
	return c + 1, ">=", ""
}

// microsCeil returns t in microseconds, rounded up: stored times are
// whole microseconds, so a stored time is >= t (or < t) exactly when it
// is >= (or <) microsCeil(t).
func microsCeil(t time.Time) int64 {
	c := micros(t)
	if t.Nanosecond()%1000 != 0 {
		c++
	}
	return c
}

func distinctStatuses(ss []storage.Status) []storage.Status {
	var out []storage.Status
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
