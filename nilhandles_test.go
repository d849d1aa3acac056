package durable_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// Typed nils (RELIABILITY.md R21, like badinput_test.go): a nil *Task
// inside the TaskRef interface is not == nil, and a nil or zero *Task,
// *SleepingTask, *Handle or *Executor (kept from a call whose error was
// ignored) must give a clear error, never a nil-pointer panic.

func TestTypedNils(t *testing.T) {
	t.Parallel()
	type (
		echoT = *durable.Task[int, int]
		napT  = *durable.SleepingTask[int]
		hT    = *durable.Handle[int]
	)
	var (
		nilTask  echoT
		nilNap   napT
		nilH     hT
		nilEx    *durable.Executor
		nilStore *memory.Store
	)
	finalize := func(ex *durable.Executor, id string, fin *durable.Task[durable.FinalizeInput[int], int]) error {
		_, err := durable.NewParentTaskWithFinalize(ex, id, func(context.Context, int) (durable.Spawn[int], error) {
			return durable.Spawn[int]{}, nil
		}, fin)
		return err
	}
	enqueued := func(name string, want error, msg []string, op func(ctx context.Context, b *bundle) error) badCase {
		return badCase{name: name, want: want, msg: msg, run: op}
	}
	cases := []badCase{
		define("SequenceTypedNilStep", durable.ErrInvalidTask, []string{"nil_step_seq", "step 0", "nil"}, func(ex *durable.Executor) error {
			_, err := durable.NewSequence[int, int](ex, "nil_step_seq", nilTask)
			return err
		}),
		define("SequenceTypedNilSleepingStep", durable.ErrInvalidTask, []string{"nil_nap_seq", "step 1", "nil"}, func(ex *durable.Executor) error {
			str, err := durable.NewTask(ex, "str", func(ctx context.Context, n int) (string, error) { return fmt.Sprint(n), nil })
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = durable.NewSequence[int, int](ex, "nil_nap_seq", str, nilNap)
			return err
		}),
		define("SequenceZeroStep", durable.ErrInvalidTask, []string{"zero_step_seq", "step 0", "not a registered task"}, func(ex *durable.Executor) error {
			_, err := durable.NewSequence[int, int](ex, "zero_step_seq", &durable.Task[int, int]{})
			return err
		}),
		define("SequenceStepOfAnotherExecutor", durable.ErrInvalidTask, []string{"foreign_seq", "step 0", "foreign", "not registered with this executor"}, func(ex *durable.Executor) error {
			other, err := foreignTask()
			if err != nil {
				return err
			}
			_, err = durable.NewSequence[int, int](ex, "foreign_seq", other)
			return err
		}),
		define("FinalizeTypedNil", durable.ErrInvalidTask, []string{"nil_fin", "nil finalize"}, func(ex *durable.Executor) error {
			return finalize(ex, "nil_fin", (*durable.Task[durable.FinalizeInput[int], int])(nil))
		}),
		define("FinalizeZero", durable.ErrInvalidTask, []string{"zero_fin", "nil finalize"}, func(ex *durable.Executor) error {
			return finalize(ex, "zero_fin", &durable.Task[durable.FinalizeInput[int], int]{})
		}),
		define("FinalizeOfAnotherExecutor", durable.ErrInvalidTask, []string{"foreign_fin", "not registered with this executor"}, func(ex *durable.Executor) error {
			other, err := durable.New(memory.New(), durable.Config{})
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			fin, err := durable.NewTask(other, "fin", func(context.Context, durable.FinalizeInput[int]) (int, error) { return 0, nil })
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return finalize(ex, "foreign_fin", fin)
		}),
		enqueued("NilTaskEnqueue", durable.ErrUnknownTask, []string{"nil *durable.Task[int,int]", "NewTask"}, func(ctx context.Context, b *bundle) error {
			_, err := nilTask.Enqueue(ctx, 1)
			return err
		}),
		enqueued("ZeroTaskEnqueue", durable.ErrUnknownTask, []string{"zero *durable.Task[int,int]"}, func(ctx context.Context, b *bundle) error {
			_, err := (&durable.Task[int, int]{}).Enqueue(ctx, 1)
			return err
		}),
		enqueued("NilTaskEnqueueMany", durable.ErrUnknownTask, []string{"nil *durable.Task"}, func(ctx context.Context, b *bundle) error {
			_, err := nilTask.EnqueueMany(ctx, []int{1, 2})
			return err
		}),
		enqueued("NilTaskEnqueueTx", durable.ErrUnknownTask, []string{"nil *durable.Task"}, func(ctx context.Context, b *bundle) error {
			_, err := nilTask.EnqueueTx(ctx, b.store, 1)
			return err
		}),
		enqueued("EnqueueTxTypedNilInserter", durable.ErrInvalidOption, []string{"nil inserter", "*memory.Store"}, func(ctx context.Context, b *bundle) error {
			task, err := durable.NewTask(b.ex, "tx", badEcho)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = task.EnqueueTx(ctx, nilStore, 1)
			return err
		}),
		enqueued("NilTaskHandle", durable.ErrUnknownTask, []string{"nil *durable.Task"}, func(ctx context.Context, b *bundle) error {
			_, err := nilTask.Handle(ctx, "te_x")
			return err
		}),
		enqueued("ChildOfZeroTask", durable.ErrUnknownTask, []string{"item 1"}, func(ctx context.Context, b *bundle) error {
			task, err := durable.NewTask(b.ex, "kid", badEcho)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = b.ex.EnqueueMany(ctx, durable.ChildOf(task, 1), durable.ChildOf(&durable.Task[int, int]{}, 2))
			return err
		}),
		enqueued("NilSleepingEnqueue", durable.ErrUnknownTask, []string{"nil *durable.SleepingTask[int]"}, func(ctx context.Context, b *bundle) error {
			_, err := nilNap.Enqueue(ctx, "k")
			return err
		}),
		enqueued("NilSleepingWake", durable.ErrUnknownTask, []string{"nil *durable.SleepingTask[int]"}, func(ctx context.Context, b *bundle) error {
			_, err := nilNap.Wake(ctx, "k", durable.Completed(1))
			return err
		}),
		enqueued("NilSleepingPackageWake", durable.ErrUnknownTask, []string{"nil *durable.SleepingTask[int]"}, func(ctx context.Context, b *bundle) error {
			_, err := durable.Wake(ctx, nilNap, "k", durable.Completed(1))
			return err
		}),
		enqueued("ZeroSleepingWake", durable.ErrUnknownTask, []string{"zero *durable.SleepingTask[int]"}, func(ctx context.Context, b *bundle) error {
			_, err := (&durable.SleepingTask[int]{}).Wake(ctx, "k", durable.Completed(1))
			return err
		}),
		enqueued("NilSleepingHandle", durable.ErrUnknownTask, []string{"nil *durable.SleepingTask[int]"}, func(ctx context.Context, b *bundle) error {
			_, err := nilNap.Handle(ctx, "te_x")
			return err
		}),
		enqueued("NilSleepingChild", durable.ErrUnknownTask, []string{"item 0", "no task"}, func(ctx context.Context, b *bundle) error {
			_, err := b.ex.EnqueueMany(ctx, nilNap.Child("k"))
			return err
		}),
		{name: "NilSleepingChildFailsParent", want: durable.ErrUnknownTask, msg: []string{"parent", "child 0", "nil task"},
			run: func(ctx context.Context, b *bundle) error {
				return parentFailure(ctx, b, func(*durable.Executor) ([]durable.Child, error) {
					return []durable.Child{nilNap.Child("k")}, nil
				})
			}},
		enqueued("NilExecutorEnqueueMany", durable.ErrInvalidOption, []string{"nil *Executor"}, func(ctx context.Context, b *bundle) error {
			_, err := nilEx.EnqueueMany(ctx)
			return err
		}),
		enqueued("NilHandleGet", durable.ErrNotFound, []string{"nil *durable.Handle[int]"}, func(ctx context.Context, b *bundle) error {
			_, err := nilH.Get(ctx)
			return err
		}),
		enqueued("NilHandleWait", durable.ErrNotFound, []string{"nil *durable.Handle[int]"}, func(ctx context.Context, b *bundle) error {
			_, err := nilH.Wait(ctx)
			return err
		}),
		enqueued("NilHandleCancel", durable.ErrNotFound, []string{"nil *durable.Handle[int]"}, func(ctx context.Context, b *bundle) error {
			return nilH.Cancel(ctx)
		}),
		enqueued("ZeroHandleWait", durable.ErrNotFound, []string{"zero *durable.Handle[int]"}, func(ctx context.Context, b *bundle) error {
			_, err := (&durable.Handle[int]{}).Wait(ctx)
			return err
		}),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runBadCase(t, c)
		})
	}
}

