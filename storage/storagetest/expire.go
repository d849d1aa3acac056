package storagetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/durable-go/durable/storage"
)

// This file checks DeleteExpired (storage.Lister), retention's delete.

// deleteExpired runs DeleteExpired and fails the test on an error or on a
// result that does not match want (Kept compared as a set).
func (b *bundle) deleteExpired(what string, p storage.DeleteExpiredParams, want storage.DeleteExpiredResult) storage.DeleteExpiredResult {
	b.t.Helper()
	got, err := b.lister().DeleteExpired(b.ctx, p)
	if err != nil {
		b.t.Fatalf("%s: DeleteExpired: %v", what, err)
	}
	kept := slices.Clone(got.Kept)
	slices.Sort(kept)
	if got.Roots != want.Roots || got.Rows != want.Rows || !slices.Equal(kept, want.Kept) ||
		!got.Last.CreatedAt.Equal(want.Last.CreatedAt) || got.Last.ID != want.Last.ID {
		b.t.Fatalf("%s: DeleteExpired returned %+v, want %+v", what, got, want)
	}
	return got
}

// finishedRow returns a top-level (or, with a parent, child) execution
// inserted already finished in status at finishedAt.
func finishedRow(id string, status storage.Status, finishedAt time.Time, parent *storage.Execution) storage.Execution {
	e := NewExecution(id, "task")
	if parent != nil {
		e = NewChild(*parent, id, "task", 0)
	}
	e.Status, e.StartedAt, e.FinishedAt = status, finishedAt, finishedAt
	if status == storage.StatusCompleted {
		e.Output = []byte(`"done"`)
	} else {
		e.Error = &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "failed on purpose"}
	}
	return e
}

// checkDeleteExpired deletes expired trees batch by batch, as a cleaner
// does: the oldest roots of the statuses asked, created and finished
// before the time given, each with its tree and tags; never a child on
// its own, an active row, a root finished at or after the time, or one of
// another status.
func checkDeleteExpired(b *bundle) {
	before := At(10 * time.Second)
	a1 := finishedRow("a1", storage.StatusCompleted, At(time.Second), nil)
	a1.Tags = []string{"tag-a1"}
	a1c := finishedRow("a1-c0", storage.StatusCompleted, At(time.Second), &a1)
	a1c.Tags = []string{"tag-a1"}
	b.insert(Base, nil, a1, a1c)
	// A waiting parent created first, with a completed child: neither is
	// an expired root.
	w := NewExecution("w", "task")
	w.Status = storage.StatusWaitingForChildren
	wc := finishedRow("w-c0", storage.StatusCompleted, At(time.Second), &w)
	b.insert(Base, nil, w, wc)
	rows := []struct {
		created time.Duration
		e       storage.Execution
	}{
		{time.Second, finishedRow("a2", storage.StatusFailed, At(2*time.Second), nil)},
		{2 * time.Second, finishedRow("a3", storage.StatusCompleted, At(3*time.Second), nil)},
		{3 * time.Second, finishedRow("a4", storage.StatusCompleted, At(20*time.Second), nil)}, // finished after
		{4 * time.Second, finishedRow("a5", storage.StatusCancelled, At(5*time.Second), nil)},
		{5 * time.Second, NewExecution("r", "task")}, // ready
		{6 * time.Second, finishedRow("a7", storage.StatusCompleted, At(8*time.Second), nil)},
		{9 * time.Second, finishedRow("edge", storage.StatusCompleted, before, nil)},              // finished at Before
		{12 * time.Second, finishedRow("late", storage.StatusCompleted, At(12*time.Second), nil)}, // created after
	}
	for _, r := range rows {
		b.insert(At(r.created), nil, r.e)
	}
	keep := b.snapshot("w", "w-c0", "a2", "a4", "a5", "r", "edge", "late")
	key := func(id string) storage.ListKey { e := b.get(id); return storage.KeyOf(&e) }
	k3, k7 := key("a3"), key("a7")
	completed := []storage.Status{storage.StatusCompleted}

	b.deleteExpired("the first batch of 2", storage.DeleteExpiredParams{Statuses: completed, Before: before, Limit: 2},
		storage.DeleteExpiredResult{Roots: 2, Rows: 3, Last: k3})
	b.requireGone("a1", "a1-c0", "a3")
	if got := b.list("by a deleted tree's tag", storage.ListParams{Filter: storage.ListFilter{Tag: "tag-a1"}, Limit: 10}); len(got) != 0 {
		b.t.Fatalf("List by the tag of a deleted tree: %v, want none", ids(got))
	}
	b.deleteExpired("the next batch, after the first", storage.DeleteExpiredParams{Statuses: completed, Before: before, After: &k3, Limit: 2},
		storage.DeleteExpiredResult{Roots: 1, Rows: 1, Last: k7})
	b.requireGone("a7")
	b.deleteExpired("after the last", storage.DeleteExpiredParams{Statuses: completed, Before: before, After: &k7, Limit: 2},
		storage.DeleteExpiredResult{})
	b.deleteExpired("from the start again", storage.DeleteExpiredParams{Statuses: completed, Before: before, Limit: 2},
		storage.DeleteExpiredResult{})
	for _, e := range keep {
		b.requireUnchanged(e)
	}

	b.deleteExpired("failed and cancelled", storage.DeleteExpiredParams{
		Statuses: []storage.Status{storage.StatusFailed, storage.StatusCancelled}, Before: before, Limit: 10},
		storage.DeleteExpiredResult{Roots: 2, Rows: 2, Last: key("a5")})
	b.requireGone("a2", "a5")
	// Before is exact below the microsecond the stores keep: a row
	// finished at 10 s finished before 10 s + 500 ns.
	b.deleteExpired("a Before between two microseconds", storage.DeleteExpiredParams{Statuses: completed,
		Before: before.Add(500 * time.Nanosecond), Limit: 10},
		storage.DeleteExpiredResult{Roots: 1, Rows: 1, Last: key("edge")})
	b.requireGone("edge")
	for _, e := range b.snapshot("w", "w-c0", "a4", "r", "late") {
		b.requireUnchanged(e)
	}
}

