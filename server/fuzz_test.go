package server_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/durable-go/durable/server"
)

// fuzzRoutes are the routes the fuzzer sends its bytes to: as the body of
// the POSTs, as the query of the GETs.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/v1/executions"},
	{"POST", "/v1/executions/batch"},
	{"POST", "/v1/wake"},
	{"POST", "/orpc/enqueueTask"},
	{"POST", "/orpc/getTaskExecution"},
	{"POST", "/orpc/wakeupSleepingTaskExecution"},
	{"GET", "/v1/executions"},
	{"GET", "/v1/stats"},
	{"GET", "/v1/executions/x/wait"},
}

// documented are the statuses the API answers a request that is
// authenticated, on a route that exists, with the right method.
var documented = map[int]bool{200: true, 400: true, 404: true, 409: true, 413: true, 415: true}

// FuzzDecoders feeds random bytes to every request decoder, through the
// handler: no panic, no hang (each request has 10 s, and a wait at most
// 50 ms), and only documented statuses. Run it longer with
// go test -fuzz FuzzDecoders ./server.
func FuzzDecoders(f *testing.F) {
	for _, seed := range []string{
		`{"task":"greet","input":{"name":"a"}}`, `{"task":"greet","input":{"name":5}}`, `{"task":"approval","sleep_key":"k"}`,
		`{"items":[{"task":"greet","input":{"name":"a"},"timeout_ms":10}]}`, `{"key":"k","output":{"ok":true}}`,
		`{"json":{"taskId":"greet","input":{"name":"a"},"options":{"timeoutMs":5}}}`,
		`{"json":{"taskId":"approval","sleepingTaskUniqueId":"k","options":{"status":"failed","error":{"message":"m"}}}}`,
		"status=completed&task=greet&limit=2", "created_from=2026-01-01T00:00:00Z&top_level=true", "timeout_ms=1",
		`{"task":`, "\xff\xfe", `[]`, `null`, `{"task":"greet","input":{"name":"a"},"delay_ms":-9223372036854775808}`,
	} {
		for i := range fuzzRoutes {
			f.Add(uint8(i), []byte(seed))
		}
	}
	e := newEnv(f, func(c *server.Config) { c.MaxWait, c.DefaultWait = 50*time.Millisecond, 50*time.Millisecond })
	f.Fuzz(func(t *testing.T, route uint8, data []byte) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var req *http.Request
		if r.method == "GET" {
			req = httptest.NewRequestWithContext(ctx, r.method, r.path, nil)
			req.URL.RawQuery = string(data)
		} else {
			req = httptest.NewRequestWithContext(ctx, r.method, r.path, bytes.NewReader(data))
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, req)
		if ctx.Err() != nil {
			t.Fatalf("%s %s %q: took more than 10 s", r.method, r.path, data)
		}
		if !documented[w.Code] {
			t.Fatalf("%s %s %q: status %d: %s", r.method, r.path, data, w.Code, w.Body)
		}
	})
}
