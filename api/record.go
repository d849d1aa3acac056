package api

import (
	"encoding/base64"
	"encoding/json"

	"github.com/durable-go/durable"
)

// FromRecord is r as the API shows it.
func FromRecord(r durable.Record) Execution {
	x := Execution{
		ID: r.ID, TaskID: r.TaskID, Status: r.Status, Error: fromExecError(r.Err),
		Attempt: r.Attempt, Iteration: r.Iteration, Crashes: r.Crashes, SleepKey: r.SleepKey,
		Tags: r.Tags, RetryOf: r.RetryOf, ActiveKey: r.ActiveKey, ConcurrencyKey: r.ConcurrencyKey, Queue: r.Queue, Priority: r.Priority,
		RootID: r.RootID, RootTaskID: r.RootTaskID, ParentID: r.ParentID, ParentTaskID: r.ParentTaskID,
		ChildIndex: r.ChildIndex, IsFinalize: r.IsFinalize,
		ChildrenTotal: r.ChildrenTotal, ChildrenPending: r.ChildrenPending,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, DueAt: r.DueAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
	}
	x.Input, x.InputEncoding = Payload(r.Input)
	x.Output, x.OutputEncoding = Payload(r.Output)
	if len(r.Attempts) > 0 {
		x.Attempts = make([]Attempt, len(r.Attempts))
		for i, a := range r.Attempts {
			x.Attempts[i] = Attempt{Attempt: a.Attempt, Iteration: a.Iteration, ExecutorID: a.ExecutorID,
				StartedAt: a.StartedAt, FinishedAt: a.FinishedAt, Outcome: a.Outcome, Error: fromExecError(a.Err)}
		}
	}
	return x
}

// Payload is a stored payload as JSON: itself when it is JSON, else a
// JSON string of its base64, with the encoding "base64".
func Payload(b []byte) (json.RawMessage, string) {
	switch {
	case len(b) == 0:
		return nil, ""
	case json.Valid(b):
		return json.RawMessage(b), ""
	}
	s, _ := json.Marshal(base64.StdEncoding.EncodeToString(b)) // a string cannot fail
	return s, "base64"
}

func fromExecError(e *durable.ExecutionError) *Error {
	if e == nil {
		return nil
	}
	return &Error{Kind: string(e.Kind), Message: e.Message, Retryable: e.Retryable, Stack: e.Stack}
}
