package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/api"
	"github.com/durable-go/durable/server"
	"github.com/durable-go/durable/storage/sqlite"
)

const testToken = "test-token-0123456789abcdef"

// Greeting is the input of the greet task.
type Greeting struct {
	Name  string `json:"name"`
	Times int    `json:"times,omitempty"`
}

// Woken is the output of the sleeping task.
type Woken struct {
	OK bool `json:"ok"`
}

// env is an executor on a real SQLite file, with the tasks the tests use,
// served by the handler on an httptest server.
type env struct {
	t       testing.TB
	ex      *durable.Executor
	srv     *httptest.Server
	h       *server.Handler
	release chan struct{} // closing it lets the block task return
}

type envOption func(*server.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "server.db"), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := durable.New(store, durable.Config{PollInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ex: ex, release: make(chan struct{})}
	e.register()
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{Token: testToken, MaxBodyBytes: 64 << 10, MaxWait: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	h, err := server.New(ex, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	e.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		e.srv.Close()
		select {
		case <-e.release:
		default:
			close(e.release)
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ex.Shutdown(sctx); err != nil {
			t.Error(err)
		}
		store.Close()
	})
	return e
}

func (e *env) register() {
	durable.Must(durable.NewTask(e.ex, "greet", func(ctx context.Context, g Greeting) (string, error) {
		return strings.Repeat("hello, "+g.Name+"! ", max(g.Times, 1)), nil
	}, durable.WithValidator(func(g Greeting) error {
		if g.Name == "" {
			return errors.New("name is empty")
		}
		return nil
	})))
	durable.Must(durable.NewTask(e.ex, "block", func(ctx context.Context, _ struct{}) (int, error) {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-e.release:
			return 1, nil
		}
	}))
	durable.Must(durable.NewTask(e.ex, "fail", func(ctx context.Context, msg string) (int, error) {
		return 0, durable.NonRetryable(errors.New(msg))
	}))
	durable.Must(durable.NewSleepingTask[Woken](e.ex, "approval", durable.WithTimeout(time.Hour)))
}

// response is an answer of the API.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) problem(t testing.TB) api.Problem {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != api.ContentTypeProblem {
		t.Fatalf("Content-Type %q, want %s (status %d, body %s)", ct, api.ContentTypeProblem, r.Status, r.Body)
	}
	var p api.Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.Body, err)
	}
	if p.Status != r.Status {
		t.Fatalf("problem status %d, answer status %d", p.Status, r.Status)
	}
	return p
}

// request is a call of the API: the bearer token is sent unless token is
// set ("-" sends none).
type request struct {
	method, path string
	body         any // marshalled unless a string or []byte
	token        string
	contentType  string
}

// do sends req and returns the answer, checked against the OpenAPI
// document.
func (e *env) do(req request) response {
	e.t.Helper()
	var body io.Reader
	var raw []byte
	switch b := req.body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	hr, err := http.NewRequestWithContext(e.t.Context(), req.method, e.srv.URL+req.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	switch {
	case req.contentType != "":
		hr.Header.Set("Content-Type", req.contentType)
	case raw != nil:
		hr.Header.Set("Content-Type", "application/json")
	}
	switch req.token {
	case "":
		hr.Header.Set("Authorization", "Bearer "+testToken)
	case "-":
	default:
		hr.Header.Set("Authorization", "Bearer "+req.token)
	}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	checkOpenAPI(e.t, req, raw, out)
	return out
}

// ok sends req, requires a 200 and decodes the body into v.
func (e *env) ok(req request, v any) {
	e.t.Helper()
	r := e.do(req)
	if r.Status != http.StatusOK {
		e.t.Fatalf("%s %s: status %d, want 200: %s", req.method, req.path, r.Status, r.Body)
	}
	if v != nil {
		if err := json.Unmarshal(r.Body, v); err != nil {
			e.t.Fatalf("%s %s: body %s: %v", req.method, req.path, r.Body, err)
		}
	}
}

func (e *env) enqueue(req api.EnqueueRequest) string {
	e.t.Helper()
	var out api.Enqueued
	e.ok(request{method: "POST", path: "/v1/executions", body: req}, &out)
	return out.ID
}

func (e *env) wait(id string) api.Execution {
	e.t.Helper()
	for {
		var x api.Execution
		e.ok(request{method: "GET", path: "/v1/executions/" + id + "/wait?timeout_ms=5000"}, &x)
		if x.Finished() {
			return x
		}
	}
}

func (e *env) get(id string) api.Execution {
	e.t.Helper()
	var x api.Execution
	e.ok(request{method: "GET", path: "/v1/executions/" + id}, &x)
	return x
}

// snapshot is every execution of the store, to tell that a request
// changed nothing.
func (e *env) snapshot() string {
	e.t.Helper()
	page, err := e.ex.List(e.t.Context(), durable.ListOptions{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range page.Records {
		fmt.Fprintf(&b, "%s %s %s %s\n", r.ID, r.TaskID, r.Status, r.UpdatedAt.Format(time.RFC3339Nano))
	}
	return b.String()
}

func jsonOf(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }
