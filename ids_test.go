package durable

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage/memory"
)

// TestExecutionIDsIncrease checks that one executor's execution ids
// strictly increase, within a millisecond, across milliseconds and when
// the clock steps back, and keep their shape.
func TestExecutionIDsIncrease(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	g := newIDGen(c, [2]uint64{1, 2})
	prev := ""
	check := func(what string) {
		t.Helper()
		id := g.execution()
		if len(id) != 29 || !strings.HasPrefix(id, "te_") || strings.Trim(id[3:], idAlphabet) != "" {
			t.Fatalf("%s: malformed id %q", what, id)
		}
		if id <= prev {
			t.Fatalf("%s: id %q does not follow %q", what, id, prev)
		}
		prev = id
	}
	for range 1000 {
		check("same millisecond")
	}
	c.Advance(time.Millisecond)
	check("next millisecond")
	// A clock that steps back: the ids go on from the last millisecond.
	g.mu.Lock()
	ms, _, _ := g.nextLocked(g.lastMS - 1000)
	g.mu.Unlock()
	if ms != g.lastMS {
		t.Fatalf("after the clock stepped back: millisecond %d, want the last one, %d", ms, g.lastMS)
	}
	check("after the clock stepped back")
	// Carries through the low 64 bits and, past the largest number, into
	// the next millisecond.
	g.lo = ^uint64(0)
	check("carry into the top 16 bits")
	g.hi, g.lo = 0xffff, ^uint64(0)
	check("past the largest number")
}

// TestEnqueueManyIDsFollowItemOrder checks that a batch large enough to be
// encoded on several goroutines gets ids increasing in item order.
func TestEnqueueManyIDsFollowItemOrder(t *testing.T) {
	ex, err := New(memory.New(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	task := Must(NewTask(ex, "ids", func(ctx context.Context, n int) (int, error) { return n, nil }))
	inputs := make([]int, 3*parallelPrepareMin)
	hs, err := task.EnqueueMany(t.Context(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(hs); i++ {
		if hs[i].ID() <= hs[i-1].ID() {
			t.Fatalf("item %d has id %s, not after item %d's %s", i, hs[i].ID(), i-1, hs[i-1].ID())
		}
	}
}

// TestEnqueueManyIDsFollowClaimOrder checks that a batch of mixed
// priorities and delays gets its ids in the order claims take its rows
// (priority, then delay, then item order), the order the SQL stores lay
// it out in, and that a keyed item keeps its key's id.
func TestEnqueueManyIDsFollowClaimOrder(t *testing.T) {
	ex, err := New(memory.New(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	task := Must(NewTask(ex, "ids", func(ctx context.Context, n int) (int, error) { return n, nil }))
	const n = 90
	items := make([]Child, n)
	for i := range items {
		opts := []EnqueueOption{WithPriority(1 + i%9)}
		if i%10 == 0 {
			opts = append(opts, WithDelay(time.Hour))
		}
		if i == 7 {
			opts = append(opts, WithIdempotencyKey("seventh"))
		}
		items[i] = ChildOf(task, i, opts...)
	}
	hs, err := ex.EnqueueMany(t.Context(), items...)
	if err != nil {
		t.Fatal(err)
	}
	type claimKey struct{ priority, delayed, item int }
	keyOf := func(i int) claimKey {
		k := claimKey{priority: 1 + i%9, item: i}
		if i%10 == 0 {
			k.delayed = 1
		}
		return k
	}
	order := make([]int, 0, n)
	for i := range n {
		if i != 7 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		ka, kb := keyOf(a), keyOf(b)
		return cmp.Or(cmp.Compare(ka.priority, kb.priority), cmp.Compare(ka.delayed, kb.delayed), cmp.Compare(ka.item, kb.item))
	})
	for k := 1; k < len(order); k++ {
		if a, b := hs[order[k-1]], hs[order[k]]; b <= a {
			t.Fatalf("item %d (claimed after item %d) has id %s, not after %s", order[k], order[k-1], b, a)
		}
	}
	if got := hs[7]; got != "ik_seventh" {
		t.Fatalf("keyed item: id %s, want ik_seventh", got)
	}
	for i, id := range hs {
		in, err := ex.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		var got int
		if err := json.Unmarshal(in.Input, &got); err != nil || got != i {
			t.Fatalf("item %d (%s) holds input %s, want %d", i, id, in.Input, i)
		}
	}
}
