// Package durableotel connects a durable executor to OpenTelemetry:
// spans for each enqueue and each run, carried across processes in the
// executions' metadata (W3C trace context), and metrics of what the
// executor does. It is a Go module of its own
// (github.com/durable-go/durable/otel), so that a program using durable
// without it neither downloads nor compiles OpenTelemetry.
//
//	inst, err := durableotel.New(durableotel.Config{}) // the global providers
//	ex, err := durable.New(store, durable.Config{
//		Middleware: []durable.Middleware{inst.Middleware()},
//		Hooks:      []durable.Hooks{inst.Hooks()},
//	})
//	_, err = inst.Observe(ex, 0) // queue depth and age, read at each collection
//
// # Spans
//
//   - "enqueue <task>" (kind producer) around each Enqueue, EnqueueMany
//     and EnqueueTx, child of the caller's span; for the children a run
//     declares, child of that run's span. Its context is written into each
//     execution's metadata ("traceparent", "tracestate").
//   - "run <task>" (kind consumer) around each run of a task function,
//     child of the enqueue span read back from the metadata, in whatever
//     process runs it. A finalize and a sequence's steps, made by the
//     engine rather than by a run, carry their parent's metadata: their
//     runs are children of the parent's enqueue span. Its attributes are
//     set once it started: a sampler sees its name and kind only.
//
// So a trace shows the request that enqueued, its enqueue, each run
// (retries are sibling runs), the children's enqueue and runs, and the
// finalize, as one tree across processes. The time between the enqueue
// span and a run span is the wait in the queue. Store calls get no spans:
// their latency is a metric.
//
// Span attributes follow the messaging semantic conventions
// (messaging.system "durable", messaging.operation.type send/process,
// messaging.destination.name the task id, messaging.message.id the
// execution id) with durable.attempt. The run's logger
// (durable.Logger(ctx)) has the trace id: the root package reads it from
// the metadata, and a run without one gets its new trace's here.
//
// # Metrics
//
// Names and attributes follow the semantic conventions where they exist,
// durable.* otherwise; no attribute holds an execution id:
//
//	messaging.client.sent.messages      counter    executions enqueued   {messaging.destination.name}
//	messaging.client.consumed.messages  counter    runs started          {messaging.destination.name}
//	messaging.process.duration          histogram  run duration, s       {messaging.destination.name, error.type}
//	durable.execution.finished          counter    executions ended      {durable.task, durable.status}
//	durable.attempt.failed              counter    attempts retried      {durable.task, error.type}
//	durable.queue.wait                  histogram  enqueue to first run, s {durable.task}
//	durable.run.active                  updown     runs going on         {durable.task}
//	durable.execution.ready             gauge      ready executions      {durable.task}   (Observe)
//	durable.execution.oldest_due.age    gauge      oldest due's wait, s  {durable.task}   (Observe)
//	durable.claim.size                  histogram  rows per claim
//	durable.completion.size             histogram  outcomes per batch written
//	db.client.operation.duration        histogram  store calls, s        {db.operation.name, error.type}
//	durable.lease.lost                  counter    leases lost
//	durable.lease.taken_over            counter    executions taken over {durable.task}
//
// The runs started, the runs going on and the executions finished are
// observable instruments (reported at each collection from counts the runs
// keep in atomics): they export as the counters and up-down counter above,
// without exemplars.
package durableotel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/durable-go/durable"
)

// scope is the instrumentation scope of the tracer and the meter.
const scope = "github.com/durable-go/durable/otel"

// Config says where spans and metrics go. The zero value uses the global
// providers and the W3C trace context.
type Config struct {
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Propagator writes and reads the trace context in the metadata.
	// Default: propagation.TraceContext{} (traceparent, tracestate).
	Propagator propagation.TextMapPropagator
}

