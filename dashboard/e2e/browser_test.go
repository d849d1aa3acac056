package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/dashboard"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/postgres"
	"github.com/durable-go/durable/storage/sqlite"
)

const token = "e2e-token-0123456789abcdef"

// The payloads of the escaping check: each would set window.__pwned if
// it ran.
const (
	scriptPayload = `<script>window.__pwned="script"</script>`
	imgPayload    = `<img src=x onerror="window.__pwned='img'">`
)

func TestBrowserSQLite(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "e2e.db"), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	runBrowser(t, "sqlite", store)
}

func TestBrowserPostgres(t *testing.T) {
	dsn := os.Getenv("DURABLE_TEST_POSTGRES_URL")
	if dsn == "" {
		t.Skip("DURABLE_TEST_POSTGRES_URL is not set: no PostgreSQL to test on")
	}
	schema := fmt.Sprintf("dash_e2e_%d", time.Now().UnixNano())
	store, err := postgres.Open(context.Background(), dsn, postgres.Config{Schema: schema, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		store.Close()
		dropSchema(t, dsn, schema)
	}()
	runBrowser(t, "postgres", store)
}

// chromium finds the browser, or skips (fails under CI).
func chromium(t *testing.T) string {
	path := os.Getenv("DURABLE_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium on PATH under CI: .ci/run installs it (apt-get install -y chromium)")
		}
		t.Skip("no chromium on PATH: apt-get install -y chromium, or set DURABLE_CHROMIUM")
	}
	return path
}

// app is an executor with the e2e's tasks and a dashboard served by a real
// HTTP server.
type app struct {
	ex     *durable.Executor
	greet  *durable.Task[string, string]
	fail   *durable.Task[string, string]
	fan    *durable.Task[int, durable.ParentOutput[string]]
	block  *durable.Task[string, string]
	dash   *dashboard.Dashboard
	server *httptest.Server
}

func newApp(t *testing.T, store storage.Store) *app {
	ex, err := durable.New(store, durable.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a := &app{ex: ex}
	a.greet = durable.Must(durable.NewTask(ex, "send_email", func(ctx context.Context, to string) (string, error) {
		return "sent to " + to, nil
	}))
	a.fail = durable.Must(durable.NewTask(ex, "charge_card", func(ctx context.Context, order string) (string, error) {
		return "", durable.NonRetryable(errors.New("card declined for " + order))
	}))
	a.fan = durable.Must(durable.NewParentTask(ex, "nightly_report", func(ctx context.Context, n int) (durable.Spawn[string], error) {
		sp := durable.Spawn[string]{Output: "report"}
		for i := range n {
			child := durable.ChildOf(a.greet, fmt.Sprintf("user-%d@example.com", i))
			if i%100 == 99 { // a few fail: the report fails, its unfinished children are cancelled
				child = durable.ChildOf(a.fail, fmt.Sprintf("R-%d", i))
			}
			sp.Children = append(sp.Children, child)
		}
		return sp, nil
	}))
	a.block = durable.Must(durable.NewTask(ex, "sync_inventory", func(ctx context.Context, s string) (string, error) {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-durable.ShuttingDown(ctx):
			return "", errors.New("shutting down")
		}
	}))
	if err := ex.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.dash, err = dashboard.New(ex, dashboard.Config{Token: token, Events: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	a.server = httptest.NewServer(a.dash)
	t.Cleanup(func() {
		a.dash.Close()
		a.server.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ex.Shutdown(ctx)
	})
	return a
}

func (a *app) wait(t *testing.T, id string) durable.Record {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := a.ex.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Terminal() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not finish: %s", id, r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browser is a headless Chromium tab that records the page's JavaScript
// errors.
type browser struct {
	ctx    context.Context
	out    string
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, out string) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1366, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{ctx: ctx, out: out}
	// The console: calls of console.error, uncaught exceptions, and the
	// browser's own errors (a script refused by the CSP, a failed load).
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.addError(m.String() + " " + m.URL)
			}
		}
	}()
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *browser) addError(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errors = append(b.errors, s)
}

// checkConsole fails the test on a JavaScript error in the console.
func (b *browser) checkConsole(t *testing.T, what string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errors) > 0 {
		t.Fatalf("%s: JavaScript errors in the console:\n%s", what, strings.Join(b.errors, "\n"))
	}
}

// do runs steps, failing the test on an error or on a JavaScript error in
// the console.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b.checkConsole(t, what)
}

// navigate runs steps of which the last loads another page (a form's
// submit button, a link) and waits until that page has loaded, so that
// what follows reads the new page and not the one before it.
func (b *browser) navigate(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("%s: the page loaded answered %d %s", what, resp.Status, resp.StatusText)
	}
	b.checkConsole(t, what)
}

// get runs one action and returns its value.
func get[T any](t *testing.T, b *browser, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b.checkConsole(t, what)
	return v
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	return get(t, b, expr, chromedp.Evaluate[T](expr))
}

