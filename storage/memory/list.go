package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

var _ storage.Lister = (*Store)(nil)

// compareKey orders a row against a list key: by CreatedAt, then ID as
// bytes.
func compareKey(r *row, k storage.ListKey) int {
	if c := r.e.CreatedAt.Compare(k.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(r.e.ID, k.ID)
}

func compareRows(a, b *row) int { return compareKey(a, storage.KeyOf(&b.e)) }

// addCreated records a new row in s.byCreated, in list-key order. Rows
// mostly come in key order (CreatedAt is the insert's now), so this is
// usually an append.
func (s *Store) addCreated(r *row) {
	n := len(s.byCreated)
	if n == 0 || compareRows(s.byCreated[n-1], r) < 0 {
		s.byCreated = append(s.byCreated, r)
		return
	}
	i, _ := slices.BinarySearchFunc(s.byCreated, r, compareRows)
	s.byCreated = slices.Insert(s.byCreated, i, r)
}

// List returns a page of executions; see [storage.Lister]. It scans rows
// in list order from the page's start, or, when the filter names IDs, a
// parent or a root, only those rows.
func (s *Store) List(ctx context.Context, p storage.ListParams) ([]storage.Execution, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("memory: list: %w", err)
	}
	if err := s.lock(ctx, "list"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	m := newMatcher(&p.Filter)
	var out []storage.Execution
	s.scan(s.candidates(&p.Filter), p.Order, p.After, func(r *row) bool {
		if m.match(&r.e) {
			out = append(out, listCopy(&r.e))
		}
		return len(out) < p.Limit
	})
	if out == nil {
		out = []storage.Execution{}
	}
	return out, nil
}

// listCopy returns what List returns of a row: a copy without its
// payloads and attempts.
func listCopy(e *storage.Execution) storage.Execution {
	c := *e
	c.Input, c.Output, c.RunOutput, c.Attempts = nil, nil, nil, nil
	c.Error = cloneError(e.Error)
	c.Tags = cloneTags(e.Tags)
	if len(e.Metadata) == 0 {
		c.Metadata = nil
	}
	return c
}

// candidates returns rows in list-key order that include every row the
// filter can match: the rows it names by ID, the children of its parent,
// the tree of its root, or else every row (s.byCreated itself, not to be
// changed by the caller).
func (s *Store) candidates(f *storage.ListFilter) []*row {
	var rows []*row
	switch {
	case len(f.IDs) > 0:
		seen := make(map[string]bool, len(f.IDs))
		for _, id := range f.IDs {
			if r := s.rows[id]; r != nil && !seen[id] {
				seen[id] = true
				rows = append(rows, r)
			}
		}
	case f.ParentID != "":
		rows = slices.Clone(s.children[f.ParentID])
	case f.RootID != "":
		rows = slices.Clone(s.byRoot[f.RootID])
	default:
		return s.byCreated
	}
	slices.SortFunc(rows, compareRows)
	return rows
}

// scan calls visit on the rows (in list-key order) strictly after the key
// after (if any) in order, until visit returns false.
func (s *Store) scan(rows []*row, order storage.Order, after *storage.ListKey, visit func(*row) bool) {
	if order == storage.OldestFirst {
		i := 0
		if after != nil {
			// The first row with a key above after.
			i, _ = slices.BinarySearchFunc(rows, *after, func(r *row, k storage.ListKey) int {
				if compareKey(r, k) <= 0 {
					return -1
				}
				return 1
			})
		}
		for ; i < len(rows); i++ {
			if !visit(rows[i]) {
				return
			}
		}
		return
	}
	i := len(rows) - 1
	if after != nil {
		// The last row with a key below after.
		j, _ := slices.BinarySearchFunc(rows, *after, compareKey)
		i = j - 1
	}
	for ; i >= 0; i-- {
		if !visit(rows[i]) {
			return
		}
	}
}

// matcher applies a list filter to rows.
type matcher struct {
	f        *storage.ListFilter
	ids      map[string]bool
	statuses []storage.Status
	tasks    map[string]bool
}

func newMatcher(f *storage.ListFilter) *matcher {
	m := &matcher{f: f, statuses: f.Statuses}
	if len(f.IDs) > 0 {
		m.ids = make(map[string]bool, len(f.IDs))
		for _, id := range f.IDs {
			m.ids[id] = true
		}
	}
	if len(f.TaskIDs) > 0 {
		m.tasks = make(map[string]bool, len(f.TaskIDs))
		for _, id := range f.TaskIDs {
			m.tasks[id] = true
		}
	}
	return m
}

func (m *matcher) match(e *storage.Execution) bool {
	f := m.f
	switch {
	case m.ids != nil && !m.ids[e.ID],
		len(m.statuses) > 0 && !slices.Contains(m.statuses, e.Status),
		m.tasks != nil && !m.tasks[e.TaskID],
		f.RootID != "" && e.RootID != f.RootID,
		f.ParentID != "" && e.ParentID != f.ParentID,
		f.TopLevel && e.ParentID != "",
		f.Tag != "" && !slices.Contains(e.Tags, f.Tag),
		!f.CreatedFrom.IsZero() && e.CreatedAt.Before(f.CreatedFrom),
		!f.CreatedTo.IsZero() && !e.CreatedAt.Before(f.CreatedTo):
		return false
	}
	if f.FinishedFrom.IsZero() && f.FinishedTo.IsZero() {
		return true
	}
	return !e.FinishedAt.IsZero() &&
		(f.FinishedFrom.IsZero() || !e.FinishedAt.Before(f.FinishedFrom)) &&
		(f.FinishedTo.IsZero() || e.FinishedAt.Before(f.FinishedTo))
}

// Count counts the executions matching the filter by task and status; see
// [storage.Lister]. It scans the rows the filter can match.
func (s *Store) Count(ctx context.Context, p storage.CountParams) ([]storage.Count, error) {
	if err := p.Filter.Validate(); err != nil {
		return nil, fmt.Errorf("memory: count: %w", err)
	}
	if err := s.lock(ctx, "count"); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	type group struct {
		task   string
		status storage.Status
	}
	now := dbTime(p.Now)
	m := newMatcher(&p.Filter)
	groups := map[group]*storage.Count{}
	for _, r := range s.candidates(&p.Filter) {
		e := &r.e
		if !m.match(e) {
			continue
		}
		g := groups[group{e.TaskID, e.Status}]
		if g == nil {
			g = &storage.Count{TaskID: e.TaskID, Status: e.Status}
			groups[group{e.TaskID, e.Status}] = g
		}
		g.N++
		if due := e.DueAt; !due.IsZero() && !due.After(now) && (g.OldestDueAt.IsZero() || due.Before(g.OldestDueAt)) {
			g.OldestDueAt = due
		}
	}
	out := make([]storage.Count, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b storage.Count) int {
		if c := strings.Compare(a.TaskID, b.TaskID); c != 0 {
			return c
		}
		return strings.Compare(string(a.Status), string(b.Status))
	})
	return out, nil
}