// Instrumentation makes the spans and records the metrics of executors.
// One may serve several executors.
type Instrumentation struct {
	tracer trace.Tracer
	meter  metric.Meter
	prop   propagation.TextMapPropagator
	// w3c is set when prop is the W3C trace context (the default): a run
	// then reads a plain traceparent itself (extractParent).
	w3c     bool
	m       instruments
	tasksMu sync.RWMutex
	tasks   map[string]*taskAttributes // by task id (see attrSets)
	sets    attrSets
}

// New returns the instrumentation, its instruments created on cfg's
// meter.
func New(cfg Config) (*Instrumentation, error) {
	if cfg.TracerProvider == nil {
		cfg.TracerProvider = otel.GetTracerProvider()
	}
	if cfg.MeterProvider == nil {
		cfg.MeterProvider = otel.GetMeterProvider()
	}
	if cfg.Propagator == nil {
		cfg.Propagator = propagation.TraceContext{}
	}
	_, w3c := cfg.Propagator.(propagation.TraceContext)
	i := &Instrumentation{
		w3c:    w3c,
		tracer: cfg.TracerProvider.Tracer(scope, trace.WithSchemaURL(semconv.SchemaURL)),
		meter:  cfg.MeterProvider.Meter(scope, metric.WithSchemaURL(semconv.SchemaURL)),
		prop:   cfg.Propagator,
	}
	var err error
	if i.m, err = newInstruments(i.meter); err != nil {
		return nil, fmt.Errorf("durableotel: %w", err)
	}
	if _, err := i.meter.RegisterCallback(i.observeCounts, i.m.consumed, i.m.active, i.m.finished); err != nil {
		return nil, fmt.Errorf("durableotel: %w", err)
	}
	return i, nil
}

var systemDurable = semconv.MessagingSystemKey.String("durable")

// Middleware returns the middleware that makes the spans and counts
// enqueues and runs.
func (i *Instrumentation) Middleware() durable.Middleware {
	return durable.Middleware{Enqueue: i.enqueue, Run: i.run}
}

func (i *Instrumentation) enqueue(ctx context.Context, call *durable.EnqueueCall, next func(context.Context) error) error {
	task := call.Executions[0].TaskID
	attrs := []attribute.KeyValue{systemDurable, semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("enqueue"), semconv.MessagingDestinationName(task)}
	if n := len(call.Executions); n > 1 {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(n))
	} else {
		attrs = append(attrs, semconv.MessagingMessageID(call.Executions[0].ID))
	}
	if p := call.Executions[0].ParentID; p != "" {
		attrs = append(attrs, attribute.String("durable.parent.id", p))
	}
	ctx, span := i.tracer.Start(ctx, i.taskAttrs(task).enqueueSpan, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
	defer span.End()
	// One context for the whole call: injected once, copied to each.
	carrier := propagation.MapCarrier{}
	i.prop.Inject(ctx, carrier)
	perTask := map[string]int64{}
	for k := range call.Executions {
		for key, v := range carrier {
			call.Executions[k].Metadata[key] = v
		}
		perTask[call.Executions[k].TaskID]++
	}
	first := call.Executions[0].ID
	err := next(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	if id := call.Executions[0].ID; id != first && len(call.Executions) == 1 {
		// The enqueue returned the execution that holds the key while
		// active: the span names it, not the row never stored.
		span.SetAttributes(semconv.MessagingMessageID(id))
	}
	for task, n := range perTask {
		i.m.sent.Add(ctx, n, i.taskAttrs(task).destination.add...)
	}
	return nil
}

// runStart are a run span's start options, its kind alone, made once: a
// slice made per call escapes (Start is an interface method).
var runStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}

// taskAttributes are the attribute sets of one task's measurements, made
// once per task.
type taskAttributes struct {
	destination, destinationError, task measure
	// runSpan and enqueueSpan are the spans' names.
	runSpan, enqueueSpan string
	// runAttrs are the attributes of a run span that are the task's.
	runAttrs [4]attribute.KeyValue
	// started and active are the task's runs started and going on
	// (observeCounts reports them).
	started, active atomic.Int64
}

