package durabletest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
)

// DefaultStart is where the fake clock of an Env starts unless WithStart
// says otherwise: a round instant (the stores keep microseconds), in UTC.
var DefaultStart = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

// Defaults of the options.
const (
	// DefaultStuckAfter is how long, in real time, a run waits without
	// progress before it reports ErrStuck.
	DefaultStuckAfter = 10 * time.Second
	// DefaultMaxRuns bounds the claims one run makes.
	DefaultMaxRuns = 100_000
	// DefaultLeaseDuration is the executor's Config.LeaseDuration unless
	// WithConfig sets one: the longest the engine allows, so that an
	// explicit Advance while a task runs does not lapse its lease (and
	// have the engine take the run over as if its executor had died)
	// unless it moves the clock by more than 40 minutes at once.
	DefaultLeaseDuration = time.Hour
)

// TB is the part of testing.TB the kit uses: pass the test's *testing.T
// (or *testing.B). As testify's TestingT, it is an interface so that the
// kit also runs where there is no *testing.T (a runnable example).
type TB interface {
	Helper()
	Cleanup(func())
	Failed() bool
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// Env is a test environment: an executor on a memory store, whose clock is
// a clock.Fake that the env moves itself, only when nothing runs. Make one
// with New, register tasks on Executor, enqueue, then call RunUntilIdle or
// RunFor.
//
// The executor starts at the first RunUntilIdle, RunFor or Start: before
// that, Enqueue only stores executions, and what was enqueued can be
// asserted without anything running. Once started, an enqueue may start
// its run at once, in the background (the engine's direct start); call
// RunUntilIdle before asserting on what ran.
//
// An Env's methods are safe for concurrent use, but RunUntilIdle and
// RunFor are meant for the test's goroutine: two of them at once take
// turns.
type Env struct {
	tb    TB
	ex    *durable.Executor
	store *recorder
	mem   *memory.Store
	clock *clock.Fake
	codec durable.Codec
	start time.Time
	opts  options
	log   *testWriter

	runMu   sync.Mutex // one run at a time
	startMu sync.Mutex
	started bool
}

// Option configures an Env.
type Option func(*options)

type options struct {
	cfg        durable.Config
	start      time.Time
	stuckAfter time.Duration
	maxRuns    int
	logLevel   slog.Leveler
}

// WithConfig sets the executor's configuration. The env fills in Clock
// (its clock.Fake; a Config.Clock other than a *clock.Fake is an error),
// Logger (the test's log, see WithLogLevel), LeaseDuration
// (DefaultLeaseDuration) and Retention (keep every execution: the env
// moves the clock by days, and the test reads the executions after) when
// they are not set. Set Retention to test the cleaner: it runs on the
// fake clock.
func WithConfig(cfg durable.Config) Option { return func(o *options) { o.cfg = cfg } }

// WithStart sets the fake clock's first reading. Default: DefaultStart.
func WithStart(t time.Time) Option { return func(o *options) { o.start = t } }

// WithStuckAfter sets how long, in real time, RunUntilIdle and RunFor wait
// for progress (a write to the store: a claim, a result, an enqueue)
// while executions run or are due, before they return ErrStuck. It is the
// limit of a failing test, never how idleness is judged. Default:
// DefaultStuckAfter.
func WithStuckAfter(d time.Duration) Option { return func(o *options) { o.stuckAfter = d } }

// WithMaxRuns bounds the claims one RunUntilIdle or RunFor makes (every
// attempt, loop iteration, parent continuation and sleeping timeout is
// one), so that a workflow that never ends fails the test with
// ErrTooManyRuns instead of running forever. Default: DefaultMaxRuns.
func WithMaxRuns(n int) Option { return func(o *options) { o.maxRuns = n } }

// WithLogLevel sets the level of the engine's logs written to the test's
// log when WithConfig gives no Logger. Default: slog.LevelWarn (failed
// attempts and executions, takeovers).
func WithLogLevel(l slog.Leveler) Option { return func(o *options) { o.logLevel = l } }

// New returns an Env for the test tb: a memory store, a clock.Fake and an
// executor on them. At the end of the test (tb.Cleanup) the executor is
// shut down (runs still going half a second later are cancelled), the
// store is closed and,
// if the test failed, every execution the env saw is logged.
func New(tb TB, opts ...Option) *Env {
	tb.Helper()
	o := options{start: DefaultStart, stuckAfter: DefaultStuckAfter, maxRuns: DefaultMaxRuns, logLevel: slog.LevelWarn}
	for _, opt := range opts {
		opt(&o)
	}
	if o.stuckAfter <= 0 || o.maxRuns <= 0 {
		tb.Fatalf("durabletest: WithStuckAfter and WithMaxRuns take positive values (got %s, %d)", o.stuckAfter, o.maxRuns)
	}
	cfg := o.cfg
	fc, ok := cfg.Clock.(*clock.Fake)
	switch {
	case cfg.Clock == nil:
		fc = clock.NewFake(o.start)
		cfg.Clock = fc
	case !ok:
		tb.Fatalf("durabletest: Config.Clock is a %T; the env needs a *clock.Fake (or none)", cfg.Clock)
	}
	env := &Env{tb: tb, clock: fc, start: fc.Now(), opts: o, codec: cfg.Codec}
	if env.codec == nil {
		env.codec = durable.JSONCodec{}
	}
	if cfg.Logger == nil {
		env.log = &testWriter{tb: tb}
		cfg.Logger = slog.New(slog.NewTextHandler(env.log, &slog.HandlerOptions{
			Level: o.logLevel,
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key == slog.TimeKey {
					return slog.String("clock", env.elapsed(fc.Now()))
				}
				return a
			},
		}))
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.Retention == (durable.Retention{}) {
		// Keep everything: the env moves the clock by days, and a test
		// reads its executions after.
		cfg.Retention = durable.Retention{Completed: -1, Failed: -1, Cancelled: -1}
	}
	env.mem = memory.New()
	env.store = newRecorder(env.mem)
	ex, err := durable.New(env.store, cfg)
	if err != nil {
		tb.Fatalf("durabletest: %v", err)
	}
	env.ex = ex
	env.store.setSelf(ex.ID())
	tb.Cleanup(env.cleanup)
	return env
}

// cleanupGrace is how long the shutdown at the end of a test waits for
// runs still going before it cancels them.
const cleanupGrace = 500 * time.Millisecond

// cleanup shuts the executor down, cancelling the runs still going after
// cleanupGrace (the test is over), closes the store, logs the executions
// of a failed test, and stops the logs.
func (e *Env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupGrace)
	defer cancel()
	if err := e.ex.Shutdown(ctx); err != nil {
		e.tb.Errorf("durabletest: shutdown: %v", err)
	}
	if e.tb.Failed() {
		e.tb.Logf("durabletest: the executions at the end of the test (clock %s):\n%s", e.elapsed(e.Now()), e.describe(e.rows(), 200))
	}
	_ = e.mem.Close()
	if e.log != nil {
		e.log.close()
	}
}

