package durable

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/durable-go/durable/storage"
)

// RetryPolicy says how a failed run is retried. The zero value means no
// retries.
//
// After the k-th failed run (k = 0 for the first), if k < MaxRetries and the
// error is retryable, the next run starts after
//
//	delay = min(BaseDelay × Multiplier^k, MaxDelay)   (MaxDelay 0: no cap)
//
// moved at random by up to ±Jitter×delay. With BaseDelay 1s, Multiplier 2,
// MaxDelay 30s the delays are 1s, 2s, 4s, 8s, 16s, 30s, 30s...
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first run, so a task
	// runs at most MaxRetries+1 times. Range 0..1000.
	MaxRetries int
	// BaseDelay is the delay before the first retry. Range 0..1h.
	BaseDelay time.Duration
	// Multiplier grows the delay at each retry. 0 means 1. Range 1..10.
	Multiplier float64
	// MaxDelay caps the delay; 0 means no cap. Range 0..24h, >= BaseDelay.
	MaxDelay time.Duration
	// Jitter is the fraction of the delay by which it may move at random.
	// Range 0..1.
	Jitter float64
}

func (p RetryPolicy) validate() error {
	switch {
	case p.MaxRetries < 0 || p.MaxRetries > 1000:
		return fmt.Errorf("RetryPolicy.MaxRetries %d out of range 0..1000", p.MaxRetries)
	case p.BaseDelay < 0 || p.BaseDelay > time.Hour:
		return fmt.Errorf("RetryPolicy.BaseDelay %s out of range 0..1h", p.BaseDelay)
	case p.Multiplier != 0 && (p.Multiplier < 1 || p.Multiplier > 10 || math.IsNaN(p.Multiplier)):
		return fmt.Errorf("RetryPolicy.Multiplier %v out of range 1..10", p.Multiplier)
	case p.MaxDelay < 0 || p.MaxDelay > 24*time.Hour:
		return fmt.Errorf("RetryPolicy.MaxDelay %s out of range 0..24h", p.MaxDelay)
	case p.MaxDelay != 0 && p.MaxDelay < p.BaseDelay:
		return fmt.Errorf("RetryPolicy.MaxDelay %s is less than RetryPolicy.BaseDelay %s", p.MaxDelay, p.BaseDelay)
	case p.Jitter < 0 || p.Jitter > 1 || math.IsNaN(p.Jitter):
		return fmt.Errorf("RetryPolicy.Jitter %v out of range 0..1", p.Jitter)
	}
	return nil
}

func (p RetryPolicy) stored() storage.RetryPolicy {
	return storage.RetryPolicy{MaxRetries: p.MaxRetries, BaseDelay: p.BaseDelay,
		Multiplier: p.Multiplier, MaxDelay: p.MaxDelay, Jitter: p.Jitter}
}

// TaskOption configures a task definition.
type TaskOption interface{ applyTask(*taskOptions) }

// EnqueueOption overrides a task's defaults for one execution.
type EnqueueOption interface{ applyEnqueue(*runOptions) }

// Option is an option that applies both to a task definition (as its
// default) and to one enqueue (as an override).
type Option interface {
	TaskOption
	EnqueueOption
}

// runOptions are the per-execution settings stored at insert.
type runOptions struct {
	timeout    time.Duration
	retry      *RetryPolicy
	delay      time.Duration
	hasTimeout bool
	hasDelay   bool
	key        string
	tags       []string
	metadata   map[string]string // shared: copied before a change
	// keyWindow, when set, makes key hold within windows of that length
	// (WithIdempotencyWindow).
	keyWindow time.Duration
	// keyWhileActive makes key hold only while an execution with it is
	// active (WithIdempotencyWhileActive).
	keyWhileActive bool
	// queue and priority are "" and 0 when no option set them: the
	// execution takes its parent's, or the store's defaults.
	queue    string
	priority int
	// concurrencyKey is the key a queue's limit per key counts the
	// execution under (WithConcurrencyKey); "" for none.
	concurrencyKey string
	errs           []error
}

type taskOptions struct {
	runOptions
	validate func(any) error
	// keyOf computes the concurrency key from the input
	// (WithConcurrencyKeyFunc).
	keyOf func(any) string
}

