package durableotel

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/durable-go/durable"
)

// instruments are the metrics' instruments. The counts every run and
// every execution moves (runs started, runs going on, executions
// finished) are observable: the runs add to atomic counters (taskAttributes,
// attrSets.counter) that a callback reports at each collection, which
// costs a run an atomic add where a synchronous instrument's measurement
// looks its attribute set up under the instrument's lock.
type instruments struct {
	sent, attemptFailed, leaseLost, takenOver metric.Int64Counter
	consumed, finished                        metric.Int64ObservableCounter
	processDuration, queueWait, storage       metric.Float64Histogram
	claimSize, completionSize                 metric.Int64Histogram
	active                                    metric.Int64ObservableUpDownCounter
	ready, oldestDue                          metric.Float64ObservableGauge
}

// Bucket boundaries: seconds (a millisecond to five minutes) and rows.
var (
	secondBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
	sizeBuckets   = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}
)

func newInstruments(m metric.Meter) (instruments, error) {
	var in instruments
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	seconds := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(secondBuckets...))
		errs = append(errs, err)
		return h
	}
	sizes := func(name, desc string) metric.Int64Histogram {
		h, err := m.Int64Histogram(name, metric.WithUnit("{execution}"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(sizeBuckets...))
		errs = append(errs, err)
		return h
	}
	gauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	observed := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	in.sent = counter("messaging.client.sent.messages", "{message}", "Executions enqueued.")
	in.consumed = observed("messaging.client.consumed.messages", "{message}", "Runs of task functions started.")
	in.finished = observed("durable.execution.finished", "{execution}", "Executions ended by this process's outcomes, by status.")
	in.attemptFailed = counter("durable.attempt.failed", "{attempt}", "Failed attempts that will be retried.")
	in.leaseLost = counter("durable.lease.lost", "{lease}", "Leases of running work found lost by a heartbeat.")
	in.takenOver = counter("durable.lease.taken_over", "{execution}", "Executions taken over after their lease lapsed.")
	in.processDuration = seconds("messaging.process.duration", "Duration of runs of task functions.")
	in.queueWait = seconds("durable.queue.wait", "Time from enqueue to the start of first attempts (delays included).")
	in.storage = seconds("db.client.operation.duration", "Duration of the executor's store calls.")
	in.claimSize = sizes("durable.claim.size", "Rows taken by each claim.")
	in.completionSize = sizes("durable.completion.size", "Outcomes written by each completion batch.")
	var err error
	in.active, err = m.Int64ObservableUpDownCounter("durable.run.active", metric.WithUnit("{run}"), metric.WithDescription("Runs of task functions going on."))
	errs = append(errs, err)
	in.ready = gauge("durable.execution.ready", "{execution}", "Ready executions in the store (delayed ones included).")
	in.oldestDue = gauge("durable.execution.oldest_due.age", "s", "How long the oldest due ready execution has waited (0: none due).")
	return in, errors.Join(errs...)
}

// Hooks returns the hooks that record the outcome, claim, store and lease
// metrics.
func (i *Instrumentation) Hooks() durable.Hooks {
	ctx := context.Background()
	return durable.Hooks{
		Claimed:      func(n int) { i.m.claimSize.Record(ctx, int64(n)) },
		BatchWritten: func(n int) { i.m.completionSize.Record(ctx, int64(n)) },
		AttemptFailed: func(o durable.Outcome) {
			i.m.attemptFailed.Add(ctx, 1, i.sets.get(setKey{setAttemptFailed, o.TaskID, outcomeErrorType(o)}).add...)
		},
		ExecutionFinished: func(o durable.Outcome) {
			i.sets.counter(setKey{setFinished, o.TaskID, string(o.Status)}).Add(1)
		},
		LeaseTakenOver: func(t durable.Takeover) {
			i.m.takenOver.Add(ctx, 1, metric.WithAttributes(attribute.String("durable.task", t.TaskID)))
		},
		LeasesLost: func(n int) { i.m.leaseLost.Add(ctx, int64(n)) },
		StorageCall: func(c durable.StorageCall) {
			kind := setStorage
			if c.Err != nil {
				kind = setStorageError
			}
			i.m.storage.Record(ctx, c.Duration.Seconds(), i.sets.get(setKey{kind: kind, a: c.Operation}).record...)
		},
	}
}

// measure is one attribute set as the option slices the instruments
// take, made once: a measurement given them allocates nothing, where an
// option passed one by one builds a slice that escapes, an allocation per
// measurement.
type measure struct {
	add     []metric.AddOption
	record  []metric.RecordOption
	observe []metric.ObserveOption
}

func newMeasure(attrs ...attribute.KeyValue) measure {
	o := metric.WithAttributeSet(attribute.NewSet(attrs...))
	return measure{add: []metric.AddOption{o}, record: []metric.RecordOption{o}, observe: []metric.ObserveOption{o}}
}

