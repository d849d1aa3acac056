package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/api"
)

// The oRPC procedures: the three of the system durable implements, over
// oRPC's RPC wire protocol (what @orpc/client's RPCLink speaks): a POST to
// /orpc/<procedure> whose body is {"json": input, "meta": [...]}, answered
// with {"json": output, "meta": [...]}, the meta listing the paths of the
// output's dates ([1, "createdAt"]), or with an error status and
// {"json": {"defined": false, "code", "status", "message", "data"}}.
// docs/server.md has the input and output shapes.

const orpcPrefix = "/orpc/"

// orpcRequest is the body of a call.
type orpcRequest struct {
	JSON json.RawMessage `json:"json"`
	Meta json.RawMessage `json:"meta,omitempty"`
}

type orpcEnqueueInput struct {
	TaskID  string              `json:"taskId"`
	Input   json.RawMessage     `json:"input"`
	Options *orpcEnqueueOptions `json:"options"`
}

type orpcEnqueueOptions struct {
	RetryOptions     *orpcRetryOptions `json:"retryOptions"`
	SleepMsBeforeRun *int64            `json:"sleepMsBeforeRun"`
	TimeoutMs        *int64            `json:"timeoutMs"`
}

type orpcRetryOptions struct {
	MaxAttempts     int     `json:"maxAttempts"`
	BaseDelayMs     int64   `json:"baseDelayMs"`
	DelayMultiplier float64 `json:"delayMultiplier"`
	MaxDelayMs      int64   `json:"maxDelayMs"`
}

type orpcGetInput struct {
	TaskID      string `json:"taskId"`
	ExecutionID string `json:"executionId"`
}

type orpcWakeInput struct {
	TaskID               string          `json:"taskId"`
	SleepingTaskUniqueID string          `json:"sleepingTaskUniqueId"`
	Options              orpcWakeOptions `json:"options"`
}

type orpcWakeOptions struct {
	Status string          `json:"status"`
	Output json.RawMessage `json:"output"`
	// Error is the failure: an object with a message, or a string.
	Error json.RawMessage `json:"error"`
}

func (h *Handler) orpc(w http.ResponseWriter, r *http.Request) {
	var req orpcRequest
	if err := h.readJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	var (
		out  any
		meta []any
		err  error
	)
	switch p := r.PathValue("procedure"); p {
	case "enqueueTask":
		out, err = h.orpcEnqueue(r, req.JSON)
	case "getTaskExecution":
		out, meta, err = h.orpcGet(r, req.JSON)
	case "wakeupSleepingTaskExecution":
		out, meta, err = h.orpcWake(r, req.JSON)
	default:
		err = fmt.Errorf("%w: no procedure %q (enqueueTask, getTaskExecution, wakeupSleepingTaskExecution)", api.ErrNoRoute, p)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if meta == nil {
		meta = []any{}
	}
	b, err := json.Marshal(map[string]any{"json": out, "meta": meta})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeBody(w, http.StatusOK, "application/json", b)
}

// orpcInput decodes a procedure's input strictly.
func orpcInput(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return fmt.Errorf("%w: the call has no input (json)", api.ErrInvalidRequest)
	}
	return decodeJSON(strings.NewReader(string(raw)), v)
}

func (h *Handler) orpcEnqueue(r *http.Request, raw json.RawMessage) (string, error) {
	var in orpcEnqueueInput
	if err := orpcInput(raw, &in); err != nil {
		return "", err
	}
	req := api.EnqueueRequest{Task: in.TaskID, Input: in.Input}
	if info, ok := h.ex.Task(in.TaskID); ok && info.Sleeping {
		// A sleeping task's input is its unique id.
		if err := json.Unmarshal(in.Input, &req.SleepKey); err != nil {
			return "", &api.FieldError{Field: "input", Err: fmt.Errorf("%w: a sleeping task's input is its unique id, a string", durable.ErrInvalidInput)}
		}
		req.Input = nil
	}
	if o := in.Options; o != nil {
		req.DelayMs, req.TimeoutMs = o.SleepMsBeforeRun, o.TimeoutMs
		if ro := o.RetryOptions; ro != nil {
			req.Retry = &api.RetryPolicy{MaxRetries: ro.MaxAttempts, BaseDelayMs: ro.BaseDelayMs,
				Multiplier: ro.DelayMultiplier, MaxDelayMs: ro.MaxDelayMs}
		}
	}
	c, err := h.child(req)
	if err != nil {
		return "", err
	}
	ids, err := h.ex.EnqueueMany(r.Context(), c)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func (h *Handler) orpcGet(r *http.Request, raw json.RawMessage) (map[string]any, []any, error) {
	var in orpcGetInput
	if err := orpcInput(raw, &in); err != nil {
		return nil, nil, err
	}
	if _, ok := h.ex.Task(in.TaskID); !ok {
		return nil, nil, fmt.Errorf("%w: task %q is not registered with the server's executor", durable.ErrUnknownTask, in.TaskID)
	}
	rec, err := h.ex.Get(r.Context(), in.ExecutionID)
	if err != nil {
		return nil, nil, err
	}
	if rec.TaskID != in.TaskID {
		return nil, nil, fmt.Errorf("%w: execution %s belongs to another task (%s)", durable.ErrNotFound, in.ExecutionID, rec.TaskID)
	}
	v, meta := seedView(rec)
	return v, meta, nil
}

func (h *Handler) orpcWake(r *http.Request, raw json.RawMessage) (map[string]any, []any, error) {
	var in orpcWakeInput
	if err := orpcInput(raw, &in); err != nil {
		return nil, nil, err
	}
	info, ok := h.ex.Task(in.TaskID)
	switch {
	case !ok:
		return nil, nil, fmt.Errorf("%w: task %q is not registered with the server's executor", durable.ErrUnknownTask, in.TaskID)
	case !info.Sleeping:
		return nil, nil, fmt.Errorf("%w: task %s is a %s", api.ErrNotSleeping, in.TaskID, info.Kind)
	}
	req := api.WakeRequest{Key: in.SleepingTaskUniqueID, Task: in.TaskID}
	switch in.Options.Status {
	case "completed":
		req.Output = in.Options.Output
	case "failed":
		msg := wakeFailure(in.Options.Error)
		req.Error = &msg
	default:
		return nil, nil, &api.FieldError{Field: "options.status", Err: fmt.Errorf("%w: status %q: completed or failed", durable.ErrInvalidInput, in.Options.Status)}
	}
	rec, err := h.doWake(r.Context(), req)
	if err != nil {
		return nil, nil, err
	}
	v, meta := seedView(rec)
	return v, meta, nil
}

// wakeFailure is the message of a failure given as a string, an object
// with a message, or nothing.
func wakeFailure(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
		return obj.Message
	}
	return "Task execution failed"
}

