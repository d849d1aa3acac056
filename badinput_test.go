package durable_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// Bad input (RELIABILITY.md R21): every case must give a clear error (the
// engine's sentinel, and a message naming what was wrong), never a panic or
// a hang.

// badCase is one bad input.
type badCase struct {
	name string
	cfg  durable.Config // of the executor the case runs on
	run  func(ctx context.Context, b *bundle) error
	want error    // errors.Is(err, want)
	also error    // set: errors.Is(err, also) too (the sentinel rule: errors.go)
	msg  []string // substrings the message must contain
	once []string // substrings the message must contain exactly once
	bug  string   // set: a known engine bug, the case is skipped
}

// badTimeout bounds each case: a case still running then has hung.
const badTimeout = 10 * time.Second

func badEcho(ctx context.Context, n int) (int, error) { return n, nil }

func TestBadInput(t *testing.T) {
	t.Parallel()
	var cases []badCase
	for _, group := range [][]badCase{
		badTaskDefinitions(), badTaskOptions(), badEnqueueOptions(), badInputs(), badChildren(),
		badSleeping(), badHandles(), badAfterShutdown(), badConfigs(), badLoopsAndSequences(),
	} {
		cases = append(cases, group...)
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("two cases named %s", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.bug != "" {
				t.Skip("engine bug: " + c.bug)
			}
			runBadCase(t, c)
		})
	}
}

// runBadCase runs c on a fresh started executor, guarding against panics
// and hangs, and checks its error.
func runBadCase(t *testing.T, c badCase) {
	t.Helper()
	b := setup(t, c.cfg)
	ctx, cancel := context.WithTimeout(b.ctx, badTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("PANIC: %v", r)
			}
		}()
		done <- c.run(ctx, b)
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(badTimeout + time.Second):
		t.Fatalf("hung for %s", badTimeout)
	}
	if err == nil {
		t.Fatalf("no error; want %v", c.want)
	}
	if !errors.Is(err, c.want) {
		t.Fatalf("error %q does not wrap %q", err, c.want)
	}
	if c.also != nil && !errors.Is(err, c.also) {
		t.Errorf("error %q does not wrap %q", err, c.also)
	}
	for _, m := range c.msg {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
	for _, m := range c.once {
		if n := strings.Count(err.Error(), m); n != 1 {
			t.Errorf("error %q mentions %q %d times, want once", err, m, n)
		}
	}
}

// alsoWraps returns c expecting its error to wrap also as well.
func alsoWraps(also error, c badCase) badCase {
	c.also = also
	return c
}

// define is a case that registers a task and returns the registration's
// error.
func define(name string, want error, msg []string, register func(ex *durable.Executor) error) badCase {
	return badCase{name: name, want: want, msg: msg, run: func(ctx context.Context, b *bundle) error {
		return register(b.ex)
	}}
}

func newEcho(ex *durable.Executor, id string, opts ...durable.TaskOption) error {
	_, err := durable.NewTask(ex, id, badEcho, opts...)
	return err
}

