package durable

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/durable-go/durable/storage"
)

// Enqueueing by task id, for code that holds no typed task handle: an
// HTTP API (package server) receives a task id and an input as JSON. The
// task must be registered with this executor, which knows its input type,
// validator and defaults.

// TaskInfo describes a task registered with an executor.
type TaskInfo struct {
	ID string
	// Kind is "task", "parent task", "sequence", "looping task" or
	// "sleeping task".
	Kind string
	// Sleeping is true for a sleeping task: it is enqueued with a key
	// (SleepingChildByID) and ended by Wake.
	Sleeping bool
}

// Tasks lists the tasks registered with the executor, by id.
func (e *Executor) Tasks() []TaskInfo {
	if e == nil {
		return nil
	}
	ids := slices.Sorted(slices.Values(e.registeredIDs()))
	out := make([]TaskInfo, 0, len(ids))
	for _, id := range ids {
		if d := e.lookup(id); d != nil {
			out = append(out, TaskInfo{ID: id, Kind: d.kind.String(), Sleeping: d.kind == kindSleeping})
		}
	}
	return out
}

// Task returns the registered task with that id, and whether there is one.
func (e *Executor) Task(id string) (TaskInfo, bool) {
	if e == nil {
		return TaskInfo{}, false
	}
	d := e.lookup(id)
	if d == nil {
		return TaskInfo{}, false
	}
	return TaskInfo{ID: id, Kind: d.kind.String(), Sleeping: d.kind == kindSleeping}, true
}

// ChildByID declares an execution of the registered task taskID with an
// input given as JSON, for Executor.EnqueueMany (or a parent's Spawn).
// The JSON is decoded into the task's input type with encoding/json (an
// empty input is JSON null: the type's zero value) and then goes through
// the same checks and encoding as a typed Enqueue: the validator, the
// codec, the payload limit.
//
// An unregistered task is ErrUnknownTask; a sleeping task is
// ErrInvalidInput (it takes a key: SleepingChildByID); JSON that is not
// valid, not valid UTF-8, or does not fit the input type is
// ErrInvalidInput, and the error is an *InputError naming where.
func (e *Executor) ChildByID(taskID string, input json.RawMessage, opts ...EnqueueOption) (Child, error) {
	d, err := e.registered(taskID)
	if err != nil {
		return Child{}, err
	}
	if d.kind == kindSleeping {
		return Child{}, fmt.Errorf("%w: task %s is a sleeping task: it is enqueued with a key, not an input", ErrInvalidInput, taskID)
	}
	v, err := decodeJSONInput(d, input)
	if err != nil {
		return Child{}, err
	}
	return Child{d: d, input: v, opts: opts}, nil
}

// SleepingChildByID declares an execution of the registered sleeping task
// taskID waiting under key, for Executor.EnqueueMany. A task that is not
// sleeping is ErrInvalidInput; an unregistered one ErrUnknownTask.
func (e *Executor) SleepingChildByID(taskID, key string, opts ...EnqueueOption) (Child, error) {
	d, err := e.registered(taskID)
	if err != nil {
		return Child{}, err
	}
	if d.kind != kindSleeping {
		return Child{}, fmt.Errorf("%w: task %s is a %s, not a sleeping task: it takes an input, not a key", ErrInvalidInput, taskID, d.kind)
	}
	if err := validSleepKey(key); err != nil {
		return Child{}, fmt.Errorf("task %s: %w", taskID, err)
	}
	return Child{d: d, sleepKey: key, opts: opts}, nil
}

func (e *Executor) registered(taskID string) (*taskDef, error) {
	if e == nil {
		return nil, errNilExecutor
	}
	d := e.lookup(taskID)
	if d == nil {
		return nil, fmt.Errorf("%w: task %q is not registered with this executor", ErrUnknownTask, taskID)
	}
	return d, nil
}

// InputError is the error of an input given as JSON that cannot be
// decoded into the task's input type. It wraps ErrInvalidInput.
type InputError struct {
	TaskID string
	// Path is where in the input the problem is, as a dotted path of
	// field names ("customer.address.zip"); empty for the whole input.
	Path string
	// Reason says what is wrong.
	Reason string
}

func (e *InputError) Error() string {
	where := "input"
	if e.Path != "" {
		where += " field " + e.Path
	}
	return fmt.Sprintf("durable: invalid input: task %s: %s: %s", e.TaskID, where, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidInput) true.
func (e *InputError) Unwrap() error { return ErrInvalidInput }

// decodeJSONInput decodes input into a new value of d's input type.
func decodeJSONInput(d *taskDef, input json.RawMessage) (any, error) {
	input, err := checkedInput(d, input)
	if err != nil {
		return nil, err
	}
	ptr := reflect.New(d.inType)
	if json.Unmarshal(input, ptr.Interface()) == nil {
		return ptr.Elem().Interface(), nil
	}
	return decodeInputStrictly(d, input)
}

// checkedInput is input without the space around it, null when empty, or
// an error when it is not UTF-8.
func checkedInput(d *taskDef, input json.RawMessage) (json.RawMessage, error) {
	input = bytes.TrimSpace(input)
	if len(input) == 0 {
		return json.RawMessage("null"), nil
	}
	if !utf8.Valid(input) {
		return nil, &InputError{TaskID: d.id, Reason: "not valid UTF-8 (encoding/json would replace the bad bytes)"}
	}
	return input, nil
}

// decodeInputStrictly is decodeJSONInput with a json.Decoder, whose errors
// say more than Unmarshal's (the field of a wrong type, a second value).
// Unmarshal accepts the same inputs (one value, space around it) at half
// the cost, so decodeJSONInput calls this only for an input Unmarshal
// refused, for its error; FuzzDecodeJSONInput checks that the two agree.
func decodeInputStrictly(d *taskDef, input json.RawMessage) (any, error) {
	bad := func(path, reason string) error { return &InputError{TaskID: d.id, Path: path, Reason: reason} }
	ptr := reflect.New(d.inType)
	dec := json.NewDecoder(bytes.NewReader(input))
	if err := dec.Decode(ptr.Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, bad(te.Field, fmt.Sprintf("a JSON %s cannot be a %s", te.Value, te.Type))
		}
		return nil, bad("", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("", "more than one JSON value")
	}
	return ptr.Elem().Interface(), nil
}

// CheckEnqueueOption returns the error an enqueue given opt would fail
// with because of it (wrapping ErrInvalidOption), or nil: a way to check
// options one by one and say which is wrong.
func CheckEnqueueOption(opt EnqueueOption) error {
	_, err := runOptions{}.merge([]EnqueueOption{opt})
	return err
}

// GetBySleepKey returns the sleeping execution waiting (or that waited)
// under key, of any sleeping task (ErrNotFound if there is none).
func (e *Executor) GetBySleepKey(ctx context.Context, key string) (Record, error) {
	if err := e.checkRead(); err != nil {
		return Record{}, err
	}
	if err := validSleepKey(key); err != nil {
		return Record{}, err
	}
	var row storage.Execution
	err := e.retryStorage(ctx, func() error {
		var err error
		row, err = e.store.GetBySleepKey(ctx, storage.GetBySleepKeyParams{SleepKey: key})
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return Record{}, fmt.Errorf("%w: no sleeping execution with key %q", ErrNotFound, key)
	}
	if err != nil {
		return Record{}, err
	}
	return recordOf(&row), nil
}
