package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBenchServer runs the server workload end to end on SQLite: every
// request answered as expected.
func TestBenchServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the HTTP API")
	}
	t.Parallel()
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "--store", "sqlite", "--path", t.TempDir(), "--workload", "server", "--n", "500", "--json"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	s := r.Server
	if s == nil || s.Failures != 0 || s.EnqueueRate <= 0 || s.EnqueueManyIPS <= 0 || s.WaitMs == nil {
		t.Fatalf("server result %+v", s)
	}
}

// TestLeanConn checks the bench's HTTP client against net/http's server:
// what it sends, the answers it reads, and a connection the server closes.
func TestLeanConn(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Header.Get("Authorization") != "Bearer "+serverToken || r.Header.Get("Content-Type") != "application/json":
			http.Error(w, "bad headers", http.StatusUnauthorized)
		case r.URL.Path == "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte(`{"id":"closing"}`))
		case r.URL.Path == "/chunked":
			w.Write([]byte("a"))
			w.(http.Flusher).Flush()
			w.Write([]byte("b"))
		case r.URL.Path == "/fail":
			http.Error(w, "no", http.StatusConflict)
		default:
			w.Write(append([]byte(`{"id":"`+r.Method+`","task_id":"x","body":`), append(body, '}')...))
		}
	}))
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	l := newLeanConn(addr)
	defer l.Close()

	for range 3 {
		status, b, err := l.roundTrip("POST", "/ok", []byte(`{"a":1}`))
		if err != nil || status != 200 || string(enqueuedID(b)) != "POST" || !bytes.HasSuffix(b, []byte(`"body":{"a":1}}`)) {
			t.Fatalf("POST /ok: %d %q %v", status, b, err)
		}
	}
	if status, b, err := l.roundTrip("GET", "/fail", nil); err != nil || status != http.StatusConflict {
		t.Fatalf("GET /fail: %d %q %v", status, b, err)
	}
	if status, b, err := l.roundTrip("POST", "/close", nil); err != nil || status != 200 || string(enqueuedID(b)) != "closing" || !l.closed {
		t.Fatalf("POST /close: %d %q %v closed=%v", status, b, err, l.closed)
	}
	if status, _, err := l.roundTrip("POST", "/ok", nil); err != nil || status != 200 {
		t.Fatalf("after a close: %d %v", status, err)
	}
	if _, _, err := l.roundTrip("POST", "/chunked", nil); err == nil || !strings.Contains(err.Error(), "Transfer-Encoding") {
		t.Fatalf("a chunked answer: %v", err)
	}
	if status, _, err := l.roundTrip("POST", "/ok", nil); err != nil || status != 200 {
		t.Fatalf("after a chunked answer: %d %v", status, err)
	}
}

func TestEnqueuedID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"id":"01ab","task_id":"noop"}`: "01ab",
		`{"id":"","task_id":"noop"}`:     "",
		`{"task_id":"noop","id":"01ab"}`: "",
		`{"id":"a\"b"}`:                  "",
		`{"id":"01ab`:                    "",
		`<html>`:                         "",
	} {
		if got := string(enqueuedID([]byte(in))); got != want {
			t.Errorf("enqueuedID(%s) = %q, want %q", in, got, want)
		}
	}
}
