package mysql

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestClaimFloorsFollowTheBacklog: a full claim starts floors at the first
// row it took of each level; a short one, a failure or a rescue drops
// them; they last floorsFor; claims of other tasks do not share them.
func TestClaimFloorsFollowTheBacklog(t *testing.T) {
	var c claimFloors
	now := time.Now()
	row := func(p int, due int64) storage.Execution {
		return storage.Execution{Queue: "q", Priority: p, DueAt: time.UnixMicro(due)}
	}
	picked := []storage.Execution{row(1, 10), row(1, 11), row(3, 7)}
	seqs := []int64{100, 101, 50}
	tasks := tasksKey([]string{"a", "b"})
	c.update([]string{"q"}, tasks, []bool{true}, picked, seqs, 3, now)
	due := c.get("q", tasks, now)
	if due == nil || due[0] != (floor{10, 100}) || due[2] != (floor{7, 50}) || due[1] != (floor{}) {
		t.Fatalf("floors after a full claim: %v", due)
	}
	if c.get("q", tasksKey([]string{"a"}), now) != nil {
		t.Fatal("floors shared with a claim of other tasks")
	}
	if c.get("q", tasks, now.Add(floorsFor)) != nil {
		t.Fatal("floors used floorsFor after the full read")
	}
	// A claim from the floors moves them, and keeps their time.
	c.update([]string{"q"}, tasks, []bool{false}, []storage.Execution{row(1, 12)}, []int64{102}, 1, now.Add(time.Millisecond))
	if due := c.get("q", tasks, now.Add(floorsFor-time.Microsecond)); due == nil || due[0] != (floor{12, 102}) || due[2] != (floor{7, 50}) {
		t.Fatalf("floors after a claim from them: %v", due)
	}
	c.update([]string{"q"}, tasks, []bool{false}, picked[:1], seqs[:1], 2, now)
	if due := c.get("q", tasks, now); due != nil {
		t.Fatalf("floors after a short claim: %v", due)
	}
	c.update([]string{"q"}, tasks, []bool{true}, picked, seqs, 3, now)
	c.drop()
	if due := c.get("q", tasks, now); due != nil {
		t.Fatalf("floors after drop: %v", due)
	}
}

// TestLevelsCond: the condition names each level once, from its floor
// when it has one.
func TestLevelsCond(t *testing.T) {
	all := levelsSQL()
	if got := levelsCond(all, nil); got != "t.priority IN "+all {
		t.Fatalf("no floors: %s", got)
	}
	var due [storage.PriorityLevels]floor
	due[1] = floor{5, 9}
	want := "(t.priority IN (1, 3, 4, 5, 6, 7, 8, 9) OR (t.priority = 2 AND (t.due_at > 5 OR t.due_at = 5 AND t.seq >= 9)))"
	if got := levelsCond(all, &due); got != want {
		t.Fatalf("a floor on level 2:\n got %s\nwant %s", got, want)
	}
}

// TestClaimBehindAFloor: a row that comes due behind a queue's floors
// while it holds a backlog (here: enqueued to be due before the rows
// already claimed, as a rescued lease is) is claimed once the floors
// lapse, first, and the backlog's claims take each row once.
func TestClaimBehindAFloor(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	ctx := t.Context()
	var rows []storage.Execution
	for i := range 40 {
		rows = append(rows, storagetest.NewExecution(fmt.Sprintf("r%02d", i), "task"))
	}
	if err := s.Insert(ctx, storage.InsertParams{Now: storagetest.At(time.Second), Executions: rows}); err != nil {
		t.Fatal(err)
	}
	claim := func(limit int) []string {
		t.Helper()
		got, err := s.Claim(ctx, storage.ClaimParams{Now: storagetest.At(time.Minute), ExecutorID: "x", TaskIDs: []string{"task"},
			Limit: limit, Lease: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(got))
		for i, e := range got {
			ids[i] = e.ID
		}
		return ids
	}
	seen := map[string]bool{}
	take := func(ids []string) {
		t.Helper()
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("%s claimed twice", id)
			}
			seen[id] = true
		}
	}
	take(claim(10)) // full: floors from here
	early := storagetest.NewExecution("early", "task")
	if err := s.Insert(ctx, storage.InsertParams{Now: storagetest.Base, Executions: []storage.Execution{early}}); err != nil {
		t.Fatal(err)
	}
	got := claim(10)
	take(got)
	if slices.Contains(got, "early") {
		t.Log("the row behind the floors was claimed at once (the floors had lapsed)")
	}
	time.Sleep(floorsFor)
	claimedAlready := seen["early"]
	got = claim(10)
	take(got)
	if !seen["early"] {
		t.Fatalf("the row behind the floors was not claimed once they lapsed: %v", got)
	}
	if !claimedAlready && got[0] != "early" {
		t.Fatalf("the row behind the floors, due first, was not claimed first once they lapsed: %v", got)
	}
	for len(got) > 0 {
		got = claim(10)
		take(got)
	}
	if len(seen) != 41 {
		t.Fatalf("claimed %d rows, want 41", len(seen))
	}
}