// Delete deletes whole trees of finished executions, all or nothing; see
// [storage.Lister]. It checks every named tree before deleting any, then
// removes the rows from every index (s.byCreated in one pass).
func (s *Store) Delete(ctx context.Context, p storage.DeleteParams) (int, error) {
	if err := p.Validate(); err != nil {
		return 0, fmt.Errorf("memory: delete: %w", err)
	}
	if err := s.lock(ctx, "delete"); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(p.IDs))
	var roots []*row
	for _, id := range p.IDs {
		if seen[id] {
			continue
		}
		r := s.rows[id]
		if err := s.deletable(id, r); err != nil {
			return 0, fmt.Errorf("memory: delete: %w", err)
		}
		seen[id] = true
		roots = append(roots, r)
	}
	return s.removeTrees(roots), nil
}

// removeTrees removes deletable roots with their trees from the table and
// every index, and returns the number of rows removed.
func (s *Store) removeTrees(roots []*row) int {
	if len(roots) == 0 {
		return 0
	}
	deleted := make(map[*row]bool)
	for _, root := range roots {
		for _, r := range append([]*row{root}, s.byRoot[root.e.ID]...) {
			deleted[r] = true
			s.removeRow(r)
		}
		delete(s.byRoot, root.e.ID)
	}
	s.byCreated = slices.DeleteFunc(s.byCreated, func(r *row) bool { return deleted[r] })
	return len(deleted)
}

// deletable checks that id names a top-level, terminal row whose whole
// tree is terminal.
func (s *Store) deletable(id string, r *row) error {
	switch {
	case r == nil:
		return fmt.Errorf("execution %q: %w", id, storage.ErrNotFound)
	case r.e.ParentID != "" || r.e.RootID != "":
		return fmt.Errorf("execution %q is a child of %q (delete its root %q): %w",
			id, r.e.ParentID, r.e.RootID, storage.ErrNotDeletable)
	case !r.e.Status.Terminal():
		return fmt.Errorf("execution %q is %s, not finished: %w", id, r.e.Status, storage.ErrNotDeletable)
	}
	for _, d := range s.byRoot[id] {
		if !d.e.Status.Terminal() {
			return fmt.Errorf("execution %q has descendant %q that is %s, not finished: %w",
				id, d.e.ID, d.e.Status, storage.ErrNotDeletable)
		}
	}
	return nil
}

// removeRow removes a row from the table and from every index but
// s.byCreated and s.byRoot, which removeTrees updates once per call.
func (s *Store) removeRow(r *row) {
	delete(s.rows, r.e.ID)
	if r.e.SleepKey != "" && s.bySleepKey[r.e.SleepKey] == r {
		delete(s.bySleepKey, r.e.SleepKey)
	}
	if r.e.ActiveKey != "" && s.byActiveKey[r.e.ActiveKey] == r {
		delete(s.byActiveKey, r.e.ActiveKey)
	}
	delete(s.children, r.e.ID)
	if r.heapIdx >= 0 {
		s.setDue(r, time.Time{})
	}
}
