package storagetest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// listChecks are the checks of the operator's part of the contract
// (storage/list.go): List, Count, Delete and DeleteExpired (storage.Lister), and the row
// fields that come with them (Attempts, Tags, RetryOf).
var listChecks = []check{
	{"CancelKeepsAttempts", checkCancelKeepsAttempts},
	{"ClaimReturnsAttempts", checkClaimReturnsAttempts},
	{"CompleteAttemptsReplaceHistory", checkCompleteAttempts},
	{"CompleteChildWithInvalidTags", checkCompleteChildInvalidTags},
	{"CountByTaskAndStatus", checkCount},
	{"CountInvalidFilter", checkCountInvalid},
	{"DeleteActiveRootNotDeletable", checkDeleteActiveRoot},
	{"DeleteChildNotDeletable", checkDeleteChild},
	{"DeleteFreesSleepKey", checkDeleteFreesSleepKey},
	{"DeleteInvalidParams", checkDeleteInvalid},
	{"DeleteTreeWithActiveDescendantNotDeletable", checkDeleteActiveDescendant},
	{"DeleteUnknownIDDeletesNothing", checkDeleteUnknown},
	{"DeleteWholeTrees", checkDeleteTrees},
	{"DeleteExpiredOldestFirstByBatch", checkDeleteExpired},
	{"DeleteExpiredKeepsTreesWithActiveRows", checkDeleteExpiredKeepsActiveTrees},
	{"DeleteExpiredInterleaved", checkDeleteExpiredInterleaved},
	{"DeleteExpiredInvalidParams", checkDeleteExpiredInvalid},
	{"InsertInvalidTags", checkInsertInvalidTags},
	{"InsertTagsRetryOfAttemptsRoundTrip", checkInsertTags},
	{"ListCopiesTagsAndAttempts", checkListCopies},
	{"ListFilterCombined", checkListFilterCombined},
	{"ListFilterEachField", checkListFilterFields},
	{"ListFilterTimeRanges", checkListFilterTimes},
	{"ListInvalidParams", checkListInvalid},
	{"ListOrderTiesByIDBytes", checkListOrder},
	{"ListPagingEveryRowOnce", checkListPaging},
	{"ListPagingWhileRowsChange", checkListPagingChanges},
	{"ListRowsWithoutPayloads", checkListRowFields},
}

// lister returns the store's listing part.
func (b *bundle) lister() storage.Lister { return b.s }

// list returns one page, failing the test on an error or an oversized page.
func (b *bundle) list(what string, p storage.ListParams) []storage.Execution {
	b.t.Helper()
	rows, err := b.lister().List(b.ctx, p)
	if err != nil {
		b.t.Fatalf("%s: List: %v", what, err)
	}
	if len(rows) > p.Limit {
		b.t.Fatalf("%s: List with limit %d returned %d rows", what, p.Limit, len(rows))
	}
	return rows
}

// listAll pages through every row matching f in order, limit rows a page,
// each page after the key of the previous page's last row, until a page
// comes back short.
func (b *bundle) listAll(what string, f storage.ListFilter, order storage.Order, limit int) []storage.Execution {
	b.t.Helper()
	var all []storage.Execution
	var after *storage.ListKey
	for range 1000 {
		rows := b.list(what, storage.ListParams{Filter: f, Order: order, After: after, Limit: limit})
		all = append(all, rows...)
		if len(rows) < limit {
			return all
		}
		k := storage.KeyOf(&rows[len(rows)-1])
		after = &k
	}
	b.t.Fatalf("%s: paging does not end", what)
	return nil
}

func (b *bundle) count(what string, now time.Time, f storage.ListFilter) []storage.Count {
	b.t.Helper()
	counts, err := b.lister().Count(b.ctx, storage.CountParams{Now: now, Filter: f})
	if err != nil {
		b.t.Fatalf("%s: Count: %v", what, err)
	}
	return counts
}

// delete deletes trees and returns the number of rows deleted.
func (b *bundle) delete(what string, ids ...string) int {
	b.t.Helper()
	n, err := b.lister().Delete(b.ctx, storage.DeleteParams{IDs: ids})
	if err != nil {
		b.t.Fatalf("%s: Delete(%v): %v", what, ids, err)
	}
	return n
}

// compareKeys orders list keys by CreatedAt, then ID as bytes.
func compareKeys(a, b storage.ListKey) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID) // Go compares strings as bytes
}

// inOrder reports whether key a comes strictly before key b in order.
func inOrder(order storage.Order, a, b storage.ListKey) bool {
	if order == storage.OldestFirst {
		return compareKeys(a, b) < 0
	}
	return compareKeys(a, b) > 0
}

// sortKeys sorts keys in order and returns their IDs.
func sortKeys(order storage.Order, keys []storage.ListKey) []string {
	keys = slices.Clone(keys)
	slices.SortFunc(keys, func(a, b storage.ListKey) int {
		if order == storage.OldestFirst {
			return compareKeys(a, b)
		}
		return compareKeys(b, a)
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.ID
	}
	return out
}

var orders = []storage.Order{storage.NewestFirst, storage.OldestFirst}

func orderName(o storage.Order) string {
	if o == storage.OldestFirst {
		return "OldestFirst"
	}
	return "NewestFirst"
}

// --- Filters -----------------------------------------------------------

// listWorld inserts the rows the filter checks select from, directly in
// the statuses wanted, and returns them as stored:
//
//	created at Base:   A1 (t_a, completed at 10s, tags blue x_y)
//	                   ├─ A1-c0 (t_b, completed at 5s, tags blue)
//	                   └─ A1-c1 (t_b, failed at 6s)
//	                      └─ A1-c1-g0 (t_c, cancelled at 6s)
//	created at 1s:     B2 (t_b, waiting_for_children, tags xy)
//	                   └─ B2-c0 (t_a, sleeping, tags x_y red)
//	created at 2s:     C3 (t_c, running, claimed, tags red)
//	                   D4 (t_a, failed at 20s, tags xay bluer)
//	created at 3s:     E5 (t_a, ready, tags Blue, retry of D4)
//
// The tags catch a store that matches a tag as a pattern or a substring
// (x_y against xay and xy, blue against bluer) or ignoring case (blue
// against Blue).
func (b *bundle) listWorld() map[string]storage.Execution {
	b.t.Helper()
	finished := func(e storage.Execution, s storage.Status, at time.Duration, tags ...string) storage.Execution {
		e.Status, e.FinishedAt, e.StartedAt = s, At(at), At(at-time.Second)
		e.Tags = tags
		if s == storage.StatusCompleted {
			e.Output = []byte(`"out"`)
		} else {
			e.Error = &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "failed"}
		}
		return e
	}
	a1 := finished(NewExecution("A1", "t_a"), storage.StatusCompleted, 10*time.Second, "blue", "x_y")
	a1.ChildrenTotal = 2
	c0 := finished(NewChild(a1, "A1-c0", "t_b", 0), storage.StatusCompleted, 5*time.Second, "blue")
	c1 := finished(NewChild(a1, "A1-c1", "t_b", 1), storage.StatusFailed, 6*time.Second)
	c1.ChildrenTotal = 1
	g0 := finished(NewChild(c1, "A1-c1-g0", "t_c", 0), storage.StatusCancelled, 6*time.Second)
	b.insert(Base, nil, a1, c0, c1, g0)

	b2 := NewExecution("B2", "t_b")
	b2.Status, b2.Tags, b2.RunOutput = storage.StatusWaitingForChildren, []string{"xy"}, []byte(`"run"`)
	b2.ChildrenTotal, b2.ChildrenPending = 1, 1
	b2c0 := NewSleeping("B2-c0", "t_a", "k-b2", time.Hour)
	b2c0.ParentID, b2c0.ParentTaskID, b2c0.RootID, b2c0.RootTaskID = "B2", "t_b", "B2", "t_b"
	b2c0.Tags = []string{"x_y", "red"}
	b.insert(At(time.Second), nil, b2, b2c0)

	c3 := NewExecution("C3", "t_c")
	c3.Status, c3.ExecutorID, c3.Tags = storage.StatusRunning, "exec-c", []string{"red"}
	d4 := finished(NewExecution("D4", "t_a"), storage.StatusFailed, 20*time.Second, "xay", "bluer")
	b.insert(At(2*time.Second), []time.Duration{Lease, 0}, c3, d4)

	e5 := NewExecution("E5", "t_a")
	e5.Tags, e5.RetryOf = []string{"Blue"}, "D4"
	b.insert(At(3*time.Second), nil, e5)

	world := map[string]storage.Execution{}
	for _, id := range []string{"A1", "A1-c0", "A1-c1", "A1-c1-g0", "B2", "B2-c0", "C3", "D4", "E5"} {
		world[id] = b.get(id)
	}
	return world
}

