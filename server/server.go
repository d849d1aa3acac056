// Package server is durable's HTTP API: an http.Handler, built on an
// Executor and its registered tasks, to mount in your own server.
//
// It serves a JSON API under /v1 (enqueue, enqueue many, get, wait,
// cancel, wake, retry, list, children, stats, tasks), its OpenAPI 3.1
// document at /v1/openapi.json, and the three procedures of the oRPC
// wire protocol under /orpc (enqueueTask, getTaskExecution,
// wakeupSleepingTaskExecution) for TypeScript clients using @orpc/client's
// RPCLink. Errors are application/problem+json (RFC 9457), one stable type
// per kind of error (see package api). docs/server.md in the repository
// describes every route, what is guaranteed and the security model.
//
// Every route requires authentication: a bearer token (Config.Token), or
// your own check (Config.Authorize); Config.NoAuth opts out, explicitly.
// Request bodies are limited (Config.MaxBodyBytes) and decoded strictly
// (unknown fields, wrong types and trailing data are refused, naming the
// field). HTTPServer returns an *http.Server with read-header, read, write
// and idle timeouts set.
//
//	h, err := server.New(ex, server.Config{Token: os.Getenv("DURABLE_TOKEN")})
//	srv := h.HTTPServer(":8080")
//	err = srv.ListenAndServe()
//
// Enqueue takes the tasks registered with the executor, and decodes the
// input (JSON) into the task's input type; every other route works on any
// execution of the store, of any task.
package server

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/api"
)

// Config configures a Handler. One of Token, Authorize and NoAuth must be
// set.
type Config struct {
	// Token is the bearer token every request must carry
	// ("Authorization: Bearer <token>"). At least 16 bytes.
	Token string
	// Authorize is your own check of every request, instead of Token: a
	// nil error lets it through; an error wrapping api.ErrForbidden
	// answers 403, any other error 401.
	Authorize func(r *http.Request) error
	// NoAuth lets every request through without authentication: only for
	// a handler behind your own authenticating middleware or on a trusted
	// network.
	NoAuth bool

	// MaxBodyBytes limits a request body. Default 8 MiB.
	MaxBodyBytes int64
	// MaxBatchItems limits the items of an enqueue of many. Default
	// 10,000.
	MaxBatchItems int
	// MaxWait bounds a long poll (GET /v1/executions/{id}/wait). Default
	// 60 s; DefaultWait (default 30 s) is the bound when the request
	// gives none.
	MaxWait, DefaultWait time.Duration

	// Logger receives the errors answered with 500. Default: slog.Default().
	Logger *slog.Logger
}

const minTokenBytes = 16

func (c *Config) setDefaults() error {
	auth := 0
	for _, set := range []bool{c.Token != "", c.Authorize != nil, c.NoAuth} {
		if set {
			auth++
		}
	}
	switch {
	case auth == 0:
		return errors.New("server: no authentication: set Config.Token or Config.Authorize, or Config.NoAuth to opt out")
	case auth > 1:
		return errors.New("server: set one of Config.Token, Config.Authorize and Config.NoAuth")
	case c.Token != "" && len(c.Token) < minTokenBytes:
		return fmt.Errorf("server: Config.Token is %d bytes: at least %d", len(c.Token), minTokenBytes)
	case c.MaxBodyBytes < 0 || c.MaxBatchItems < 0 || c.MaxWait < 0 || c.DefaultWait < 0:
		return errors.New("server: negative limit in Config")
	}
	setDefault(&c.MaxBodyBytes, 8<<20)
	setDefault(&c.MaxBatchItems, 10000)
	setDefault(&c.MaxWait, 60*time.Second)
	setDefault(&c.DefaultWait, min(30*time.Second, c.MaxWait))
	if c.DefaultWait > c.MaxWait {
		return fmt.Errorf("server: Config.DefaultWait %s is longer than MaxWait %s", c.DefaultWait, c.MaxWait)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

func setDefault[T int | int64 | time.Duration](p *T, v T) {
	if *p == 0 {
		*p = v
	}
}

// Handler serves durable's HTTP API. It is safe for concurrent use.
type Handler struct {
	ex        *durable.Executor
	cfg       Config
	mux       *http.ServeMux
	protected http.Handler // mux behind the authentication
}

// New returns the API's handler on ex, which need not be started: every
// route but enqueue works on an executor that runs nothing (durable serve
// does so), and enqueued executions wait for an executor that registered
// their task.
func New(ex *durable.Executor, cfg Config) (*Handler, error) {
	if ex == nil {
		return nil, errors.New("server: nil executor")
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	h := &Handler{ex: ex, cfg: cfg, mux: http.NewServeMux()}
	h.routes()
	h.protected = h.Authenticated(h.mux)
	return h, nil
}

// ServeHTTP authenticates the request, then serves it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.protected.ServeHTTP(w, r)
}

// Authenticated returns next behind the handler's authentication: a
// request without the right bearer token (or refused by Config.Authorize)
// gets the API's 401 or 403 problem, as the API's own routes do. durable
// serve puts /metrics behind it.
func (h *Handler) Authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.authenticate(r); err != nil {
			if errors.Is(err, api.ErrUnauthorized) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="durable"`)
			}
			h.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) authenticate(r *http.Request) error {
	switch {
	case h.cfg.NoAuth:
		return nil
	case h.cfg.Authorize != nil:
		err := h.cfg.Authorize(r)
		if err == nil || errors.Is(err, api.ErrForbidden) {
			return err
		}
		return fmt.Errorf("%w: %w", api.ErrUnauthorized, err)
	}
	got, ok := bearer(r)
	if !ok {
		return fmt.Errorf("%w: no bearer token (Authorization: Bearer <token>)", api.ErrUnauthorized)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.Token)) != 1 {
		return fmt.Errorf("%w: wrong bearer token", api.ErrUnauthorized)
	}
	return nil
}

func bearer(r *http.Request) (string, bool) {
	v := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// HTTPServer returns a server of h on addr with its timeouts set: 10 s to
// read the headers, 60 s to read the whole request, MaxWait plus 30 s to
// write the answer (a long poll's), 120 s idle between keep-alive requests.
func (h *Handler) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      h.cfg.MaxWait + 30*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(h.cfg.Logger.Handler(), slog.LevelWarn),
	}
}
