// Package client is a Go client of durable's HTTP API (package server):
// another Go service enqueues, reads, waits for, cancels, wakes and lists
// executions over HTTP, without linking the tasks or opening the store.
//
//	c, err := client.New("https://durable.internal:8080", client.Options{Token: token})
//	id, err := c.Enqueue(ctx, "send_email", Email{To: "ada@example.com"}, client.EnqueueOptions{})
//	x, err := c.Wait(ctx, id) // x.Status, x.Output
//
// Task gives a typed view of one task: its Enqueue takes an I, and Result
// decodes an O.
//
// Errors: an error answer is an *api.Problem, which errors.Is matches
// against durable's sentinels (durable.ErrNotFound, ErrUnknownTask,
// ErrInvalidInput, ...) and package api's (api.ErrUnauthorized,
// api.ErrFinished, ...). A network error is returned as it is. The client
// retries nothing: an enqueue that failed on the network may have been
// stored, so give an idempotency key to retry it safely.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/api"
	"github.com/durable-go/durable/storage"
)

// Options configures a Client.
type Options struct {
	// Token is the server's bearer token.
	Token string
	// HTTPClient sends the requests. Default: a client of its own, with
	// keep-alive connections and no overall timeout (each call's context
	// bounds it).
	HTTPClient *http.Client
	// MaxResponseBytes limits an answer's body. Default 64 MiB.
	MaxResponseBytes int64
}

// Client calls durable's HTTP API. It is safe for concurrent use.
type Client struct {
	base *url.URL
	opts Options
}

// New returns a client of the API at baseURL (the URL the handler is
// mounted at, e.g. "http://localhost:8080").
func New(baseURL string, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host[:port][/prefix]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
			ForceAttemptHTTP2: true, Proxy: http.ProxyFromEnvironment}}
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 64 << 20
	}
	return &Client{base: u, opts: opts}, nil
}

// EnqueueOptions are an enqueue's options; zero values take the task's
// defaults.
type EnqueueOptions struct {
	Delay          time.Duration
	Timeout        time.Duration
	Retry          *durable.RetryPolicy
	IdempotencyKey string
	// IdempotencyWhileActive makes IdempotencyKey hold only while an
	// execution with it is active (durable.WithIdempotencyWhileActive).
	IdempotencyWhileActive bool
	Tags                   []string
}

func (o EnqueueOptions) apply(req *api.EnqueueRequest) {
	if o.Delay != 0 {
		req.DelayMs = ptr(o.Delay.Milliseconds())
	}
	if o.Timeout != 0 {
		req.TimeoutMs = ptr(o.Timeout.Milliseconds())
	}
	if p := o.Retry; p != nil {
		req.Retry = &api.RetryPolicy{MaxRetries: p.MaxRetries, BaseDelayMs: p.BaseDelay.Milliseconds(),
			Multiplier: p.Multiplier, MaxDelayMs: p.MaxDelay.Milliseconds(), Jitter: p.Jitter}
	}
	req.IdempotencyKey, req.IdempotencyWhileActive, req.Tags = o.IdempotencyKey, o.IdempotencyWhileActive, o.Tags
}

func ptr[T any](v T) *T { return &v }

// Item is one execution to enqueue with EnqueueMany.
type Item struct {
	Task string
	// Input is marshalled with encoding/json; a sleeping task takes
	// SleepKey instead.
	Input    any
	SleepKey string
	Options  EnqueueOptions
}

func (it Item) request() (api.EnqueueRequest, error) {
	req := api.EnqueueRequest{Task: it.Task, SleepKey: it.SleepKey}
	if it.Input != nil {
		b, err := json.Marshal(it.Input)
		if err != nil {
			return req, fmt.Errorf("client: input of task %s: %w", it.Task, err)
		}
		req.Input = b
	}
	it.Options.apply(&req)
	return req, nil
}

// Enqueue stores an execution of task with input (marshalled with
// encoding/json) and returns its id. With an idempotency key already used
// for the task, it returns the existing execution's id.
func (c *Client) Enqueue(ctx context.Context, task string, input any, opts EnqueueOptions) (string, error) {
	req, err := Item{Task: task, Input: input, Options: opts}.request()
	if err != nil {
		return "", err
	}
	var out api.Enqueued
	err = c.call(ctx, http.MethodPost, "/v1/executions", nil, req, &out)
	return out.ID, err
}

// EnqueueSleeping stores an execution of the sleeping task waiting under
// key and returns its id.
func (c *Client) EnqueueSleeping(ctx context.Context, task, key string, opts EnqueueOptions) (string, error) {
	req, _ := Item{Task: task, SleepKey: key, Options: opts}.request() // no input to marshal
	var out api.Enqueued
	err := c.call(ctx, http.MethodPost, "/v1/executions", nil, req, &out)
	return out.ID, err
}

// EnqueueMany stores every item in one transaction, or none, and returns
// their ids in order.
func (c *Client) EnqueueMany(ctx context.Context, items ...Item) ([]string, error) {
	body := api.EnqueueManyRequest{Items: make([]api.EnqueueRequest, len(items))}
	for i, it := range items {
		req, err := it.request()
		if err != nil {
			return nil, err
		}
		body.Items[i] = req
	}
	var out api.EnqueuedMany
	err := c.call(ctx, http.MethodPost, "/v1/executions/batch", nil, body, &out)
	return out.IDs, err
}

// Get returns the execution with that id.
func (c *Client) Get(ctx context.Context, id string) (api.Execution, error) {
	var x api.Execution
	err := c.call(ctx, http.MethodGet, "/v1/executions/"+url.PathEscape(id), nil, nil, &x)
	return x, err
}

// Wait returns the execution once it has finished, polling the server's
// long poll (each call waits up to the server's bound) until it has or ctx
// is done.
func (c *Client) Wait(ctx context.Context, id string) (api.Execution, error) {
	for {
		var x api.Execution
		if err := c.call(ctx, http.MethodGet, "/v1/executions/"+url.PathEscape(id)+"/wait", nil, nil, &x); err != nil {
			return x, err
		}
		if x.Finished() {
			return x, nil
		}
	}
}

// Cancel cancels an unfinished execution and returns it; an execution
// that has finished is api.ErrFinished.
func (c *Client) Cancel(ctx context.Context, id string) (api.Execution, error) {
	var x api.Execution
	err := c.call(ctx, http.MethodPost, "/v1/executions/"+url.PathEscape(id)+"/cancel", nil, nil, &x)
	return x, err
}

// Retry enqueues a new execution of a finished top-level execution, with
// the same input, and returns it.
func (c *Client) Retry(ctx context.Context, id string) (api.Execution, error) {
	var x api.Execution
	err := c.call(ctx, http.MethodPost, "/v1/executions/"+url.PathEscape(id)+"/retry", nil, nil, &x)
	return x, err
}

// Children returns an execution's children, in order.
func (c *Client) Children(ctx context.Context, id string) ([]api.Execution, error) {
	var out api.Executions
	err := c.call(ctx, http.MethodGet, "/v1/executions/"+url.PathEscape(id)+"/children", nil, nil, &out)
	return out.Executions, err
}

// Wake completes the sleeping execution waiting under key with output
// (marshalled with encoding/json) and returns it; waking is idempotent.
func (c *Client) Wake(ctx context.Context, key string, output any) (api.Execution, error) {
	b, err := json.Marshal(output)
	if err != nil {
		return api.Execution{}, fmt.Errorf("client: wake output: %w", err)
	}
	var x api.Execution
	err = c.call(ctx, http.MethodPost, "/v1/wake", nil, api.WakeRequest{Key: key, Output: b}, &x)
	return x, err
}

// WakeFailed fails the sleeping execution waiting under key with message.
func (c *Client) WakeFailed(ctx context.Context, key, message string) (api.Execution, error) {
	var x api.Execution
	err := c.call(ctx, http.MethodPost, "/v1/wake", nil, api.WakeRequest{Key: key, Error: &message}, &x)
	return x, err
}