// filterCase is a filter and the IDs it selects from listWorld.
type filterCase struct {
	name string
	f    storage.ListFilter
	want []string
}

// requireFilters lists each case in both orders, in one page and in pages
// of two, and compares with the IDs wanted in the order of their keys.
func (b *bundle) requireFilters(world map[string]storage.Execution, cases []filterCase) {
	b.t.Helper()
	for _, c := range cases {
		keys := make([]storage.ListKey, len(c.want))
		for i, id := range c.want {
			e, ok := world[id]
			if !ok {
				b.t.Fatalf("case %s: %s is not in the world", c.name, id)
			}
			keys[i] = storage.KeyOf(&e)
		}
		for _, o := range orders {
			want := sortKeys(o, keys)
			for _, limit := range []int{storage.MaxListLimit, 2} {
				what := fmt.Sprintf("filter %s, %s, pages of %d", c.name, orderName(o), limit)
				requireIDs(b.t, what, want, ids(b.listAll(what, c.f, o, limit)))
			}
		}
	}
}

func checkListFilterFields(b *bundle) {
	b.lister()
	world := b.listWorld()
	all := []string{"A1", "A1-c0", "A1-c1", "A1-c1-g0", "B2", "B2-c0", "C3", "D4", "E5"}
	b.requireFilters(world, []filterCase{
		{"Zero", storage.ListFilter{}, all},
		{"IDs", storage.ListFilter{IDs: []string{"E5", "B2", "missing"}}, []string{"B2", "E5"}},
		{"IDsOne", storage.ListFilter{IDs: []string{"A1-c1-g0"}}, []string{"A1-c1-g0"}},
		// A list field with no values does not restrict, nil or not.
		{"IDsEmpty", storage.ListFilter{IDs: []string{}}, all},
		{"StatusesEmpty", storage.ListFilter{Statuses: []storage.Status{}}, all},
		{"TaskIDsEmpty", storage.ListFilter{TaskIDs: []string{}}, all},
		{"Statuses", storage.ListFilter{Statuses: []storage.Status{storage.StatusFailed, storage.StatusCancelled}},
			[]string{"A1-c1", "A1-c1-g0", "D4"}},
		{"StatusRunning", storage.ListFilter{Statuses: []storage.Status{storage.StatusRunning}}, []string{"B2-c0", "C3"}},
		{"StatusNone", storage.ListFilter{Statuses: []storage.Status{storage.StatusTimedOut}}, nil},
		{"TaskIDs", storage.ListFilter{TaskIDs: []string{"t_a"}}, []string{"A1", "B2-c0", "D4", "E5"}},
		{"TaskIDsTwo", storage.ListFilter{TaskIDs: []string{"t_b", "t_c"}}, []string{"A1-c0", "A1-c1", "A1-c1-g0", "B2", "C3"}},
		{"TaskIDsUnknown", storage.ListFilter{TaskIDs: []string{"t_x"}}, nil},
		// RootID selects the descendants, not the root itself.
		{"RootID", storage.ListFilter{RootID: "A1"}, []string{"A1-c0", "A1-c1", "A1-c1-g0"}},
		{"RootIDOfAChild", storage.ListFilter{RootID: "A1-c1"}, nil},
		{"RootIDUnknown", storage.ListFilter{RootID: "missing"}, nil},
		{"ParentID", storage.ListFilter{ParentID: "A1"}, []string{"A1-c0", "A1-c1"}},
		{"ParentIDOfAChild", storage.ListFilter{ParentID: "A1-c1"}, []string{"A1-c1-g0"}},
		{"ParentIDSleepingChild", storage.ListFilter{ParentID: "B2"}, []string{"B2-c0"}},
		{"ParentIDLeaf", storage.ListFilter{ParentID: "E5"}, nil},
		{"TopLevel", storage.ListFilter{TopLevel: true}, []string{"A1", "B2", "C3", "D4", "E5"}},
		// A tag matches exactly: not as a pattern, a substring or
		// without case.
		{"TagBlue", storage.ListFilter{Tag: "blue"}, []string{"A1", "A1-c0"}},
		{"TagWithUnderscore", storage.ListFilter{Tag: "x_y"}, []string{"A1", "B2-c0"}},
		{"TagUpperCase", storage.ListFilter{Tag: "Blue"}, []string{"E5"}},
		{"TagSecondOfTwo", storage.ListFilter{Tag: "red"}, []string{"B2-c0", "C3"}},
		{"TagPrefix", storage.ListFilter{Tag: "blu"}, nil},
		{"TagPattern", storage.ListFilter{Tag: "%"}, nil},
		{"TagUnknown", storage.ListFilter{Tag: "missing"}, nil},
	})
}

func checkListFilterTimes(b *bundle) {
	b.lister()
	world := b.listWorld()
	finished := []string{"A1", "A1-c0", "A1-c1", "A1-c1-g0", "D4"}
	zone := time.FixedZone("UTC-5", -5*3600)
	b.requireFilters(world, []filterCase{
		// CreatedFrom is inclusive, CreatedTo exclusive.
		{"CreatedFrom", storage.ListFilter{CreatedFrom: At(time.Second)}, []string{"B2", "B2-c0", "C3", "D4", "E5"}},
		{"CreatedTo", storage.ListFilter{CreatedTo: At(2 * time.Second)}, []string{"A1", "A1-c0", "A1-c1", "A1-c1-g0", "B2", "B2-c0"}},
		{"CreatedFromTo", storage.ListFilter{CreatedFrom: At(time.Second), CreatedTo: At(3 * time.Second)},
			[]string{"B2", "B2-c0", "C3", "D4"}},
		{"CreatedFromOtherZone", storage.ListFilter{CreatedFrom: At(3 * time.Second).In(zone)}, []string{"E5"}},
		{"CreatedFromOneMicrosecondLater", storage.ListFilter{CreatedFrom: At(3*time.Second + time.Microsecond)}, nil},
		{"CreatedToFirst", storage.ListFilter{CreatedTo: Base}, nil},
		{"CreatedEmptyRange", storage.ListFilter{CreatedFrom: At(time.Second), CreatedTo: At(time.Second)}, nil},
		// FinishedFrom is inclusive, FinishedTo exclusive; either
		// excludes rows not finished.
		{"FinishedFrom", storage.ListFilter{FinishedFrom: At(6 * time.Second)}, []string{"A1", "A1-c1", "A1-c1-g0", "D4"}},
		{"FinishedTo", storage.ListFilter{FinishedTo: At(10 * time.Second)}, []string{"A1-c0", "A1-c1", "A1-c1-g0"}},
		{"FinishedFromTo", storage.ListFilter{FinishedFrom: At(5 * time.Second), FinishedTo: At(6 * time.Second)}, []string{"A1-c0"}},
		{"FinishedToFarAhead", storage.ListFilter{FinishedTo: At(time.Hour)}, finished},
		{"FinishedFromLongAgo", storage.ListFilter{FinishedFrom: At(-time.Hour)}, finished},
		{"FinishedToOtherZone", storage.ListFilter{FinishedTo: At(6 * time.Second).In(zone)}, []string{"A1-c0"}},
	})
}