// taskAttrs returns task's attribute sets.
func (i *Instrumentation) taskAttrs(task string) *taskAttributes {
	return cached(&i.tasksMu, &i.tasks, task, func() *taskAttributes {
		dest := []attribute.KeyValue{systemDurable, semconv.MessagingDestinationName(task)}
		return &taskAttributes{
			destination:      newMeasure(dest...),
			destinationError: newMeasure(append(dest, semconv.ErrorTypeKey.String("_OTHER"))...),
			task:             newMeasure(attribute.String("durable.task", task)),
			runSpan:          "run " + task,
			enqueueSpan:      "enqueue " + task,
			runAttrs: [4]attribute.KeyValue{systemDurable, semconv.MessagingOperationTypeProcess,
				semconv.MessagingOperationName("run"), semconv.MessagingDestinationName(task)},
		}
	})
}

func (i *Instrumentation) run(ctx context.Context, next func(context.Context) error) error {
	info, _ := durable.Info(ctx)
	parent := i.extractParent(ctx, info.Metadata)
	remote := trace.SpanContextFromContext(parent).IsValid()
	attrs := i.taskAttrs(info.TaskID)
	ctx, span := i.tracer.Start(parent, attrs.runSpan, runStart...)
	setRunAttributes(span, attrs, info.ExecutionID, info.Attempt)
	defer span.End()
	if !remote {
		// A new trace: the root package found no trace id in the metadata
		// for the run's logger.
		ctx = durable.WithLogger(ctx, durable.Logger(ctx).With("trace_id", span.SpanContext().TraceID().String()))
	}

	attrs.started.Add(1)
	if info.Attempt == 0 && !info.CreatedAt.IsZero() && !info.StartedAt.IsZero() {
		i.m.queueWait.Record(ctx, max(info.StartedAt.Sub(info.CreatedAt).Seconds(), 0), attrs.task.record...)
	}
	attrs.active.Add(1)
	start := time.Now()
	err := next(ctx)
	attrs.active.Add(-1)
	outcome := attrs.destination
	if err != nil {
		if t := errorType(err); t == "_OTHER" {
			outcome = attrs.destinationError
		} else {
			outcome = newMeasure(systemDurable, semconv.MessagingDestinationName(info.TaskID), semconv.ErrorTypeKey.String(t))
		}
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	i.m.processDuration.Record(ctx, time.Since(start).Seconds(), outcome.record...)
	return err
}

// runAttrBufs are the buffers setRunAttributes passes its attributes in:
// a slice given to an interface method escapes, an allocation per run.
var runAttrBufs = sync.Pool{New: func() any { return new([6]attribute.KeyValue) }}

// setRunAttributes sets a run span's six attributes in one call, after
// the span started: the SDK then copies them once into a slice of six,
// where attributes given at the start are copied into the start's
// configuration, then into the span, and copied again when the run's own
// are added (three allocations and about 1 KB per run, against one and
// 384 bytes). The price: a sampler sees only the span's name ("run
// <task>") and kind, not its attributes.
func setRunAttributes(span trace.Span, attrs *taskAttributes, id string, attempt int) {
	buf := runAttrBufs.Get().(*[6]attribute.KeyValue)
	copy(buf[:4], attrs.runAttrs[:])
	buf[4] = semconv.MessagingMessageID(id)
	buf[5] = attribute.Int("durable.attempt", attempt)
	span.SetAttributes(buf[:]...)
	*buf = [6]attribute.KeyValue{}
	runAttrBufs.Put(buf)
}

// errorType is the error.type of a run's error: its kind when it is a
// durable.ExecutionError with one, else "_OTHER" (the convention's value
// for an error of no known type).
func errorType(err error) string {
	var ee *durable.ExecutionError
	if errors.As(err, &ee) && ee.Kind != "" {
		return string(ee.Kind)
	}
	return "_OTHER"
}