func badTaskDefinitions() []badCase {
	long := strings.Repeat("a", 256)
	return []badCase{
		define("TaskIDEmpty", durable.ErrInvalidTask, []string{`task id ""`}, func(ex *durable.Executor) error { return newEcho(ex, "") }),
		define("TaskIDTooLong", durable.ErrInvalidTask, []string{"task id", long}, func(ex *durable.Executor) error { return newEcho(ex, long) }),
		define("TaskIDWithDash", durable.ErrInvalidTask, []string{`"a-b"`}, func(ex *durable.Executor) error { return newEcho(ex, "a-b") }),
		define("TaskIDWithSpace", durable.ErrInvalidTask, []string{`"a b"`}, func(ex *durable.Executor) error { return newEcho(ex, "a b") }),
		define("TaskIDNotASCII", durable.ErrInvalidTask, []string{`"tâche"`}, func(ex *durable.Executor) error { return newEcho(ex, "tâche") }),
		define("DuplicateTaskID", durable.ErrDuplicateTask, []string{"twice"}, func(ex *durable.Executor) error {
			if err := newEcho(ex, "twice"); err != nil {
				return fmt.Errorf("first registration: %w", err)
			}
			return newEcho(ex, "twice")
		}),
		alsoWraps(durable.ErrInvalidOption, define("NilExecutor", durable.ErrInvalidTask, []string{"nil executor", "orphan"}, func(*durable.Executor) error {
			return newEcho(nil, "orphan")
		})),
		define("NilFunction", durable.ErrInvalidTask, []string{"nil function", "no_fn"}, func(ex *durable.Executor) error {
			_, err := durable.NewTask[int, int](ex, "no_fn", nil)
			return err
		}),
		define("NilParentFunction", durable.ErrInvalidTask, []string{"nil function", "no_parent_fn"}, func(ex *durable.Executor) error {
			_, err := durable.NewParentTask[int, int](ex, "no_parent_fn", nil)
			return err
		}),
		define("NilLoopFunction", durable.ErrInvalidTask, []string{"nil function", "no_loop_fn"}, func(ex *durable.Executor) error {
			_, err := durable.NewLoopTask[int, int](ex, "no_loop_fn", nil, durable.LoopOptions{MaxIterations: 1})
			return err
		}),
		alsoWraps(durable.ErrUnknownTask, define("NilFinalize", durable.ErrInvalidTask, []string{"nil finalize", "no_fin"}, func(ex *durable.Executor) error {
			_, err := durable.NewParentTaskWithFinalize[int, int, int](ex, "no_fin", func(context.Context, int) (durable.Spawn[int], error) {
				return durable.Spawn[int]{}, nil
			}, nil)
			return err
		})),
		alsoWraps(durable.ErrUnknownTask, define("FinalizeOfAnotherExecutor", durable.ErrInvalidTask, []string{"foreign_fin", "not registered"}, func(ex *durable.Executor) error {
			other, err := durable.New(memory.New(), durable.Config{})
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			fin, err := durable.NewTask(other, "fin", func(context.Context, durable.FinalizeInput[int]) (int, error) { return 0, nil })
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = durable.NewParentTaskWithFinalize(ex, "foreign_fin", func(context.Context, int) (durable.Spawn[int], error) {
				return durable.Spawn[int]{}, nil
			}, fin)
			return err
		})),
	}
}

// taskOption is a case registering a task with a bad option: the
// registration fails (ErrInvalidTask) on a bad option (ErrInvalidOption,
// as at enqueue).
func taskOption(name string, opt durable.TaskOption, field string) badCase {
	return alsoWraps(durable.ErrInvalidOption, define(name, durable.ErrInvalidTask, []string{"opt_task", field}, func(ex *durable.Executor) error {
		return newEcho(ex, "opt_task", opt)
	}))
}

func badTaskOptions() []badCase {
	retry := func(p durable.RetryPolicy) durable.TaskOption { return durable.WithRetry(p) }
	return []badCase{
		taskOption("TaskTimeoutZero", durable.WithTimeout(0), "timeout"),
		taskOption("TaskTimeoutNegative", durable.WithTimeout(-time.Second), "timeout"),
		taskOption("TaskTimeoutOver7Days", durable.WithTimeout(8*24*time.Hour), "timeout"),
		taskOption("TaskDelayNegative", durable.WithDelay(-time.Second), "delay"),
		taskOption("TaskDelayOverAYear", durable.WithDelay(366*24*time.Hour), "delay"),
		taskOption("RetryMaxRetriesNegative", retry(durable.RetryPolicy{MaxRetries: -1}), "MaxRetries"),
		taskOption("RetryMaxRetriesOver1000", retry(durable.RetryPolicy{MaxRetries: 1001}), "MaxRetries"),
		taskOption("RetryBaseDelayNegative", retry(durable.RetryPolicy{BaseDelay: -time.Second}), "BaseDelay"),
		taskOption("RetryBaseDelayOverAnHour", retry(durable.RetryPolicy{BaseDelay: 2 * time.Hour}), "BaseDelay"),
		taskOption("RetryMultiplierHalf", retry(durable.RetryPolicy{Multiplier: 0.5}), "Multiplier"),
		taskOption("RetryMultiplierEleven", retry(durable.RetryPolicy{Multiplier: 11}), "Multiplier"),
		taskOption("RetryMultiplierNaN", retry(durable.RetryPolicy{Multiplier: math.NaN()}), "Multiplier"),
		taskOption("RetryMaxDelayBelowBaseDelay", retry(durable.RetryPolicy{BaseDelay: time.Minute, MaxDelay: time.Second}), "MaxDelay"),
		taskOption("RetryMaxDelayOverADay", retry(durable.RetryPolicy{MaxDelay: 25 * time.Hour}), "MaxDelay"),
		taskOption("RetryJitterTwo", retry(durable.RetryPolicy{Jitter: 2}), "Jitter"),
		taskOption("RetryJitterNegative", retry(durable.RetryPolicy{Jitter: -0.1}), "Jitter"),
	}
}

