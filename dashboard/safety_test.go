package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable"
)

// The payloads every user-supplied field carries in the escaping test:
// if any came out unescaped, the page would hold one of these tags.
const (
	scriptPayload = `<script>document.title="pwned"</script>`
	imgPayload    = `<img src=x onerror=alert(1)>`
	quotePayload  = `"><svg onload=alert(2)>`
)

// raw reports the first payload found unescaped in body.
func raw(body string) string {
	for _, p := range []string{"<script>document", "<img src=x", "<svg onload"} {
		if strings.Contains(body, p) {
			return p
		}
	}
	return ""
}

func TestEscaping(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	evil := scriptPayload + imgPayload + quotePayload
	h, err := f.greet.Enqueue(ctx, evil, durable.WithTags(imgPayload, quotePayload, scriptPayload))
	if err != nil {
		t.Fatal(err)
	}
	wait(t, h) // output: "hello, " + evil
	hf, err := f.fail.Enqueue(ctx, evil, durable.WithTags(scriptPayload))
	if err != nil {
		t.Fatal(err)
	}
	wait(t, hf) // error message: "refused: " + evil
	hs, err := f.ex.EnqueueMany(ctx, f.sleeper.Child(evil))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/executions", "/executions?tag=" + url.QueryEscape(scriptPayload),
		"/executions/" + h.ID(), "/executions/" + hf.ID(), "/executions/" + hs[0], "/executions/" + hs[0] + "/wake",
		"/executions/" + hf.ID() + "/retry", "/executions?q=" + url.QueryEscape(evil),
		"/executions?task=" + url.QueryEscape(evil), "/login?next=" + url.QueryEscape(evil)} {
		status, body := f.get(path)
		if p := raw(body); p != "" {
			t.Errorf("%s (status %d) holds %q unescaped", path, status, p)
		}
		if strings.Contains(path, "/executions/") && status == http.StatusOK && !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("%s does not show the payload escaped", path)
		}
	}
	// The wake form's error page shows the typed output escaped too.
	status, body := f.post("/executions/"+hs[0]+"/wake", url.Values{"outcome": {"complete"}, "output": {evil}})
	if status != http.StatusBadRequest || raw(body) != "" || !strings.Contains(body, "not valid JSON") {
		t.Errorf("wake with bad JSON: status %d, raw %q", status, raw(body))
	}
}

// TestEscapingLive checks the rows the live feed renders.
func TestEscapingLive(t *testing.T) {
	f := newFixture(t, Config{LiveInterval: 20 * time.Millisecond})
	stream := f.openStream(f.client)
	defer stream.close()
	h, err := f.greet.Enqueue(context.Background(), scriptPayload, durable.WithTags(imgPayload))
	if err != nil {
		t.Fatal(err)
	}
	data := stream.next(t, "rows", h.ID())
	var rows []struct{ ID, HTML string }
	if err := json.Unmarshal([]byte(data), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID != h.ID() {
			continue
		}
		if p := raw(r.HTML); p != "" {
			t.Errorf("the live row holds %q unescaped: %s", p, r.HTML)
		}
		if !strings.Contains(r.HTML, "&lt;img src=x") {
			t.Errorf("the live row lacks the escaped tag: %s", r.HTML)
		}
		return
	}
	t.Errorf("no row of %s in %s", h.ID(), data)
}

func TestAuth(t *testing.T) {
	f := newFixture(t, Config{})
	anon := f.newClient()
	// Pages send a browser without a session to the login page.
	status, loc := f.do(anon, http.MethodGet, "/executions?status=failed", nil)
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?next=") {
		t.Fatalf("anonymous page: %d %s, want a redirect to the login page", status, loc)
	}
	if status, _ := f.do(anon, http.MethodGet, "/events", nil); status != http.StatusUnauthorized {
		t.Errorf("anonymous events: %d, want 401", status)
	}
	if status, _ := f.do(anon, http.MethodPost, "/executions/x/cancel", url.Values{}); status != http.StatusUnauthorized {
		t.Errorf("anonymous action: %d, want 401", status)
	}
	// A wrong token is refused; the right one logs in and goes to next.
	status, _ = f.do(anon, http.MethodPost, "/login", url.Values{"token": {"wrong-token-wrong-token"}})
	if status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", status)
	}
	status, loc = f.do(anon, http.MethodPost, "/login", url.Values{"token": {testToken}, "next": {"/executions?status=failed"}})
	if status != http.StatusSeeOther || loc != "/executions?status=failed" {
		t.Errorf("login: %d %s", status, loc)
	}
	if status, _ := f.do(anon, http.MethodGet, "/", nil); status != http.StatusOK {
		t.Errorf("after login: %d", status)
	}
	// next may not leave the dashboard.
	for _, next := range []string{"https://evil.example/", "//evil.example/", `/\evil.example`} {
		_, loc := f.do(f.newClient(), http.MethodGet, "/login?token="+testToken+"&next="+url.QueryEscape(next), nil)
		if loc != "/" {
			t.Errorf("login with next %q goes to %q, want /", next, loc)
		}
	}
	// Logout ends the session.
	form := url.Values{"csrf": {f.csrf(anon)}}
	if status, _ := f.do(anon, http.MethodPost, "/logout", form); status != http.StatusSeeOther {
		t.Errorf("logout: %d", status)
	}
	if status, _ := f.do(anon, http.MethodGet, "/", nil); status != http.StatusSeeOther {
		t.Errorf("after logout: %d, want a redirect to the login page", status)
	}
}

