package durable_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable"
)

// TestOperateWakeWithoutTheTask: an unstarted executor that has not
// registered the sleeping task wakes its executions by key, with an
// encoded output or a failure; waking again changes nothing; bad keys and
// outputs are refused, naming the problem.
func TestOperateWakeWithoutTheTask(t *testing.T) {
	b := setup(t, durable.Config{})
	approval := durable.Must(durable.NewSleepingTask[string](b.ex, "approval", durable.WithTimeout(time.Hour)))
	ok, err := approval.Enqueue(b.ctx, "order-1")
	if err != nil {
		t.Fatal(err)
	}
	no, err := approval.Enqueue(b.ctx, "order-2")
	if err != nil {
		t.Fatal(err)
	}
	tool := setupOn(t, b.store, durable.Config{MaxPayloadBytes: 1024}, false) // no task registered, not started

	rec, err := tool.ex.Wake(b.ctx, "order-1", []byte(`"approved by alice"`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != ok.ID() || rec.Status != durable.StatusCompleted || string(rec.Output) != `"approved by alice"` {
		t.Errorf("woken: %s %s output %s, want %s completed \"approved by alice\"", rec.ID, rec.Status, rec.Output, ok.ID())
	}
	if x := waitFor(t, b, ok); x.Output != "approved by alice" {
		t.Errorf("the typed view decodes %q, want the output given to Wake", x.Output)
	}
	rec, err = tool.ex.Wake(b.ctx, "order-1", []byte(`"approved by bob"`), nil)
	if err != nil || string(rec.Output) != `"approved by alice"` {
		t.Errorf("waking again: %v, output %s; want no error and the first output", err, rec.Output)
	}

	rec, err = tool.ex.Wake(b.ctx, "order-2", []byte(`"ignored"`), errors.New("rejected by carol"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != durable.StatusFailed || rec.Err == nil || rec.Err.Message != "rejected by carol" || rec.Output != nil {
		t.Errorf("failed by Wake: %s, error %v, output %s; want failed, \"rejected by carol\", none", rec.Status, rec.Err, rec.Output)
	}
	if x := waitFor(t, b, no); x.Status != durable.StatusFailed {
		t.Errorf("the typed view: %s, want failed", x.Status)
	}

	for _, c := range []struct {
		name, key string
		output    []byte
		want      error
	}{
		{"UnknownKey", "order-3", []byte(`"x"`), durable.ErrNotFound},
		{"EmptyKey", "", []byte(`"x"`), durable.ErrInvalidInput},
		{"TooLarge", "order-1", []byte(`"` + strings.Repeat("x", 2000) + `"`), durable.ErrPayloadTooLarge},
	} {
		if _, err := tool.ex.Wake(b.ctx, c.key, c.output, nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// TestOperateCancelWithoutTheTask: an executor that has not registered
// the task cancels its execution by id; cancelling a finished one changes
// nothing; an unknown id is ErrNotFound.
func TestOperateCancelWithoutTheTask(t *testing.T) {
	b := setup(t, durable.Config{})
	block := durable.Must(durable.NewTask(b.ex, "block", func(ctx context.Context, _ int) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}))
	h, err := block.Enqueue(b.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	tool := setupOn(t, b.store, durable.Config{}, false)
	if err := tool.ex.Cancel(b.ctx, h.ID()); err != nil {
		t.Fatal(err)
	}
	if x := waitFor(t, b, h); x.Status != durable.StatusCancelled {
		t.Errorf("after Cancel: %s, want cancelled", x.Status)
	}
	if err := tool.ex.Cancel(b.ctx, h.ID()); err != nil {
		t.Errorf("cancelling a finished execution: %v, want nil", err)
	}
	if err := tool.ex.Cancel(b.ctx, "no-such-id"); !errors.Is(err, durable.ErrNotFound) {
		t.Errorf("unknown id: %v, want ErrNotFound", err)
	}
}