type optionFunc func(*runOptions)

func (f optionFunc) applyTask(o *taskOptions)   { f(&o.runOptions) }
func (f optionFunc) applyEnqueue(o *runOptions) { f(o) }

// WithTimeout bounds each run (attempt) of the task: its context is
// cancelled after d and the attempt fails with ErrTimedOut (retryable). For a
// sleeping task it is the time to wait for Wake. Default 1 minute; range
// 1ms..7 days.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(o *runOptions) {
		if d < time.Millisecond || d > 7*24*time.Hour {
			o.errs = append(o.errs, fmt.Errorf("timeout %s out of range 1ms..168h", d))
			return
		}
		o.timeout, o.hasTimeout = d, true
	})
}

// WithRetry sets the retry policy. Default: no retries.
func WithRetry(p RetryPolicy) Option {
	return optionFunc(func(o *runOptions) {
		if err := p.validate(); err != nil {
			o.errs = append(o.errs, fmt.Errorf("retry policy: %w", err))
			return
		}
		o.retry = &p
	})
}

// WithDelay delays the first run by d. Range 0..365 days.
func WithDelay(d time.Duration) Option {
	return optionFunc(func(o *runOptions) {
		if d < 0 || d > 365*24*time.Hour {
			o.errs = append(o.errs, fmt.Errorf("delay %s out of range 0..8760h", d))
			return
		}
		o.delay, o.hasDelay = d, true
	})
}

// WithQueue puts executions in the named queue: an executor claims only
// from the queues of its Config.Queues (every queue when that is empty),
// and a queue can be paused (Executor.PauseQueue) across every process.
// Given at registration, it is the task's queue; at enqueue, it overrides
// it. A child without a queue of its own (from its task or its
// declaration) is put in its parent's. Default: storage.DefaultQueue
// ("default"). Name: 1..64 bytes of [A-Za-z0-9_.:-].
func WithQueue(name string) Option {
	return optionFunc(func(o *runOptions) {
		if err := storage.ValidateQueueName(name); err != nil {
			o.errs = append(o.errs, err)
			return
		}
		o.queue = name
	})
}

// WithPriority sets the priority of executions: of the due executions an
// executor may claim, those of priority 1 are claimed first, then 2, and so
// on to 9; within a priority, the oldest due first. A priority is strict:
// while executions of a higher priority are due, lower ones wait (see
// docs/semantics.md, Queues and priorities). Given at registration, it is
// the task's priority; at enqueue, it overrides it. A child without a
// priority of its own takes its parent's. Default:
// storage.DefaultPriority (5).
func WithPriority(p int) Option {
	return optionFunc(func(o *runOptions) {
		if p == 0 || storage.ValidatePriority(p) != nil {
			o.errs = append(o.errs, fmt.Errorf("priority %d: must be %d (first) to %d (last)",
				p, storage.PriorityFirst, storage.PriorityLast))
			return
		}
		o.priority = p
	})
}

type enqueueOnly func(*runOptions)

func (f enqueueOnly) applyEnqueue(o *runOptions) { f(o) }

// WithIdempotencyKey makes an enqueue idempotent: the execution's id is
// derived from key, so enqueuing the same task with the same key again (from
// any process, even concurrently) returns the existing execution instead of
// creating another. Keys are unique forever per store, across all tasks; a
// key already used by another task fails with ErrDuplicate. Key: 1..200
// characters of [A-Za-z0-9_.:-]. In a batch, a key already taken fails the
// whole batch with ErrDuplicate. A sleeping task refuses it
// (ErrInvalidOption): its sleeping key is unique already.
func WithIdempotencyKey(key string) EnqueueOption {
	return enqueueOnly(func(o *runOptions) {
		if len(key) > 200 || !validID(key) {
			o.errs = append(o.errs, fmt.Errorf("idempotency key %q must be 1..200 characters of [A-Za-z0-9_.:-]", key))
			return
		}
		o.key = key
	})
}

