package remote_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/remote"
	"github.com/durable-go/durable/storage/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("remote-test-secret-0123456789")

type Sum struct {
	A, B int
}

// newExecutor is a started executor on a real SQLite file.
func newExecutor(t *testing.T) *durable.Executor {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "remote.db"), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := durable.New(store, durable.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ex.Shutdown(ctx)
		store.Close()
	})
	return ex
}

func start(t *testing.T, ex *durable.Executor) {
	t.Helper()
	if err := ex.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func run[I, O any](t *testing.T, task *durable.Task[I, O], in I) durable.Execution[O] {
	t.Helper()
	h, err := task.Enqueue(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	x, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestSignedCallCompletes(t *testing.T) {
	var calls []remote.Call
	var mu sync.Mutex
	srv := httptest.NewServer(remote.Handler(secret, remote.VerifyOptions{}, func(ctx context.Context, c remote.Call, in Sum) (int, error) {
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		return in.A + in.B, nil
	}))
	defer srv.Close()
	ex := newExecutor(t)
	add := durable.Must(remote.NewTask[Sum, int](ex, "add", remote.Config{URL: srv.URL, Secret: secret}))
	start(t, ex)
	x := run(t, add, Sum{2, 3})
	if x.Status != durable.StatusCompleted || x.Output != 5 {
		t.Fatalf("execution %+v, want completed with 5", x)
	}
	if len(calls) != 1 || calls[0].ExecutionID != x.ID || calls[0].TaskID != "add" || calls[0].Attempt != 0 {
		t.Fatalf("calls %+v, want one of execution %s, attempt 0", calls, x.ID)
	}
}

// statusServer answers the statuses in turn (the last one forever),
// counting the calls.
func statusServer(t *testing.T, header http.Header, body string, statuses ...int) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := remote.Verify(r, secret, remote.VerifyOptions{}); err != nil {
			t.Errorf("a call did not verify: %v", err)
		}
		i := int(n.Add(1)) - 1
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(statuses[min(i, len(statuses)-1)])
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestRetryableStatusesAreRetried(t *testing.T) {
	for _, code := range []int{408, 429, 500, 502, 503, 504} {
		srv, n := statusServer(t, nil, `{"error":"busy"}`, code)
		ex := newExecutor(t)
		task := durable.Must(remote.NewTask[Sum, int](ex, "flaky", remote.Config{URL: srv.URL, Secret: secret},
			durable.WithRetry(durable.RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond})))
		start(t, ex)
		x := run(t, task, Sum{})
		if x.Status != durable.StatusFailed || n.Load() != 3 || !strings.Contains(x.Err.Message, "busy") {
			t.Errorf("status %d: %s after %d calls (%v), want failed after 3 with the answer's message", code, x.Status, n.Load(), x.Err)
		}
	}
}

func TestOtherClientErrorsFailAtOnce(t *testing.T) {
	for _, code := range []int{400, 401, 404, 409, 422} {
		srv, n := statusServer(t, nil, `{"type":"x","title":"Bad","status":400,"detail":"no such customer"}`, code)
		ex := newExecutor(t)
		task := durable.Must(remote.NewTask[Sum, int](ex, "strict", remote.Config{URL: srv.URL, Secret: secret},
			durable.WithRetry(durable.RetryPolicy{MaxRetries: 3, BaseDelay: time.Millisecond})))
		start(t, ex)
		x := run(t, task, Sum{})
		if x.Status != durable.StatusFailed || n.Load() != 1 || !strings.Contains(x.Err.Message, "no such customer") || x.Err.Retryable {
			t.Errorf("status %d: %s after %d calls (%+v), want failed after 1 with the detail", code, x.Status, n.Load(), x.Err)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var times []time.Time
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "7")
	}))
	defer srv.Close()
	ex := newExecutor(t)
	task := durable.Must(remote.NewTask[Sum, int](ex, "later", remote.Config{URL: srv.URL, Secret: secret},
		durable.WithRetry(durable.RetryPolicy{MaxRetries: 1, BaseDelay: time.Millisecond})))
	start(t, ex)
	x := run(t, task, Sum{})
	if x.Status != durable.StatusCompleted || x.Output != 7 || len(times) != 2 {
		t.Fatalf("%+v after %d calls", x, len(times))
	}
	if gap := times[1].Sub(times[0]); gap < 900*time.Millisecond {
		t.Fatalf("the retry came %s after a Retry-After of 1 s", gap)
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	ex := newExecutor(t)
	task := durable.Must(remote.NewTask[Sum, int](ex, "down", remote.Config{URL: url, Secret: secret},
		durable.WithRetry(durable.RetryPolicy{MaxRetries: 2, BaseDelay: time.Millisecond})))
	start(t, ex)
	x := run(t, task, Sum{})
	if x.Status != durable.StatusFailed || x.Attempt != 2 || !x.Err.Retryable {
		t.Fatalf("%+v, want failed after 2 retries with a retryable error", x)
	}
}

func TestTimeoutCancelsTheRequest(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // then the server watches the connection, and cancels r's context when it closes
		<-r.Context().Done()
		select {
		case cancelled <- struct{}{}:
		default:
		}
	}))
	defer srv.Close()
	ex := newExecutor(t)
	task := durable.Must(remote.NewTask[Sum, int](ex, "slow", remote.Config{URL: srv.URL, Secret: secret},
		durable.WithTimeout(200*time.Millisecond)))
	start(t, ex)
	x := run(t, task, Sum{})
	if x.Status != durable.StatusTimedOut {
		t.Fatalf("%+v, want timed_out", x)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the callee's request was not cancelled")
	}
}

