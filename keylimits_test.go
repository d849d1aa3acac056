package durable_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// gatedRuns is a task body whose runs wait for the test to let them end,
// and which records the most runs in progress at once per key: key(input)
// (inputs "KEY/N" with keyOfInput), or "" for every run when key is nil.
type gatedRuns struct {
	started chan string
	gate    chan struct{}
	key     func(string) string
	mu      sync.Mutex
	now     map[string]int
	most    map[string]int
}

func newGatedRuns(key func(string) string) *gatedRuns {
	if key == nil {
		key = func(string) string { return "" }
	}
	return &gatedRuns{started: make(chan string, 100), gate: make(chan struct{}), key: key,
		now: map[string]int{}, most: map[string]int{}}
}

// next returns the input of the next run to start, failing the test when
// none starts before ctx ends.
func (g *gatedRuns) next(t *testing.T, ctx context.Context) string {
	t.Helper()
	select {
	case in := <-g.started:
		return in
	case <-ctx.Done():
		t.Fatalf("waiting for a run to start: %v", ctx.Err())
		return ""
	}
}

// end lets n runs end, failing the test when they do not before ctx ends.
func (g *gatedRuns) end(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for range n {
		select {
		case g.gate <- struct{}{}:
		case <-ctx.Done():
			t.Fatalf("waiting for a run to end: %v", ctx.Err())
		}
	}
}

func keyOfInput(in string) string { return strings.SplitN(in, "/", 2)[0] }