// shot saves a screenshot of the whole page.
func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	b.save(t, name, get(t, b, "screenshot "+name, chromedp.FullScreenshot(100)))
}

// viewShot saves a screenshot of what the window shows.
func (b *browser) viewShot(t *testing.T, name string) {
	t.Helper()
	b.save(t, name, get(t, b, "screenshot "+name, chromedp.CaptureScreenshot()))
}

func (b *browser) save(t *testing.T, name string, png []byte) {
	t.Helper()
	path := filepath.Join(b.out, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

func outDir(t *testing.T, storeName string) string {
	base := os.Getenv("DURABLE_E2E_OUT")
	if base == "" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		base = filepath.Join(wd, "out")
	}
	return filepath.Join(base, storeName)
}

// waitText waits until the element's text is want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.trim() === %q })()`, sel, want),
		chromedp.WithPollingTimeout(30*time.Second))
}

// visible waits until the element the CSS selector finds is visible.
func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

func click(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)
}

// run evaluates JavaScript for its effect.
func run(expr string) chromedp.Action[chromedp.Void] { return chromedp.Evaluate[chromedp.Void](expr) }

func runBrowser(t *testing.T, storeName string, store storage.Store) {
	b := newBrowser(t, outDir(t, storeName))
	a := newApp(t, store)
	ctx := context.Background()
	base := a.server.URL

	// Some history: completed, failed (with the escaping payloads in every
	// field), a fan-out with children, running ones.
	for i := range 12 {
		h, err := a.greet.Enqueue(ctx, fmt.Sprintf("customer-%d@example.com", i), durable.WithTags("newsletter"))
		if err != nil {
			t.Fatal(err)
		}
		a.wait(t, h.ID())
	}
	failed, err := a.fail.Enqueue(ctx, "B-1042"+scriptPayload, durable.WithTags(imgPayload, "tenant-7"))
	if err != nil {
		t.Fatal(err)
	}
	a.wait(t, failed.ID())
	fan, err := a.fan.Enqueue(ctx, 240, durable.WithTags("nightly"))
	if err != nil {
		t.Fatal(err)
	}
	a.wait(t, fan.ID())
	running, _ := a.block.Enqueue(ctx, "warehouse-3")
	watched, _ := a.block.Enqueue(ctx, "warehouse-9")

	// Log in with the one-click URL: the overview.
	b.do(t, "log in", chromedp.Navigate(a.dash.LoginURL(base)), visible(`#status-cards`))
	if title := get(t, b, "title", chromedp.Title()); !strings.HasPrefix(title, "Overview") {
		t.Fatalf("after login: page %q, want the overview", title)
	}
	b.do(t, "overview", visible(`#live:not([hidden])`), visible(`.card .st-failed`), visible(`.card .st-running`))
	b.shot(t, "overview")

	// Filter the list: failed, top-level only (the report's failed
	// children are not).
	b.do(t, "list", chromedp.Navigate(base+"/executions"), visible(`#list`))
	b.shot(t, "list")
	b.navigate(t, "filter failed", click(`input[name=status][value=failed]`), click(`input[name=top]`), click(`#apply`))
	b.do(t, "filtered list", visible(`#list tbody tr[data-exec-id]`))
	rows := eval[[]string](t, b, `Array.from(document.querySelectorAll("#list tbody tr[data-exec-id]"), r => r.dataset.execId)`)
	if len(rows) != 1 || rows[0] != failed.ID() {
		t.Fatalf("failed filter: rows %v, want the failed execution %s only", rows, failed.ID())
	}
	b.shot(t, "list-failed")

	// An execution with children: find them in the tree, in order.
	b.do(t, "fan-out", chromedp.Navigate(base+"/executions/"+fan.ID()), visible(`.strip`))
	children, err := a.ex.Children(ctx, fan.ID())
	if err != nil {
		t.Fatal(err)
	}
	cells := eval[[]string](t, b, `Array.from(document.querySelectorAll(".strip .cell"), c => c.dataset.execId)`)
	tableRows := eval[int](t, b, `document.querySelectorAll("table.children tbody tr[data-exec-id]").length`)
	if len(cells) != 240 || tableRows != 240 {
		t.Fatalf("the tree shows %d cells and %d rows, want 240 children", len(cells), tableRows)
	}
	for i, c := range children {
		if cells[i] != c.ID {
			t.Fatalf("cell %d is %s, want child %d, %s", i, cells[i], i, c.ID)
		}
		class := eval[string](t, b, fmt.Sprintf(`document.querySelectorAll(".strip .cell")[%d].className`, i))
		if class != "cell c-"+string(c.Status) {
			t.Fatalf("cell %d is drawn %q, the child is %s", i, class, c.Status)
		}
	}
	b.shot(t, "execution-children")
	b.viewShot(t, "execution-children-top")
	// A child's page leads back to its parent.
	b.do(t, "child", click(`.strip .cell:nth-child(7)`), visible(`.crumbs a`))
	if crumb := eval[string](t, b, `document.querySelector(".crumbs a").getAttribute("href")`); crumb != "/executions/"+fan.ID() {
		t.Fatalf("the child's page leads to %q, want its parent", crumb)
	}

	// The escaping payloads are shown as text, and nothing ran.
	b.do(t, "failed execution", chromedp.Navigate(base+"/executions/"+failed.ID()), visible(`.errbox`))
	b.shot(t, "execution-failed")
	if pwned := eval[string](t, b, `String(window.__pwned || "")`); pwned != "" {
		t.Fatalf("a payload ran: window.__pwned = %q", pwned)
	}
	if !eval[bool](t, b, `document.body.textContent.includes('card declined for B-1042<script>')`) {
		t.Fatal("the error message is not shown as text")
	}
	b.do(t, "list of the payloads", chromedp.Navigate(base+"/executions?tag=tenant-7"), visible(`#list`))
	if pwned := eval[string](t, b, `String(window.__pwned || "")`); pwned != "" {
		t.Fatalf("a payload ran in the list: window.__pwned = %q", pwned)
	}

	// Live: a running execution cancelled elsewhere changes on the open
	// page, without a reload (the marker set on the page survives).
	b.do(t, "watch", chromedp.Navigate(base+"/executions/"+watched.ID()), visible(`#live:not([hidden])`),
		waitText(`.exec h1 [data-status]`, "running"), run(`window.__marker = 1`))
	if err := a.ex.Cancel(ctx, watched.ID()); err != nil {
		t.Fatal(err)
	}
	b.do(t, "live status", waitText(`.exec h1 [data-status]`, "cancelled"), visible(`#changed`))
	if eval[int](t, b, `window.__marker || 0`) != 1 {
		t.Fatal("the page reloaded: the status did not change live")
	}
	b.shot(t, "execution-live-cancelled")

	// Cancel a running one from the dashboard, with its confirmation.
	b.do(t, "cancel", chromedp.Navigate(base+"/executions/"+running.ID()), click(`a[data-action=cancel]`), visible(`#confirm`))
	b.shot(t, "confirm-cancel")
	b.do(t, "confirm cancel", click(`#confirm`), visible(`.exec`)) // the confirmation page has none
	b.do(t, "cancelled", waitText(`.exec h1 [data-status]`, "cancelled"))
	if r, _ := a.ex.Get(ctx, running.ID()); r.Status != durable.StatusCancelled {
		t.Fatalf("after the dashboard's cancel: %s", r.Status)
	}

	// Retry the failed one: the retry's page names the original.
	b.do(t, "retry", chromedp.Navigate(base+"/executions/"+failed.ID()), click(`a[data-action=retry]`),
		visible(`#confirm`), click(`#confirm`), visible(`.exec`))
	retryID := eval[string](t, b, `document.querySelector(".exec").dataset.execId`)
	if retryID == failed.ID() {
		t.Fatal("the retry did not open the new execution's page")
	}
	if r, err := a.ex.Get(ctx, retryID); err != nil || r.RetryOf != failed.ID() {
		t.Fatalf("the retry: %+v %v", r, err)
	}
	if facts := get(t, b, "facts", chromedp.Text(chromedp.CSS(`.facts`))); !strings.Contains(facts, failed.ID()) {
		t.Fatalf("the retry's page does not name the original: %s", facts)
	}
	a.wait(t, retryID)

	// The list updates live as executions come and finish.
	b.do(t, "live list", chromedp.Navigate(base+"/executions"), visible(`#live:not([hidden])`), run(`window.__marker = 2`))
	fresh, _ := a.greet.Enqueue(ctx, "live@example.com")
	b.do(t, "new row", visible(fmt.Sprintf(`#list tr[data-exec-id=%q] .st-completed`, fresh.ID())))
	if eval[int](t, b, `window.__marker || 0`) != 2 {
		t.Fatal("the list reloaded instead of updating live")
	}

	// Keyboard: / focuses the search; Escape leaves it; j selects the
	// first row; t switches to the dark theme.
	b.do(t, "keys", chromedp.KeyEvent("/"))
	if id := eval[string](t, b, `document.activeElement.id`); id != "q" {
		t.Fatalf("/ focused %q, want the search box", id)
	}
	b.do(t, "keys", chromedp.KeyEvent("\u001b"), chromedp.KeyEvent("j"), visible(`#list tbody tr.sel`))
	b.do(t, "dark", chromedp.Navigate(base+"/"), visible(`#status-cards`), chromedp.KeyEvent("t"), visible(`html[data-theme=dark]`))
	b.shot(t, "overview-dark")
	b.do(t, "dark execution", chromedp.Navigate(base+"/executions/"+fan.ID()), visible(`.strip`))
	b.shot(t, "execution-dark")
	// A phone's screen.
	b.do(t, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/executions"), visible(`#list`))
	b.shot(t, "list-phone")
	b.do(t, "phone filters", click(`#filters > summary`), visible(`#apply`))
	b.do(t, "phone execution", chromedp.Navigate(base+"/executions/"+failed.ID()), visible(`.errbox`))
	b.shot(t, "execution-phone")
}
