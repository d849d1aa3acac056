package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

var _ storage.Lister = (*Store)(nil)

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

// filterSQL returns the FROM and WHERE clauses of a filter, their
// arguments, and the alias whose created_at and id are the list key (g,
// the tags table, when the filter has a tag: its primary key is in list
// order; else t).
func filterSQL(q *queries, f *storage.ListFilter) (from, where string, args []any, k string) {
	var conds []string
	from, k = q.data.T+" AS t", "t"
	if f.Tag != "" {
		from, k = q.data.Tags+" AS g JOIN "+q.data.T+" AS t ON t.id = g.id", "g"
		conds, args = append(conds, "g.tag = ?"), append(args, f.Tag)
	}
	in := func(col string, vals []string) {
		conds = append(conds, col+" IN "+placeholders(len(vals)))
		args = append(args, stringArgs(vals)...)
	}
	if len(f.IDs) > 0 {
		in("t.id", f.IDs)
	}
	if len(f.Statuses) > 0 {
		ss := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			ss[i] = string(s)
		}
		in("t.status", ss)
	}
	if len(f.TaskIDs) > 0 {
		in("t.task_id", f.TaskIDs)
	}
	if f.RootID != "" {
		conds, args = append(conds, "t.root_id = ? AND t.root_id <> ''"), append(args, f.RootID)
	}
	if f.ParentID != "" {
		conds, args = append(conds, "t.parent_id = ?"), append(args, f.ParentID)
	}
	if f.TopLevel {
		conds = append(conds, "t.parent_id IS NULL")
	}
	for _, b := range []struct {
		cond string
		t    time.Time
	}{
		{k + ".created_at >= ?", f.CreatedFrom}, {k + ".created_at < ?", f.CreatedTo},
		{"t.finished_at >= ?", f.FinishedFrom}, {"t.finished_at < ?", f.FinishedTo},
	} {
		if !b.t.IsZero() {
			conds, args = append(conds, b.cond), append(args, micros(ceilMicro(b.t)))
		}
	}
	where = "WHERE TRUE"
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	return from, where, args, k
}

// List returns a page of executions matching p.Filter in p.Order, after
// p.After when set, without their payloads and attempts: one statement,
// keyset by (created_at, id), which MySQL reads from the index that
// serves the filter (the created, task or root index, the tags table's
// primary key), or the table.
func (s *Store) List(ctx context.Context, p storage.ListParams) ([]storage.Execution, error) {
	if err := s.check("list"); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("mysql: list: %w", err)
	}
	from, where, args, k := filterSQL(s.q, &p.Filter)
	dir, op := "ASC", ">"
	if p.Order == storage.NewestFirst {
		dir, op = "DESC", "<"
	}
	if p.After != nil {
		at, id := p.After.CreatedAt, p.After.ID
		if c := ceilMicro(at); !c.Equal(at) {
			// No stored time lies between at and c: the rows after the key
			// are those before (c, "") when newest first, else those from
			// (c, "") on.
			at, id = c, ""
			if op == ">" {
				where += fmt.Sprintf(" AND %s.created_at >= ?", k)
				args = append(args, micros(at))
				at = time.Time{}
			}
		}
		if !at.IsZero() {
			where += fmt.Sprintf(" AND (%[1]s.created_at %[2]s ? OR (%[1]s.created_at = ? AND %[1]s.id %[2]s ?))", k, op)
			args = append(args, micros(at), micros(at), id)
		}
	}
	var b strings.Builder
	queryTemplates.ExecuteTemplate(&b, "list_cols", nil) //nolint:errcheck // tested
	stmt := fmt.Sprintf("SELECT %s FROM %s %s ORDER BY %[4]s.created_at %[5]s, %[4]s.id %[5]s LIMIT ?",
		b.String(), from, where, k, dir)
	args = append(args, p.Limit)
	var out []storage.Execution
	err := s.withRetry(ctx, func() error {
		rows, err := s.db.QueryContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		out, _, err = scanExecutions(rows)
		return err
	})
	if err != nil {
		return nil, s.wrapErr("list", err)
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
		return nil, fmt.Errorf("mysql: count: %w", err)
	}
	from, where, args, _ := filterSQL(s.q, &p.Filter)
	stmt := fmt.Sprintf("SELECT t.task_id, t.status, count(*), min(CASE WHEN t.due_at <= %s THEN t.due_at END) FROM %s %s "+
		"GROUP BY t.task_id, t.status ORDER BY t.task_id, t.status", s.q.data.Now, from, where)
	args = append([]any{s.nowArg(p.Now)}, args...)
	var out []storage.Count
	err := s.withRetry(ctx, func() error {
		out = nil
		rows, err := s.db.QueryContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c storage.Count
			var status string
			var oldest sql.NullInt64
			if err := rows.Scan(&c.TaskID, &status, &c.N, &oldest); err != nil {
				return err
			}
			c.Status, c.OldestDueAt = storage.Status(status), fromMicros(oldest)
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.wrapErr("count", err)
	}
	return out, nil
}

