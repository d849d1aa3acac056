// Package metrics counts what a durable executor does and serves it in
// the Prometheus text exposition format (version 0.0.4), with the
// standard library only: a program that does not import it, or imports
// it without Prometheus' client library, pays for neither.
//
//	c := metrics.New()
//	ex, err := durable.New(store, durable.Config{
//		Hooks:      []durable.Hooks{c.Hooks()},
//		Middleware: []durable.Middleware{c.Middleware()},
//	})
//	c.Watch(ex)                          // queue depth and age at each scrape
//	http.Handle("/metrics", c.Handler()) // or durable serve's /metrics
//
// The series, all prefixed durable_ (docs/observability.md has them with
// the alerts to set on them):
//
//	executions_enqueued_total{task}               counter
//	runs_started_total{task}                      counter
//	executions_finished_total{task,status}        counter: completed, failed, timed_out, ...
//	attempts_failed_total{task,error_kind}        counter: failed attempts that will be retried
//	run_duration_seconds{task,outcome}            histogram: outcome ok or error
//	queue_wait_seconds{task}                      histogram: enqueue to start of first attempts
//	runs_active{task}                             gauge
//	executions_ready{task}                        gauge: ready executions (delayed ones included)
//	oldest_due_age_seconds{task}                  gauge: how long the oldest due one has waited
//	claim_batch_size, completion_batch_size       histograms
//	storage_call_duration_seconds{operation,outcome} histogram
//	leases_lost_total, leases_taken_over_total{task} counters
//
// Labels are bounded: task ids, statuses, error kinds, store operations;
// never an execution id. One Collector may serve several executors of one
// process (their counts add up); the queue gauges are read from the store
// of the executor given to Watch, once per scrape.
package metrics

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/durable-go/durable"
)

// Collector holds the counts. Its methods are safe for concurrent use.
type Collector struct {
	mu       sync.Mutex
	families []*family
	watched  *durable.Executor
	timeout  time.Duration

	enqueued, started, finished, attemptsFailed, leasesLost, takenOver *family
	runDuration, queueWait, claimBatch, completionBatch, storageCall   *family
	active, ready, oldestDue                                           *family
}

// Buckets: seconds for durations, rows for batch sizes.
var (
	durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
	batchBuckets    = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}
)

// New returns an empty collector.
func New() *Collector {
	c := &Collector{timeout: 5 * time.Second}
	c.enqueued = c.add("executions_enqueued_total", "counter", "Executions enqueued (children declared by runs included).", nil)
	c.started = c.add("runs_started_total", "counter", "Runs of task functions started.", nil)
	c.finished = c.add("executions_finished_total", "counter", "Executions ended by this process's outcomes, by status.", nil)
	c.attemptsFailed = c.add("attempts_failed_total", "counter", "Failed attempts that will be retried, by error kind.", nil)
	c.runDuration = c.add("run_duration_seconds", "histogram", "Duration of runs of task functions, by outcome (ok, error).", durationBuckets)
	c.queueWait = c.add("queue_wait_seconds", "histogram", "Time from enqueue to the start of first attempts (delays included).", durationBuckets)
	c.active = c.add("runs_active", "gauge", "Runs of task functions going on.", nil)
	c.ready = c.add("executions_ready", "gauge", "Ready executions in the store (delayed ones included), read at scrape.", nil)
	c.oldestDue = c.add("oldest_due_age_seconds", "gauge", "Age of the oldest due ready execution, read at scrape (0: none due).", nil)
	c.claimBatch = c.add("claim_batch_size", "histogram", "Rows taken by each claim.", batchBuckets)
	c.completionBatch = c.add("completion_batch_size", "histogram", "Outcomes written by each completion batch.", batchBuckets)
	c.storageCall = c.add("storage_call_duration_seconds", "histogram", "Duration of the executor's store calls, by operation and outcome (ok, error).", durationBuckets)
	c.leasesLost = c.add("leases_lost_total", "counter", "Leases of running work found lost by a heartbeat.", nil)
	c.takenOver = c.add("leases_taken_over_total", "counter", "Executions taken over after their lease lapsed.", nil)
	return c
}

func (c *Collector) add(name, kind, help string, buckets []float64) *family {
	f := &family{name: "durable_" + name, kind: kind, help: help, buckets: buckets, series: map[string]*series{}}
	c.families = append(c.families, f)
	return f
}

// Hooks returns the hooks that feed the collector.
func (c *Collector) Hooks() durable.Hooks {
	return durable.Hooks{
		Claimed:      func(n int) { c.observe(c.claimBatch, float64(n)) },
		BatchWritten: func(n int) { c.observe(c.completionBatch, float64(n)) },
		AttemptFailed: func(o durable.Outcome) {
			c.inc(c.attemptsFailed, 1, "task", o.TaskID, "error_kind", errorKind(o.Err))
		},
		ExecutionFinished: func(o durable.Outcome) { c.inc(c.finished, 1, "task", o.TaskID, "status", string(o.Status)) },
		LeaseTakenOver:    func(t durable.Takeover) { c.inc(c.takenOver, 1, "task", t.TaskID) },
		LeasesLost:        func(n int) { c.inc(c.leasesLost, float64(n)) },
		StorageCall: func(s durable.StorageCall) {
			c.observe(c.storageCall, s.Duration.Seconds(), "operation", s.Operation, "outcome", outcome(s.Err))
		},
	}
}