// setKind says which attributes a setKey's strings are.
type setKind uint8

const (
	setAttemptFailed setKind = iota // durable.task a, error.type b
	setFinished                     // durable.task a, durable.status b
	setStorage                      // db.operation.name a
	setStorageError                 // db.operation.name a, error.type _OTHER
)

// setKey names a cached attribute set: its kind and up to two strings.
type setKey struct {
	kind setKind
	a, b string
}

func (k setKey) attrs() []attribute.KeyValue {
	switch k.kind {
	case setAttemptFailed:
		return []attribute.KeyValue{attribute.String("durable.task", k.a), semconv.ErrorTypeKey.String(k.b)}
	case setFinished:
		return []attribute.KeyValue{attribute.String("durable.task", k.a), attribute.String("durable.status", k.b)}
	case setStorageError:
		return []attribute.KeyValue{semconv.DBOperationName(k.a), semconv.ErrorTypeKey.String("_OTHER")}
	default:
		return []attribute.KeyValue{semconv.DBOperationName(k.a)}
	}
}

// attrSets caches the measurement options of attribute sets that recur
// (a task and a status, a store operation): building a set sorts and
// copies its attributes, once per measurement otherwise. Its keys are
// bounded as the metrics' labels are. A map under a read lock, not a
// sync.Map: a sync.Map boxes each key looked up, an allocation per
// measurement.
type attrSets struct {
	mu sync.RWMutex
	m  map[setKey]measure
	// counts are the counts of the observable counters by set
	// (setFinished), with their sets' measures.
	counts map[setKey]*setCount
}

// setCount is a count of an observable counter and its attribute set.
type setCount struct {
	atomic.Int64
	measure
}

// counter returns the count of k, made at its first use.
func (c *attrSets) counter(k setKey) *setCount {
	return cached(&c.mu, &c.counts, k, func() *setCount { return &setCount{measure: newMeasure(k.attrs()...)} })
}

// observeCounts reports the observable counters: the runs started and
// going on of each task that has run, and the executions finished by task
// and status.
func (i *Instrumentation) observeCounts(_ context.Context, o metric.Observer) error {
	i.tasksMu.RLock()
	for _, a := range i.tasks {
		if n := a.started.Load(); n > 0 {
			o.ObserveInt64(i.m.consumed, n, a.destination.observe...)
			o.ObserveInt64(i.m.active, a.active.Load(), a.task.observe...)
		}
	}
	i.tasksMu.RUnlock()
	i.sets.mu.RLock()
	defer i.sets.mu.RUnlock()
	for k, n := range i.sets.counts {
		if k.kind == setFinished {
			o.ObserveInt64(i.m.finished, n.Load(), n.observe...)
		}
	}
	return nil
}

func (c *attrSets) get(k setKey) measure {
	return cached(&c.mu, &c.m, k, func() measure { return newMeasure(k.attrs()...) })
}

// cached returns m[k] under mu's read lock, or makes it (once, even when
// callers race) under its write lock.
func cached[K comparable, V any](mu *sync.RWMutex, m *map[K]V, k K, newV func() V) V {
	mu.RLock()
	v, ok := (*m)[k]
	mu.RUnlock()
	if ok {
		return v
	}
	mu.Lock()
	defer mu.Unlock()
	if v, ok := (*m)[k]; ok {
		return v
	}
	if *m == nil {
		*m = map[K]V{}
	}
	v = newV()
	(*m)[k] = v
	return v
}

func outcomeErrorType(o durable.Outcome) string {
	if o.Err == nil || o.Err.Kind == "" {
		return "_OTHER"
	}
	return string(o.Err.Kind)
}

// Observe registers the queue gauges of ex (durable.execution.ready and
// durable.execution.oldest_due.age, per task): at each collection, one
// Count of ex's ready executions, bounded by timeout (5 s when 0). The
// returned registration unregisters them.
func (i *Instrumentation) Observe(ex *durable.Executor, timeout time.Duration) (metric.Registration, error) {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return i.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		counts, err := ex.Count(ctx, durable.Filter{Statuses: []durable.Status{durable.StatusReady}})
		if err != nil {
			return err
		}
		now := time.Now()
		for _, c := range counts {
			task := metric.WithAttributes(attribute.String("durable.task", c.TaskID))
			o.ObserveFloat64(i.m.ready, float64(c.N), task)
			age := 0.0
			if !c.OldestDue.IsZero() {
				age = max(now.Sub(c.OldestDue).Seconds(), 0)
			}
			o.ObserveFloat64(i.m.oldestDue, age, task)
		}
		return nil
	}, i.m.ready, i.m.oldestDue)
}
