package durable_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage/memory"
)

func TestIdempotencyWindow(t *testing.T) {
	start := time.Date(2026, 12, 2, 10, 15, 0, 0, time.UTC)
	fc := clock.NewFake(start)
	b := setupOn(t, memory.New(), durable.Config{Clock: fc}, false)
	task := durable.Must(durable.NewTask(b.ex, "report", func(ctx context.Context, in string) (string, error) { return in, nil }))
	enqueue := func(in string) string {
		t.Helper()
		h, err := task.Enqueue(b.ctx, in, durable.WithIdempotencyKey("report-tenant-7"), durable.WithIdempotencyWindow(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return h.ID()
	}
	first := enqueue("a")
	fc.Advance(40 * time.Minute) // 10:55: the same clock hour
	if again := enqueue("b"); again != first {
		t.Fatalf("within the window: %s, then %s", first, again)
	}
	fc.Advance(10 * time.Minute) // 11:05: the next one
	next := enqueue("c")
	if next == first {
		t.Fatalf("the next window gave the same execution %s", next)
	}
	hour := start.Truncate(time.Hour).Unix()
	x, err := b.ex.GetByKey(b.ctx, "report-tenant-7:w"+strconv.FormatInt(hour, 10))
	if err != nil || x.ID != first {
		t.Fatalf("GetByKey of the first window: %v, %v (want %s)", x.ID, err, first)
	}
	// A forever key is another key.
	h, err := task.Enqueue(b.ctx, "d", durable.WithIdempotencyKey("report-tenant-7"))
	if err != nil || h.ID() == first || h.ID() == next {
		t.Fatalf("the same key without a window: %v, %v", h, err)
	}

	for name, opts := range map[string][]durable.EnqueueOption{
		"a window without a key": {durable.WithIdempotencyWindow(time.Hour)},
		"a window under 1s":      {durable.WithIdempotencyKey("k"), durable.WithIdempotencyWindow(time.Millisecond)},
		"a window over a year":   {durable.WithIdempotencyKey("k"), durable.WithIdempotencyWindow(400 * 24 * time.Hour)},
	} {
		if _, err := task.Enqueue(b.ctx, "x", opts...); !errors.Is(err, durable.ErrInvalidOption) {
			t.Errorf("%s: want ErrInvalidOption, got %v", name, err)
		}
	}
}