func (g *gatedRuns) run(ctx context.Context, in string) (string, error) {
	k := g.key(in)
	g.mu.Lock()
	g.now[k]++
	g.most[k] = max(g.most[k], g.now[k])
	g.mu.Unlock()
	g.started <- in
	defer func() {
		g.mu.Lock()
		g.now[k]--
		g.mu.Unlock()
	}()
	select {
	case <-g.gate:
		return in, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func TestQueueLimitPerKeyAcrossExecutors(t *testing.T) {
	store := memory.New()
	g := newGatedRuns(keyOfInput)
	cfg := durable.Config{Concurrency: 5, QueueLimits: map[string]durable.QueueLimit{"lim": {PerKey: 1}}}
	a := setupOn(t, store, cfg, true)
	b := setupOn(t, store, durable.Config{Concurrency: 5}, true)
	var tasks []*durable.Task[string, string]
	for _, x := range []*bundle{a, b} {
		tasks = append(tasks, durable.Must(durable.NewTask(x.ex, "keyed", g.run, durable.WithQueue("lim"),
			durable.WithConcurrencyKeyFunc(keyOfInput))))
	}
	var hs []*durable.Handle[string]
	for i, in := range []string{"A/0", "A/1", "A/2", "B/0", "C/0"} {
		h, err := tasks[i%2].Enqueue(a.ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	// The rows of key A after the first wait; B and C, behind them in
	// claim order, start.
	got := map[string]bool{}
	for range 3 {
		got[g.next(t, a.ctx)] = true
	}
	if !got["A/0"] || !got["B/0"] || !got["C/0"] {
		t.Fatalf("first runs: want A/0, B/0 and C/0, got %v", got)
	}
	// Each round: no other row starts while A/n runs; ending the runs
	// running lets the next row of A start.
	for _, running := range []int{3, 1} {
		afterDispatchRound(t, a.ex)
		afterDispatchRound(t, b.ex)
		select {
		case in := <-g.started:
			t.Fatalf("%s started while its key was at its limit", in)
		default:
		}
		g.end(t, a.ctx, running)
		if in := g.next(t, a.ctx); keyOfInput(in) != "A" {
			t.Fatalf("after the runs ended: want a run of A to start, got %s", in)
		}
	}
	g.end(t, a.ctx, 1)
	for _, h := range hs {
		x := waitFor(t, a, h)
		if rec, err := a.ex.Get(a.ctx, h.ID()); err != nil || rec.ConcurrencyKey != keyOfInput(x.Output) {
			t.Fatalf("Get(%s): want ConcurrencyKey %q, got %+v, %v", h.ID(), keyOfInput(x.Output), rec.ConcurrencyKey, err)
		}
	}
	for k, n := range g.most {
		if n > 1 {
			t.Fatalf("key %s: %d runs at once, over the limit of 1", k, n)
		}
	}
}

func TestQueueLimitRate(t *testing.T) {
	const rate = 2
	g := newGatedRuns(keyOfInput)
	b := setup(t, durable.Config{Concurrency: 10,
		QueueLimits: map[string]durable.QueueLimit{"lim": {Rate: rate, Per: time.Hour}}})
	task := durable.Must(durable.NewTask(b.ex, "rated", g.run, durable.WithQueue("lim")))
	for _, in := range []string{"A/0", "A/1", "A/2", "A/3"} {
		if _, err := task.Enqueue(b.ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	for range rate {
		g.next(t, b.ctx)
	}
	g.end(t, b.ctx, rate)
	afterDispatchRound(t, b.ex)
	afterDispatchRound(t, b.ex)
	select {
	case in := <-g.started:
		t.Fatalf("%s started beyond the rate of %d per hour", in, rate)
	default:
	}
	qs, err := b.ex.Queues(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == "lim" && (q.Rate != rate || q.Per != time.Hour) {
			t.Fatalf("Queues: want lim at %d per hour, got %+v", rate, q)
		}
	}
}

func TestConfigQueueLimitsLastWriterWins(t *testing.T) {
	store := memory.New()
	setupOn(t, store, durable.Config{QueueLimits: map[string]durable.QueueLimit{"lim": {Concurrency: 3}}}, true)
	b := setupOn(t, store, durable.Config{QueueLimits: map[string]durable.QueueLimit{"lim": {PerKey: 1, Rate: 5, Per: time.Second}}}, true)
	qs, err := b.ex.Queues(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := durable.QueueInfo{Name: "lim", PerKey: 1, Rate: 5, Per: time.Second}
	for _, q := range qs {
		if q.Name == "lim" {
			q.UpdatedAt = time.Time{}
			if q != want {
				t.Fatalf("Queues: want %+v (the last executor started), got %+v", want, q)
			}
			return
		}
	}
	t.Fatalf("Queues: no lim in %+v", qs)
}

func TestQueueLimitsRefuseBadInput(t *testing.T) {
	b := setup(t, durable.Config{})
	for _, bad := range []struct {
		name  string
		limit durable.QueueLimit
	}{
		{"negative per key", durable.QueueLimit{PerKey: -1}},
		{"per key too large", durable.QueueLimit{PerKey: storage.MaxConcurrencyLimit + 1}},
		{"negative rate", durable.QueueLimit{Rate: -1, Per: time.Second}},
		{"rate too large", durable.QueueLimit{Rate: storage.MaxRateLimit + 1, Per: time.Second}},
		{"rate without period", durable.QueueLimit{Rate: 5}},
		{"period without rate", durable.QueueLimit{Per: time.Second}},
		{"period too short", durable.QueueLimit{Rate: 5, Per: time.Microsecond}},
		{"period too long", durable.QueueLimit{Rate: 5, Per: 400 * 24 * time.Hour}},
		{"negative period", durable.QueueLimit{Rate: 5, Per: -time.Second}},
		{"a good one with a bad one", durable.QueueLimit{Concurrency: 3, PerKey: -1}},
	} {
		if _, err := b.ex.SetQueueLimit(b.ctx, storage.DefaultQueue, bad.limit); !errors.Is(err, durable.ErrInvalidOption) {
			t.Errorf("SetQueueLimit, %s: want ErrInvalidOption, got %v", bad.name, err)
		}
		cfg := durable.Config{QueueLimits: map[string]durable.QueueLimit{"q": bad.limit}}
		if _, err := durable.New(memory.New(), cfg); !errors.Is(err, durable.ErrInvalidOption) || !strings.Contains(err.Error(), "QueueLimits") {
			t.Errorf("New with Config.QueueLimits, %s: want ErrInvalidOption naming QueueLimits, got %v", bad.name, err)
		}
	}
	if _, err := durable.New(memory.New(), durable.Config{QueueLimits: map[string]durable.QueueLimit{"bad name": {PerKey: 1}}}); !errors.Is(err, durable.ErrInvalidOption) {
		t.Errorf("New with a bad queue name in Config.QueueLimits: want ErrInvalidOption, got %v", err)
	}
	qs, err := b.ex.Queues(b.ctx)
	if err != nil || len(qs) != 1 || qs[0].Concurrency != 0 || qs[0].PerKey != 0 || qs[0].Rate != 0 {
		t.Fatalf("Queues after refused limits: want the default queue unlimited, got %+v, %v", qs, err)
	}

	badKeys := []string{strings.Repeat("k", storage.MaxConcurrencyKey+1), "a\x00b", "line\nbreak", "\xff"}
	echo := durable.Must(durable.NewTask(b.ex, "echo", func(_ context.Context, i int) (int, error) { return i, nil },
		durable.WithConcurrencyKeyFunc(func(i int) string { return badKeys[i] })))
	for i, key := range badKeys {
		if _, err := echo.Enqueue(b.ctx, 0, durable.WithConcurrencyKey(key)); !errors.Is(err, durable.ErrInvalidOption) {
			t.Errorf("Enqueue with WithConcurrencyKey(%q): want ErrInvalidOption, got %v", key, err)
		}
		if _, err := echo.Enqueue(b.ctx, i); !errors.Is(err, durable.ErrInvalidOption) || !strings.Contains(err.Error(), "WithConcurrencyKeyFunc") {
			t.Errorf("Enqueue with a key func giving %q: want ErrInvalidOption naming WithConcurrencyKeyFunc, got %v", key, err)
		}
	}
	lister := b.store.(storage.Lister)
	rows, err := lister.List(b.ctx, storage.ListParams{Limit: 10})
	if err != nil || len(rows) != 0 {
		t.Fatalf("executions stored after refused enqueues: want none, got %d, %v", len(rows), err)
	}
}