// enqueueOption is a case enqueueing with a bad option.
func enqueueOption(name string, opt durable.EnqueueOption, field string) badCase {
	return badCase{name: name, want: durable.ErrInvalidOption, msg: []string{"enq_task", field},
		run: func(ctx context.Context, b *bundle) error {
			task, err := durable.NewTask(b.ex, "enq_task", badEcho)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = task.Enqueue(ctx, 1, opt)
			return err
		}}
}

func badEnqueueOptions() []badCase {
	return []badCase{
		enqueueOption("EnqueueTimeoutZero", durable.WithTimeout(0), "timeout"),
		enqueueOption("EnqueueTimeoutNegative", durable.WithTimeout(-time.Millisecond), "timeout"),
		enqueueOption("EnqueueDelayNegative", durable.WithDelay(-time.Nanosecond), "delay"),
		enqueueOption("EnqueueDelayOverAYear", durable.WithDelay(366*24*time.Hour), "delay"),
		enqueueOption("EnqueueRetryMaxRetriesOver1000", durable.WithRetry(durable.RetryPolicy{MaxRetries: 1001}), "MaxRetries"),
		enqueueOption("EnqueueRetryMultiplierEleven", durable.WithRetry(durable.RetryPolicy{Multiplier: 11}), "Multiplier"),
		enqueueOption("EnqueueRetryJitterTwo", durable.WithRetry(durable.RetryPolicy{Jitter: 2}), "Jitter"),
	}
}

func positive(n int) error {
	if n <= 0 {
		return fmt.Errorf("n must be positive, got %d", n)
	}
	return nil
}

func badInputs() []badCase {
	return []badCase{
		{name: "ValidatorRejectsInput", want: durable.ErrInvalidInput, msg: []string{"checked", "must be positive, got -4"},
			run: func(ctx context.Context, b *bundle) error {
				task, err := durable.NewTask(b.ex, "checked", badEcho, durable.WithValidator(positive))
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				_, err = task.Enqueue(ctx, -4)
				return err
			}},
		{name: "ValidatorRejectsOneOfMany", want: durable.ErrInvalidInput, msg: []string{"checked_many", "got 0"},
			run: func(ctx context.Context, b *bundle) error {
				task, err := durable.NewTask(b.ex, "checked_many", badEcho, durable.WithValidator(positive))
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				_, err = task.EnqueueMany(ctx, []int{1, 2, 0})
				return err
			}},
		{name: "ValidatorRejectsTwoOfALargeBatch", want: durable.ErrInvalidInput, msg: []string{"checked_large", "got -7"},
			run: func(ctx context.Context, b *bundle) error {
				// Large batches are encoded on several goroutines: the error
				// must still be the first in item order.
				task, err := durable.NewTask(b.ex, "checked_large", badEcho, durable.WithValidator(positive))
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				ins := make([]int, 3000)
				for i := range ins {
					ins[i] = 1
				}
				ins[1400], ins[2500] = -7, -9
				_, err = task.EnqueueMany(ctx, ins)
				if err != nil && strings.Contains(err.Error(), "-9") {
					return fmt.Errorf("reported the second bad item, not the first: %w", err)
				}
				return err
			}},
		{name: "InputTooLarge", cfg: durable.Config{MaxPayloadBytes: 1024}, want: durable.ErrPayloadTooLarge,
			msg: []string{"input of task big_in", "1024"}, once: []string{"payload too large", "big_in"},
			run: func(ctx context.Context, b *bundle) error {
				task, err := durable.NewTask(b.ex, "big_in", func(ctx context.Context, s string) (int, error) { return len(s), nil })
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				_, err = task.Enqueue(ctx, strings.Repeat("x", 2000))
				return err
			}},
		{name: "OutputTooLarge", cfg: durable.Config{MaxPayloadBytes: 1024}, want: durable.ErrPayloadTooLarge,
			msg: []string{"output of task big_out", "1024"}, once: []string{"payload too large", "big_out"},
			run: func(ctx context.Context, b *bundle) error {
				task, err := durable.NewTask(b.ex, "big_out", func(ctx context.Context, n int) (string, error) { return strings.Repeat("x", n), nil })
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				h, err := task.Enqueue(ctx, 2000)
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				x, err := h.Wait(ctx)
				if err != nil {
					return fmt.Errorf("wait: %w", err)
				}
				if x.Err == nil { // a nil *ExecutionError in an error is not nil
					return nil
				}
				return x.Err
			}},
		{name: "EnqueueTaskOfAnotherExecutor", want: durable.ErrUnknownTask, msg: []string{"foreign", "not registered"},
			run: func(ctx context.Context, b *bundle) error {
				other, err := foreignTask()
				if err != nil {
					return err
				}
				_, err = b.ex.EnqueueMany(ctx, durable.ChildOf(other, 1))
				return err
			}},
		{name: "EnqueueItemWithoutTask", want: durable.ErrUnknownTask, msg: []string{"item 0"},
			run: func(ctx context.Context, b *bundle) error {
				_, err := b.ex.EnqueueMany(ctx, durable.Child{})
				return err
			}},
	}
}

