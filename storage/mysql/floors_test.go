package mysql

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestClaimFloorsFollowTheBacklog: a full claim starts floors past the
// last row it took of each level, and leaves out the levels it passed
// through without taking a row until an event (stale); a short one, a
// failure or a rescue drops them; they last floorsFor; claims of other
// tasks do not share them.
func TestClaimFloorsFollowTheBacklog(t *testing.T) {
	var c claimFloors
	now := time.Now()
	row := func(p int, due int64) storage.Execution {
		return storage.Execution{Queue: "q", Priority: p, DueAt: time.UnixMicro(due)}
	}
	picked := []storage.Execution{row(1, 10), row(1, 11), row(3, 7)}
	seqs := []int64{100, 101, 50}
	tasks := tasksKey([]string{"a", "b"})
	_, gen := c.get("q", tasks, now)
	c.update([]string{"q"}, tasks, []bool{true}, picked, seqs, 3, false, now, gen)
	due, gen := c.get("q", tasks, now)
	if due == nil || due[0] != (floor{11, 102}) || due[2] != (floor{7, 51}) || due[1] != skipLevel || due[3] != (floor{}) {
		t.Fatalf("floors after a full claim: %v", due)
	}
	if got, _ := c.get("q", tasksKey([]string{"a"}), now); got != nil {
		t.Fatal("floors shared with a claim of other tasks")
	}
	if got, _ := c.get("q", tasks, now.Add(floorsFor)); got != nil {
		t.Fatal("floors used floorsFor after the full read")
	}
	// A claim from the floors moves them, and keeps their time.
	c.update([]string{"q"}, tasks, []bool{false}, []storage.Execution{row(1, 12)}, []int64{102}, 1, false, now.Add(time.Millisecond), gen)
	if due, _ := c.get("q", tasks, now.Add(floorsFor-time.Microsecond)); due == nil || due[0] != (floor{12, 103}) || due[2] != (floor{7, 51}) || due[1] != skipLevel {
		t.Fatalf("floors after a claim from them: %v", due)
	}
	// A claim that takes rows of level 4 only: levels 1 to 3 are passed.
	c.update([]string{"q"}, tasks, []bool{false}, []storage.Execution{row(4, 15)}, []int64{103}, 1, false, now.Add(time.Millisecond), gen)
	if due, _ := c.get("q", tasks, now); due == nil || due[0] != skipLevel || due[1] != skipLevel ||
		due[2] != skipLevel || due[3] != (floor{15, 104}) || due[4] != (floor{}) {
		t.Fatalf("floors after a claim from a later level: %v", due)
	}
	// An event: the passed levels are read again, from their floors.
	c.stale()
	due, gen2 := c.get("q", tasks, now)
	if gen2 == gen || due == nil || due[0] != (floor{12, 103}) || due[1] != (floor{}) || due[2] != (floor{7, 51}) || due[3] != (floor{15, 104}) {
		t.Fatalf("floors after an event: %v", due)
	}
	// A claim that read before the event passes levels for its own
	// generation only: they are read.
	c.update([]string{"q"}, tasks, []bool{false}, []storage.Execution{row(5, 16)}, []int64{105}, 1, false, now, gen)
	if due, _ := c.get("q", tasks, now); due == nil || due[0] != (floor{12, 103}) || due[3] != (floor{15, 104}) || due[4] != (floor{16, 106}) {
		t.Fatalf("floors after a claim that read before the event: %v", due)
	}
	// Rows of another queue in the same claim say nothing of q's levels.
	other := storage.Execution{Queue: "r", Priority: 6, DueAt: time.UnixMicro(16)}
	c.update([]string{"q", "r"}, tasks, []bool{false, true}, []storage.Execution{row(5, 17), other}, []int64{106, 107}, 2, false, now, gen2)
	if due, _ := c.get("q", tasks, now); due == nil || due[3] != skipLevel || due[4] != (floor{17, 107}) || due[5] != (floor{}) {
		t.Fatalf("floors of q after a claim of two queues: %v", due)
	}
	if due, _ := c.get("r", tasks, now); due == nil || due[4] != skipLevel || due[5] != (floor{16, 108}) || due[6] != (floor{}) {
		t.Fatalf("floors of r after a claim of two queues: %v", due)
	}
	if q, r, n := c.branchLimit("q", tasks, 80), c.branchLimit("r", tasks, 80), c.branchLimit("s", tasks, 80); q != 50 || r != 50 || n != 80 {
		t.Fatalf("branch limits after a claim that took half of each: %d, %d, %d; want 50, 50 and 80", q, r, n)
	}
	// A short claim drops the floors; one that stopped at a branch limit
	// does not.
	c.update([]string{"q"}, tasks, []bool{false}, picked[:1], seqs[:1], 2, true, now, gen2)
	if due, _ := c.get("q", tasks, now); due == nil {
		t.Fatal("floors dropped after a claim cut at a branch limit")
	}
	c.update([]string{"q"}, tasks, []bool{false}, picked[:1], seqs[:1], 2, false, now, gen2)
	if due, _ := c.get("q", tasks, now); due != nil {
		t.Fatalf("floors after a short claim: %v", due)
	}
	c.update([]string{"q"}, tasks, []bool{true}, picked, seqs, 3, false, now, gen2)
	c.drop()
	if due, _ := c.get("q", tasks, now); due != nil {
		t.Fatalf("floors after drop: %v", due)
	}
}