func checkListFilterCombined(b *bundle) {
	b.lister()
	world := b.listWorld()
	b.requireFilters(world, []filterCase{
		{"TopLevelStatuses", storage.ListFilter{TopLevel: true, Statuses: []storage.Status{storage.StatusCompleted, storage.StatusFailed}},
			[]string{"A1", "D4"}},
		{"RootIDStatuses", storage.ListFilter{RootID: "A1", Statuses: []storage.Status{storage.StatusFailed, storage.StatusCancelled}},
			[]string{"A1-c1", "A1-c1-g0"}},
		{"RootIDTaskIDsTag", storage.ListFilter{RootID: "A1", TaskIDs: []string{"t_b"}, Tag: "blue"}, []string{"A1-c0"}},
		{"ParentIDFinishedFrom", storage.ListFilter{ParentID: "A1", FinishedFrom: At(6 * time.Second)}, []string{"A1-c1"}},
		{"TagTopLevel", storage.ListFilter{Tag: "x_y", TopLevel: true}, []string{"A1"}},
		{"TaskIDsCreatedFromStatuses", storage.ListFilter{TaskIDs: []string{"t_a"}, CreatedFrom: At(time.Second),
			Statuses: []storage.Status{storage.StatusReady}}, []string{"E5"}},
		{"IDsTopLevel", storage.ListFilter{IDs: []string{"A1", "A1-c0", "B2", "missing"}, TopLevel: true}, []string{"A1", "B2"}},
		{"IDsStatuses", storage.ListFilter{IDs: []string{"A1-c1", "A1-c1-g0", "C3"},
			Statuses: []storage.Status{storage.StatusCancelled, storage.StatusRunning}}, []string{"A1-c1-g0", "C3"}},
		{"IDsRootID", storage.ListFilter{IDs: []string{"A1", "A1-c1", "B2-c0"}, RootID: "A1"}, []string{"A1-c1"}},
		{"TopLevelParentID", storage.ListFilter{TopLevel: true, ParentID: "A1"}, nil},
		{"RootIDParentID", storage.ListFilter{RootID: "A1", ParentID: "A1-c1"}, []string{"A1-c1-g0"}},
		{"FinishedToTaskIDs", storage.ListFilter{FinishedTo: At(time.Hour), TaskIDs: []string{"t_a"}}, []string{"A1", "D4"}},
		{"TagStatusesCreatedFrom", storage.ListFilter{Tag: "red", Statuses: []storage.Status{storage.StatusRunning},
			CreatedFrom: At(2 * time.Second)}, []string{"C3"}},
		{"StatusesCreatedTo", storage.ListFilter{Statuses: []storage.Status{storage.StatusReady, storage.StatusRunning,
			storage.StatusWaitingForChildren}, CreatedTo: At(2 * time.Second)}, []string{"B2", "B2-c0"}},
		{"TaskIDsFinishedRange", storage.ListFilter{TaskIDs: []string{"t_a", "t_b"}, FinishedFrom: At(5 * time.Second),
			FinishedTo: At(20 * time.Second)}, []string{"A1", "A1-c0", "A1-c1"}},
		{"AllFields", storage.ListFilter{IDs: []string{"A1-c0", "A1-c1"}, Statuses: []storage.Status{storage.StatusCompleted},
			TaskIDs: []string{"t_b"}, RootID: "A1", ParentID: "A1", Tag: "blue", CreatedFrom: Base, CreatedTo: At(time.Second),
			FinishedFrom: At(5 * time.Second), FinishedTo: At(6 * time.Second)}, []string{"A1-c0"}},
	})
}

// --- Order and paging ----------------------------------------------------

// checkListOrder lists rows created at the same instant (one Insert call)
// whose IDs order differently as bytes and in a locale's collation ("B" <
// "_z" < "a" < "a-b" < "a0" < "a_b" < "b" < "é" as bytes), with rows a
// microsecond before and after them, whose CreatedAt comes first.
func checkListOrder(b *bundle) {
	b.lister()
	same := []string{"b", "a_b", "B", "é", "a-b", "a", "A", "a0", "_z", "-z"}
	rows := make([]storage.Execution, len(same))
	for i, id := range same {
		rows[i] = NewExecution(id, "task")
	}
	b.insert(Base, nil, rows...)
	b.insert(At(-time.Microsecond), nil, NewExecution("z", "task"))
	b.insert(At(time.Microsecond), nil, NewExecution("0", "task"))
	b.insert(At(time.Second), nil, NewExecution("~", "task"), NewExecution("!", "task"))

	oldest := []string{"z", "-z", "A", "B", "_z", "a", "a-b", "a0", "a_b", "b", "é", "0", "!", "~"}
	newest := slices.Clone(oldest)
	slices.Reverse(newest)
	for _, o := range orders {
		want := oldest
		if o == storage.NewestFirst {
			// NewestFirst is the exact reverse of OldestFirst: ties in
			// CreatedAt by ID descending.
			want = newest
		}
		for _, limit := range []int{storage.MaxListLimit, 1, 2, 3, 13, 14, 15} {
			what := fmt.Sprintf("%s, pages of %d", orderName(o), limit)
			requireIDs(b.t, what, want, ids(b.listAll(what, storage.ListFilter{}, o, limit)))
		}
	}
	// The zero Order is NewestFirst.
	got := b.list("zero order", storage.ListParams{Limit: 3})
	requireIDs(b.t, "List with the zero Order", newest[:3], ids(got))
}

// checkListPaging pages through 60 rows created in batches at instants a
// microsecond to a second apart, whole and filtered, in every page size,
// and from keys of rows that do not exist.
func checkListPaging(b *bundle) {
	b.lister()
	var keys, evenKeys []storage.ListKey
	offsets := []time.Duration{0, time.Microsecond, 2 * time.Microsecond, time.Millisecond, time.Millisecond + time.Microsecond,
		time.Second, time.Second + 999*time.Microsecond, 2 * time.Second, time.Minute, time.Hour, time.Hour + time.Microsecond, 2 * time.Hour}
	prefixes := []string{"B", "a", "b", "a_", "a-"}
	n := 0
	for k, off := range offsets {
		var rows []storage.Execution
		for j, p := range prefixes {
			id := p + strconv.Itoa((k*7+j*3)%len(offsets)) + "." + strconv.Itoa(k)
			task := "odd"
			if n%2 == 0 {
				task = "even"
			}
			rows = append(rows, NewExecution(id, task))
			key := storage.ListKey{CreatedAt: At(off), ID: id}
			keys = append(keys, key)
			if task == "even" {
				evenKeys = append(evenKeys, key)
			}
			n++
		}
		b.insert(At(off), nil, rows...)
	}
	even := storage.ListFilter{TaskIDs: []string{"even"}}
	for _, o := range orders {
		want, wantEven := sortKeys(o, keys), sortKeys(o, evenKeys)
		for _, limit := range []int{1, 2, 4, 5, 7, 29, 30, 31, 59, 60, 61, storage.MaxListLimit} {
			what := fmt.Sprintf("%s, pages of %d", orderName(o), limit)
			requireIDs(b.t, what, want, ids(b.listAll(what, storage.ListFilter{}, o, limit)))
			requireIDs(b.t, what+", task even", wantEven, ids(b.listAll(what, even, o, limit)))
		}

		// After a key no row has: between rows, with an empty ID, in
		// another zone.
		zone := time.FixedZone("UTC+9", 9*3600)
		for _, after := range []storage.ListKey{
			{CreatedAt: At(time.Microsecond), ID: "a"},
			{CreatedAt: At(time.Millisecond), ID: ""},
			{CreatedAt: At(time.Second + 999*time.Microsecond).In(zone), ID: "a_"},
			{CreatedAt: At(90 * time.Minute), ID: "zzz"},
			{CreatedAt: At(-time.Hour), ID: "x"},
			{CreatedAt: At(3 * time.Hour), ID: ""},
		} {
			var wantAfter []string
			for _, id := range want {
				i := slices.IndexFunc(keys, func(k storage.ListKey) bool { return k.ID == id })
				if inOrder(o, after, keys[i]) {
					wantAfter = append(wantAfter, id)
				}
			}
			what := fmt.Sprintf("%s after %s/%q", orderName(o), after.CreatedAt.Format(time.RFC3339Nano), after.ID)
			got := b.list(what, storage.ListParams{Order: o, After: &after, Limit: 7})
			requireIDs(b.t, what, wantAfter[:min(7, len(wantAfter))], ids(got))
		}
	}
}

// checkListPagingWhileRowsChange pages through finished rows while rows are
// inserted (ahead of the cursor, behind it, at its very instant) and
// deleted (ahead of it and behind it) between pages. Every page must hold
// exactly the first rows strictly after the cursor among the rows that
// exist and match at that moment; so every row that existed for the whole
// paging and matched is returned exactly once, no row twice, and no
// deleted row after its deletion.
func checkListPagingChanges(b *bundle) {
	b.lister()
	for _, o := range orders {
		b.pageWhileChanging(o)
	}
}

// done returns a finished, completed top-level row of task, as inserted
// directly.
func done(id, task string) storage.Execution {
	e := NewExecution(id, task)
	e.Status = storage.StatusCompleted
	e.Output = []byte(`"done"`)
	e.StartedAt, e.FinishedAt = Base, Base
	return e
}