// checkDeleteExpiredInterleaved deletes, batch by batch, expired roots
// interleaved in list order with their children and with roots that are
// not taken (another status, not finished, finished too late): every
// batch takes exactly the limit until the last, which takes fewer; Last
// is the key of the last root taken; roots whose trees hold an active row
// are taken and named, not deleted.
func checkDeleteExpiredInterleaved(b *bundle) {
	before := At(time.Hour)
	var taken, gone, stay []string // taken in list order
	kept := map[string]bool{}
	rowsOf := map[string]int{} // the rows a taken root's tree has
	for i := range 70 {
		kind := i % 7
		if i < 10 {
			kind = 0 // a run of roots taken, longer than a batch
		}
		created := At(time.Duration(i) * time.Second)
		finished := created.Add(time.Millisecond)
		id := fmt.Sprintf("x%03d", i)
		var rows []storage.Execution
		switch kind {
		case 0: // alone
			rows = append(rows, finishedRow(id, storage.StatusCompleted, finished, nil))
			taken, gone, rowsOf[id] = append(taken, id), append(gone, id), 1
		case 1: // tagged
			r := finishedRow(id, storage.StatusCompleted, finished, nil)
			r.Tags = []string{"tag-x"}
			rows = append(rows, r)
			taken, gone, rowsOf[id] = append(taken, id), append(gone, id), 1
		case 2: // with two finished children, one tagged
			r := finishedRow(id, storage.StatusCompleted, finished, nil)
			c0 := finishedRow(id+"-c0", storage.StatusCompleted, finished, &r)
			c1 := finishedRow(id+"-c1", storage.StatusFailed, finished, &r)
			c1.Tags = []string{"tag-x"}
			rows = append(rows, r, c0, c1)
			taken, gone, rowsOf[id] = append(taken, id), append(gone, id, c0.ID, c1.ID), 3
		case 3: // another status
			rows = append(rows, finishedRow(id, storage.StatusFailed, finished, nil))
			stay = append(stay, id)
		case 4: // not finished
			rows = append(rows, NewExecution(id, "task"))
			stay = append(stay, id)
		case 5: // with a ready child: taken and kept
			r := finishedRow(id, storage.StatusCompleted, finished, nil)
			c0 := NewChild(r, id+"-c0", "task", 0)
			rows = append(rows, r, c0)
			taken, stay = append(taken, id), append(stay, id, c0.ID)
			kept[id] = true
		case 6: // finished after before
			rows = append(rows, finishedRow(id, storage.StatusCompleted, before, nil))
			stay = append(stay, id)
		}
		b.insert(created, nil, rows...)
	}
	unchanged := b.snapshot(stay...)
	const limit = 4
	var after *storage.ListKey
	for len(taken) > 0 {
		n := min(limit, len(taken))
		want := storage.DeleteExpiredResult{Roots: n}
		for _, id := range taken[:n] {
			if kept[id] {
				want.Kept = append(want.Kept, id)
				continue
			}
			want.Rows += rowsOf[id]
		}
		e := b.get(taken[n-1])
		want.Last = storage.KeyOf(&e)
		what := "the first batch"
		if after != nil {
			what = "the batch after " + after.ID
		}
		got := b.deleteExpired(what, storage.DeleteExpiredParams{
			Statuses: []storage.Status{storage.StatusCompleted}, Before: before, After: after, Limit: limit}, want)
		after, taken = &got.Last, taken[n:]
	}
	b.deleteExpired("after the last batch", storage.DeleteExpiredParams{
		Statuses: []storage.Status{storage.StatusCompleted}, Before: before, After: after, Limit: limit},
		storage.DeleteExpiredResult{})
	b.requireGone(gone...)
	for _, e := range unchanged {
		b.requireUnchanged(e)
	}
}