// foreignTask registers a task on another (never started) executor.
func foreignTask() (*durable.Task[int, int], error) {
	other, err := durable.New(memory.New(), durable.Config{})
	if err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	return durable.NewTask(other, "foreign", badEcho)
}

// parentFailure runs a parent (retry policy: 3 retries) whose run spawns
// the given children, and returns the error it ended with. It checks that
// the parent failed at once, without retry.
func parentFailure(ctx context.Context, b *bundle, children func(ex *durable.Executor) ([]durable.Child, error)) error {
	kids, err := children(b.ex)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	parent, err := durable.NewParentTask(b.ex, "parent", func(ctx context.Context, n int) (durable.Spawn[int], error) {
		return durable.Spawn[int]{Output: n, Children: kids}, nil
	}, durable.WithRetry(durable.RetryPolicy{MaxRetries: 3}))
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	h, err := parent.Enqueue(ctx, 1)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	x, err := h.Wait(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("wait: %w", err)
	case x.Status != durable.StatusFailed || x.Err == nil || x.Err.Retryable || x.Attempt != 0:
		return fmt.Errorf("want the parent failed at once without retry, got %s attempt %d err %+v", x.Status, x.Attempt, x.Err)
	}
	return x.Err
}

func badChildren() []badCase {
	return []badCase{
		{name: "ChildBadInputFailsParent", want: durable.ErrInvalidInput, msg: []string{"parent", "child 1", "checked_child", "got -1"},
			run: func(ctx context.Context, b *bundle) error {
				return parentFailure(ctx, b, func(ex *durable.Executor) ([]durable.Child, error) {
					c, err := durable.NewTask(ex, "checked_child", badEcho, durable.WithValidator(positive))
					return []durable.Child{durable.ChildOf(c, 1), durable.ChildOf(c, -1)}, err
				})
			}},
		{name: "ChildInputTooLarge", cfg: durable.Config{MaxPayloadBytes: 1024}, want: durable.ErrPayloadTooLarge,
			msg: []string{"parent", "child 0", "input of task big_child", "1024"},
			run: func(ctx context.Context, b *bundle) error {
				return parentFailure(ctx, b, func(ex *durable.Executor) ([]durable.Child, error) {
					c, err := durable.NewTask(ex, "big_child", func(ctx context.Context, s string) (int, error) { return len(s), nil })
					return []durable.Child{durable.ChildOf(c, strings.Repeat("x", 2000))}, err
				})
			}},
		{name: "TooManyChildren", cfg: durable.Config{MaxChildren: 2}, want: durable.ErrTooManyChildren,
			msg: []string{"parent", "3 children", "limit of 2"},
			run: func(ctx context.Context, b *bundle) error {
				return parentFailure(ctx, b, func(ex *durable.Executor) ([]durable.Child, error) {
					c, err := durable.NewTask(ex, "kid", badEcho)
					return []durable.Child{durable.ChildOf(c, 1), durable.ChildOf(c, 2), durable.ChildOf(c, 3)}, err
				})
			}},
		{name: "ChildOfAnotherExecutor", want: durable.ErrUnknownTask, msg: []string{"parent", "child 0", "foreign"},
			run: func(ctx context.Context, b *bundle) error {
				return parentFailure(ctx, b, func(*durable.Executor) ([]durable.Child, error) {
					c, err := foreignTask()
					return []durable.Child{durable.ChildOf(c, 1)}, err
				})
			}},
		{name: "ChildOfNilTask", want: durable.ErrUnknownTask, msg: []string{"parent", "child 0", "nil task"},
			run: func(ctx context.Context, b *bundle) error {
				return parentFailure(ctx, b, func(*durable.Executor) ([]durable.Child, error) {
					return []durable.Child{durable.ChildOf[int, int](nil, 1)}, nil
				})
			}},
		{name: "SleepingChildEmptyKey", want: durable.ErrInvalidInput, msg: []string{"parent", "child 0", "sleeping key"},
			run: func(ctx context.Context, b *bundle) error {
				return parentFailure(ctx, b, func(ex *durable.Executor) ([]durable.Child, error) {
					s, err := durable.NewSleepingTask[int](ex, "nap")
					if err != nil {
						return nil, err
					}
					return []durable.Child{s.Child("")}, nil
				})
			}},
	}
}

