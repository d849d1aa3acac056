package durable

import (
	"fmt"
	"strings"
	"unicode/utf8"
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
		return nil, fmt.Errorf("%w: sleeping task %s takes only WithTimeout", ErrInvalidTask, id)
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
