package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/durable-go/durable/storage"
)

var _ storage.Lister = (*Store)(nil)

// maxTaskBranches is the most tasks a List filter may name and still be
// listed as the merge of a page per task (see shape.branches); a filter
// on more tasks is one query, left to the planner.
const maxTaskBranches = 16

// statusSet is a set of statuses: bit i stands for storage.AllStatuses[i].
type statusSet uint16

func setOf(ss ...storage.Status) statusSet {
	var set statusSet
	for i, s := range storage.AllStatuses {
		if slices.Contains(ss, s) {
			set |= 1 << i
		}
	}
	return set
}

// The classes of statuses whose rows List reads from different indexes
// (002_list.sql): the active ones from executions_claim_idx (005_queues) and
// executions_waiting_idx, the others from executions_completed_idx and
// executions_unsuccessful_idx.
var (
	activeSet = setOf(storage.StatusReady, storage.StatusRunning,
		storage.StatusWaitingForChildren, storage.StatusWaitingForFinalize)
	completedSet    = setOf(storage.StatusCompleted)
	unsuccessfulSet = setOf(storage.StatusFailed, storage.StatusTimedOut, storage.StatusChildrenFailed,
		storage.StatusFinalizeFailed, storage.StatusCancelled)
	terminalSet = completedSet | unsuccessfulSet
)

// sql is the SQL list of the statuses of set, "" for none. Statuses are
// constants, so they are inlined: the planner then sees which partial
// index a query may read.
func (set statusSet) sql() string {
	var quoted []string
	for i, s := range storage.AllStatuses {
		if set&(1<<i) != 0 {
			quoted = append(quoted, "'"+string(s)+"'")
		}
	}
	if len(quoted) == 0 {
		return ""
	}
	return "(" + strings.Join(quoted, ", ") + ")"
}

// shape is what the SQL of one List or Count depends on: which filter
// fields are set (not their values, which are parameters, except the
// statuses), the order and the cursor's comparison.
type shape struct {
	// Count: a Count; Expired: a DeleteExpired (expire.go); else a List.
	Count, Expired                                   bool
	Tag, IDs, RootID, ParentID, TopLevel             bool
	CreatedFrom, CreatedTo, FinishedFrom, FinishedTo bool
	// Statuses are the filter's; 0 when it has none.
	Statuses statusSet
	// TaskAny: the filter's tasks are one parameter, @task_ids; else
	// there are Tasks of them, @task_0, @task_1, ...
	TaskAny bool
	Tasks   int
	// After is the cursor's comparison ("<", ">" or ">="), "" for none.
	After string
	Desc  bool
}

// branch is the part of a query's WHERE clause that differs between the
// branches of a List (see "list_where" in queries.sql).
type branch struct {
	// Statuses is the SQL list of the branch's statuses, "" for any.
	Statuses string
	// Due is the branch's condition on due_at ("IS NULL", "IS NOT
	// NULL"), "" for none.
	Due string
	// TaskAny: the task is one of @task_ids; TaskIn: the SQL list of the
	// parameters of the tasks the task is one of, "" for any.
	TaskAny bool
	TaskIn  string
}

// branches returns the branches of a List: the page is the merge of a
// page of each, and each reads one index (see "list" in queries.sql).
//
//   - A filter on a tag, IDs, a parent or a root is one branch: its rows
//     are read from the tags table (in order), the primary key, the
//     parent index or the root index (in order).
//   - Else, when the filter wants finished rows: a branch for the
//     completed ones (executions_completed_idx) and one for the others
//     (executions_unsuccessful_idx), in order; or, with tasks, one for
//     the finished rows of each task (executions_task_idx).
//   - And when it wants active rows: a branch for those that wait for
//     nothing (due_at NULL: executions_waiting_idx, in order) and one
//     for the others (executions_claim_idx, read whole and sorted: they
//     are the rows that need an executor).
func (sh shape) branches() []branch {
	var taskIn []string
	for i := range sh.Tasks {
		taskIn = append(taskIn, fmt.Sprintf("@task_%d::text", i))
	}
	if sh.Count || sh.TaskAny || sh.Tag || sh.IDs || sh.ParentID || sh.RootID {
		return []branch{{Statuses: sh.Statuses.sql(), TaskAny: sh.TaskAny, TaskIn: strings.Join(taskIn, ", ")}}
	}
	want := sh.Statuses
	if want == 0 {
		want = activeSet | terminalSet
	}
	var bs []branch
	if a := want & activeSet; a != 0 {
		all := strings.Join(taskIn, ", ")
		bs = append(bs, branch{Statuses: a.sql(), Due: "IS NULL", TaskIn: all},
			branch{Statuses: a.sql(), Due: "IS NOT NULL", TaskIn: all})
	}
	switch t := want & terminalSet; {
	case t == 0:
	case sh.Tasks > 0:
		for _, task := range taskIn {
			bs = append(bs, branch{Statuses: t.sql(), TaskIn: task})
		}
	default:
		for _, class := range []statusSet{completedSet, unsuccessfulSet} {
			if c := t & class; c != 0 {
				bs = append(bs, branch{Statuses: c.sql()})
			}
		}
	}
	return bs
}