// pageWhileChanging is checkListPagingChanges in one order, on rows of its
// own task.
func (b *bundle) pageWhileChanging(o storage.Order) {
	b.t.Helper()
	task := "paging-" + orderName(o)
	pre := orderName(o)[:1] // IDs of their own: N… and O…
	filter := storage.ListFilter{TaskIDs: []string{task}, Statuses: []storage.Status{storage.StatusCompleted}}
	type modelRow struct {
		key   storage.ListKey
		match bool
	}
	model := map[string]modelRow{}
	insert := func(at time.Time, match bool, ids ...string) {
		b.t.Helper()
		rows := make([]storage.Execution, len(ids))
		for i, id := range ids {
			rows[i] = done(id, task)
			if !match {
				rows[i] = NewExecution(id, task)
			}
			model[id] = modelRow{key: storage.ListKey{CreatedAt: at, ID: id}, match: match}
		}
		b.insert(at, nil, rows...)
	}
	// 30 matching rows created three at a time, and rows of the same
	// task that do not match (ready).
	var initial []string
	for k := range 10 {
		var batch []string
		for j := range 3 {
			batch = append(batch, fmt.Sprintf("%sr%d%d", pre, k, 2-j))
		}
		insert(At(time.Duration(k)*time.Second), true, batch...)
		initial = append(initial, batch...)
		if k%3 == 0 {
			insert(At(time.Duration(k)*time.Second), false, fmt.Sprintf("%sr%d5", pre, k))
		}
	}
	// ahead returns the matching rows of the model strictly after the
	// cursor (all without one), in order.
	ahead := func(cursor *storage.ListKey) []string {
		var keys []storage.ListKey
		for _, r := range model {
			if r.match && (cursor == nil || inOrder(o, *cursor, r.key)) {
				keys = append(keys, r.key)
			}
		}
		return sortKeys(o, keys)
	}

	const limit = 4
	returned := map[string]int{}
	deleted := map[string]bool{}
	var cursor *storage.ListKey
	sign := time.Duration(1) // ahead of the cursor in this order
	if o == storage.NewestFirst {
		sign = -1
	}
	for page := 0; ; page++ {
		if page > 100 {
			b.t.Fatalf("%s: paging does not end", orderName(o))
		}
		what := fmt.Sprintf("%s, page %d", orderName(o), page)
		want := ahead(cursor)
		want = want[:min(limit, len(want))]
		got := b.list(what, storage.ListParams{Filter: filter, Order: o, After: cursor, Limit: limit})
		requireIDs(b.t, what, want, ids(got))
		for _, e := range got {
			returned[e.ID]++
		}
		if len(got) < limit {
			break
		}
		k := storage.KeyOf(&got[len(got)-1])
		cursor = &k

		// Inserted ahead of the cursor, behind it, and at its instant
		// on both sides of its ID; a non-matching row ahead.
		p := pre + strconv.Itoa(page)
		insert(At(sign*(time.Hour+time.Duration(page)*time.Second)), true, "new-ahead-"+p)
		insert(At(-sign*(time.Hour+time.Duration(page)*time.Second)), true, "new-behind-"+p)
		insert(cursor.CreatedAt, true, "!tie-"+p, "~tie-"+p)
		insert(At(sign*2*time.Hour), false, "new-ready-"+p)
		// Deleted: the second matching row ahead, and one returned.
		var victims []string
		if next := ahead(cursor); len(next) >= 2 {
			victims = append(victims, next[1])
		}
		for id := range returned {
			if !deleted[id] {
				victims = append(victims, id)
				break
			}
		}
		for _, id := range victims {
			if n := b.delete(what, id); n != 1 {
				b.t.Fatalf("%s: Delete(%s) deleted %d rows, want 1", what, id, n)
			}
			deleted[id] = true
			delete(model, id)
		}
	}
	for id, n := range returned {
		if n != 1 {
			b.t.Fatalf("%s: row %s returned %d times", orderName(o), id, n)
		}
	}
	for _, id := range initial {
		if !deleted[id] && returned[id] != 1 {
			b.t.Fatalf("%s: row %s existed for the whole paging and was not returned", orderName(o), id)
		}
	}
}

// --- What List returns ---------------------------------------------------

// withoutPayloads returns e as List returns it.
func withoutPayloads(e storage.Execution) storage.Execution {
	e.Input, e.Output, e.RunOutput, e.Attempts = nil, nil, nil, nil
	return e
}

// attempt returns an attempt record as the engine writes one: times with
// nanoseconds and in a zone other than UTC (the store keeps at least
// microseconds and returns UTC).
func attempt(n int, outcome storage.Status, msg string) storage.Attempt {
	zone := time.FixedZone("UTC+2", 2*3600)
	return storage.Attempt{
		Attempt:    n,
		Iteration:  n / 2,
		ExecutorID: "exec-" + strconv.Itoa(n),
		StartedAt:  At(time.Duration(n)*time.Minute + 123456789*time.Nanosecond).In(zone),
		FinishedAt: At(time.Duration(n)*time.Minute + 30*time.Second + 987654321*time.Nanosecond).In(zone),
		Outcome:    outcome,
		Error: &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: msg, Retryable: outcome == storage.StatusReady,
			Stack: "goroutine " + strconv.Itoa(n) + " [running]:\nmain.f()"},
	}
}

// requireAttemptsUTC fails unless every set time of e's attempts is in UTC.
func requireAttemptsUTC(b *bundle, e storage.Execution) {
	b.t.Helper()
	for i, a := range e.Attempts {
		for _, tm := range []time.Time{a.StartedAt, a.FinishedAt} {
			if !tm.IsZero() && tm.Location() != time.UTC {
				b.t.Fatalf("attempt %d of %q: time in %v, want UTC", i, e.ID, tm.Location())
			}
		}
	}
}

func checkListRowFields(b *bundle) {
	b.lister()
	world := b.listWorld()
	// A row with an attempt history written by Complete, and one with
	// every field set.
	r := b.running(At(4*time.Second), "F6")
	b.mustApply(At(5*time.Second), storage.Transition{ID: "F6", Fence: r.Fence, From: storage.StatusRunning,
		To: storage.StatusReady, Attempt: 1, Error: attempt(0, storage.StatusReady, "first").Error,
		Attempts: []storage.Attempt{attempt(0, storage.StatusReady, "first")}, Delay: time.Minute})
	full := fullExecution(NewExecution("G7", "task_root"), "G7-full")
	full.Tags, full.RetryOf = []string{"t1", "t2"}, "A1"
	full.Attempts = []storage.Attempt{attempt(0, storage.StatusReady, "a"), attempt(1, storage.StatusFailed, "b")}
	full.Status = storage.StatusFailed
	b.insert(At(6*time.Second), nil, full)
	for _, id := range []string{"F6", "G7-full"} {
		world[id] = b.get(id)
		if len(world[id].Attempts) == 0 || len(world[id].Input) == 0 {
			b.t.Fatalf("row %s as stored: no attempts or no input", id)
		}
	}
	for _, o := range orders {
		rows := b.list(orderName(o), storage.ListParams{Order: o, Limit: storage.MaxListLimit})
		if len(rows) != len(world) {
			b.t.Fatalf("%s: List returned %d rows, want %d", orderName(o), len(rows), len(world))
		}
		for _, got := range rows {
			RequireExecution(b.t, withoutPayloads(world[got.ID]), got)
			if got.Input != nil || got.Output != nil || got.RunOutput != nil || got.Attempts != nil {
				b.t.Fatalf("List returned row %s with Input %q, Output %q, RunOutput %q, Attempts %v: want them nil",
					got.ID, got.Input, got.Output, got.RunOutput, got.Attempts)
			}
			requireUTC(b, got)
		}
	}
}

func checkListCopies(b *bundle) {
	b.lister()
	e := NewExecution("a", "task")
	e.Tags = []string{"one", "two"}
	e.Attempts = []storage.Attempt{attempt(0, storage.StatusReady, "m")}
	b.insert(Base, nil, e)
	want := b.get("a")
	want.Tags = slices.Clone(want.Tags)
	want.Attempts = slices.Clone(want.Attempts)
	errCopy := *want.Attempts[0].Error
	want.Attempts[0].Error = &errCopy

	// Changing what was inserted does not change the store.
	e.Tags[0] = "changed by the caller"
	e.Attempts[0].ExecutorID = "changed by the caller"
	e.Attempts[0].Error.Message = "changed by the caller"
	b.require(want)

	// Nor does changing what Get, List and Claim return.
	got := b.get("a")
	got.Tags[0], got.Attempts[0].ExecutorID, got.Attempts[0].Error.Message = "x", "x", "x"
	b.require(want)
	rows := b.list("List", storage.ListParams{Limit: 10})
	rows[0].Tags[1] = "changed by the reader"
	b.require(want)
	claimed := b.claimOne(Base, "exec-1", "task", "a")
	claimed.Tags[0], claimed.Attempts[0].Error.Message = "x", "x"
	want = b.get("a")
	want.Tags = slices.Clone(want.Tags)

	// Nor does changing a transition's history after Complete returned
	// (the engine reuses it).
	history := []storage.Attempt{attempt(0, storage.StatusReady, "m"), attempt(1, storage.StatusFailed, "n")}
	b.mustApply(At(time.Second), storage.Transition{ID: "a", Fence: claimed.Fence, From: storage.StatusRunning,
		To: storage.StatusFailed, Attempt: 1, Attempts: history, Error: history[1].Error})
	after := b.get("a")
	history[0].ExecutorID, history[1].Error.Message = "reused", "reused"
	history[0] = storage.Attempt{}
	b.require(after)
	if got := b.get("a"); got.Attempts[1].Error.Message != "n" || got.Attempts[0].ExecutorID != "exec-0" {
		b.t.Fatalf("history changed with the transition's slice: %+v", got.Attempts)
	}
}