// TestCutAtBranchEnds: a claim of several queues keeps its rows up to the
// last of a queue that returned as many rows as its read was limited to.
func TestCutAtBranchEnds(t *testing.T) {
	rows := func(queues string) []storage.Execution {
		var out []storage.Execution
		for _, q := range queues {
			out = append(out, storage.Execution{Queue: string(q)})
		}
		return out
	}
	for _, c := range []struct {
		picked string
		limits []int
		keep   int
		more   bool
	}{
		{"ababab", []int{6, 6}, 6, false}, // no queue limited
		{"ababab", []int{4, 4}, 6, false}, // neither reached its limit
		{"aabbb", []int{2, 6}, 2, true},   // a's second row ends it
		{"abbba", []int{2, 3}, 4, true},   // b's third row, before a's second
		{"abab", []int{2, 2}, 3, true},    // a's second row, before b's second
		{"bbbb", []int{2, 6}, 4, false},   // a returned nothing
		{"aaab", []int{3, 1}, 3, true},    // a ends before b's only row
	} {
		picked := rows(c.picked)
		seqs := make([]int64, len(picked))
		got, gotSeqs, more := cutAtBranchEnds(picked, seqs, []string{"a", "b"}, c.limits, 6)
		if len(got) != c.keep || len(gotSeqs) != c.keep || more != c.more {
			t.Errorf("%s with limits %v: kept %d (more %v), want %d (more %v)", c.picked, c.limits, len(got), more, c.keep, c.more)
		}
	}
}

// TestLevelsCond: the condition names each level once, from its floor
// when it has one, but the levels left out.
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
	due[0], due[3], due[4], due[5], due[6], due[7], due[8] = skipLevel, skipLevel, skipLevel, skipLevel, skipLevel, skipLevel, skipLevel
	want = "(t.priority IN (3) OR (t.priority = 2 AND (t.due_at > 5 OR t.due_at = 5 AND t.seq >= 9)))"
	if got := levelsCond(all, &due); got != want {
		t.Fatalf("levels left out:\n got %s\nwant %s", got, want)
	}
	due[2] = skipLevel
	want = "((t.priority = 2 AND (t.due_at > 5 OR t.due_at = 5 AND t.seq >= 9)))"
	if got := levelsCond(all, &due); got != want {
		t.Fatalf("one level left:\n got %s\nwant %s", got, want)
	}
	for l := range due {
		due[l] = skipLevel
	}
	if got := levelsCond(all, &due); got != "FALSE" {
		t.Fatalf("every level left out: %s", got)
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

// TestClaimOfSeveralQueuesKeepsClaimOrder: a claim of two queues whose
// reads are limited by the last claim's share (none of queue b's) still
// takes the rows in claim order when b fills up with rows of a higher
// priority: it stops at b's limit, and the next claims take the rest of
// b's rows before any more of a's. A level the claims passed (a's
// priority 2) is read again after an insert of this store (its event).
func TestClaimOfSeveralQueuesKeepsClaimOrder(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	ctx := t.Context()
	insert := func(queue string, priority, n int, prefix string) {
		t.Helper()
		var rows []storage.Execution
		for i := range n {
			e := storagetest.NewExecution(fmt.Sprintf("%s%03d", prefix, i), "task")
			e.Queue, e.Priority = queue, priority
			rows = append(rows, e)
		}
		if err := s.Insert(ctx, storage.InsertParams{Now: storagetest.At(time.Second), Executions: rows}); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(limit int) []storage.Execution {
		t.Helper()
		got, err := s.Claim(ctx, storage.ClaimParams{Now: storagetest.At(time.Minute), ExecutorID: "x", TaskIDs: []string{"task"},
			Queues: []string{"a", "b"}, Limit: limit, Lease: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	insert("a", 1, 10, "a1-")
	insert("a", 5, 200, "a5-")
	if got := claim(50); len(got) != 50 || got[9].Priority != 1 || got[10].Priority != 5 {
		t.Fatalf("first claim: %d rows", len(got))
	}
	insert("b", 3, 60, "b3-")
	insert("a", 2, 1, "late-")
	var order []string
	for range 10 {
		for _, e := range claim(50) {
			order = append(order, fmt.Sprintf("%s%d", e.Queue, e.Priority))
		}
	}
	want := append([]string{"a2"}, slices.Repeat([]string{"b3"}, 60)...)
	if len(order) < len(want) || !slices.Equal(order[:len(want)], want) {
		t.Fatalf("claims after b's rows came: %v, want %v then a5's", order, want)
	}
	if n := len(order); n != 271-50 {
		t.Fatalf("%d rows claimed in all, want %d", n, 271-50)
	}
}