// WithIdempotencyWindow makes the key of WithIdempotencyKey hold within a
// window of time rather than forever: an enqueue with the same key in the
// same window returns the existing execution, one in the next window makes
// a new execution. Windows are consecutive spans of length period counted
// from the Unix epoch, UTC (as River's unique jobs ByPeriod): with an
// hour, one execution per clock hour. The execution's id is derived from
// the key and the window's start (GetByKey takes the key with ":w" and the
// start in Unix seconds appended, "report:tenant-7:w1796130000"). Range:
// 1s..366 days; the key with its suffix must stay within 200 characters.
// It needs WithIdempotencyKey.
func WithIdempotencyWindow(period time.Duration) EnqueueOption {
	return enqueueOnly(func(o *runOptions) {
		if period < time.Second || period > 366*24*time.Hour {
			o.errs = append(o.errs, fmt.Errorf("idempotency window %s out of range 1s..8784h", period))
			return
		}
		o.keyWindow = period
	})
}

// WithIdempotencyWhileActive makes the key of WithIdempotencyKey hold only
// while an execution with it is active (ready, running or waiting for its
// children), as DBOS's deduplication id: an enqueue with the key while such
// an execution exists returns it (ErrDuplicate if it is of another task,
// in a batch, or through EnqueueTx), and once it has finished (completed,
// failed, timed out or cancelled, however), the same key makes a new
// execution. Two enqueues of one key never both make one while the first
// is active, from any process. The execution's id is new (te_...), not
// derived from the key: GetByKey and Filter.IdempotencyKey do not find
// it; the handle Enqueue returns names it, and Record.ActiveKey shows its
// key. Executor.Retry of an execution that had a key takes the key again
// (ErrDuplicate while another execution holds it). It applies to
// Enqueue, EnqueueMany and EnqueueTx, not to a parent's children nor to
// sleeping tasks, and not with WithIdempotencyWindow. It needs
// WithIdempotencyKey.
func WithIdempotencyWhileActive() EnqueueOption {
	return enqueueOnly(func(o *runOptions) { o.keyWhileActive = true })
}

// windowedKey is key within the window of period that holds now.
func windowedKey(key string, period time.Duration, now time.Time) string {
	start := now.UnixNano() / int64(period) * int64(period)
	return key + ":w" + strconv.FormatInt(start/int64(time.Second), 10)
}

// WithTags labels executions with a few short strings, to find them with
// List (Filter.Tag) and to show them in the durable command: a customer,
// an order, a tenant. Given at registration, they label every execution
// of the task; given at enqueue, they replace the task's. Tags are not
// passed to children. Up to 16 tags of 1..100 bytes, no commas or control
// characters, no duplicates.
func WithTags(tags ...string) Option {
	tags = slices.Clone(tags)
	return optionFunc(func(o *runOptions) {
		if err := storage.ValidateTags(tags); err != nil {
			o.errs = append(o.errs, err)
			return
		}
		o.tags = tags
	})
}

type enqueueOptionFunc func(*runOptions)

func (f enqueueOptionFunc) applyEnqueue(o *runOptions) { f(o) }

// WithMetadata adds entries to the execution's metadata: a small map of
// strings stored with it, never changed, read back by Get
// (Record.Metadata) and in its runs (Info(ctx).Metadata), and passed on to
// the children its runs declare (which may add their own). Several
// WithMetadata add up, the later winning on a key. The engine's
// middleware write the W3C trace context there ("traceparent",
// "tracestate"). Limits (storage.ValidateMetadata): at most 32 keys of
// 1..128 bytes of [A-Za-z0-9_.-], values of valid UTF-8 without NUL, 4096
// bytes of keys and values in all.
func WithMetadata(m map[string]string) EnqueueOption {
	m = maps.Clone(m)
	return enqueueOptionFunc(func(o *runOptions) {
		if err := storage.ValidateMetadata(m); err != nil {
			o.errs = append(o.errs, err)
			return
		}
		o.metadata = withEntries(o.metadata, m)
	})
}

// withEntries returns a new map of m's entries and add's (add's winning),
// or m when add is empty.
func withEntries(m, add map[string]string) map[string]string {
	if len(add) == 0 {
		return m
	}
	out := make(map[string]string, len(m)+len(add))
	maps.Copy(out, m)
	maps.Copy(out, add)
	return out
}

