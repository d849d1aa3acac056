package durable

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/durable-go/durable/storage"
)

// SleepingTask is a task with no function: an execution waits, keyed by a
// caller-given unique key, until Wake completes or fails it from anywhere
// (another process too), or until its timeout passes (status timed_out).
type SleepingTask[O any] struct {
	ex *Executor
	d  *taskDef
}

func (t *SleepingTask[O]) def() *taskDef {
	if t == nil {
		return nil
	}
	return t.d
}

// ID returns the task id ("" on a nil or zero *SleepingTask).
func (t *SleepingTask[O]) ID() string {
	if t.def() == nil {
		return ""
	}
	return t.d.id
}

// check returns the error of a method called on a nil or zero
// *SleepingTask.
func (t *SleepingTask[O]) check() error {
	if t.def() == nil || t.ex == nil {
		return unusableTask(t)
	}
	return nil
}

// NewSleepingTask registers a sleeping task. Only WithTimeout is meaningful
// among the options (the time to wait for Wake; default 1 minute).
func NewSleepingTask[O any](ex *Executor, id string, opts ...TaskOption) (*SleepingTask[O], error) {
	d, err := newDef[string, O](ex, id, kindSleeping, opts)
	if err != nil {
		return nil, err
	}
	if d.defaults.retry != nil || d.defaults.hasDelay || d.validate != nil {
		return nil, alsoIs(fmt.Errorf("%w: sleeping task %s takes only WithTimeout", ErrInvalidTask, id), ErrInvalidOption)
	}
	if err := ex.register(d); err != nil {
		return nil, err
	}
	return &SleepingTask[O]{ex: ex, d: d}, nil
}

// Child declares a sleeping child with the given key. On a nil or zero t
// it returns a Child without a task, which the enqueue or spawn that uses
// it refuses with ErrUnknownTask.
func (t *SleepingTask[O]) Child(key string, opts ...EnqueueOption) Child {
	if t.def() == nil {
		return Child{}
	}
	return Child{d: t.d, sleepKey: key, opts: opts}
}

func validSleepKey(key string) error {
	if key == "" || len(key) > 255 {
		return fmt.Errorf("%w: sleeping key must be 1..255 bytes, got %d", ErrInvalidInput, len(key))
	}
	// PostgreSQL's text columns refuse both; the other stores would keep
	// them, so every store refuses them alike.
	if !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: sleeping key %q must be valid UTF-8 without NUL bytes", ErrInvalidInput, key)
	}
	return nil
}

// Wakeup is how Wake ends a sleeping execution: Completed(output) or
// Failed(err).
type Wakeup[O any] struct {
	output O
	err    error
}

// Completed wakes a sleeping execution with an output.
func Completed[O any](out O) Wakeup[O] { return Wakeup[O]{output: out} }

// Failed wakes a sleeping execution with an error: it ends failed.
func Failed[O any](err error) Wakeup[O] {
	if err == nil {
		err = errors.New("failed by Wake")
	}
	return Wakeup[O]{err: err}
}

// Wake ends the sleeping execution of t waiting under key and returns it.
// It works from any process on the same store. Waking is idempotent: if the
// execution has already finished (woken, timed out, cancelled), Wake
// returns it as it is.
func Wake[O any](ctx context.Context, t *SleepingTask[O], key string, w Wakeup[O]) (Execution[O], error) {
	return t.Wake(ctx, key, w)
}

// Wake is the method form of the package-level Wake.
func (t *SleepingTask[O]) Wake(ctx context.Context, key string, w Wakeup[O]) (Execution[O], error) {
	if err := t.check(); err != nil {
		return Execution[O]{}, err
	}
	e := t.ex
	if err := e.checkOpen(); err != nil {
		return Execution[O]{}, err
	}
	if err := validSleepKey(key); err != nil {
		return Execution[O]{}, fmt.Errorf("wake %s: %w", t.d.id, err)
	}
	to, output, info, err := t.wakeOutcome(w)
	if err != nil {
		return Execution[O]{}, err
	}
	for range 5 {
		row, err := e.sleeping(ctx, t.d, key)
		if err != nil {
			return Execution[O]{}, err
		}
		if row.Status.Terminal() {
			return view[O](e, row)
		}
		// Applied or not (it timed out or was cancelled meanwhile), the next
		// read reports what is stored.
		tr := terminal(row, to, output, info)
		err = e.retryStorage(ctx, func() error {
			_, err := e.store.Complete(ctx, storage.CompleteParams{Now: e.now(), Transitions: []storage.Transition{tr}})
			return err
		})
		if err != nil {
			return Execution[O]{}, fmt.Errorf("durable: wake %s %q: %w", t.d.id, key, err)
		}
	}
	return Execution[O]{}, fmt.Errorf("%w: sleeping execution %q of %s kept changing", ErrWakeRace, key, t.d.id)
}

func (t *SleepingTask[O]) wakeOutcome(w Wakeup[O]) (storage.Status, []byte, *storage.ErrorInfo, error) {
	if w.err != nil {
		return storage.StatusFailed, nil, &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: w.err.Error()}, nil
	}
	out, err := t.ex.encodePayload(w.output, "wake output of task "+t.d.id)
	if err != nil {
		return "", nil, nil, unwrapNonRetryable(err) // names the task
	}
	return storage.StatusCompleted, out, nil, nil
}

// sleeping reads the sleeping execution of d under key.
func (e *Executor) sleeping(ctx context.Context, d *taskDef, key string) (storage.Execution, error) {
	var row storage.Execution
	err := e.retryStorage(ctx, func() error {
		var err error
		row, err = e.store.GetBySleepKey(ctx, storage.GetBySleepKeyParams{SleepKey: key})
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return row, fmt.Errorf("%w: no sleeping execution with key %q", ErrNotFound, key)
	}
	if err != nil {
		return row, err
	}
	if row.TaskID != d.id {
		return row, fmt.Errorf("%w: sleeping key %q belongs to task %s, not %s", ErrNotFound, key, row.TaskID, d.id)
	}
	return row, nil
}