// Executor returns the env's executor: register tasks on it and enqueue
// through them. Do not shut it down: the env does, at the end of the test.
func (e *Env) Executor() *durable.Executor { return e.ex }

// Store returns the env's store (a memory store, watched by the env). A
// test may read it, or make rows by hand (a claim by another executor id
// stands for an executor that died: RunUntilIdle moves the clock to its
// lease expiry and the env's executor takes the run over).
func (e *Env) Store() storage.Store { return e.store }

// Clock returns the env's fake clock. Prefer Advance, RunFor and
// RunUntilIdle, which also tell the executor that the time moved.
func (e *Env) Clock() *clock.Fake { return e.clock }

// Now returns the fake clock's reading.
func (e *Env) Now() time.Time { return e.clock.Now() }

// Elapsed returns how far the fake clock has moved since the env was made.
func (e *Env) Elapsed() time.Duration { return e.clock.Now().Sub(e.start) }

// Start starts the executor, if it has not started yet. RunUntilIdle and
// RunFor call it; call it yourself to have runs start while the test
// drives the clock with Advance.
func (e *Env) Start() {
	e.tb.Helper()
	if err := e.startExecutor(); err != nil {
		e.tb.Fatalf("%v", err)
	}
}

func (e *Env) startExecutor() error {
	e.startMu.Lock()
	defer e.startMu.Unlock()
	if e.started {
		return nil
	}
	if err := e.ex.Start(context.Background()); err != nil {
		return fmt.Errorf("durabletest: starting the executor: %w", err)
	}
	e.started = true
	return nil
}

// Advance moves the fake clock forward by d, fires the engine's timers
// that come due, and tells the executor, which (once started) claims what
// became due in the background. It does not wait for anything:
// RunUntilIdle or RunFor after it run what came due.
//
// Unlike RunFor, it moves the clock even while tasks run: use it for a
// task that waits for its own timeout (its context's deadline is on the
// fake clock). Moving the clock at once by more than two thirds of the
// lease (Config.LeaseDuration, an hour by default here: 40 minutes) while
// a task runs may lapse its lease before the engine renews it, and the
// engine then takes the run over, as if its executor had died.
func (e *Env) Advance(d time.Duration) {
	e.clock.Advance(d)
	e.store.poke()
}

// elapsed formats t as an offset from the env's start ("+1h30m0s").
func (e *Env) elapsed(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(e.start)
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// testWriter writes the engine's logs to the test's output (through
// Output, which a *testing.T has since Go 1.25, else Logf) until the test
// ends; later writes are dropped (a test's log must not be written once the
// test has returned).
type testWriter struct {
	mu     sync.Mutex
	tb     TB
	closed bool
}

var _ io.Writer = (*testWriter)(nil)

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	if o, ok := w.tb.(interface{ Output() io.Writer }); ok {
		_, _ = o.Output().Write(p)
	} else {
		w.tb.Logf("%s", strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}