// --- Invalid params ------------------------------------------------------

func checkListInvalid(b *bundle) {
	l := b.lister()
	b.insert(Base, nil, NewExecution("a", "task"))
	for _, c := range []struct {
		name string
		p    storage.ListParams
	}{
		{"Limit0", storage.ListParams{}},
		{"LimitNegative", storage.ListParams{Limit: -1}},
		{"LimitOverMax", storage.ListParams{Limit: storage.MaxListLimit + 1}},
		{"UnknownStatus", storage.ListParams{Limit: 10, Filter: storage.ListFilter{Statuses: []storage.Status{storage.StatusReady, "bogus"}}}},
		{"EmptyStatus", storage.ListParams{Limit: 10, Filter: storage.ListFilter{Statuses: []storage.Status{""}}}},
		{"UnknownOrder", storage.ListParams{Limit: 10, Order: storage.OldestFirst + 1}},
		{"NegativeOrder", storage.ListParams{Limit: 10, Order: -1}},
	} {
		rows, err := l.List(b.ctx, c.p)
		if err == nil {
			b.t.Fatalf("List with %s: want an error, got %d rows", c.name, len(rows))
		}
	}
	requireIDs(b.t, "List with the largest limit", []string{"a"},
		ids(b.list("largest limit", storage.ListParams{Limit: storage.MaxListLimit})))
}

func checkCountInvalid(b *bundle) {
	l := b.lister()
	b.insert(Base, nil, NewExecution("a", "task"))
	counts, err := l.Count(b.ctx, storage.CountParams{Now: Base, Filter: storage.ListFilter{Statuses: []storage.Status{"bogus"}}})
	if err == nil {
		b.t.Fatalf("Count with an unknown status: want an error, got %v", counts)
	}
}

// --- Count ---------------------------------------------------------------

// requireCounts compares counts, OldestDueAt to within a microsecond.
func requireCounts(b *bundle, what string, want, got []storage.Count) {
	b.t.Helper()
	show := func(cs []storage.Count) string {
		var s []string
		for _, c := range cs {
			due := "-"
			if !c.OldestDueAt.IsZero() {
				due = c.OldestDueAt.UTC().Format(time.RFC3339Nano)
			}
			s = append(s, fmt.Sprintf("%s/%s:%d@%s", c.TaskID, c.Status, c.N, due))
		}
		return "[" + strings.Join(s, " ") + "]"
	}
	ok := len(want) == len(got)
	for i := 0; ok && i < len(want); i++ {
		w, g := want[i], got[i]
		ok = w.TaskID == g.TaskID && w.Status == g.Status && w.N == g.N && timeEqual(w.OldestDueAt, g.OldestDueAt)
	}
	if !ok {
		b.t.Fatalf("%s: want %s, got %s", what, show(want), show(got))
	}
}

// checkCount counts rows of tasks whose IDs order differently as bytes and
// in a locale's collation ("B" < "a" < "a-b" < "a_b" as bytes), in groups
// with due rows, rows due later, leased and sleeping rows (whose DueAt is
// in the future), waiting parents due and not due, and finished rows.
// (No lease lapses: a lapsed lease's DueAt may be moved to its CreatedAt
// by a store, see the storage package doc.)
func checkCount(b *bundle) {
	b.lister()
	now := At(time.Minute)
	old := NewExecution("a-old", "a")
	old.Tags = []string{"x"}
	b.insert(At(-30*time.Second), nil, old)
	b.insert(Base, []time.Duration{0, time.Hour}, NewExecution("a-new", "a"), NewExecution("a-later", "a"))
	run := NewExecution("a-run", "a")
	run.Status, run.ExecutorID = storage.StatusRunning, "exec-a"
	b.insert(At(50*time.Second), []time.Duration{Lease}, run) // leased until 80s

	b.insert(Base, nil, NewExecution("B-done", "B"), NewSleeping("B-sleep", "B", "key", time.Hour),
		NewExecution("a-b-failed", "a-b"), NewExecution("a_b-cancelled", "a_b"))
	b.finish(At(time.Second), b.claimOne(Base, "exec-1", "B", "B-done"), storage.StatusCompleted)
	b.finish(At(2*time.Second), b.claimOne(Base, "exec-1", "a-b", "a-b-failed"), storage.StatusFailed)
	b.cancel(At(3*time.Second), "a_b-cancelled")

	// Two waiting parents: w1's children all finish at 10s (w1 is due
	// then), one of w2's is given back (ready, due at 10s).
	w1, w2 := NewExecution("w1", "wait"), NewExecution("w2", "wait")
	w1.Tags = []string{"x"}
	b.insert(Base, nil, w1, w2)
	for _, p := range b.claim(Base, "exec-1", 10, "wait") {
		kids := []storage.Execution{NewChild(p, p.ID+"-c0", "wait_child", 0), NewChild(p, p.ID+"-c1", "wait_child", 1)}
		b.mustApply(Base, storage.Transition{ID: p.ID, Fence: p.Fence, From: storage.StatusRunning,
			To: storage.StatusWaitingForChildren, Children: kids})
	}
	kids := map[string]storage.Execution{}
	for _, c := range b.claim(At(5*time.Second), "exec-1", 10, "wait_child") {
		kids[c.ID] = c
	}
	if len(kids) != 4 {
		b.t.Fatalf("claimed children %v, want 4", kids)
	}
	for _, id := range []string{"w1-c0", "w1-c1", "w2-c0"} {
		b.finish(At(10*time.Second), kids[id], storage.StatusCompleted)
	}
	b.release(At(10*time.Second), lease(kids["w2-c1"]))

	c := func(task string, s storage.Status, n int64, due time.Time) storage.Count {
		return storage.Count{TaskID: task, Status: s, N: n, OldestDueAt: due}
	}
	zero := time.Time{}
	all := []storage.Count{
		c("B", storage.StatusCompleted, 1, zero),
		c("B", storage.StatusRunning, 1, zero),
		c("a", storage.StatusReady, 3, At(-30*time.Second)),
		c("a", storage.StatusRunning, 1, zero),
		c("a-b", storage.StatusFailed, 1, zero),
		c("a_b", storage.StatusCancelled, 1, zero),
		c("wait", storage.StatusWaitingForChildren, 2, At(10*time.Second)),
		c("wait_child", storage.StatusCompleted, 3, zero),
		c("wait_child", storage.StatusReady, 1, At(10*time.Second)),
	}
	requireCounts(b, "Count", all, b.count("Count", now, storage.ListFilter{}))

	// Earlier, fewer rows are due; before any, none.
	requireCounts(b, "Count at Base", []storage.Count{
		all[0], all[1], c("a", storage.StatusReady, 3, At(-30*time.Second)), all[3], all[4], all[5],
		c("wait", storage.StatusWaitingForChildren, 2, zero), all[7], c("wait_child", storage.StatusReady, 1, zero),
	}, b.count("Count at Base", Base, storage.ListFilter{}))
	var none []storage.Count
	for _, x := range all {
		x.OldestDueAt = zero
		none = append(none, x)
	}
	requireCounts(b, "Count an hour before", none, b.count("Count an hour before", At(-time.Hour), storage.ListFilter{}))

	// The filter applies.
	requireCounts(b, "Count of tasks a and wait", []storage.Count{all[2], all[3], all[6]},
		b.count("tasks", now, storage.ListFilter{TaskIDs: []string{"wait", "a"}}))
	requireCounts(b, "Count of ready and running rows", []storage.Count{all[1], all[2], all[3], all[8]},
		b.count("statuses", now, storage.ListFilter{Statuses: []storage.Status{storage.StatusReady, storage.StatusRunning}}))
	requireCounts(b, "Count of top-level rows", all[:7], b.count("top level", now, storage.ListFilter{TopLevel: true}))
	requireCounts(b, "Count of tag x", []storage.Count{
		c("a", storage.StatusReady, 1, At(-30*time.Second)), c("wait", storage.StatusWaitingForChildren, 1, At(10*time.Second)),
	}, b.count("tag", now, storage.ListFilter{Tag: "x"}))
	requireCounts(b, "Count of rows created from Base", []storage.Count{
		all[0], all[1], c("a", storage.StatusReady, 2, Base), all[3], all[4], all[5], all[6], all[7], all[8],
	}, b.count("created", now, storage.ListFilter{CreatedFrom: Base}))
	requireCounts(b, "Count of w2's tree", []storage.Count{
		c("wait_child", storage.StatusCompleted, 1, zero), all[8],
	}, b.count("root", now, storage.ListFilter{RootID: "w2"}))
	requireCounts(b, "Count of rows finished before 5s", []storage.Count{all[0], all[4], all[5]},
		b.count("finished", now, storage.ListFilter{FinishedTo: At(5 * time.Second)}))
	if got := b.count("no match", now, storage.ListFilter{TaskIDs: []string{"none"}}); len(got) != 0 {
		b.t.Fatalf("Count with no row matching: want no groups, got %v", got)
	}
}