// sleeping is a case on a registered sleeping task "nap".
func sleeping(name string, want error, msg []string, run func(ctx context.Context, b *bundle, s *durable.SleepingTask[int]) error) badCase {
	return badCase{name: name, want: want, msg: msg, run: func(ctx context.Context, b *bundle) error {
		s, err := durable.NewSleepingTask[int](b.ex, "nap")
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		return run(ctx, b, s)
	}}
}

func badSleeping() []badCase {
	key300 := strings.Repeat("k", 300)
	enqueue := func(key string, opts ...durable.EnqueueOption) func(context.Context, *bundle, *durable.SleepingTask[int]) error {
		return func(ctx context.Context, b *bundle, s *durable.SleepingTask[int]) error {
			_, err := s.Enqueue(ctx, key, opts...)
			return err
		}
	}
	wake := func(key string, w durable.Wakeup[int]) func(context.Context, *bundle, *durable.SleepingTask[int]) error {
		return func(ctx context.Context, b *bundle, s *durable.SleepingTask[int]) error {
			_, err := s.Wake(ctx, key, w)
			return err
		}
	}
	return []badCase{
		sleeping("SleepingKeyEmpty", durable.ErrInvalidInput, []string{"nap", "sleeping key", "got 0"}, enqueue("")),
		sleeping("SleepingKey300Bytes", durable.ErrInvalidInput, []string{"nap", "sleeping key", "got 300"}, enqueue(key300)),
		sleeping("SleepingKeyDuplicate", durable.ErrDuplicate, []string{"order_42"}, func(ctx context.Context, b *bundle, s *durable.SleepingTask[int]) error {
			if _, err := s.Enqueue(ctx, "order_42"); err != nil {
				return fmt.Errorf("first enqueue: %w", err)
			}
			_, err := s.Enqueue(ctx, "order_42")
			return err
		}),
		sleeping("SleepingEnqueueWithRetry", durable.ErrInvalidOption, []string{"nap", "only WithTimeout"},
			enqueue("k", durable.WithRetry(durable.RetryPolicy{MaxRetries: 1}))),
		sleeping("SleepingEnqueueWithDelay", durable.ErrInvalidOption, []string{"nap", "only WithTimeout"}, enqueue("k", durable.WithDelay(time.Second))),
		sleeping("WakeUnknownKey", durable.ErrNotFound, []string{"no_such_key"}, wake("no_such_key", durable.Completed(1))),
		sleeping("WakeEmptyKey", durable.ErrInvalidInput, []string{"nap", "sleeping key"}, wake("", durable.Completed(1))),
		sleeping("WakeKeyOfAnotherSleepingTask", durable.ErrNotFound, []string{"theirs", "belongs to task other_nap"},
			func(ctx context.Context, b *bundle, s *durable.SleepingTask[int]) error {
				other, err := durable.NewSleepingTask[int](b.ex, "other_nap")
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				if _, err := other.Enqueue(ctx, "theirs"); err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				_, err = s.Wake(ctx, "theirs", durable.Completed(1))
				return err
			}),
		{name: "WakeOutputTooLarge", cfg: durable.Config{MaxPayloadBytes: 1024}, want: durable.ErrPayloadTooLarge,
			msg: []string{"wake output of task big_nap", "1024"}, once: []string{"payload too large", "big_nap"},
			run: func(ctx context.Context, b *bundle) error {
				s, err := durable.NewSleepingTask[string](b.ex, "big_nap")
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				if _, err := s.Enqueue(ctx, "k"); err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				_, err = s.Wake(ctx, "k", durable.Completed(strings.Repeat("x", 2000)))
				return err
			}},
		alsoWraps(durable.ErrInvalidOption, define("SleepingTaskWithRetry", durable.ErrInvalidTask, []string{"nap", "only WithTimeout"}, func(ex *durable.Executor) error {
			_, err := durable.NewSleepingTask[int](ex, "nap", durable.WithRetry(durable.RetryPolicy{MaxRetries: 2}))
			return err
		})),
		alsoWraps(durable.ErrInvalidOption, define("SleepingTaskWithValidator", durable.ErrInvalidTask, []string{"nap", "only WithTimeout"}, func(ex *durable.Executor) error {
			_, err := durable.NewSleepingTask[int](ex, "nap", durable.WithValidator(func(string) error { return nil }))
			return err
		})),
	}
}