// WithConcurrencyKey sets the execution's concurrency key: a queue with a
// limit per key (QueueLimit.PerKey) runs at most that many of its
// executions with one key at once, across every process (for example at
// most one per customer). It overrides the task's WithConcurrencyKeyFunc.
// Key: 1..255 bytes of UTF-8 without control characters (ErrInvalidOption
// otherwise). An execution's key is kept by its retries (Executor.Retry),
// not given to its children. In a queue without a limit per key it has no
// effect.
func WithConcurrencyKey(key string) EnqueueOption {
	return enqueueOnly(func(o *runOptions) {
		if err := storage.ValidateConcurrencyKey(key); err != nil {
			o.errs = append(o.errs, err)
			return
		}
		o.concurrencyKey = key
	})
}

type keyFuncOption struct{ fn func(any) string }

func (k keyFuncOption) applyTask(o *taskOptions) { o.keyOf = k.fn }

// WithConcurrencyKeyFunc computes each execution's concurrency key (see
// WithConcurrencyKey) from its input, at enqueue (Enqueue, EnqueueMany,
// EnqueueTx), at a parent's spawn of it, and when the engine makes it a
// sequence's next step or a parent's finalize (from the encoded input);
// "" is none. A key that
// WithConcurrencyKey would refuse fails the enqueue with ErrInvalidOption
// (a child's fails its parent's run without retry). WithConcurrencyKey at
// enqueue takes precedence.
func WithConcurrencyKeyFunc[I any](fn func(I) string) TaskOption {
	return keyFuncOption{fn: func(v any) string {
		in, _ := v.(I)
		return fn(in)
	}}
}

type validatorOption struct{ fn func(any) error }

func (v validatorOption) applyTask(o *taskOptions) { o.validate = v.fn }

// WithValidator checks every input at enqueue (and every child input at
// spawn). A non-nil error fails Enqueue with ErrInvalidInput, naming the
// task and the problem; a child with a bad input fails its parent's run
// without retry.
func WithValidator[I any](fn func(I) error) TaskOption {
	return validatorOption{fn: func(v any) error {
		in, ok := v.(I)
		if !ok {
			return fmt.Errorf("input is %T, want %T", v, *new(I))
		}
		return fn(in)
	}}
}

const defaultTimeout = time.Minute

func buildTaskOptions(opts []TaskOption) (taskOptions, error) {
	o := taskOptions{runOptions: runOptions{timeout: defaultTimeout}}
	for _, opt := range opts {
		if opt != nil {
			opt.applyTask(&o)
		}
	}
	if len(o.errs) > 0 {
		return o, o.errs[0]
	}
	return o, nil
}

// merge applies enqueue overrides over a task's defaults.
func (o runOptions) merge(opts []EnqueueOption) (runOptions, error) {
	if len(opts) == 0 {
		return o, nil
	}
	out := o
	out.errs = nil
	for _, opt := range opts {
		if opt != nil {
			opt.applyEnqueue(&out)
		}
	}
	if len(out.errs) == 0 {
		if err := out.checkKey(); err != nil {
			out.errs = append(out.errs, err)
		}
	}
	if len(out.errs) > 0 {
		return out, fmt.Errorf("%w: %w", ErrInvalidOption, out.errs[0])
	}
	return out, nil
}

// checkKey checks that the options shaping an idempotency key come with
// one, and do not contradict each other.
func (o runOptions) checkKey() error {
	switch {
	case o.keyWindow > 0 && o.key == "":
		return errors.New("WithIdempotencyWindow without WithIdempotencyKey")
	case o.keyWhileActive && o.key == "":
		return errors.New("WithIdempotencyWhileActive without WithIdempotencyKey")
	case o.keyWhileActive && o.keyWindow > 0:
		return errors.New("WithIdempotencyWhileActive with WithIdempotencyWindow: a key holds either while active or within a window")
	}
	return nil
}

func (o runOptions) retryPolicy() storage.RetryPolicy {
	if o.retry == nil {
		return storage.RetryPolicy{}
	}
	return o.retry.stored()
}