func TestResponseSizeLimit(t *testing.T) {
	srv, n := statusServer(t, nil, strings.Repeat("1", 2000), 200)
	ex := newExecutor(t)
	task := durable.Must(remote.NewTask[Sum, int](ex, "big", remote.Config{URL: srv.URL, Secret: secret, MaxResponseBytes: 1000},
		durable.WithRetry(durable.RetryPolicy{MaxRetries: 3})))
	start(t, ex)
	x := run(t, task, Sum{})
	if x.Status != durable.StatusFailed || n.Load() != 1 || !strings.Contains(x.Err.Message, "over the limit") {
		t.Fatalf("%+v after %d calls, want failed at once over the limit", x, n.Load())
	}
}

func TestORPCProcedure(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _, err := remote.Verify(r, secret, remote.VerifyOptions{})
		if err != nil || r.URL.Path != "/rpc/math/add" || string(body) != `{"json":{"A":4,"B":5}}` {
			w.WriteHeader(400)
			io.WriteString(w, `{"json":{"defined":false,"code":"BAD_REQUEST","status":400,"message":"wrong call"}}`)
			return
		}
		io.WriteString(w, `{"json":9,"meta":[]}`)
	}))
	defer srv.Close()
	ex := newExecutor(t)
	task := durable.Must(remote.NewTask[Sum, int](ex, "orpc_add", remote.Config{URL: srv.URL + "/rpc", Procedure: "math/add", Secret: secret}))
	start(t, ex)
	if x := run(t, task, Sum{4, 5}); x.Status != durable.StatusCompleted || x.Output != 9 {
		t.Fatalf("%+v (%v), want completed with 9", x, x.Err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	capture := func(body string) *http.Request {
		// A call signed by a remote task's config, captured.
		var got *http.Request
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			got = httptest.NewRequest("POST", "/", strings.NewReader(string(b)))
			got.Header = r.Header.Clone()
			io.WriteString(w, "0")
		}))
		defer srv.Close()
		ex := newExecutor(t)
		task := durable.Must(remote.NewTask[string, int](ex, "cap", remote.Config{URL: srv.URL, Secret: secret}))
		start(t, ex)
		run(t, task, body)
		return got
	}
	good := capture("hello")
	body := func(r *http.Request) *http.Request {
		b, _ := io.ReadAll(r.Body)
		r2 := httptest.NewRequest("POST", "/", strings.NewReader(string(b)))
		r2.Header = r.Header.Clone()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		return r2
	}
	if _, c, err := remote.Verify(body(good), secret, remote.VerifyOptions{}); err != nil || c.TaskID != "cap" {
		t.Fatalf("a good request: %v, %+v", err, c)
	}
	if _, _, err := remote.Verify(body(good), []byte("another-secret-0123456789"), remote.VerifyOptions{}); !errors.Is(err, remote.ErrSignature) {
		t.Errorf("another secret: %v, want ErrSignature", err)
	}
	late := remote.VerifyOptions{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }}
	if _, _, err := remote.Verify(body(good), secret, late); !errors.Is(err, remote.ErrSignature) {
		t.Errorf("a replay 10 minutes later: %v, want ErrSignature", err)
	}
	tampered := body(good)
	tampered.Body = io.NopCloser(strings.NewReader(`"hellO"`))
	if _, _, err := remote.Verify(tampered, secret, remote.VerifyOptions{}); !errors.Is(err, remote.ErrSignature) {
		t.Errorf("a changed body: %v, want ErrSignature", err)
	}
	unsigned := httptest.NewRequest("POST", "/", strings.NewReader(`"hello"`))
	if _, _, err := remote.Verify(unsigned, secret, remote.VerifyOptions{}); !errors.Is(err, remote.ErrSignature) {
		t.Errorf("no signature: %v, want ErrSignature", err)
	}
}

func TestConfigIsChecked(t *testing.T) {
	ex := newExecutor(t)
	for _, cfg := range []remote.Config{{URL: "ftp://x", Secret: secret}, {URL: "http://x", Secret: []byte("short")}} {
		if _, err := remote.NewTask[int, int](ex, "bad", cfg); !errors.Is(err, durable.ErrInvalidTask) {
			t.Errorf("%+v: %v, want ErrInvalidTask", cfg, err)
		}
	}
}