// --- Delete --------------------------------------------------------------

// requireGone fails unless none of the rows exists.
func (b *bundle) requireGone(ids ...string) {
	b.t.Helper()
	for _, id := range ids {
		b.requireNotFound(id)
	}
}

// requireDeleteFails fails unless Delete of ids fails with an error
// wrapping target and every row of before is unchanged.
func (b *bundle) requireDeleteFails(what string, target error, before []storage.Execution, ids ...string) {
	b.t.Helper()
	n, err := b.lister().Delete(b.ctx, storage.DeleteParams{IDs: ids})
	requireErrIs(b.t, what, err, target)
	if n != 0 {
		b.t.Fatalf("%s: Delete returned %d with its error, want 0", what, n)
	}
	for _, e := range before {
		b.requireUnchanged(e)
	}
}

// snapshot returns the rows as stored.
func (b *bundle) snapshot(ids ...string) []storage.Execution {
	b.t.Helper()
	out := make([]storage.Execution, len(ids))
	for i, id := range ids {
		out[i] = b.get(id)
	}
	return out
}

// completedTree runs a tree to completion through the contract: root p
// (task t_p) with children p-c0 and p-c1, p-c1's child p-c1-c0, and p's
// finalize p-f. It returns the IDs of its five rows.
func (b *bundle) completedTree(p string) []string {
	b.t.Helper()
	_, kids := b.spawn(Base, p, 2, false)
	b.finish(At(time.Second), b.claimChild(Base, kids[0]), storage.StatusCompleted)
	_, grand := b.spawnFrom(At(time.Second), b.claimChild(Base, kids[1]), 1, false)
	b.finish(At(2*time.Second), b.claimChild(At(time.Second), grand[0]), storage.StatusCompleted)
	b.finish(At(3*time.Second), b.claimOne(At(2*time.Second), "exec-1", kids[1].TaskID, kids[1].ID), storage.StatusCompleted)
	r := b.claimOne(At(3*time.Second), "exec-1", "t_"+p, p)
	root := b.get(p)
	fin := NewChild(root, p+"-f", "t_"+p+"-f", 2)
	fin.IsFinalize = true
	b.mustApply(At(4*time.Second), storage.Transition{ID: p, Fence: r.Fence, From: r.Status,
		To: storage.StatusWaitingForFinalize, Children: []storage.Execution{fin}})
	b.finish(At(5*time.Second), b.claimOne(At(4*time.Second), "exec-1", fin.TaskID, fin.ID), storage.StatusCompleted)
	b.finish(At(6*time.Second), b.claimOne(At(5*time.Second), "exec-1", "t_"+p, p), storage.StatusCompleted)
	all := []string{p, kids[0].ID, kids[1].ID, grand[0].ID, fin.ID}
	for _, id := range all {
		if s := b.get(id).Status; s != storage.StatusCompleted {
			b.t.Fatalf("tree %s: row %s is %s, want completed", p, id, s)
		}
	}
	return all
}

func checkDeleteTrees(b *bundle) {
	b.lister()
	p := b.completedTree("p")
	_, qKids := b.spawn(Base, "q", 2, false)
	b.cancel(At(time.Second), "q") // q and its children cancelled
	b.finish(Base, b.running(Base, "r"), storage.StatusFailed)
	keep := b.completedTree("k")
	b.finish(Base, b.running(Base, "lone"), storage.StatusCompleted)
	keepRows := b.snapshot(append(keep, "lone")...)

	if n := b.delete("three trees", "p", "q", "r"); n != 5+3+1 {
		b.t.Fatalf("Delete of trees of 5, 3 and 1 rows: %d deleted, want 9", n)
	}
	b.requireGone(p...)
	b.requireGone("q", qKids[0].ID, qKids[1].ID, "r")
	for _, parent := range []string{"p", "p-c1", "q"} {
		kids, err := b.s.ListChildren(b.ctx, storage.ListChildrenParams{ParentID: parent})
		if err != nil || len(kids) != 0 {
			b.t.Fatalf("ListChildren(%s) after Delete: %v, %v; want none", parent, ids(kids), err)
		}
	}
	for _, e := range keepRows {
		b.requireUnchanged(e)
	}
	for _, o := range orders {
		got := ids(b.list("after Delete", storage.ListParams{Order: o, Limit: 100}))
		slices.Sort(got)
		want := append(slices.Clone(keep), "lone")
		slices.Sort(want)
		requireIDs(b.t, "List after Delete", want, got)
	}
	requireCounts(b, "Count after Delete", []storage.Count{
		{TaskID: "t_k", Status: storage.StatusCompleted, N: 1},
		{TaskID: "t_k-c0", Status: storage.StatusCompleted, N: 1},
		{TaskID: "t_k-c1", Status: storage.StatusCompleted, N: 1},
		{TaskID: "t_k-c1-c0", Status: storage.StatusCompleted, N: 1},
		{TaskID: "t_k-f", Status: storage.StatusCompleted, N: 1},
		{TaskID: "t_lone", Status: storage.StatusCompleted, N: 1},
	}, b.count("after Delete", At(time.Hour), storage.ListFilter{}))

	// A deleted tree is unknown.
	b.requireDeleteFails("Delete of a deleted tree", storage.ErrNotFound, keepRows, "p")
	b.requireDeleteFails("Delete of a deleted child", storage.ErrNotFound, keepRows, "lone", "p-c1")
	// An ID given twice is deleted once.
	if n := b.delete("one ID twice", "lone", "lone"); n != 1 {
		b.t.Fatalf("Delete of one row named twice: %d deleted, want 1", n)
	}
	b.requireGone("lone")
}

func checkDeleteUnknown(b *bundle) {
	b.lister()
	tree := b.completedTree("p")
	b.finish(Base, b.running(Base, "a"), storage.StatusCompleted)
	before := b.snapshot(append(tree, "a")...)
	b.requireDeleteFails("Delete of an unknown ID", storage.ErrNotFound, before, "missing")
	b.requireDeleteFails("Delete of valid IDs and an unknown one", storage.ErrNotFound, before, "a", "missing", "p")
	b.requireDeleteFails("Delete of valid IDs and an empty one", storage.ErrNotFound, before, "p", "", "a")
}

func checkDeleteChild(b *bundle) {
	b.lister()
	tree := b.completedTree("p")
	// A finished child of a parent still waiting on its other child.
	_, kids := b.spawn(Base, "w", 2, false)
	b.finish(At(time.Second), b.claimChild(Base, kids[0]), storage.StatusCompleted)
	before := b.snapshot(append(tree, "w", kids[0].ID, kids[1].ID)...)

	b.requireDeleteFails("Delete of a child", storage.ErrNotDeletable, before, "p-c0")
	b.requireDeleteFails("Delete of a grandchild", storage.ErrNotDeletable, before, "p-c1-c0")
	b.requireDeleteFails("Delete of a finalize", storage.ErrNotDeletable, before, "p-f")
	b.requireDeleteFails("Delete of a root and its child", storage.ErrNotDeletable, before, "p", "p-c0")
	b.requireDeleteFails("Delete of a finished child of a waiting parent", storage.ErrNotDeletable, before, kids[0].ID)
}

func checkDeleteActiveRoot(b *bundle) {
	b.lister()
	b.finish(Base, b.running(Base, "done"), storage.StatusCompleted)
	b.insert(Base, nil, NewExecution("ready", "task"), NewSleeping("sleeping", "task_sleep", "key", time.Hour))
	b.running(Base, "running")
	b.spawn(Base, "waiting", 1, false)
	fin := NewExecution("finalizing", "task")
	fin.Status = storage.StatusWaitingForFinalize
	b.insert(Base, nil, fin)
	active := []string{"ready", "sleeping", "running", "waiting", "finalizing"}
	before := b.snapshot(append(active, "done", "waiting-c0")...)
	for _, id := range active {
		b.requireDeleteFails("Delete of a "+id+" root", storage.ErrNotDeletable, before, id)
		b.requireDeleteFails("Delete of a finished root and a "+id+" one", storage.ErrNotDeletable, before, "done", id)
	}
}