// ListOptions selects a page of executions.
type ListOptions struct {
	Statuses    []durable.Status
	Tasks       []string
	Tag         string
	ParentID    string
	RootID      string
	TopLevel    bool
	OldestFirst bool
	// Limit is the page size (default 50, at most 1000); Cursor the Next
	// of the previous page.
	Limit  int
	Cursor string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	for _, s := range o.Statuses {
		q.Add("status", string(s))
	}
	for _, t := range o.Tasks {
		q.Add("task", t)
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("tag", o.Tag)
	set("parent_id", o.ParentID)
	set("root_id", o.RootID)
	set("cursor", o.Cursor)
	if o.TopLevel {
		q.Set("top_level", "true")
	}
	if o.OldestFirst {
		q.Set("order", "oldest")
	}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}

// List returns a page of executions, without input, output and attempts.
func (c *Client) List(ctx context.Context, opts ListOptions) (api.Page, error) {
	var p api.Page
	err := c.call(ctx, http.MethodGet, "/v1/executions", opts.query(), nil, &p)
	return p, err
}

// Stats counts the executions by task and status.
func (c *Client) Stats(ctx context.Context) ([]api.Count, error) {
	var s api.Stats
	err := c.call(ctx, http.MethodGet, "/v1/stats", nil, nil, &s)
	return s.Counts, err
}

// call sends one request and decodes its answer into out, or returns the
// problem it answered.
func (c *Client) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	switch {
	case err != nil:
		return fmt.Errorf("client: %s %s: reading the answer: %w", method, path, err)
	case int64(len(b)) > c.opts.MaxResponseBytes:
		return fmt.Errorf("client: %s %s: the answer is over MaxResponseBytes (%d)", method, path, c.opts.MaxResponseBytes)
	case resp.StatusCode != http.StatusOK:
		return problemOf(resp, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("client: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// problemOf is the error of an error answer: its problem, or one made of
// its status when the body is not one (a proxy's answer, say).
func problemOf(resp *http.Response, body []byte) error {
	var p api.Problem
	if json.Unmarshal(body, &p) == nil && p.Type != "" && p.Status == resp.StatusCode {
		return &p
	}
	return &api.Problem{Type: "about:blank", Title: http.StatusText(resp.StatusCode), Status: resp.StatusCode,
		Detail: strings.TrimSpace(string(body[:min(len(body), 512)]))}
}

// Task is a typed view of one task of the server's executor.
type Task[I, O any] struct {
	c  *Client
	id string
}

// NewTask returns the typed view of task id: inputs I, outputs O.
func NewTask[I, O any](c *Client, id string) *Task[I, O] { return &Task[I, O]{c: c, id: id} }

// Enqueue stores an execution of the task with input in.
func (t *Task[I, O]) Enqueue(ctx context.Context, in I, opts EnqueueOptions) (string, error) {
	return t.c.Enqueue(ctx, t.id, in, opts)
}

// Run enqueues an execution and waits for its result.
func (t *Task[I, O]) Run(ctx context.Context, in I, opts EnqueueOptions) (O, error) {
	id, err := t.Enqueue(ctx, in, opts)
	if err != nil {
		var zero O
		return zero, err
	}
	x, err := t.c.Wait(ctx, id)
	if err != nil {
		var zero O
		return zero, err
	}
	return Result[O](x)
}

// Result returns the output of a completed execution decoded as an O, or
// the error it ended with (a *durable.ExecutionError, which errors.Is
// matches against durable.ErrTimedOut, ErrCancelled and so on), or
// durable.ErrNotFinished.
func Result[O any](x api.Execution) (O, error) {
	var out O
	switch {
	case x.Status == durable.StatusCompleted:
		if x.OutputEncoding != "" {
			return out, fmt.Errorf("client: execution %s: its output is %s, not JSON (the executor's codec is not JSON)", x.ID, x.OutputEncoding)
		}
		if err := json.Unmarshal(x.Output, &out); err != nil {
			return out, fmt.Errorf("client: execution %s: decoding the output as %T: %w", x.ID, out, err)
		}
		return out, nil
	case x.Status.Terminal() && x.Error != nil:
		return out, &durable.ExecutionError{Kind: storage.ErrorKind(x.Error.Kind), Message: x.Error.Message, Retryable: x.Error.Retryable, Stack: x.Error.Stack}
	case x.Status.Terminal():
		return out, fmt.Errorf("durable: execution %s ended %s", x.ID, x.Status)
	}
	return out, fmt.Errorf("%w: execution %s is %s", durable.ErrNotFinished, x.ID, x.Status)
}

// BaseURL is the URL the client calls.
func (c *Client) BaseURL() string { return c.base.String() }
