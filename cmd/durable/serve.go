package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/dashboard"
	"github.com/durable-go/durable/metrics"
	"github.com/durable-go/durable/server"
)

const envToken = "DURABLE_TOKEN"

func runServe(args []string, stdout, stderr io.Writer) int {
	ctx, stop := interruptContext()
	defer stop()
	return serveUntil(ctx, args, stdout, stderr)
}

// serveUntil is durable serve, serving until ctx is done.
func serveUntil(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCLI("serve", "[flags]", "Serves durable's HTTP API (package server) over a store: get, wait, cancel,\n"+
		"retry, wake, list, children and stats of every execution, of any task; the web\n"+
		"dashboard under /dashboard/ (its one-click login URL is printed at start); and\n"+
		"the store's queue depth in the Prometheus format at /metrics. It runs no task\n"+
		"and enqueues none: enqueueing needs the task's code (its input type, validator\n"+
		"and defaults), so POST /v1/executions answers 404 unknown_task; serve the API\n"+
		"from your own executor process (server.New) to enqueue. Every request needs the\n"+
		"bearer token (--token or "+envToken+"; the dashboard: a login with it) unless\n"+
		"--no-auth.", stdout, stderr)
	conn := c.connFlags()
	var addr, token string
	var noAuth, noDashboard, noMetrics, readOnly bool
	var maxWait time.Duration
	c.stringVar(&addr, "addr", "127.0.0.1:8080", "listen on `HOST:PORT`")
	c.stringVar(&token, "token", "", "the bearer `TOKEN` every request must carry, at least 16 bytes (env "+envToken+")")
	c.boolVar(&noAuth, "no-auth", false, "serve without authentication (only behind your own authenticating proxy)")
	c.durationVar(&maxWait, "max-wait", time.Minute, "the longest `DURATION` a wait (long poll) may take")
	c.boolVar(&noDashboard, "no-dashboard", false, "do not serve the web dashboard")
	c.boolVar(&readOnly, "read-only", false, "the dashboard shows no action (cancel, retry, wake, delete) and refuses them")
	c.boolVar(&noMetrics, "no-metrics", false, "do not serve /metrics")
	c.examples = []string{
		"DURABLE_TOKEN=$(cat token) durable serve --db app.db --addr :8080",
		"durable serve --dsn postgres://app@db/app --token \"$TOKEN\"",
	}
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.failf("unexpected argument %q", pos[0])
	}
	if token == "" {
		token = os.Getenv(envToken)
	}
	if noAuth && token != "" {
		return c.failf("--no-auth and a token (--token or %s): give one", envToken)
	}
	if !noAuth && token == "" {
		return c.failf("no token: give --token or set %s (or --no-auth to serve without authentication)", envToken)
	}
	if len(token) > 0 && len(token) < 16 {
		return c.failf("the token is %d bytes: at least 16", len(token))
	}
	if _, err := conn.resolve(c); err != nil {
		return c.fail(err)
	}
	conn.notify = true // waits hear of executions finished by other processes
	store, err := conn.openStore(ctx, false)
	if err != nil {
		return c.failed(err)
	}
	defer store.Close()
	ex, err := durable.New(store, durable.Config{Logger: quiet})
	if err != nil {
		return c.failed(err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := server.New(ex, server.Config{Token: token, NoAuth: noAuth, MaxWait: maxWait, Logger: logger})
	if err != nil {
		return c.fail(err)
	}
	srv := h.HTTPServer(addr)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	var d *dashboard.Dashboard
	if !noDashboard {
		d, err = dashboard.New(ex, dashboard.Config{Token: token, NoAuth: noAuth, ReadOnly: readOnly,
			Prefix: dashboardPrefix, Events: store, Logger: logger})
		if err != nil {
			return c.fail(err)
		}
		defer d.Close()
		srv.RegisterOnShutdown(func() { d.Close() })
		mux.Handle(dashboardPrefix+"/", d)
		mux.Handle(dashboardPrefix, d)
	}
	if !noMetrics {
		m := metrics.New()
		m.Watch(ex)
		// Behind the API's authentication: Prometheus sends the token
		// (scrape_config authorization: credentials).
		mux.Handle("/metrics", h.Authenticated(m.Handler()))
	}
	srv.Handler = mux
	return serveUntilInterrupted(ctx, c, srv, ex, stdout, d)
}

// dashboardPrefix is where durable serve mounts the dashboard.
const dashboardPrefix = "/dashboard"

// serveUntilInterrupted listens, serves until ctx is done, then shuts the
// server down, giving the requests in flight 10 s.
func serveUntilInterrupted(ctx context.Context, c *cli, srv *http.Server, ex *durable.Executor, stdout io.Writer, d *dashboard.Dashboard) int {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return c.errorf("%v", err)
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "durable serve: listening on %s\n", base)
	if d != nil {
		if login := d.LoginURL(base); login != "" {
			fmt.Fprintf(stdout, "durable serve: dashboard: open %s to log in\n", login)
		} else {
			fmt.Fprintf(stdout, "durable serve: dashboard: %s%s/\n", base, dashboardPrefix)
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return c.errorf("%v", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return c.errorf("shutting down: %v", err)
	}
	ex.Shutdown(sctx)
	return exitInterrupted
}
