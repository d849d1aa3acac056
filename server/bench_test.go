package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/server"
	"github.com/durable-go/durable/storage/memory"
)

// BenchmarkEnqueueHandler serves single enqueues (POST /v1/executions)
// with the handler alone, on the memory store and an executor that runs
// nothing: the handler's own CPU and allocations per request, apart from
// the network, the HTTP server and SQLite.
func BenchmarkEnqueueHandler(b *testing.B) {
	ex, err := durable.New(memory.New(), durable.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	type in struct {
		I int `json:"i"`
	}
	durable.Must(durable.NewTask(ex, "noop", func(ctx context.Context, _ in) (struct{}, error) { return struct{}{}, nil }))
	h, err := server.New(ex, server.Config{Token: testToken})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		body := []byte(`{"task":"noop","input":{"i":` + strconv.Itoa(i) + `}}`)
		r := httptest.NewRequest(http.MethodPost, "/v1/executions", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+testToken)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
