package dashboard

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/sqlite"
)

const testToken = "test-token-0123456789abcdef"

// fixture is a started executor on a SQLite file with a few tasks, and a
// dashboard on it served by an httptest server.
type fixture struct {
	t       testing.TB
	ex      *durable.Executor
	store   *countingStore
	dash    *Dashboard
	srv     *httptest.Server
	client  *http.Client // logged in, follows no redirects
	greet   *durable.Task[string, string]
	fail    *durable.Task[string, string]
	fan     *durable.Task[int, durable.ParentOutput[string]]
	block   *durable.Task[string, string]
	sleeper *durable.SleepingTask[string]
}

// countingStore counts the operator's queries (List, Count): the engine
// makes none of them, the dashboard all.
type countingStore struct {
	storage.Store
	queries atomic.Int64
}

func (s *countingStore) List(ctx context.Context, p storage.ListParams) ([]storage.Execution, error) {
	s.queries.Add(1)
	return s.Store.List(ctx, p)
}

func (s *countingStore) Count(ctx context.Context, p storage.CountParams) ([]storage.Count, error) {
	s.queries.Add(1)
	return s.Store.Count(ctx, p)
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "dash.db"), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	quiet := slog.New(slog.DiscardHandler)
	counted := &countingStore{Store: store}
	ex, err := durable.New(counted, durable.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ex: ex, store: counted}
	f.greet = durable.Must(durable.NewTask(ex, "greet", func(ctx context.Context, s string) (string, error) {
		return "hello, " + s, nil
	}))
	f.fail = durable.Must(durable.NewTask(ex, "fail", func(ctx context.Context, s string) (string, error) {
		return "", durable.NonRetryable(errors.New("refused: " + s))
	}))
	f.fan = durable.Must(durable.NewParentTask(ex, "fan", func(ctx context.Context, n int) (durable.Spawn[string], error) {
		sp := durable.Spawn[string]{Output: "fanned"}
		for i := range n {
			sp.Children = append(sp.Children, durable.ChildOf(f.greet, "child "+strings.Repeat("x", i%3)))
		}
		return sp, nil
	}))
	f.block = durable.Must(durable.NewTask(ex, "block", func(ctx context.Context, s string) (string, error) {
		select { // until cancelled, or the executor shuts down
		case <-ctx.Done():
			return "", ctx.Err()
		case <-durable.ShuttingDown(ctx):
			return "", errors.New("shutting down")
		}
	}))
	f.sleeper = durable.Must(durable.NewSleepingTask[string](ex, "sleeper"))
	if err := ex.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ex.Shutdown(sctx)
	})
	if cfg.Token == "" && !cfg.NoAuth {
		cfg.Token = testToken
	}
	if cfg.Events == nil {
		cfg.Events = store
	}
	cfg.Logger = quiet
	f.dash, err = New(ex, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(f.dash)
	t.Cleanup(func() {
		f.dash.Close()
		f.srv.Close()
	})
	f.client = f.newClient()
	if !cfg.NoAuth {
		f.login(f.client)
	}
	return f
}

// newClient is a browser: cookies, no redirects followed.
func (f *fixture) newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login opens the one-click login URL.
func (f *fixture) login(c *http.Client) {
	f.t.Helper()
	res, err := c.Get(f.dash.LoginURL(f.srv.URL))
	if err != nil {
		f.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("login URL: status %d, want 303", res.StatusCode)
	}
}

// get fetches path with the logged-in client: status and body.
func (f *fixture) get(path string) (int, string) {
	f.t.Helper()
	return f.do(f.client, http.MethodGet, path, nil)
}

func (f *fixture) do(c *http.Client, method, path string, form url.Values) (int, string) {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	if loc := res.Header.Get("Location"); loc != "" {
		return res.StatusCode, loc
	}
	return res.StatusCode, string(b)
}

// post posts form to path with the session's CSRF token (read from the
// overview page).
func (f *fixture) post(path string, form url.Values) (int, string) {
	f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", f.csrf(f.client))
	return f.do(f.client, http.MethodPost, path, form)
}

var csrfRe = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)

func (f *fixture) csrf(c *http.Client) string {
	f.t.Helper()
	_, body := f.do(c, http.MethodGet, "/executions", nil)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		f.t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	return m[1]
}

// wait waits for h to finish.
func wait[O any](t testing.TB, h *durable.Handle[O]) durable.Execution[O] {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	x, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// waitFor polls cond (reading the store) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