// TestBearer: a client with the token as a bearer token (as the HTTP
// API's) reads pages and acts without a session or CSRF token; a wrong
// one is sent to the login page.
func TestBearer(t *testing.T) {
	f := newFixture(t, Config{})
	h, _ := f.block.Enqueue(context.Background(), "bearer")
	do := func(method, path, token string) int {
		req, _ := http.NewRequest(method, f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := f.newClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if status := do(http.MethodGet, "/executions", "wrong-token-wrong-token"); status != http.StatusSeeOther {
		t.Errorf("wrong bearer token: %d, want a redirect to the login page", status)
	}
	if status := do(http.MethodPost, "/executions/"+h.ID()+"/cancel", "wrong-token-wrong-token"); status != http.StatusUnauthorized {
		t.Errorf("wrong bearer token, action: %d, want 401", status)
	}
	if r, _ := f.ex.Get(context.Background(), h.ID()); r.Status.Terminal() {
		t.Fatalf("a wrong bearer token cancelled: %s", r.Status)
	}
	if status := do(http.MethodGet, "/executions", testToken); status != http.StatusOK {
		t.Errorf("bearer token: %d, want 200", status)
	}
	if status := do(http.MethodPost, "/executions/"+h.ID()+"/cancel", testToken); status != http.StatusSeeOther {
		t.Errorf("bearer token, action: %d, want 303", status)
	}
	if r, _ := f.ex.Get(context.Background(), h.ID()); r.Status != durable.StatusCancelled {
		t.Errorf("after a bearer cancel: %s", r.Status)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	h, _ := f.block.Enqueue(ctx, "csrf")
	path := "/executions/" + h.ID() + "/cancel"
	// No token, a wrong token, another session's token: refused.
	other := f.newClient()
	f.login(other)
	for name, tok := range map[string]string{"no token": "", "wrong token": "x", "another session's": f.csrf(other)} {
		status, body := f.do(f.client, http.MethodPost, path, url.Values{"csrf": {tok}})
		if status != http.StatusForbidden || !strings.Contains(body, "security token") {
			t.Errorf("%s: status %d, want 403", name, status)
		}
	}
	// A cross-site form is refused even with the right token.
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader("csrf="+url.QueryEscape(f.csrf(f.client))))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: status %d, want 403", res.StatusCode)
	}
	r, _ := f.ex.Get(ctx, h.ID())
	if r.Status.Terminal() {
		t.Fatalf("a refused cancel cancelled: %s", r.Status)
	}
	// The right token works.
	if status, loc := f.post(path, nil); status != http.StatusSeeOther || !strings.Contains(loc, "done=cancel") {
		t.Fatalf("cancel: %d %s", status, loc)
	}
	if r, _ := f.ex.Get(ctx, h.ID()); r.Status != durable.StatusCancelled {
		t.Errorf("after cancel: %s", r.Status)
	}
}

// stream is an open event stream.
type stream struct {
	res *http.Response
	sc  *bufio.Scanner
}

func (f *fixture) openStream(c *http.Client) *stream {
	f.t.Helper()
	res, err := c.Get(f.srv.URL + f.dash.cfg.Prefix + "/events")
	if err != nil {
		f.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		f.t.Fatalf("events: status %d", res.StatusCode)
	}
	s := &stream{res: res, sc: bufio.NewScanner(res.Body)}
	s.sc.Buffer(nil, 4<<20)
	s.next(f.t, "hello", "")
	return s
}

func (s *stream) close() { s.res.Body.Close() }

// next reads events until one named event whose data contains want, and
// returns its data.
func (s *stream) next(t testing.TB, event, want string) string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		name := ""
		for s.sc.Scan() {
			line := s.sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && name == event && strings.Contains(line, want):
				done <- strings.TrimPrefix(line, "data: ")
				return
			}
		}
		done <- ""
	}()
	select {
	case d := <-done:
		if d == "" {
			t.Fatalf("the stream ended before a %s event with %q", event, want)
		}
		return d
	case <-time.After(20 * time.Second):
		s.close()
		t.Fatalf("no %s event with %q", event, want)
		return ""
	}
}