// treeRow is a row Delete reads.
type treeRow struct {
	seq                  int64
	id, parentID, rootID string
	status               storage.Status
	createdAt            int64
	tags                 []string
}

// Delete deletes the trees of the top-level terminal executions p.IDs, all
// or nothing, in one transaction: it locks the roots, checks them and
// their trees (read from the root index), and deletes every row of the
// trees with its tags. It locks no row that an executor may need: only
// terminal rows.
func (s *Store) Delete(ctx context.Context, p storage.DeleteParams) (int, error) {
	if err := s.check("delete"); err != nil {
		return 0, err
	}
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("mysql: delete: %w", err)
	}
	ids := slices.Clone(p.IDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var n int
	var refused error
	err := s.withTx(ctx, func(tx *pipe) error {
		n, refused = 0, nil
		roots, err := s.readTree(ctx, tx, "t.id IN %s ORDER BY t.id FOR UPDATE", ids)
		if err != nil {
			return err
		}
		if refused = deleteProblem(ids, roots); refused != nil {
			return nil
		}
		desc, err := s.readTree(ctx, tx, "t.root_id IN %s AND t.root_id <> ''", ids)
		if err != nil {
			return err
		}
		for _, d := range desc {
			if !d.status.Terminal() {
				refused = fmt.Errorf("mysql: delete: the tree of execution %q holds %s is %s, not finished: %w",
					d.rootID, d.id, d.status, storage.ErrNotDeletable)
				return nil
			}
		}
		n = len(roots) + len(desc)
		return s.deleteRows(ctx, tx, append(roots, desc...))
	})
	if err != nil {
		return 0, s.wrapErr("delete", err)
	}
	if refused != nil {
		return 0, refused
	}
	return n, nil
}

// deleteRows deletes rows with their tag rows.
func (s *Store) deleteRows(ctx context.Context, tx *pipe, rows []treeRow) error {
	if err := s.deleteTags(ctx, tx, rows); err != nil {
		return err
	}
	seqs := make([]int64, len(rows))
	for i, r := range rows {
		seqs[i] = r.seq
	}
	for chunk := range slices.Chunk(seqs, lockChunk) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+s.q.data.T+" WHERE seq IN "+placeholders(len(chunk)),
			int64Args(chunk)...); err != nil {
			return err
		}
	}
	return nil
}

// readTree reads the rows that cond (with %s for the list of ids) selects.
func (s *Store) readTree(ctx context.Context, tx *pipe, cond string, ids []string) ([]treeRow, error) {
	var out []treeRow
	for chunk := range slices.Chunk(ids, lockChunk) {
		stmt := "SELECT t.seq, t.id, t.parent_id, t.root_id, t.status, t.created_at, t.tags FROM " + s.q.data.T +
			" AS t WHERE " + fmt.Sprintf(cond, placeholders(len(chunk)))
		rows, err := tx.QueryContext(ctx, stmt, stringArgs(chunk)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r treeRow
			var parentID sql.NullString
			var status string
			var tags []byte
			if err := rows.Scan(&r.seq, &r.id, &parentID, &r.rootID, &status, &r.createdAt, &tags); err != nil {
				rows.Close()
				return nil, err
			}
			r.parentID, r.status, r.tags = parentID.String, storage.Status(status), decodeTags(tags)
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deleteProblem is the error of a Delete of ids (sorted) whose rows are
// roots: an unknown id first, then a child or an unfinished root; nil when
// every root may go.
func deleteProblem(ids []string, roots []treeRow) error {
	byID := make(map[string]treeRow, len(roots))
	for _, r := range roots {
		byID[r.id] = r
	}
	for _, id := range ids {
		if _, ok := byID[id]; !ok {
			return fmt.Errorf("mysql: delete: execution %q: %w", id, storage.ErrNotFound)
		}
	}
	for _, id := range ids {
		r := byID[id]
		switch {
		case r.parentID != "":
			return fmt.Errorf("mysql: delete: execution %q is a child of %q (delete its root): %w", id, r.parentID, storage.ErrNotDeletable)
		case !r.status.Terminal():
			return fmt.Errorf("mysql: delete: execution %q is %s, not finished: %w", id, r.status, storage.ErrNotDeletable)
		}
	}
	return nil
}

// deleteTags deletes the tag rows of rows.
func (s *Store) deleteTags(ctx context.Context, tx *pipe, rows []treeRow) error {
	var conds []string
	var args []any
	flush := func() error {
		if len(conds) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM "+s.q.data.Tags+" WHERE "+strings.Join(conds, " OR "), args...)
		conds, args = conds[:0], args[:0]
		return err
	}
	for _, r := range rows {
		for _, tag := range r.tags {
			conds = append(conds, "(tag = ? AND created_at = ? AND id = ?)")
			args = append(args, tag, r.createdAt, r.id)
			if len(conds) >= lockChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}