// shapeData is a shape as the templates of queries.sql read it.
type shapeData struct {
	queryData
	shape
	// K is the alias of the list key's columns; Dir the order's keyword.
	K, Dir string
	// B is the branch this data renders; Branches a List's.
	B        branch
	Branches []shapeData
}

// shapeCache holds the SQL of the shapes a store has used.
type shapeCache struct {
	mu  sync.Mutex
	sql map[shape]string
}

// maxShapes bounds a store's shape cache; past it the cache starts over.
const maxShapes = 512

// shapeSQL returns the SQL of sh, rendered once per store.
func (q *queries) shapeSQL(sh shape) (string, error) {
	q.shapes.mu.Lock()
	defer q.shapes.mu.Unlock()
	if sql, ok := q.shapes.sql[sh]; ok {
		return sql, nil
	}
	d := shapeData{queryData: q.data, shape: sh, K: "t", Dir: "ASC"}
	if sh.Tag {
		d.K = "g"
	}
	if sh.Desc {
		d.Dir = "DESC"
	}
	bs := sh.branches()
	name := "count"
	switch {
	case sh.Expired:
		name, d.B = "delete_expired", branch{Statuses: sh.Statuses.sql()}
	case sh.Count:
		d.B = bs[0]
	default:
		name = "list"
		for _, b := range bs {
			bd := d
			bd.B = b
			d.Branches = append(d.Branches, bd)
		}
	}
	var b strings.Builder
	if err := queryTemplates.ExecuteTemplate(&b, name, d); err != nil {
		return "", fmt.Errorf("render query %s: %w", name, err)
	}
	if q.shapes.sql == nil || len(q.shapes.sql) >= maxShapes {
		q.shapes.sql = make(map[shape]string)
	}
	q.shapes.sql[sh] = b.String()
	return b.String(), nil
}

// ceilMicro returns t rounded up to the microsecond, the precision of the
// stored times: created_at >= t (or < t) holds exactly when created_at >=
// ceilMicro(t) (or < it).
func ceilMicro(t time.Time) time.Time {
	c := t.Truncate(time.Microsecond)
	if c.Equal(t) {
		return c
	}
	return c.Add(time.Microsecond)
}

// filterShape returns the shape and arguments of the filter's conditions,
// for a Count or a List (count).
func filterShape(f *storage.ListFilter, count bool) (shape, namedArgs) {
	sh := shape{Count: count}
	args := namedArgs{}
	if f.Tag != "" {
		sh.Tag, args["tag"] = true, f.Tag
	}
	if len(f.IDs) > 0 {
		sh.IDs, args["ids"] = true, f.IDs
	}
	sh.Statuses = setOf(f.Statuses...)
	if f.RootID != "" {
		sh.RootID, args["root_id"] = true, f.RootID
	}
	if f.ParentID != "" {
		sh.ParentID, args["parent_id"] = true, f.ParentID
	}
	sh.TopLevel = f.TopLevel
	tasks := distinct(f.TaskIDs)
	switch {
	case len(tasks) == 0:
	case count || sh.Tag || sh.IDs || sh.RootID || sh.ParentID || len(tasks) > maxTaskBranches:
		sh.TaskAny, args["task_ids"] = true, tasks
	default:
		sh.Tasks = len(tasks)
		for i, task := range tasks {
			args[fmt.Sprintf("task_%d", i)] = task
		}
	}
	for _, b := range []struct {
		set  *bool
		name string
		t    time.Time
	}{
		{&sh.CreatedFrom, "created_from", f.CreatedFrom}, {&sh.CreatedTo, "created_to", f.CreatedTo},
		{&sh.FinishedFrom, "finished_from", f.FinishedFrom}, {&sh.FinishedTo, "finished_to", f.FinishedTo},
	} {
		if !b.t.IsZero() {
			*b.set, args[b.name] = true, ceilMicro(b.t)
		}
	}
	return sh, args
}