func badHandles() []badCase {
	return []badCase{
		{name: "HandleUnknownExecution", want: durable.ErrNotFound, msg: []string{"te_nosuchexecution"},
			run: func(ctx context.Context, b *bundle) error {
				task, err := durable.NewTask(b.ex, "echo", badEcho)
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				_, err = task.Handle(ctx, "te_nosuchexecution")
				return err
			}},
		{name: "HandleExecutionOfAnotherTask", want: durable.ErrNotFound, msg: []string{"belongs to task mine", "not theirs"},
			run: func(ctx context.Context, b *bundle) error {
				mine, err1 := durable.NewTask(b.ex, "mine", badEcho)
				theirs, err2 := durable.NewTask(b.ex, "theirs", badEcho)
				if err := errors.Join(err1, err2); err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				h, err := mine.Enqueue(ctx, 1)
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				_, err = theirs.Handle(ctx, h.ID())
				return err
			}},
		{name: "SleepingHandleUnknownExecution", want: durable.ErrNotFound, msg: []string{"te_nosuchexecution"},
			run: func(ctx context.Context, b *bundle) error {
				s, err := durable.NewSleepingTask[int](b.ex, "nap")
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				_, err = s.Handle(ctx, "te_nosuchexecution")
				return err
			}},
	}
}

