package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	c := &apiCaller{base: "http://" + ln.Addr().String(), hc: &http.Client{Transport: &http.Transport{
		MaxIdleConns: 2 * serverClients, MaxIdleConnsPerHost: 2 * serverClients, IdleConnTimeout: time.Minute}}}
	defer c.hc.CloseIdleConnections()
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
	c1 := processCPU()
	res.EnqueueCPUUs = perTask(c1-c0, f.n)
	items := 10 * f.n
	if res.EnqueueManyIPS, err = c.enqueueMany(ctx, items); err != nil {
		return err
	}
	res.EnqueueManyUs = perTask(processCPU()-c1, items)
	return nil
}

// apiCaller sends the workload's requests.
type apiCaller struct {
	base string
	hc   *http.Client
}

// post sends body to path and decodes a 200 answer into out.
func (c *apiCaller) do(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+serverToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

func enqueueBody(i int) []byte {
	return []byte(`{"task":"noop","input":{"i":` + strconv.Itoa(i) + `}}`)
}

// enqueueWaitLatency is the latency of an enqueue then a wait, one at a
// time.
func (c *apiCaller) enqueueWaitLatency(ctx context.Context) (*Latency, error) {
	var samples []time.Duration
	for i := range latencyWarmup + latencyRounds {
		t0 := time.Now()
		var e api.Enqueued
		if err := c.do(ctx, "POST", "/v1/executions", enqueueBody(i), &e); err != nil {
			return nil, err
		}
		var x api.Execution
		if err := c.do(ctx, "GET", "/v1/executions/"+e.ID+"/wait", nil, &x); err != nil {
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

// singleEnqueues sends n single enqueues from serverClients clients.
func (c *apiCaller) singleEnqueues(ctx context.Context, n int, res *ServerResult) error {
	lat := make([][]time.Duration, serverClients)
	t0 := time.Now()
	err := c.parallel(func(k int) error {
		for i := k; i < n; i += serverClients {
			t := time.Now()
			var e api.Enqueued
			if err := c.do(ctx, "POST", "/v1/executions", enqueueBody(i), &e); err != nil {
				return err
			}
			lat[k] = append(lat[k], time.Since(t))
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
	return nil
}

// enqueueMany sends n items in batches of serverBatch from serverClients
// clients and returns the items per second.
func (c *apiCaller) enqueueMany(ctx context.Context, n int) (float64, error) {
	batches := (n + serverBatch - 1) / serverBatch
	body := batchBody()
	t0 := time.Now()
	err := c.parallel(func(k int) error {
		for b := k; b < batches; b += serverClients {
			var out api.EnqueuedMany
			if err := c.do(ctx, "POST", "/v1/executions/batch", body, &out); err != nil {
				return err
			}
			if len(out.IDs) != serverBatch {
				return fmt.Errorf("a batch of %d stored %d", serverBatch, len(out.IDs))
			}
		}
		return nil
	})
	return float64(batches*serverBatch) / time.Since(t0).Seconds(), err
}

func batchBody() []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := range serverBatch {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(enqueueBody(i))
	}
	b.WriteString(`]}`)
	return b.Bytes()
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
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
