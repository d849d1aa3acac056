package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestTagsOnEveryInsertPath: tags and RetryOf are stored, and the tags
// table written, by each way Insert writes rows (insert_plain, COPY, the
// general insert, InsertTx, children at Complete), so List by tag finds
// every row; Delete removes their tags rows.
func TestTagsOnEveryInsertPath(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tagged := func(id string) storage.Execution {
		e := storagetest.NewExecution(id, "task")
		e.Tags, e.RetryOf = []string{"all", "t-" + id}, "orig-"+id
		return e
	}
	var want []string
	insert := func(rows ...storage.Execution) {
		t.Helper()
		if err := s.Insert(ctx, storage.InsertParams{Now: now, Executions: rows}); err != nil {
			t.Fatal(err)
		}
		for _, e := range rows {
			want = append(want, e.ID)
		}
	}
	// insert_plain: a few plain rows.
	insert(tagged("plain-1"), tagged("plain-2"))
	// COPY: copyThreshold plain rows, some tagged.
	bulk := make([]storage.Execution, copyThreshold)
	for i := range bulk {
		bulk[i] = storagetest.NewExecution(fmt.Sprintf("bulk-%03d", i), "task")
		if i%100 == 0 {
			bulk[i] = tagged(bulk[i].ID)
		}
	}
	if !copyable(storage.InsertParams{Executions: bulk}) {
		t.Fatal("the bulk batch would not go through COPY")
	}
	if err := s.Insert(ctx, storage.InsertParams{Now: now, Executions: bulk}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(bulk); i += 100 {
		want = append(want, bulk[i].ID)
	}
	// The general insert: a sleeping row.
	sleeping := storagetest.NewSleeping("sleeping", "task", "key", time.Hour)
	sleeping.Tags = []string{"all"}
	insert(sleeping)
	// InsertTx.
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InsertTx(ctx, tx, storage.InsertParams{Now: now, Executions: []storage.Execution{tagged("tx")}}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want = append(want, "tx")
	// A child spawned at Complete.
	if err := s.Insert(ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{
		storagetest.NewExecution("parent", "parent")}}); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.Claim(ctx, storage.ClaimParams{Now: now, ExecutorID: "e", TaskIDs: []string{"parent"}, Limit: 1, Lease: time.Minute})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("Claim: %d rows, %v", len(claimed), err)
	}
	p := claimed[0]
	child := storagetest.NewChild(p, "child", "task", 0)
	child.Tags = []string{"all"}
	res, err := s.Complete(ctx, storage.CompleteParams{Now: now, Transitions: []storage.Transition{{ID: p.ID, Fence: p.Fence,
		From: storage.StatusRunning, To: storage.StatusWaitingForChildren, Children: []storage.Execution{child}}}})
	if err != nil || !res[0].Applied {
		t.Fatalf("Complete with a child: %+v, %v", res, err)
	}
	want = append(want, "child")

	got, err := s.List(ctx, storage.ListParams{Limit: storage.MaxListLimit, Filter: storage.ListFilter{Tag: "all"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
		if e.ID != "sleeping" && e.ID != "child" && e.RetryOf != "orig-"+e.ID {
			t.Errorf("row %s: RetryOf %q", e.ID, e.RetryOf)
		}
	}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("List by tag: %v\nwant %v", ids, want)
	}
	one, err := s.List(ctx, storage.ListParams{Limit: 10, Filter: storage.ListFilter{Tag: "t-bulk-200"}})
	if err != nil || len(one) != 1 || one[0].ID != "bulk-200" || !slices.Equal(one[0].Tags, []string{"all", "t-bulk-200"}) {
		t.Fatalf("List by a tag of a row written by COPY: %+v, %v", one, err)
	}

	// Delete removes the tags rows with the executions.
	if _, err := s.Complete(ctx, storage.CompleteParams{Now: now, Transitions: []storage.Transition{{ID: "sleeping", Fence: 0,
		From: storage.StatusRunning, To: storage.StatusCompleted}}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"plain-1", "bulk-000"} {
		if _, err := s.Cancel(ctx, storage.CancelParams{Now: now, ID: id, Error: storage.ErrorInfo{Kind: storage.ErrorKindCancelled}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Delete(ctx, storage.DeleteParams{IDs: []string{"sleeping", "plain-1", "bulk-000"}}); err != nil || n != 3 {
		t.Fatalf("Delete: %d, %v", n, err)
	}
	var left int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+s.q.data.Tags+" WHERE id IN ('sleeping', 'plain-1', 'bulk-000')").Scan(&left); err != nil || left != 0 {
		t.Fatalf("tags rows of deleted executions: %d, %v", left, err)
	}
}