// afterShutdown is a case that registers "echo" and "nap", shuts the
// executor down, then calls op.
func afterShutdown(name string, msg []string, op func(ctx context.Context, b *bundle, echo *durable.Task[int, int], nap *durable.SleepingTask[int]) error) badCase {
	return badCase{name: name, want: durable.ErrShutdown, msg: msg, run: func(ctx context.Context, b *bundle) error {
		echo, err1 := durable.NewTask(b.ex, "echo", badEcho)
		nap, err2 := durable.NewSleepingTask[int](b.ex, "nap")
		h, err3 := echo.Enqueue(ctx, 1)
		_, err4 := nap.Enqueue(ctx, "k")
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		if _, err := h.Wait(ctx); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		if err := b.ex.Shutdown(ctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return op(ctx, b, echo, nap)
	}}
}

func badAfterShutdown() []badCase {
	type (
		echoT = *durable.Task[int, int]
		napT  = *durable.SleepingTask[int]
	)
	return []badCase{
		afterShutdown("EnqueueAfterShutdown", nil, func(ctx context.Context, b *bundle, echo echoT, nap napT) error {
			_, err := echo.Enqueue(ctx, 2)
			return err
		}),
		afterShutdown("EnqueueManyAfterShutdown", nil, func(ctx context.Context, b *bundle, echo echoT, nap napT) error {
			_, err := b.ex.EnqueueMany(ctx, durable.ChildOf(echo, 2))
			return err
		}),
		afterShutdown("SleepingEnqueueAfterShutdown", nil, func(ctx context.Context, b *bundle, echo echoT, nap napT) error {
			_, err := nap.Enqueue(ctx, "k2")
			return err
		}),
		afterShutdown("WakeAfterShutdown", nil, func(ctx context.Context, b *bundle, echo echoT, nap napT) error {
			_, err := nap.Wake(ctx, "k", durable.Completed(1))
			return err
		}),
		afterShutdown("NewTaskAfterShutdown", []string{"late"}, func(ctx context.Context, b *bundle, echo echoT, nap napT) error {
			return newEcho(b.ex, "late")
		}),
		afterShutdown("StartAfterShutdown", nil, func(ctx context.Context, b *bundle, echo echoT, nap napT) error {
			return b.ex.Start(ctx)
		}),
	}
}

// badConfig is a case creating an executor with an invalid Config.
func badConfig(name string, cfg durable.Config, field string) badCase {
	return badCase{name: name, want: durable.ErrInvalidOption, msg: []string{"Config." + field},
		run: func(ctx context.Context, b *bundle) error {
			ex, err := durable.New(memory.New(), cfg)
			if ex != nil {
				return fmt.Errorf("got an executor along with error %v", err)
			}
			return err
		}}
}

func badConfigs() []badCase {
	return []badCase{
		badConfig("ConfigConcurrencyNegative", durable.Config{Concurrency: -1}, "Concurrency"),
		badConfig("ConfigConcurrencyTooHigh", durable.Config{Concurrency: 100001}, "Concurrency"),
		badConfig("ConfigClaimBatchNegative", durable.Config{ClaimBatch: -1}, "ClaimBatch"),
		badConfig("ConfigClaimBatchTooHigh", durable.Config{ClaimBatch: 10001}, "ClaimBatch"),
		badConfig("ConfigClaimAheadBelowMinusOne", durable.Config{ClaimAhead: -2}, "ClaimAhead"),
		badConfig("ConfigClaimAheadTooHigh", durable.Config{ClaimAhead: 100001}, "ClaimAhead"),
		badConfig("ConfigCompletionBatchNegative", durable.Config{CompletionBatch: -1}, "CompletionBatch"),
		badConfig("ConfigCompletionBatchTooHigh", durable.Config{CompletionBatch: 10001}, "CompletionBatch"),
		badConfig("ConfigPollIntervalNegative", durable.Config{PollInterval: -time.Second}, "PollInterval"),
		badConfig("ConfigPollIntervalTooShort", durable.Config{PollInterval: time.Microsecond}, "PollInterval"),
		badConfig("ConfigPollIntervalTooLong", durable.Config{PollInterval: 2 * time.Hour}, "PollInterval"),
		badConfig("ConfigLeaseDurationTooShort", durable.Config{LeaseDuration: 50 * time.Millisecond}, "LeaseDuration"),
		badConfig("ConfigLeaseDurationTooLong", durable.Config{LeaseDuration: 2 * time.Hour}, "LeaseDuration"),
		badConfig("ConfigCrashBudgetBelowMinusOne", durable.Config{CrashBudget: -2}, "CrashBudget"),
		badConfig("ConfigCrashBudgetTooHigh", durable.Config{CrashBudget: 1001}, "CrashBudget"),
		badConfig("ConfigMaxPayloadBytesTooSmall", durable.Config{MaxPayloadBytes: 512}, "MaxPayloadBytes"),
		badConfig("ConfigMaxPayloadBytesTooLarge", durable.Config{MaxPayloadBytes: 65 << 20}, "MaxPayloadBytes"),
		badConfig("ConfigMaxChildrenNegative", durable.Config{MaxChildren: -1}, "MaxChildren"),
		badConfig("ConfigMaxChildrenTooHigh", durable.Config{MaxChildren: 100001}, "MaxChildren"),
		badConfig("ConfigStorageTimeoutTooShort", durable.Config{StorageTimeout: 5 * time.Millisecond}, "StorageTimeout"),
		badConfig("ConfigStorageTimeoutNegative", durable.Config{StorageTimeout: -time.Second}, "StorageTimeout"),
		badConfig("ConfigExecutorIDWithSpace", durable.Config{ExecutorID: "host 1"}, "ExecutorID"),
		badConfig("ConfigExecutorIDTooLong", durable.Config{ExecutorID: strings.Repeat("h", 256)}, "ExecutorID"),
		{name: "NilStore", want: durable.ErrInvalidOption, msg: []string{"nil store"},
			run: func(ctx context.Context, b *bundle) error {
				_, err := durable.New(nil, durable.Config{})
				return err
			}},
	}
}

func badLoopsAndSequences() []badCase {
	loop := func(ex *durable.Executor, lo durable.LoopOptions) error {
		_, err := durable.NewLoopTask(ex, "looper", func(context.Context, int) (durable.LoopResult[int], error) {
			return durable.Done(1), nil
		}, lo)
		return err
	}
	steps := func(ex *durable.Executor) (*durable.Task[int, int], *durable.Task[int, string], error) {
		inc, err1 := durable.NewTask(ex, "inc", badEcho)
		str, err2 := durable.NewTask(ex, "str", func(ctx context.Context, n int) (string, error) { return fmt.Sprint(n), nil })
		return inc, str, errors.Join(err1, err2)
	}
	return []badCase{
		alsoWraps(durable.ErrInvalidOption, define("LoopMaxIterationsZero", durable.ErrInvalidTask, []string{"looper", "MaxIterations 0"}, func(ex *durable.Executor) error {
			return loop(ex, durable.LoopOptions{})
		})),
		alsoWraps(durable.ErrInvalidOption, define("LoopMaxIterationsTooHigh", durable.ErrInvalidTask, []string{"looper", "MaxIterations 1000001"}, func(ex *durable.Executor) error {
			return loop(ex, durable.LoopOptions{MaxIterations: 1_000_001})
		})),
		alsoWraps(durable.ErrInvalidOption, define("LoopDelayNegative", durable.ErrInvalidTask, []string{"looper", "Delay"}, func(ex *durable.Executor) error {
			return loop(ex, durable.LoopOptions{MaxIterations: 3, Delay: -time.Second})
		})),
		define("SequenceWithoutSteps", durable.ErrInvalidTask, []string{"empty_seq", "no steps"}, func(ex *durable.Executor) error {
			_, err := durable.NewSequence[int, int](ex, "empty_seq")
			return err
		}),
		alsoWraps(durable.ErrUnknownTask, define("SequenceNilStep", durable.ErrInvalidTask, []string{"nil_seq", "step 0"}, func(ex *durable.Executor) error {
			_, err := durable.NewSequence[int, int](ex, "nil_seq", nil)
			return err
		})),
		alsoWraps(durable.ErrUnknownTask, define("SequenceStepOfAnotherExecutor", durable.ErrInvalidTask, []string{"foreign_seq", "step 0", "not registered"}, func(ex *durable.Executor) error {
			other, err := foreignTask()
			if err != nil {
				return err
			}
			_, err = durable.NewSequence[int, int](ex, "foreign_seq", other)
			return err
		})),
		define("SequenceMismatchedSteps", durable.ErrInvalidTask, []string{"mixed_seq", "step 1", "inc"}, func(ex *durable.Executor) error {
			inc, str, err := steps(ex)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = durable.NewSequence[int, int](ex, "mixed_seq", str, inc) // inc takes an int, str gives a string
			return err
		}),
		define("SequenceWrongOutputType", durable.ErrInvalidTask, []string{"out_seq", "last step"}, func(ex *durable.Executor) error {
			inc, str, err := steps(ex)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = durable.NewSequence[int, int](ex, "out_seq", inc, str) // produces a string, not an int
			return err
		}),
		define("SequenceWrongInputType", durable.ErrInvalidTask, []string{"in_seq", "step 0"}, func(ex *durable.Executor) error {
			inc, _, err := steps(ex)
			if err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			_, err = durable.NewSequence[string, int](ex, "in_seq", inc)
			return err
		}),
	}
}
