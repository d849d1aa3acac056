package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/api"
	"github.com/durable-go/durable/storage"
)

// methods dispatches a route's requests by method, answering others with
// 405 and the Allow header.
type methods map[string]http.HandlerFunc

func (h *Handler) route(pattern string, m methods) {
	allow := make([]string, 0, len(m))
	for k := range m {
		allow = append(allow, k)
	}
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if f, ok := m[r.Method]; ok {
			f(w, r)
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		h.fail(w, r, fmt.Errorf("%w: %s %s: use %s", api.ErrMethodNotAllowed, r.Method, pattern, strings.Join(allow, " or ")))
	})
}

func (h *Handler) routes() {
	h.route("/v1/executions", methods{http.MethodPost: h.enqueue, http.MethodGet: h.list})
	h.route("/v1/executions/batch", methods{http.MethodPost: h.enqueueMany})
	h.route("/v1/executions/{id}", methods{http.MethodGet: h.get})
	h.route("/v1/executions/{id}/wait", methods{http.MethodGet: h.wait})
	h.route("/v1/executions/{id}/cancel", methods{http.MethodPost: h.cancel})
	h.route("/v1/executions/{id}/retry", methods{http.MethodPost: h.retry})
	h.route("/v1/executions/{id}/children", methods{http.MethodGet: h.children})
	h.route("/v1/wake", methods{http.MethodPost: h.wake})
	h.route("/v1/stats", methods{http.MethodGet: h.stats})
	h.route("/v1/tasks", methods{http.MethodGet: h.tasks})
	h.route("/v1/queues", methods{http.MethodGet: h.queues})
	h.route("/v1/queues/{name}/pause", methods{http.MethodPost: h.pauseQueue})
	h.route("/v1/queues/{name}/resume", methods{http.MethodPost: h.resumeQueue})
	h.route("/v1/queues/{name}/limit", methods{http.MethodPost: h.limitQueue})
	h.route("/v1/openapi.json", methods{http.MethodGet: h.openAPI})
	h.route("/orpc/{procedure}", methods{http.MethodPost: h.orpc})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, fmt.Errorf("%w: %s %s (the API is under /v1 and /orpc)", api.ErrNoRoute, r.Method, r.URL.Path))
	})
}

func (h *Handler) enqueue(w http.ResponseWriter, r *http.Request) {
	var req api.EnqueueRequest
	if err := h.readJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.child(req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ids, err := h.ex.EnqueueMany(r.Context(), c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, r, api.Enqueued{ID: ids[0], TaskID: req.Task})
}

func (h *Handler) enqueueMany(w http.ResponseWriter, r *http.Request) {
	var req api.EnqueueManyRequest
	if err := h.readJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(req.Items) > h.cfg.MaxBatchItems {
		h.fail(w, r, &api.FieldError{Field: "items", Err: fmt.Errorf("%w: %d items, over the limit of %d",
			api.ErrInvalidRequest, len(req.Items), h.cfg.MaxBatchItems)})
		return
	}
	children := make([]durable.Child, len(req.Items))
	for i, it := range req.Items {
		c, err := h.child(it)
		if err != nil {
			h.fail(w, r, itemError(i, err))
			return
		}
		children[i] = c
	}
	ids, err := h.ex.EnqueueMany(r.Context(), children...)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if ids == nil {
		ids = []string{}
	}
	h.reply(w, r, api.EnqueuedMany{IDs: ids})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	rec, err := h.ex.Get(r.Context(), r.PathValue("id"))
	h.replyRecord(w, r, rec, err)
}

func (h *Handler) replyRecord(w http.ResponseWriter, r *http.Request, rec durable.Record, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, r, api.FromRecord(rec))
}

