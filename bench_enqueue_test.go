package durable_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage/memory"
)

// order is a typical small input: a few strings, numbers and a list.
type order struct {
	ID       string   `json:"id"`
	Customer string   `json:"customer"`
	Email    string   `json:"email"`
	Amount   int64    `json:"amount"`
	Currency string   `json:"currency"`
	Items    []string `json:"items"`
	Note     string   `json:"note"`
}

func benchOrder() order {
	return order{ID: "ord_01HZX3", Customer: "Zoë Müller", Email: "zoe@example.com", Amount: 4999,
		Currency: "EUR", Items: []string{"book", "pen", "café au lait"}, Note: "leave at the door"}
}

// enqueueBench enqueues in on a memory store with no executor running, so
// that an op costs validation, encoding, id generation and the insert. The
// store is replaced every 1,000 ops (off the clock) to bound its memory.
func enqueueBench[I any](b *testing.B, in I) {
	ctx := context.Background()
	var task *durable.Task[I, int]
	fresh := func() { task = sinkTask[I](b) }
	fresh()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%1000 == 0 {
			b.StopTimer()
			fresh()
			b.StartTimer()
		}
		if _, err := task.Enqueue(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// sinkTask registers a task "sink" on a new executor on a new memory
// store. The executor is never started; nothing keeps it once the caller
// drops the task, so replacing the task frees the stored rows.
func sinkTask[I any](b *testing.B) *durable.Task[I, int] {
	ex, err := durable.New(memory.New(), durable.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return durable.Must(durable.NewTask(ex, "sink", func(ctx context.Context, in I) (int, error) { return 0, nil }))
}

// BenchmarkEnqueueInt is one Enqueue of an int input.
func BenchmarkEnqueueInt(b *testing.B) { enqueueBench(b, 42) }

// BenchmarkEnqueueOrder is one Enqueue of a small struct input.
func BenchmarkEnqueueOrder(b *testing.B) { enqueueBench(b, benchOrder()) }

// BenchmarkEnqueue64KiB is one Enqueue of a 64 KiB input (large enough
// for the JSON codec's nesting-depth scan to run).
func BenchmarkEnqueue64KiB(b *testing.B) {
	o := benchOrder()
	o.Note = strings.Repeat("0123456789abcdef", 4096)
	enqueueBench(b, o)
}

// BenchmarkEnqueueMany1000 is one EnqueueMany of 1,000 small struct
// inputs; it reports the cost per execution.
func BenchmarkEnqueueMany1000(b *testing.B) {
	ctx := context.Background()
	task := sinkTask[order](b)
	ins := make([]order, 1000)
	for i := range ins {
		ins[i] = benchOrder()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%20 == 0 {
			b.StopTimer()
			task = sinkTask[order](b)
			b.StartTimer()
		}
		if _, err := task.EnqueueMany(ctx, ins); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ins)), "ns/execution")
}

// BenchmarkJSONEncodeOrder is the JSON codec alone on a small struct.
func BenchmarkJSONEncodeOrder(b *testing.B) { encodeBench(b, benchOrder()) }

// BenchmarkJSONEncode64KiB is the JSON codec alone on a 64 KiB struct.
func BenchmarkJSONEncode64KiB(b *testing.B) {
	o := benchOrder()
	o.Note = strings.Repeat("0123456789abcdef", 4096)
	encodeBench(b, o)
}

func encodeBench(b *testing.B, v any) {
	b.ReportAllocs()
	for range b.N {
		if _, err := (durable.JSONCodec{}).Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}