// seedView is an execution in the shape of the system durable implements,
// and the oRPC meta that makes its times dates.
func seedView(rec durable.Record) (map[string]any, []any) {
	v := map[string]any{
		"taskId": rec.TaskID, "executionId": rec.ID, "status": string(rec.Status),
		"retryAttempts": rec.Attempt, "input": payloadValue(rec.Input),
	}
	var meta []any
	date := func(name string, t time.Time) {
		if !t.IsZero() {
			v[name] = t.UTC().Format(time.RFC3339Nano)
			meta = append(meta, []any{1, name})
		}
	}
	date("createdAt", rec.CreatedAt)
	date("updatedAt", rec.UpdatedAt)
	date("startedAt", rec.StartedAt)
	date("finishedAt", rec.FinishedAt)
	date("waitingForChildrenStartedAt", rec.WaitingForChildrenAt)
	date("waitingForFinalizeStartedAt", rec.WaitingForFinalizeAt)
	if rec.SleepKey != "" {
		v["sleepingTaskUniqueId"] = rec.SleepKey
		v["input"] = rec.SleepKey
	}
	if rec.Status == durable.StatusCompleted {
		v["output"] = payloadValue(rec.Output)
	}
	if rec.Err != nil {
		v["error"] = seedError(rec.Err)
	}
	if rec.ExecutorID != "" {
		v["executorId"] = rec.ExecutorID
	}
	if rec.RootID != "" {
		v["root"] = map[string]any{"taskId": rec.RootTaskID, "executionId": rec.RootID}
	}
	if rec.ParentID != "" {
		v["parent"] = map[string]any{"taskId": rec.ParentTaskID, "executionId": rec.ParentID,
			"indexInParentChildren": rec.ChildIndex, "isFinalizeOfParent": rec.IsFinalize}
	}
	if rec.ChildrenTotal > 0 {
		v["activeChildrenCount"] = rec.ChildrenPending
	}
	return v, meta
}

// payloadValue is a stored payload as a JSON value (null when empty).
func payloadValue(b []byte) json.RawMessage {
	raw, _ := api.Payload(b)
	if raw == nil {
		return json.RawMessage("null")
	}
	return raw
}

// seedError is an execution error in the stored form of the system
// durable implements: {errorType, message, isRetryable, isInternal}, with
// the error types it knows (generic, not_found, timed_out, cancelled).
func seedError(e *durable.ExecutionError) map[string]any {
	typ := "generic"
	switch {
	case errors.Is(e, durable.ErrTimedOut):
		typ = "timed_out"
	case errors.Is(e, durable.ErrCancelled):
		typ = "cancelled"
	case errors.Is(e, durable.ErrNotFound):
		typ = "not_found"
	}
	internal := errors.Is(e, durable.ErrPanic) || errors.Is(e, durable.ErrCrashBudget) || errors.Is(e, durable.ErrLeaseLost)
	return map[string]any{"errorType": typ, "message": e.Message, "isRetryable": e.Retryable, "isInternal": internal}
}

// orpcError is a problem as oRPC's error JSON: the seed's codes,
// NOT_FOUND, BAD_REQUEST (the caller's other mistakes), UNAUTHORIZED,
// FORBIDDEN and INTERNAL_SERVER_ERROR, with the problem's type and field
// in data.
func orpcError(p api.Problem) (int, []byte) {
	code, status := "BAD_REQUEST", http.StatusBadRequest
	switch {
	case p.Status == http.StatusNotFound:
		code, status = "NOT_FOUND", p.Status
	case p.Status == http.StatusUnauthorized:
		code, status = "UNAUTHORIZED", p.Status
	case p.Status == http.StatusForbidden:
		code, status = "FORBIDDEN", p.Status
	case p.Status >= 500:
		code, status = "INTERNAL_SERVER_ERROR", http.StatusInternalServerError
	}
	data := map[string]any{"type": p.Type}
	if p.Field != "" {
		data["field"] = p.Field
	}
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	b, _ := json.Marshal(map[string]any{"json": map[string]any{"defined": false, "code": code, "status": status,
		"message": msg, "data": data}, "meta": []any{}})
	return status, b
}