// wait answers once the execution has finished, or when the wait's bound
// passes, with the execution as it is then.
func (h *Handler) wait(w http.ResponseWriter, r *http.Request) {
	bound, err := h.waitBound(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	ctx, cancel := context.WithTimeout(r.Context(), bound)
	defer cancel()
	rec, err := h.ex.Wait(ctx, id)
	if err != nil && ctx.Err() != nil && r.Context().Err() == nil {
		rec, err = h.ex.Get(r.Context(), id) // the bound passed: the execution as it is
	}
	h.replyRecord(w, r, rec, err)
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rec, err := h.ex.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if rec.Status.Terminal() {
		h.fail(w, r, fmt.Errorf("%w: execution %s has finished (%s): there is nothing to cancel", api.ErrFinished, id, rec.Status))
		return
	}
	if err := h.ex.Cancel(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err = h.ex.Get(r.Context(), id)
	h.replyRecord(w, r, rec, err)
}

func (h *Handler) retry(w http.ResponseWriter, r *http.Request) {
	rec, err := h.ex.Retry(r.Context(), r.PathValue("id"))
	h.replyRecord(w, r, rec, err)
}

func (h *Handler) children(w http.ResponseWriter, r *http.Request) {
	recs, err := h.ex.Children(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, r, api.Executions{Executions: fromRecords(recs)})
}

func fromRecords(recs []durable.Record) []api.Execution {
	out := make([]api.Execution, len(recs))
	for i, rec := range recs {
		out[i] = api.FromRecord(rec)
	}
	return out
}

func (h *Handler) wake(w http.ResponseWriter, r *http.Request) {
	var req api.WakeRequest
	if err := h.readJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	rec, err := h.doWake(r.Context(), req)
	h.replyRecord(w, r, rec, err)
}

// doWake ends the sleeping execution req names, checking its task when
// req names one.
func (h *Handler) doWake(ctx context.Context, req api.WakeRequest) (durable.Record, error) {
	if req.Key == "" {
		return durable.Record{}, &api.FieldError{Field: "key", Err: fmt.Errorf("%w: key is required", api.ErrInvalidRequest)}
	}
	if req.Task != "" {
		if err := h.checkSleeping(ctx, req.Task, req.Key); err != nil {
			return durable.Record{}, err
		}
	}
	if req.Error != nil {
		if len(req.Output) > 0 {
			return durable.Record{}, &api.FieldError{Field: "output", Err: fmt.Errorf("%w: give output or error, not both", api.ErrInvalidRequest)}
		}
		return h.ex.Wake(ctx, req.Key, nil, errors.New(*req.Error))
	}
	out, err := payloadJSON(req.Output)
	if err != nil {
		return durable.Record{}, &api.FieldError{Field: "output", Err: err}
	}
	return h.ex.Wake(ctx, req.Key, out, nil)
}

// checkSleeping checks that task is a sleeping task (when this executor
// knows it) and the one the execution under key belongs to.
func (h *Handler) checkSleeping(ctx context.Context, task, key string) error {
	if info, ok := h.ex.Task(task); ok && !info.Sleeping {
		return &api.FieldError{Field: "task", Err: fmt.Errorf("%w: task %s is a %s", api.ErrNotSleeping, task, info.Kind)}
	}
	rec, err := h.ex.GetBySleepKey(ctx, key)
	if err != nil {
		return err
	}
	if rec.TaskID != task {
		return fmt.Errorf("%w: the sleeping execution with key %q belongs to task %s, not %s", durable.ErrNotFound, key, rec.TaskID, task)
	}
	return nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	opts, err := listOptions(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	page, err := h.ex.List(r.Context(), opts)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.reply(w, r, api.Page{Executions: fromRecords(page.Records), Next: page.Next})
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	f, err := statsFilter(r.URL.Query())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	counts, err := h.ex.Count(r.Context(), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.Stats{Counts: make([]api.Count, len(counts))}
	for i, c := range counts {
		out.Counts[i] = api.Count{TaskID: c.TaskID, Status: c.Status, N: c.N, OldestDueAt: c.OldestDue}
	}
	h.reply(w, r, out)
}

func (h *Handler) queues(w http.ResponseWriter, r *http.Request) {
	qs, err := h.ex.Queues(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := api.Queues{Queues: make([]api.Queue, len(qs))}
	for i, q := range qs {
		out.Queues[i] = apiQueue(q)
	}
	h.reply(w, r, out)
}

func (h *Handler) pauseQueue(w http.ResponseWriter, r *http.Request)  { h.setQueue(w, r, true) }
func (h *Handler) resumeQueue(w http.ResponseWriter, r *http.Request) { h.setQueue(w, r, false) }

// setQueue pauses or resumes a queue and answers with it.
func (h *Handler) setQueue(w http.ResponseWriter, r *http.Request, pause bool) {
	name := r.PathValue("name")
	var err error
	if pause {
		_, err = h.ex.PauseQueue(r.Context(), name)
	} else {
		_, err = h.ex.ResumeQueue(r.Context(), name)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.replyQueue(w, r, name)
}

// limitQueue sets a queue's limits and answers with the queue.
func (h *Handler) limitQueue(w http.ResponseWriter, r *http.Request) {
	var req api.QueueLimit
	if err := h.readJSON(w, r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	if err := limitFieldError(req); err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.ex.SetQueueLimit(r.Context(), name, req.Limit()); err != nil {
		h.fail(w, r, err)
		return
	}
	h.replyQueue(w, r, name)
}

// limitFieldError names the field of a limit out of range (nil when none
// is): an *api.FieldError wrapping durable.ErrInvalidOption.
func limitFieldError(req api.QueueLimit) error {
	l := req.Limit()
	field, err := "concurrency", storage.ValidateConcurrency(l.Concurrency)
	if err == nil {
		field, err = "per_key", storage.ValidateConcurrency(l.PerKey)
	}
	if err == nil {
		field, err = "rate", storage.ValidateRate(l.Rate, l.Per)
	}
	if err != nil {
		return &api.FieldError{Field: field, Err: fmt.Errorf("%w: %w", durable.ErrInvalidOption, err)}
	}
	return nil
}

// replyQueue answers with the queue named name as the store has it.
func (h *Handler) replyQueue(w http.ResponseWriter, r *http.Request, name string) {
	qs, err := h.ex.Queues(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, q := range qs {
		if q.Name == name {
			h.reply(w, r, apiQueue(q))
			return
		}
	}
	h.fail(w, r, fmt.Errorf("%w: queue %q", durable.ErrNotFound, name))
}

func apiQueue(q durable.QueueInfo) api.Queue {
	return api.Queue{Name: q.Name, Paused: q.Paused, Concurrency: q.Concurrency, PerKey: q.PerKey,
		Rate: q.Rate, RatePerMs: q.Per.Milliseconds(), UpdatedAt: q.UpdatedAt}
}

func (h *Handler) tasks(w http.ResponseWriter, r *http.Request) {
	infos := h.ex.Tasks()
	out := api.Tasks{Tasks: make([]api.Task, len(infos))}
	for i, t := range infos {
		out.Tasks[i] = api.Task{ID: t.ID, Kind: t.Kind, Sleeping: t.Sleeping}
	}
	h.reply(w, r, out)
}