// Middleware returns the middleware that feeds the collector: enqueues,
// runs started and going on, their durations and queue waits.
func (c *Collector) Middleware() durable.Middleware {
	return durable.Middleware{
		Enqueue: func(ctx context.Context, call *durable.EnqueueCall, next func(context.Context) error) error {
			err := next(ctx)
			if err == nil {
				for i := range call.Executions {
					c.inc(c.enqueued, 1, "task", call.Executions[i].TaskID)
				}
			}
			return err
		},
		Run: func(ctx context.Context, next func(context.Context) error) error {
			info, _ := durable.Info(ctx)
			c.inc(c.started, 1, "task", info.TaskID)
			if info.Attempt == 0 && !info.CreatedAt.IsZero() && !info.StartedAt.IsZero() {
				c.observe(c.queueWait, max(info.StartedAt.Sub(info.CreatedAt).Seconds(), 0), "task", info.TaskID)
			}
			c.inc(c.active, 1, "task", info.TaskID)
			start := time.Now()
			err := next(ctx)
			c.observe(c.runDuration, time.Since(start).Seconds(), "task", info.TaskID, "outcome", outcome(err))
			c.inc(c.active, -1, "task", info.TaskID)
			return err
		},
	}
}

// Watch makes each scrape read the queue gauges (executions_ready,
// oldest_due_age_seconds) from ex's store: one Count of the ready
// executions, bounded by 5 seconds. Without Watch they are not served.
func (c *Collector) Watch(ex *durable.Executor) {
	c.mu.Lock()
	c.watched = ex
	c.mu.Unlock()
}

// Handler serves the metrics in the Prometheus text format.
func (c *Collector) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.refreshQueue(r.Context())
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = c.WriteTo(w)
	})
}

// refreshQueue reads the queue gauges from the watched executor's store.
// A failed read leaves the gauges as they were (the hooks count it as a
// Count with outcome error in storage_call_duration_seconds).
func (c *Collector) refreshQueue(ctx context.Context) {
	c.mu.Lock()
	ex := c.watched
	c.mu.Unlock()
	if ex == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	counts, err := ex.Count(ctx, durable.Filter{Statuses: []durable.Status{durable.StatusReady}})
	if err != nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready.reset()
	c.oldestDue.reset()
	for _, n := range counts {
		c.ready.get("task", n.TaskID).value = float64(n.N)
		age := 0.0
		if !n.OldestDue.IsZero() {
			age = max(now.Sub(n.OldestDue).Seconds(), 0)
		}
		c.oldestDue.get("task", n.TaskID).value = age
	}
}

func (c *Collector) inc(f *family, by float64, labels ...string) {
	c.mu.Lock()
	f.get(labels...).value += by
	c.mu.Unlock()
}

func (c *Collector) observe(f *family, v float64, labels ...string) {
	c.mu.Lock()
	s := f.get(labels...)
	if s.counts == nil {
		s.counts = make([]uint64, len(f.buckets))
	}
	for i, b := range f.buckets {
		if v <= b {
			s.counts[i]++
		}
	}
	s.count++
	s.value += v // the sum
	c.mu.Unlock()
}

// WriteTo writes every series in the Prometheus text format, families in
// a fixed order and series sorted by their labels.
func (c *Collector) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	c.mu.Lock()
	for _, f := range c.families {
		f.write(&b)
	}
	c.mu.Unlock()
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

func errorKind(e *durable.ExecutionError) string {
	if e == nil || e.Kind == "" {
		return "generic"
	}
	return string(e.Kind)
}

// family is one metric: its series by label set.
type family struct {
	name, kind, help string
	buckets          []float64
	series           map[string]*series
}

// series is one label set's value: a counter's or gauge's value, or a
// histogram's sum with its count and cumulative bucket counts.
type series struct {
	labels string // rendered: {k="v",...} or ""
	value  float64
	count  uint64
	counts []uint64
}

// get returns the series of the label pairs (key, value, key, value...),
// made on first use.
func (f *family) get(kv ...string) *series {
	key := strings.Join(kv, "\xff")
	s, ok := f.series[key]
	if !ok {
		s = &series{labels: renderLabels(kv)}
		f.series[key] = s
	}
	return s
}

func (f *family) reset() { clear(f.series) }

func renderLabels(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=\"%s\"", kv[i], escapeLabel(kv[i+1]))
	}
	b.WriteByte('}')
	return b.String()
}

// escapeLabel escapes a label value as the text format requires.
func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}

func (f *family) write(b *strings.Builder) {
	if len(f.series) == 0 {
		return
	}
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.kind)
	keys := make([]string, 0, len(f.series))
	for k := range f.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := f.series[k]
		if f.kind != "histogram" {
			fmt.Fprintf(b, "%s%s %s\n", f.name, s.labels, formatFloat(s.value))
			continue
		}
		for i, le := range f.buckets {
			fmt.Fprintf(b, "%s_bucket%s %d\n", f.name, withLabel(s.labels, "le", formatFloat(le)), s.counts[i])
		}
		fmt.Fprintf(b, "%s_bucket%s %d\n", f.name, withLabel(s.labels, "le", "+Inf"), s.count)
		fmt.Fprintf(b, "%s_sum%s %s\n%s_count%s %d\n", f.name, s.labels, formatFloat(s.value), f.name, s.labels, s.count)
	}
}

// withLabel adds k="v" to rendered labels.
func withLabel(labels, k, v string) string {
	if labels == "" {
		return "{" + k + `="` + v + `"}`
	}
	return labels[:len(labels)-1] + "," + k + `="` + v + `"}`
}

func formatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