// insertActiveTrees inserts, at Base, two completed roots whose trees
// hold a row that is not terminal (which the engine never leaves): t with
// a running child, u with a ready grandchild under a completed child. It
// returns the IDs of their rows.
func (b *bundle) insertActiveTrees() []string {
	b.t.Helper()
	t := done("t", "task")
	tc0 := NewChild(t, "t-c0", "task", 0)
	tc0.Status, tc0.ExecutorID = storage.StatusRunning, "exec-1"
	u := done("u", "task")
	uc0 := NewChild(u, "u-c0", "task", 0)
	uc0.Status, uc0.FinishedAt = storage.StatusCompleted, Base
	ug := NewChild(uc0, "u-c0-g0", "task", 0)
	b.insert(Base, []time.Duration{0, Lease, 0, 0, 0}, t, tc0, u, uc0, ug)
	return []string{"t", "t-c0", "u", "u-c0", "u-c0-g0"}
}

// checkDeleteActiveDescendant deletes terminal roots whose trees hold a
// row that is not terminal (insertActiveTrees).
func checkDeleteActiveDescendant(b *bundle) {
	b.lister()
	b.insertActiveTrees()
	b.finish(Base, b.running(Base, "done"), storage.StatusCompleted)
	before := b.snapshot("t", "t-c0", "u", "u-c0", "u-c0-g0", "done")

	b.requireDeleteFails("Delete of a tree with a running child", storage.ErrNotDeletable, before, "t")
	b.requireDeleteFails("Delete of a tree with a ready grandchild", storage.ErrNotDeletable, before, "u")
	b.requireDeleteFails("Delete of a finished tree and one with a ready grandchild", storage.ErrNotDeletable, before, "done", "u")
}

func checkDeleteFreesSleepKey(b *bundle) {
	b.lister()
	b.insert(Base, nil, NewSleeping("s1", "task_sleep", "key", time.Hour))
	b.mustApply(At(time.Second), storage.Transition{ID: "s1", Fence: 0, From: storage.StatusRunning,
		To: storage.StatusCompleted, Output: []byte(`1`)})
	// A sleeping child that timed out, in a finished tree.
	p := done("p", "task")
	c := NewChild(p, "p-s", "task_sleep", 0)
	c.Status, c.SleepKey, c.FinishedAt = storage.StatusTimedOut, "child-key", Base
	b.insert(Base, nil, p, c)

	if n := b.delete("sleeping rows", "s1", "p"); n != 3 {
		b.t.Fatalf("Delete of a sleeping row and a tree of two: %d deleted, want 3", n)
	}
	for _, key := range []string{"key", "child-key"} {
		_, err := b.s.GetBySleepKey(b.ctx, storage.GetBySleepKeyParams{SleepKey: key})
		requireErrIs(b.t, "GetBySleepKey("+key+") after Delete", err, storage.ErrNotFound)
	}
	b.insert(At(2*time.Second), nil, NewSleeping("s2", "task_sleep", "key", time.Hour),
		NewSleeping("s3", "task_sleep", "child-key", time.Hour))
	for key, id := range map[string]string{"key": "s2", "child-key": "s3"} {
		got, err := b.s.GetBySleepKey(b.ctx, storage.GetBySleepKeyParams{SleepKey: key})
		if err != nil || got.ID != id {
			b.t.Fatalf("GetBySleepKey(%s) after its row was deleted and the key taken again: %s, %v; want %s", key, got.ID, err, id)
		}
	}
}

func checkDeleteInvalid(b *bundle) {
	b.lister()
	b.finish(Base, b.running(Base, "a"), storage.StatusCompleted)
	before := b.snapshot("a")
	for _, c := range []struct {
		name string
		ids  []string
	}{
		{"NoIDs", nil},
		{"EmptyIDs", []string{}},
		{"TooManyIDs", slices.Repeat([]string{"a"}, storage.MaxDeleteIDs+1)},
	} {
		n, err := b.lister().Delete(b.ctx, storage.DeleteParams{IDs: c.ids})
		if err == nil {
			b.t.Fatalf("Delete with %s: want an error, got %d deleted", c.name, n)
		}
		b.requireUnchanged(before[0])
	}
	// The most IDs a call takes: every one checked.
	many := make([]string, storage.MaxDeleteIDs)
	for i := range many {
		many[i] = "missing-" + strconv.Itoa(i)
	}
	many[0] = "a"
	b.requireDeleteFails("Delete of MaxDeleteIDs IDs, one known", storage.ErrNotFound, before, many...)
	if n := b.delete("MaxDeleteIDs times one ID", slices.Repeat([]string{"a"}, storage.MaxDeleteIDs)...); n != 1 {
		b.t.Fatalf("Delete of one row named MaxDeleteIDs times: %d deleted, want 1", n)
	}
	b.requireGone("a")
}

// --- The new row fields --------------------------------------------------

func checkInsertTags(b *bundle) {
	b.lister()
	long := strings.Repeat("é", storage.MaxTagLen/2) // MaxTagLen bytes
	many := make([]string, storage.MaxTags)
	for i := range many {
		many[i] = fmt.Sprintf("%02d%s", i, long[:storage.MaxTagLen-2])
	}
	many[0] = long
	tagged := NewExecution("tagged", "task")
	tagged.Tags = []string{"b", "a", "x_y", "with space", "ünï", "%"}
	tagged.RetryOf = "original"
	tagged.Attempts = []storage.Attempt{attempt(0, storage.StatusReady, "inserted")}
	most := NewExecution("most", "task")
	most.Tags = many
	empty := NewExecution("empty", "task")
	empty.Tags = []string{}
	sleeping := NewSleeping("sleeping", "task_sleep", "key", time.Hour)
	sleeping.Tags = []string{"s"}
	b.insert(Base, nil, tagged, most, NewExecution("none", "task"), empty, sleeping)

	got := b.get("tagged")
	if !slices.Equal(got.Tags, tagged.Tags) || got.RetryOf != "original" {
		b.t.Fatalf("tags and RetryOf as stored: %q, %q; want %q, %q", got.Tags, got.RetryOf, tagged.Tags, "original")
	}
	RequireExecution(b.t, storage.Execution{ID: "tagged", Attempts: tagged.Attempts},
		storage.Execution{ID: "tagged", Attempts: got.Attempts})
	requireAttemptsUTC(b, got)
	if got := b.get("most"); !slices.Equal(got.Tags, many) {
		b.t.Fatalf("MaxTags tags of MaxTagLen bytes as stored: %q", got.Tags)
	}
	for _, id := range []string{"none", "empty"} {
		if got := b.get(id); got.Tags != nil || got.RetryOf != "" || got.Attempts != nil {
			b.t.Fatalf("row %s inserted without tags: Tags %#v, RetryOf %q, Attempts %#v; want nil, empty, nil",
				id, got.Tags, got.RetryOf, got.Attempts)
		}
	}
	if got, err := b.s.GetBySleepKey(b.ctx, storage.GetBySleepKeyParams{SleepKey: "key"}); err != nil || !slices.Equal(got.Tags, []string{"s"}) {
		b.t.Fatalf("GetBySleepKey: tags %q, %v", got.Tags, err)
	}

	// Children inserted by Complete keep theirs; ListChildren returns them.
	p := b.running(Base, "p")
	c0 := NewChild(p, "p-c0", "task_child", 0)
	c0.Tags = []string{"child"}
	c1 := NewChild(p, "p-c1", "task_child", 1)
	b.mustApply(At(time.Second), storage.Transition{ID: "p", Fence: p.Fence, From: storage.StatusRunning,
		To: storage.StatusWaitingForChildren, Children: []storage.Execution{c0, c1}})
	kids, err := b.s.ListChildren(b.ctx, storage.ListChildrenParams{ParentID: "p"})
	if err != nil || len(kids) != 2 {
		b.t.Fatalf("ListChildren: %v, %v", ids(kids), err)
	}
	if !slices.Equal(kids[0].Tags, []string{"child"}) || kids[1].Tags != nil {
		b.t.Fatalf("children's tags: %#v, %#v; want [child], nil", kids[0].Tags, kids[1].Tags)
	}
}

// invalidTags returns tag lists ValidateTags rejects, by name.
func invalidTags() map[string][]string {
	tooMany := make([]string, storage.MaxTags+1)
	for i := range tooMany {
		tooMany[i] = "t" + strconv.Itoa(i)
	}
	return map[string][]string{
		"TooMany":     tooMany,
		"Empty":       {"ok", ""},
		"TooLong":     {strings.Repeat("x", storage.MaxTagLen+1)},
		"Comma":       {"a,b"},
		"Newline":     {"a\nb"},
		"Delete":      {"a\x7f"},
		"ControlChar": {"\x00"},
		"InvalidUTF8": {"ok", "a\xc3"},
		"Duplicate":   {"a", "b", "a"},
	}
}

func checkInsertInvalidTags(b *bundle) {
	b.lister()
	for name, tags := range invalidTags() {
		if storage.ValidateTags(tags) == nil {
			b.t.Fatalf("case %s: ValidateTags accepts %q", name, tags)
		}
		b.requireInsertRefused("tags "+name, func(e *storage.Execution) { e.Tags = tags })
	}
}

