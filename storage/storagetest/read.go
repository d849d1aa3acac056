package storagetest

import (
	"strconv"
	"time"

	"github.com/durable-go/durable/storage"
)

var readChecks = []check{
	{"GetNotFound", checkGetNotFound},
	{"ListChildren", checkListChildren},
	{"ListChildrenUnknownParent", checkListChildrenUnknownParent},
	{"NextDueAlreadyDueIsZero", checkNextDueAlreadyDue},
	{"NextDueEarliestFutureRow", checkNextDueFuture},
	{"NextDueNone", checkNextDueNone},
}

func checkGetNotFound(b *bundle) {
	b.insert(Base, nil, NewExecution("a", "task"), NewSleeping("s", "task_sleep", "key", time.Hour))
	b.requireNotFound("missing")
	for _, key := range []string{"missing", ""} {
		_, err := b.s.GetBySleepKey(b.ctx, storage.GetBySleepKeyParams{SleepKey: key})
		requireErrIs(b.t, "GetBySleepKey("+key+")", err, storage.ErrNotFound)
	}
}

func checkListChildren(b *bundle) {
	p := NewExecution("p", "task_parent")
	other := NewExecution("other", "task_parent")
	// Inserted out of order: the store orders by ChildIndex.
	rows := []storage.Execution{p, other}
	for _, i := range []int{2, 0, 3, 1} {
		rows = append(rows, NewChild(p, "c"+strconv.Itoa(i), "task_child", i))
	}
	rows = append(rows, NewChild(other, "x0", "task_child", 0))
	b.insert(Base, nil, rows...)

	list := func(from, limit int) []storage.Execution {
		b.t.Helper()
		got, err := b.s.ListChildren(b.ctx, storage.ListChildrenParams{ParentID: "p", FromIndex: from, Limit: limit})
		if err != nil {
			b.t.Fatalf("ListChildren: %v", err)
		}
		return got
	}
	all := list(0, 0)
	requireIDs(b.t, "ListChildren", []string{"c0", "c1", "c2", "c3"}, ids(all))
	for _, c := range all {
		RequireExecution(b.t, b.get(c.ID), c)
	}
	requireIDs(b.t, "ListChildren FromIndex 2", []string{"c2", "c3"}, ids(list(2, 0)))
	requireIDs(b.t, "ListChildren Limit 2", []string{"c0", "c1"}, ids(list(0, 2)))
	requireIDs(b.t, "ListChildren FromIndex 1 Limit 2", []string{"c1", "c2"}, ids(list(1, 2)))
	requireIDs(b.t, "ListChildren FromIndex 4", []string{}, ids(list(4, 0)))
}

func checkListChildrenUnknownParent(b *bundle) {
	b.insert(Base, nil, NewExecution("a", "task"))
	for _, parent := range []string{"missing", "a", ""} {
		got, err := b.s.ListChildren(b.ctx, storage.ListChildrenParams{ParentID: parent})
		if err != nil || len(got) != 0 {
			b.t.Fatalf("ListChildren(%q): want no rows and no error, got %v, %v", parent, ids(got), err)
		}
	}
}

func (b *bundle) nextDue(now time.Time, tasks ...string) (time.Duration, bool) {
	b.t.Helper()
	wait, ok, err := b.s.NextDue(b.ctx, storage.NextDueParams{Now: now, TaskIDs: tasks})
	if err != nil {
		b.t.Fatalf("NextDue: %v", err)
	}
	return wait, ok
}

func checkNextDueNone(b *bundle) {
	if _, ok := b.nextDue(Base, "task_a"); ok {
		b.t.Fatal("NextDue on an empty store: ok = true")
	}
	// A terminal row of task_a and a future row of task_b.
	b.insert(Base, nil, NewExecution("a", "task_a"))
	b.cancel(Base, "a")
	b.insert(Base, []time.Duration{10 * time.Second}, NewExecution("b", "task_b"))
	if wait, ok := b.nextDue(Base, "task_a"); ok {
		b.t.Fatalf("NextDue(task_a) with only a terminal row: %v, true", wait)
	}
	if wait, ok := b.nextDue(Base); ok {
		b.t.Fatalf("NextDue with no task ids: %v, true", wait)
	}
}

func checkNextDueFuture(b *bundle) {
	b.insert(Base, []time.Duration{10 * time.Second, 5 * time.Second, time.Second},
		NewExecution("a1", "task_a"), NewExecution("a2", "task_a"), NewExecution("b", "task_b"))
	if wait, ok := b.nextDue(Base, "task_a"); !ok || wait != 5*time.Second {
		b.t.Fatalf("NextDue(task_a): want 5s, true; got %v, %v", wait, ok)
	}
	if wait, ok := b.nextDue(Base, "task_a", "task_b"); !ok || wait != time.Second {
		b.t.Fatalf("NextDue(task_a, task_b): want 1s, true; got %v, %v", wait, ok)
	}
	// A claimed row is next due when its lease lapses.
	b.claimIDs(At(10*time.Second), "exec-1", 10, "task_a")
	if wait, ok := b.nextDue(At(10*time.Second), "task_a"); !ok || wait != Lease {
		b.t.Fatalf("NextDue(task_a) with leased rows: want %v, true; got %v, %v", Lease, wait, ok)
	}
}

func checkNextDueAlreadyDue(b *bundle) {
	b.insert(Base, nil, NewExecution("a", "task"))
	if wait, ok := b.nextDue(At(3*time.Second), "task"); !ok || wait != 0 {
		b.t.Fatalf("NextDue with a row due 3s ago: want 0, true; got %v, %v", wait, ok)
	}
}