// distinct returns ss without repeats, in their first order.
func distinct(ss []string) []string {
	if len(ss) < 2 {
		return ss
	}
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// List returns a page of executions matching p.Filter in p.Order, after
// p.After when set, without their payloads and attempts. It is one
// statement per filter shape (prepared once per connection), planned for
// the values of its parameters (custom_plans, sent before it in one round
// trip): the merge of the branches of shape.branches. A page of finished
// rows reads about as many index entries as it returns rows (more when
// most rows a branch reads fail the filter's other conditions); the
// active rows that need an executor (ready, running) are read whole from
// executions_claim_idx and sorted, as are a parent's children and the rows
// of a list of IDs.
func (s *Store) List(ctx context.Context, p storage.ListParams) ([]storage.Execution, error) {
	if err := s.check("list"); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("postgres: list: %w", err)
	}
	sh, args := filterShape(&p.Filter, false)
	sh.Desc = p.Order == storage.NewestFirst
	args["limit"] = p.Limit
	if p.After != nil {
		at, op := p.After.CreatedAt, ">"
		if sh.Desc {
			op = "<"
		}
		if c := ceilMicro(at); !c.Equal(at) {
			// No stored time lies between at and c: the rows after the key
			// are those before (c, "") when newest first, else those from
			// (c, "") on.
			at, args["after_id"] = c, ""
			if !sh.Desc {
				op = ">="
			}
		} else {
			args["after_id"] = p.After.ID
		}
		sh.After, args["after_at"] = op, at
	}
	sql, err := s.q.shapeSQL(sh)
	if err != nil {
		return nil, fmt.Errorf("postgres: list: %w", err)
	}
	var out []storage.Execution
	err = withRetry(ctx, func() error {
		batch := &pgx.Batch{}
		batch.Queue(s.q.customPlans)
		batch.Queue(sql, args).Query(func(rows pgx.Rows) error {
			var err error
			out, err = collectExecutions(rows)
			return err
		})
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return nil, wrapErr("list", err)
	}
	return out, nil
}

// Count counts the executions matching p.Filter by task and status. It
// reads every matching row (from the index that serves the filter, else
// the table).
func (s *Store) Count(ctx context.Context, p storage.CountParams) ([]storage.Count, error) {
	if err := s.check("count"); err != nil {
		return nil, err
	}
	if err := p.Filter.Validate(); err != nil {
		return nil, fmt.Errorf("postgres: count: %w", err)
	}
	sh, args := filterShape(&p.Filter, true)
	args["now"] = s.now(p.Now)
	sql, err := s.q.shapeSQL(sh)
	if err != nil {
		return nil, fmt.Errorf("postgres: count: %w", err)
	}
	var out []storage.Count
	err = withRetry(ctx, func() error {
		batch := &pgx.Batch{}
		batch.Queue(s.q.customPlans)
		batch.Queue(sql, args).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Count, error) {
				var c storage.Count
				var status string
				var oldest pgtype.Timestamptz
				err := row.Scan(&c.TaskID, &status, &c.N, &oldest)
				c.Status, c.OldestDueAt = storage.Status(status), fromTS(oldest)
				return c, err
			})
			return err
		})
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return nil, wrapErr("count", err)
	}
	return out, nil
}

// Delete deletes the trees of the top-level terminal executions p.IDs, all
// or nothing, in one statement ("delete" in queries.sql): it locks the
// roots, checks them and their trees, and deletes every row of the trees
// (found by executions_root_idx) with its tags. It locks no row that an
// executor may need: only terminal rows.
func (s *Store) Delete(ctx context.Context, p storage.DeleteParams) (int, error) {
	if err := s.check("delete"); err != nil {
		return 0, err
	}
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("postgres: delete: %w", err)
	}
	var id, what, detail pgtype.Text
	var n, untagged int64
	err := withRetry(ctx, func() error {
		batch := &pgx.Batch{}
		batch.Queue(s.q.deleteSettings)
		batch.Queue(s.q.deleteTrees, namedArgs{"ids": p.IDs}).QueryRow(func(row pgx.Row) error {
			return row.Scan(&id, &what, &detail, &n, &untagged)
		})
		return s.pool.SendBatch(ctx, batch).Close()
	})
	if err != nil {
		return 0, wrapErr("delete", err)
	}
	if what.Valid {
		return 0, deleteProblem(id.String, what.String, detail.String)
	}
	return int(n), nil
}

// deleteProblem is the error of a Delete refused for the reason what (see
// "delete" in queries.sql).
func deleteProblem(id, what, detail string) error {
	switch what {
	case "unknown":
		return fmt.Errorf("postgres: delete: execution %q: %w", id, storage.ErrNotFound)
	case "child":
		return fmt.Errorf("postgres: delete: execution %q is a child of %q (delete its root): %w", id, detail, storage.ErrNotDeletable)
	case "active":
		return fmt.Errorf("postgres: delete: execution %q is %s, not finished: %w", id, detail, storage.ErrNotDeletable)
	case "active descendant":
		return fmt.Errorf("postgres: delete: the tree of execution %q holds %s, not finished: %w", id, detail, storage.ErrNotDeletable)
	}
	return errors.New("postgres: delete: unexpected refusal " + what)
}