// TestTypedNilAccessors checks the methods that return no error: on a nil
// or zero receiver they return the zero value (no panic).
func TestTypedNilAccessors(t *testing.T) {
	t.Parallel()
	var (
		task *durable.Task[int, int]
		nap  *durable.SleepingTask[int]
		h    *durable.Handle[int]
	)
	for name, got := range map[string]func() string{
		"Task.ID":            func() string { return task.ID() },
		"zero Task.ID":       func() string { return (&durable.Task[int, int]{}).ID() },
		"SleepingTask.ID":    func() string { return nap.ID() },
		"Handle.ID":          func() string { return h.ID() },
		"Handle.TaskID":      func() string { return h.TaskID() },
		"zero Handle.TaskID": func() string { return (&durable.Handle[int]{}).TaskID() },
		"SleepingTask.Child": func() string { _ = nap.Child("k"); return "" },
		"ChildOf(nil)":       func() string { _ = durable.ChildOf(task, 1); return "" },
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s panicked: %v", name, r)
				}
			}()
			if s := got(); s != "" {
				t.Errorf("%s = %q", name, s)
			}
		}()
	}
}

// TestNilExecutor: a nil *Executor (kept from a New whose error was
// ignored) and New with a typed-nil store give errors, not panics.
func TestNilExecutor(t *testing.T) {
	t.Parallel()
	var ex *durable.Executor
	ctx := context.Background()
	if err := ex.Start(ctx); !errors.Is(err, durable.ErrInvalidOption) {
		t.Errorf("nil Start: %v, want ErrInvalidOption", err)
	}
	if err := ex.Shutdown(ctx); !errors.Is(err, durable.ErrInvalidOption) {
		t.Errorf("nil Shutdown: %v, want ErrInvalidOption", err)
	}
	if err := ex.Err(); !errors.Is(err, durable.ErrInvalidOption) {
		t.Errorf("nil Err: %v, want ErrInvalidOption", err)
	}
	if id := ex.ID(); id != "" {
		t.Errorf("nil ID = %q", id)
	}
	select {
	case <-ex.Done():
	default:
		t.Error("nil Done is not closed")
	}
	var store *memory.Store
	if _, err := durable.New(store, durable.Config{}); !errors.Is(err, durable.ErrInvalidOption) || !strings.Contains(err.Error(), "*memory.Store") {
		t.Errorf("New with a typed-nil store: %v, want ErrInvalidOption naming the type", err)
	}
}
