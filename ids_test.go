package durable

import (
	"context"
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