// requireInsertRefused inserts a valid row and one changed by spoil, and
// requires the insert to fail and store neither; what names the spoiling.
func (b *bundle) requireInsertRefused(what string, spoil func(*storage.Execution)) {
	b.t.Helper()
	bad := NewExecution("bad", "task")
	spoil(&bad)
	err := b.s.Insert(b.ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{NewExecution("ok", "task"), bad}})
	if err == nil {
		b.t.Fatalf("Insert of a row with %s: want an error, got nil", what)
	}
	b.requireGone("ok", "bad")
}

func checkCompleteChildInvalidTags(b *bundle) {
	b.lister()
	p := b.running(Base, "p")
	for name, tags := range invalidTags() {
		b.requireSpawnRefused(p, "tags "+name, func(e *storage.Execution) { e.Tags = tags })
	}
}

// requireSpawnRefused completes the running parent p spawning a valid
// child and one changed by spoil, and requires the transition to fail
// (not applied, an error) and change nothing; what names the spoiling.
func (b *bundle) requireSpawnRefused(p storage.Execution, what string, spoil func(*storage.Execution)) {
	b.t.Helper()
	bad := NewChild(p, "p-bad", "task_child", 1)
	spoil(&bad)
	res := b.complete(At(time.Second), storage.Transition{ID: p.ID, Fence: p.Fence, From: storage.StatusRunning,
		To: storage.StatusWaitingForChildren, Children: []storage.Execution{NewChild(p, "p-ok", "task_child", 0), bad}})
	if res[0].Applied || res[0].Err == nil {
		b.t.Fatalf("spawn of a child with %s: applied=%v err=%v; want not applied, an error", what, res[0].Applied, res[0].Err)
	}
	b.requireUnchanged(p)
	b.requireGone("p-ok", "p-bad")
}

// requireAttempts fails unless the row's history is want (times to within
// a microsecond, in UTC).
func (b *bundle) requireAttempts(what string, got storage.Execution, want []storage.Attempt) {
	b.t.Helper()
	if d := Diff(storage.Execution{Attempts: want}, storage.Execution{Attempts: got.Attempts}); len(d) > 0 {
		b.t.Fatalf("%s: row %s: %s", what, got.ID, joinLines(d))
	}
	requireAttemptsUTC(b, got)
}

func checkCompleteAttempts(b *bundle) {
	b.lister()
	a0 := attempt(0, storage.StatusReady, "first")
	a1 := attempt(1, storage.StatusReady, "second")
	r := b.running(Base, "a")

	// Non-nil: replaces the history.
	b.mustApply(At(time.Second), storage.Transition{ID: "a", Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusReady,
		Attempt: 1, Error: a0.Error, Attempts: []storage.Attempt{a0}})
	want := []storage.Attempt{a0}
	b.requireAttempts("after a retry", b.get("a"), want)

	// Nil: keeps it, through a retry and a spawn.
	r = b.claimOne(At(time.Second), "exec-1", "t_a", "a")
	b.mustApply(At(2*time.Second), storage.Transition{ID: "a", Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusReady,
		Attempt: 2, Error: a1.Error})
	b.requireAttempts("after a transition without attempts", b.get("a"), want)
	r = b.claimOne(At(2*time.Second), "exec-1", "t_a", "a")
	_, kids := b.spawnFrom(At(3*time.Second), r, 1, false)
	b.requireAttempts("after a spawn without attempts", b.get("a"), want)

	// Replaced again when the parent ends: the whole list as given, up
	// to MaxAttempts records with long stacks.
	b.finish(At(4*time.Second), b.claimChild(At(3*time.Second), kids[0]), storage.StatusCompleted)
	r = b.claimOne(At(4*time.Second), "exec-1", "t_a", "a")
	want = make([]storage.Attempt, storage.MaxAttempts)
	for i := range want {
		want[i] = attempt(i, storage.StatusReady, strings.Repeat("why ", 1000))
	}
	want[len(want)-1].Outcome = storage.StatusFailed
	want[len(want)-1].Error = nil // a record without an error
	want[len(want)-2].StartedAt = time.Time{}
	b.mustApply(At(5*time.Second), storage.Transition{ID: "a", Fence: r.Fence, From: r.Status, To: storage.StatusFailed,
		Attempt: 2, Error: a1.Error, Attempts: want})
	b.requireAttempts("after the last transition", b.get("a"), want)

	// Empty but not nil: clears it (Get returns nil).
	r = b.running(Base, "b")
	b.mustApply(At(time.Second), storage.Transition{ID: "b", Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusReady,
		Attempt: 1, Attempts: []storage.Attempt{a0}})
	r = b.claimOne(At(time.Second), "exec-1", "t_b", "b")
	b.mustApply(At(2*time.Second), storage.Transition{ID: "b", Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusCompleted,
		Attempt: 1, Attempts: []storage.Attempt{}})
	if got := b.get("b").Attempts; got != nil {
		b.t.Fatalf("history replaced by an empty list: %#v, want nil", got)
	}

	// A transition that does not apply writes none.
	res := b.complete(At(3*time.Second), storage.Transition{ID: "a", Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusReady,
		Attempts: []storage.Attempt{a1}})
	if res[0].Applied {
		b.t.Fatal("stale transition applied")
	}
	b.requireAttempts("after a stale transition", b.get("a"), want)
}

// checkClaimReturnsAttempts: Claim returns the full row, history included
// (the engine appends the run's attempt to it).
func checkClaimReturnsAttempts(b *bundle) {
	b.lister()
	e := NewExecution("a", "task")
	e.Tags, e.RetryOf = []string{"tag"}, "orig"
	b.insert(Base, nil, e)
	r := b.claimOne(Base, "exec-1", "task", "a")
	if !slices.Equal(r.Tags, []string{"tag"}) || r.RetryOf != "orig" || r.Attempts != nil {
		b.t.Fatalf("claimed row: Tags %q, RetryOf %q, Attempts %v", r.Tags, r.RetryOf, r.Attempts)
	}
	a0 := attempt(0, storage.StatusReady, "first")
	b.mustApply(At(time.Second), storage.Transition{ID: "a", Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusReady,
		Attempt: 1, Error: a0.Error, Attempts: []storage.Attempt{a0}})
	r = b.claimOne(At(time.Second), "exec-2", "task", "a")
	b.requireAttempts("claimed row", r, []storage.Attempt{a0})
	RequireExecution(b.t, b.get("a"), r)
	if !slices.Equal(r.Tags, []string{"tag"}) || r.RetryOf != "orig" || string(r.Input) != string(e.Input) {
		b.t.Fatalf("claimed row: Tags %q, RetryOf %q, Input %q", r.Tags, r.RetryOf, r.Input)
	}
}

// checkCancelKeepsAttempts: Cancel (of the row, and of its descendants by
// the cascade), Heartbeat and Release leave the history as it is.
func checkCancelKeepsAttempts(b *bundle) {
	b.lister()
	a0 := attempt(0, storage.StatusReady, "first")
	retried := func(id string) storage.Execution {
		r := b.running(Base, id)
		b.mustApply(At(time.Second), storage.Transition{ID: id, Fence: r.Fence, From: storage.StatusRunning, To: storage.StatusReady,
			Attempt: 1, Error: a0.Error, Attempts: []storage.Attempt{a0}})
		return b.claimOne(At(time.Second), "exec-1", "t_"+id, id)
	}
	a := retried("a")
	b.heartbeat(At(2*time.Second), Lease, lease(a))
	b.release(At(3*time.Second), lease(a))
	b.requireAttempts("after Heartbeat and Release", b.get("a"), []storage.Attempt{a0})
	b.cancel(At(4*time.Second), "a")
	b.requireAttempts("after Cancel", b.get("a"), []storage.Attempt{a0})

	// A child with a history, cancelled with its parent.
	p := b.running(Base, "p")
	b.mustApply(At(time.Second), storage.Transition{ID: "p", Fence: p.Fence, From: storage.StatusRunning,
		To: storage.StatusWaitingForChildren, Children: []storage.Execution{NewChild(p, "c", "t_c", 0)}})
	c := b.claimOne(At(time.Second), "exec-1", "t_c", "c")
	b.mustApply(At(2*time.Second), storage.Transition{ID: "c", Fence: c.Fence, From: storage.StatusRunning, To: storage.StatusReady,
		Attempt: 1, Attempts: []storage.Attempt{a0}, Delay: time.Hour})
	b.cancel(At(3*time.Second), "p")
	got := b.get("c")
	if got.Status != storage.StatusCancelled {
		b.t.Fatalf("child after its parent was cancelled: %s", got.Status)
	}
	b.requireAttempts("child cancelled by the cascade", got, []storage.Attempt{a0})
}