// checkDeleteExpiredKeepsActiveTrees takes terminal roots whose trees hold
// a row that is not terminal (insertActiveTrees): they are kept and named,
// and the other trees of the batch deleted.
func checkDeleteExpiredKeepsActiveTrees(b *bundle) {
	active := b.insertActiveTrees()
	b.insert(At(time.Second), nil, done("d", "task"))
	kept := b.snapshot(active...)
	d := b.get("d")

	b.deleteExpired("trees with active rows and one without", storage.DeleteExpiredParams{
		Statuses: []storage.Status{storage.StatusCompleted}, Before: At(time.Hour), Limit: 10},
		storage.DeleteExpiredResult{Roots: 3, Rows: 1, Last: storage.KeyOf(&d), Kept: []string{"t", "u"}})
	b.requireGone("d")
	for _, e := range kept {
		b.requireUnchanged(e)
	}
}

// checkDeleteExpiredInvalid gives params no store can apply: each gets an
// error, and nothing is deleted.
func checkDeleteExpiredInvalid(b *bundle) {
	b.insert(Base, nil, done("a", "task"))
	before := b.snapshot("a")
	valid := storage.DeleteExpiredParams{Statuses: []storage.Status{storage.StatusCompleted}, Before: At(time.Hour), Limit: 10}
	for _, c := range []struct {
		name string
		edit func(p *storage.DeleteExpiredParams)
	}{
		{"ZeroLimit", func(p *storage.DeleteExpiredParams) { p.Limit = 0 }},
		{"LimitAboveMaxDeleteIDs", func(p *storage.DeleteExpiredParams) { p.Limit = storage.MaxDeleteIDs + 1 }},
		{"NoStatuses", func(p *storage.DeleteExpiredParams) { p.Statuses = nil }},
		{"ActiveStatus", func(p *storage.DeleteExpiredParams) {
			p.Statuses = []storage.Status{storage.StatusCompleted, storage.StatusRunning}
		}},
		{"UnknownStatus", func(p *storage.DeleteExpiredParams) { p.Statuses = []storage.Status{"done"} }},
		{"ZeroBefore", func(p *storage.DeleteExpiredParams) { p.Before = time.Time{} }},
	} {
		p := valid
		c.edit(&p)
		got, err := b.lister().DeleteExpired(b.ctx, p)
		if err == nil {
			b.t.Fatalf("DeleteExpired with %s: want an error, got %+v", c.name, got)
		}
		if got.Rows != 0 || got.Roots != 0 {
			b.t.Fatalf("DeleteExpired with %s: returned %+v with its error, want nothing", c.name, got)
		}
		b.requireUnchanged(before[0])
	}
}
