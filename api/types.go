package api

import (
	"encoding/json"
	"time"

	"github.com/durable-go/durable"
)

// Execution is one execution as the API shows it.
type Execution struct {
	ID     string         `json:"id"`
	TaskID string         `json:"task_id"`
	Status durable.Status `json:"status"`
	// Input is the input (left out by listings); Output the output of a
	// completed execution.
	Input          json.RawMessage `json:"input,omitempty"`
	InputEncoding  string          `json:"input_encoding,omitempty"`
	Output         json.RawMessage `json:"output,omitempty"`
	OutputEncoding string          `json:"output_encoding,omitempty"`
	// Error is the error it ended with; on a ready execution, the previous
	// attempt's.
	Error *Error `json:"error,omitempty"`

	Attempt   int      `json:"attempt"`
	Iteration int      `json:"iteration"`
	Crashes   int      `json:"crashes"`
	SleepKey  string   `json:"sleep_key,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	RetryOf   string   `json:"retry_of,omitempty"`
	// ActiveKey is the idempotency key it held while active
	// (IdempotencyWhileActive).
	ActiveKey string `json:"active_key,omitempty"`
	// ConcurrencyKey is the key its queue's limit per key counts it under
	// (durable.WithConcurrencyKey).
	ConcurrencyKey string `json:"concurrency_key,omitempty"`
	// Queue and Priority: the execution's queue and priority (1 first to
	// 9 last).
	Queue    string `json:"queue,omitempty"`
	Priority int    `json:"priority,omitempty"`

	RootID          string `json:"root_id,omitempty"`
	RootTaskID      string `json:"root_task_id,omitempty"`
	ParentID        string `json:"parent_id,omitempty"`
	ParentTaskID    string `json:"parent_task_id,omitempty"`
	ChildIndex      int    `json:"child_index"`
	IsFinalize      bool   `json:"is_finalize,omitempty"`
	ChildrenTotal   int    `json:"children_total"`
	ChildrenPending int    `json:"children_pending"`

	// Attempts is the history of the past runs that did not complete it
	// (left out by listings).
	Attempts []Attempt `json:"attempts,omitempty"`

	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	DueAt      time.Time `json:"due_at,omitzero"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Finished reports whether the execution has reached a terminal status.
func (x *Execution) Finished() bool { return x.Status.Terminal() }

// Error is the error an execution ended with.
type Error struct {
	// Kind is one of durable's error kinds (timed_out, cancelled, panic,
	// generic, ...) or a task's own.
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
	Stack     string `json:"stack,omitempty"`
}

// Attempt is one past run of an execution that did not complete it.
type Attempt struct {
	Attempt    int            `json:"attempt"`
	Iteration  int            `json:"iteration"`
	ExecutorID string         `json:"executor_id,omitempty"`
	StartedAt  time.Time      `json:"started_at,omitzero"`
	FinishedAt time.Time      `json:"finished_at,omitzero"`
	Outcome    durable.Status `json:"outcome"`
	Error      *Error         `json:"error,omitempty"`
}

// EnqueueRequest is the body of POST /v1/executions, and one item of an
// EnqueueManyRequest. Options left out take the task's defaults.
type EnqueueRequest struct {
	// Task is the task id; it must be registered with the server's
	// executor.
	Task string `json:"task"`
	// Input is the input as JSON, decoded into the task's input type
	// (left out: JSON null, the type's zero value). A sleeping task takes
	// SleepKey instead.
	Input    json.RawMessage `json:"input,omitempty"`
	SleepKey string          `json:"sleep_key,omitempty"`
	// DelayMs delays the first run (0..365 days).
	DelayMs *int64 `json:"delay_ms,omitempty"`
	// TimeoutMs bounds each run (1 ms..7 days).
	TimeoutMs *int64       `json:"timeout_ms,omitempty"`
	Retry     *RetryPolicy `json:"retry,omitempty"`
	// IdempotencyKey makes the enqueue idempotent (1..200 characters of
	// [A-Za-z0-9_.:-]): the same key again returns the same execution.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// IdempotencyWhileActive makes IdempotencyKey hold only while an
	// execution with it is active (durable.WithIdempotencyWhileActive):
	// the same key returns that execution, and once it has finished makes
	// a new one.
	IdempotencyWhileActive bool     `json:"idempotency_while_active,omitempty"`
	Tags                   []string `json:"tags,omitempty"`
	// Queue puts the execution in a queue other than its task's;
	// Priority gives it a priority other than its task's (1 first to 9
	// last).
	Queue    string `json:"queue,omitempty"`
	Priority *int   `json:"priority,omitempty"`
	// ConcurrencyKey is the key its queue's limit per key counts it under
	// (durable.WithConcurrencyKey; it overrides the task's key function).
	ConcurrencyKey string `json:"concurrency_key,omitempty"`
}

// Queue is one queue known to the store.
type Queue struct {
	Name   string `json:"name"`
	Paused bool   `json:"paused"`
	// Concurrency is the queue's global concurrency limit; 0 is none.
	Concurrency int `json:"concurrency"`
	// PerKey is its limit per concurrency key; 0 is none.
	PerKey int `json:"per_key"`
	// Rate per RatePerMs milliseconds is its rate limit; 0 is none.
	Rate      int       `json:"rate"`
	RatePerMs int64     `json:"rate_per_ms,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// QueueLimit is the body of POST /v1/queues/{name}/limit: the queue's
// limits, all of them (a field left out is 0, no limit of that kind).
type QueueLimit struct {
	// Concurrency is the most executions of the queue running at once,
	// across every executor on the store.
	Concurrency int `json:"concurrency"`
	// PerKey is the most executions with one concurrency key running at
	// once.
	PerKey int `json:"per_key,omitempty"`
	// Rate is the most executions started per RatePerMs milliseconds
	// (durable.QueueLimit.Rate): both or neither.
	Rate      int   `json:"rate,omitempty"`
	RatePerMs int64 `json:"rate_per_ms,omitempty"`
}

// Limit is l as a durable.QueueLimit.
func (l QueueLimit) Limit() durable.QueueLimit {
	return durable.QueueLimit{Concurrency: l.Concurrency, PerKey: l.PerKey, Rate: l.Rate,
		Per: time.Duration(l.RatePerMs) * time.Millisecond}
}

// Queues lists the queues known to the store, by name.
type Queues struct {
	Queues []Queue `json:"queues"`
}

// RetryPolicy is durable.RetryPolicy with durations in milliseconds.
type RetryPolicy struct {
	MaxRetries  int     `json:"max_retries"`
	BaseDelayMs int64   `json:"base_delay_ms,omitempty"`
	Multiplier  float64 `json:"multiplier,omitempty"`
	MaxDelayMs  int64   `json:"max_delay_ms,omitempty"`
	Jitter      float64 `json:"jitter,omitempty"`
}

// Policy is p as a durable.RetryPolicy.
func (p RetryPolicy) Policy() durable.RetryPolicy {
	return durable.RetryPolicy{MaxRetries: p.MaxRetries, BaseDelay: time.Duration(p.BaseDelayMs) * time.Millisecond,
		Multiplier: p.Multiplier, MaxDelay: time.Duration(p.MaxDelayMs) * time.Millisecond, Jitter: p.Jitter}
}

// Enqueued is the answer to an enqueue.
type Enqueued struct {
	ID     string `json:"id"`
	TaskID string `json:"task_id"`
}

// EnqueueManyRequest is the body of POST /v1/executions/batch: every item
// is stored, in one transaction, or none is.
type EnqueueManyRequest struct {
	Items []EnqueueRequest `json:"items"`
}

// EnqueuedMany is the answer to an enqueue of many: the execution ids, in
// the order of the items.
type EnqueuedMany struct {
	IDs []string `json:"ids"`
}

// WakeRequest is the body of POST /v1/wake: it ends the sleeping
// execution waiting under Key, completed with Output, or failed with
// Error's message when Error is set.
type WakeRequest struct {
	Key string `json:"key"`
	// Task, when set, must be the sleeping execution's task.
	Task   string          `json:"task,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  *string         `json:"error,omitempty"`
}

// Page is one page of a listing (GET /v1/executions): executions without
// input, output and attempts, and the cursor of the next page (empty on
// the last).
type Page struct {
	Executions []Execution `json:"executions"`
	Next       string      `json:"next,omitempty"`
}

// Executions is a list of executions (GET /v1/executions/{id}/children).
type Executions struct {
	Executions []Execution `json:"executions"`
}

// Stats is the answer of GET /v1/stats: counts by task and status.
type Stats struct {
	Counts []Count `json:"counts"`
}

// Count is the number of executions of one task in one status.
type Count struct {
	TaskID string         `json:"task_id"`
	Status durable.Status `json:"status"`
	N      int64          `json:"n"`
	// OldestDueAt is when the longest-waiting due execution became due.
	OldestDueAt time.Time `json:"oldest_due_at,omitzero"`
}

// Tasks is the answer of GET /v1/tasks: the tasks the server's executor
// has registered, which are those it can enqueue.
type Tasks struct {
	Tasks []Task `json:"tasks"`
}

// Task is one registered task.
type Task struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Sleeping bool   `json:"sleeping,omitempty"`
}
