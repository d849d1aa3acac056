package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/durable-go/durable/api"
	"github.com/durable-go/durable/server"
)

// The server workload: durable's HTTP API (package server) on the bench
// store, called by serverClients concurrent keep-alive clients over
// loopback TCP: the latency of an enqueue then a wait (one client, on an
// idle queue), the rate and latency of single enqueues (--n of them), and
// the rate of items through enqueue-many (batches of serverBatch), each
// with the CPU time the process (clients, server, store and executor
// together) used per item, which a shared host distorts less than the
// rates. The executor runs the noop tasks meanwhile, as a server's would.
const (
	serverClients = 50
	serverBatch   = 1000
	serverToken   = "bench-token-0123456789abcdef"
)

// ServerResult holds the server workload's figures.
type ServerResult struct {
	EnqueueRate    float64  `json:"enqueue_rate"`
	EnqueueMs      *Latency `json:"enqueue_ms"`
	EnqueueCPUUs   float64  `json:"enqueue_cpu_us"`
	EnqueueManyIPS float64  `json:"enqueue_many_items_per_s"`
	EnqueueManyUs  float64  `json:"enqueue_many_cpu_us"`
	WaitMs         *Latency `json:"enqueue_wait_ms"`
	Failures       int      `json:"failures"`
	Clients        int      `json:"clients"`
	Batch          int      `json:"batch"`
}

func serverFigures() []figure {
	s := func(get func(*ServerResult) float64) func(Result) float64 {
		return func(r Result) float64 { return get(r.Server) }
	}
	return []figure{
		{"enqueue rate", "/s", s(func(x *ServerResult) float64 { return x.EnqueueRate })},
		{"enqueue p50", "ms", s(func(x *ServerResult) float64 { return x.EnqueueMs.P50 })},
		{"enqueue p99", "ms", s(func(x *ServerResult) float64 { return x.EnqueueMs.P99 })},
		{"enqueue CPU/call", "us", s(func(x *ServerResult) float64 { return x.EnqueueCPUUs })},
		{"enqueue-many items", "/s", s(func(x *ServerResult) float64 { return x.EnqueueManyIPS })},
		{"enqueue-many CPU/item", "us", s(func(x *ServerResult) float64 { return x.EnqueueManyUs })},
		{"enqueue→wait p50", "ms", s(func(x *ServerResult) float64 { return x.WaitMs.P50 })},
		{"enqueue→wait p99", "ms", s(func(x *ServerResult) float64 { return x.WaitMs.P99 })},
		{"failed requests", "", s(func(x *ServerResult) float64 { return float64(x.Failures) })},
	}
}

func benchServer(ctx context.Context, f benchFlags, r *Result) error {
	_, ex, done, err := benchSetup(ctx, f)
	if err != nil {
		return err
	}
	defer done()
	noopTask(ex)
	if err := ex.Start(ctx); err != nil {
		return err
	}
	h, err := server.New(ex, server.Config{Token: serverToken,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := h.HTTPServer(ln.Addr().String())
	go srv.Serve(ln)
	defer srv.Close()
	c := newAPICaller(ln.Addr().String())
	defer c.close()
	res := &ServerResult{Clients: serverClients, Batch: serverBatch}
	r.Server = res
	if res.WaitMs, err = c.enqueueWaitLatency(ctx); err != nil {
		return err
	}
	cpu, err := startCPU(f.cpuProfile)
	if err != nil {
		return err
	}
	defer cpu.stopProfile()
	c0 := processCPU()
	if err := c.singleEnqueues(ctx, f.n, res); err != nil {
		return err
	}
	res.EnqueueCPUUs = perTask(processCPU()-c0, f.n)
	cpu.stopProfile()
	// The enqueue-many's profile goes to FILE.many.
	manyProfile := ""
	if f.cpuProfile != "" {
		manyProfile = f.cpuProfile + ".many"
	}
	if cpu, err = startCPU(manyProfile); err != nil {
		return err
	}
	defer cpu.stopProfile()
	c1 := processCPU()
	items := 10 * f.n
	if err := c.enqueueMany(ctx, items, res); err != nil {
		return err
	}
	res.EnqueueManyUs = perTask(processCPU()-c1, items)
	return c.failures.err()
}

// apiCaller sends the workload's requests, each client k on its own
// keep-alive connection (leanConn), and checks every answer.
type apiCaller struct {
	conns    []*leanConn
	failures requestFailures
}

func newAPICaller(addr string) *apiCaller {
	c := &apiCaller{conns: make([]*leanConn, serverClients)}
	for k := range c.conns {
		c.conns[k] = newLeanConn(addr)
	}
	return c
}

func (c *apiCaller) close() {
	for _, l := range c.conns {
		l.Close()
	}
}

// requestFailures counts the requests answered with an error or without the
// answer expected, and keeps the first.
type requestFailures struct {
	mu    sync.Mutex
	n     int
	first error
}

func (f *requestFailures) add(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		f.first = err
	}
	f.n++
}

func (f *requestFailures) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// err is nil when no request failed.
func (f *requestFailures) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == 0 {
		return nil
	}
	return fmt.Errorf("%d requests failed; the first: %w", f.n, f.first)
}

// do sends body to path on client k's connection and decodes a 200
// answer into out.
func (c *apiCaller) do(k int, method, path string, body []byte, out any) error {
	status, b, err := c.conns[k].roundTrip(method, path, body)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, status, b)
	}
	return json.Unmarshal(b, out)
}

// appendEnqueueBody appends the body of the i-th enqueue to b.
func appendEnqueueBody(b []byte, i int) []byte {
	b = append(b, `{"task":"noop","input":{"i":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, `}}`...)
}

// enqueueWaitLatency is the latency of an enqueue then a wait, one at a
// time.
func (c *apiCaller) enqueueWaitLatency(ctx context.Context) (*Latency, error) {
	var samples []time.Duration
	for i := range latencyWarmup + latencyRounds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t0 := time.Now()
		var e api.Enqueued
		if err := c.do(0, "POST", "/v1/executions", appendEnqueueBody(nil, i), &e); err != nil {
			return nil, err
		}
		var x api.Execution
		if err := c.do(0, "GET", "/v1/executions/"+e.ID+"/wait", nil, &x); err != nil {
			return nil, err
		}
		if x.Status != "completed" {
			return nil, fmt.Errorf("execution %s is %s after its wait", x.ID, x.Status)
		}
		if i >= latencyWarmup {
			samples = append(samples, time.Since(t0))
		}
	}
	return latencyOf(samples), nil
}

// singleEnqueues sends n single enqueues from serverClients clients. An
// answer that is not a 200 with an id counts as a failure; a broken
// connection ends the workload.
func (c *apiCaller) singleEnqueues(ctx context.Context, n int, res *ServerResult) error {
	lat := make([][]time.Duration, serverClients)
	t0 := time.Now()
	err := c.parallel(func(k int) error {
		var body []byte
		for i := k; i < n; i += serverClients {
			if err := ctx.Err(); err != nil {
				return err
			}
			body = appendEnqueueBody(body[:0], i)
			t := time.Now()
			status, b, err := c.conns[k].roundTrip("POST", "/v1/executions", body)
			if err != nil {
				return err
			}
			lat[k] = append(lat[k], time.Since(t))
			if status != http.StatusOK || enqueuedID(b) == nil {
				c.failures.add(fmt.Errorf("enqueue: %d %.200s", status, b))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.EnqueueRate = float64(n) / time.Since(t0).Seconds()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	res.EnqueueMs = latencyOf(all)
	res.Failures = c.failures.count()
	return nil
}

// enqueueMany sends n items in batches of serverBatch from serverClients
// clients and returns the items per second. An answer that is not a 200
// with an id for every item counts as a failure.
func (c *apiCaller) enqueueMany(ctx context.Context, n int, res *ServerResult) error {
	batches := (n + serverBatch - 1) / serverBatch
	body := batchBody()
	t0 := time.Now()
	err := c.parallel(func(k int) error {
		for b := k; b < batches; b += serverClients {
			if err := ctx.Err(); err != nil {
				return err
			}
			status, answer, err := c.conns[k].roundTrip("POST", "/v1/executions/batch", body)
			if err != nil {
				return err
			}
			if err := batchAnswer(status, answer); err != nil {
				c.failures.add(err)
			}
		}
		return nil
	})
	res.EnqueueManyIPS = float64(batches*serverBatch) / time.Since(t0).Seconds()
	res.Failures = c.failures.count()
	return err
}

// batchAnswer checks that an answer to an enqueue-many is a 200 with one
// id per item.
func batchAnswer(status int, b []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("enqueue-many: %d %.200s", status, b)
	}
	var out api.EnqueuedMany
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("enqueue-many: %w", err)
	}
	ids := out.IDs
	if len(ids) != serverBatch {
		return fmt.Errorf("a batch of %d stored %d", serverBatch, len(ids))
	}
	for i, id := range ids {
		if id == "" {
			return fmt.Errorf("a batch's item %d has no id", i)
		}
	}
	return nil
}

func batchBody() []byte {
	b := []byte(`{"items":[`)
	for i := range serverBatch {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendEnqueueBody(b, i)
	}
	return append(b, `]}`...)
}

// parallel runs fn(0..serverClients-1) at once and returns the first
// error.
func (c *apiCaller) parallel(fn func(k int) error) error {
	errs := make([]error, serverClients)
	var wg sync.WaitGroup
	for k := range serverClients {
		wg.Go(func() { errs[k] = fn(k) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
