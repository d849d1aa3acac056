package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// Config is one simulation. Everything else (how many executors, the
// workload, the faults and when they strike, every delay) follows from
// Seed.
type Config struct {
	Seed uint64
	// Bugs switches deliberate bugs on (tests that show they are caught).
	Bugs Bugs
	// NoFaults runs the workload without faults.
	NoFaults bool
	// KeepTrace keeps the whole trace in the Result (else only its hash
	// and, on a violation, its tail).
	KeepTrace bool
	// MaxSkew bounds how far an executor's clock is off the simulated
	// time, either way; 0 is within the documented bound (skewBound/2,
	// so that any two executors' clocks agree within skewBound). Tests
	// set more to see what a skew beyond the bound breaks.
	MaxSkew time.Duration
}

// Result is what one simulation did.
type Result struct {
	Seed uint64
	// Steps is how many steps ran; End the simulated time at the end.
	Steps int
	End   time.Duration
	// Hash is the FNV-1a hash of the whole trace: two runs of one seed
	// give the same.
	Hash uint64
	// Trace is the whole trace (Config.KeepTrace), else empty.
	Trace string
	// Violation is the first invariant found broken, nil if none.
	Violation *Violation
	// Roots, Executions: how many top-level executions were enqueued, how
	// many rows there were in all; Faults counts the faults injected.
	Roots, Executions, Faults int
	// Takeovers counts the claims that took a lapsed lease over;
	// EarlyTakeovers those made before the lease lapsed by the simulated
	// time (possible only when the store takes the executors' clocks).
	// CrashBudgetFailures counts the executions failed on their crash
	// budget.
	Takeovers, EarlyTakeovers, CrashBudgetFailures int
}

// Violation is a broken invariant: what, at which step, and the trace
// that led to it.
type Violation struct {
	Seed    uint64
	Step    int
	At      time.Duration
	Message string
	// Tail is the end of the trace, up to the violation.
	Tail string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("seed %d: step %d (t=%s): %s\nreplay: DURABLE_SIM_SEED=%d go test ./internal/sim -run TestSeed -v\ntrace before it:\n%s",
		v.Seed, v.Step, v.At, v.Message, v.Seed, v.Tail)
}

// The simulated world's fixed settings.
const (
	leaseDuration = 300 * time.Millisecond
	pollInterval  = 50 * time.Millisecond
	crashBudget   = 2
	// workWindow is when the workload enqueues, cancels and wakes;
	// faultWindow when faults strike. After it, the executors run without
	// faults until every execution is finished, or until timeLimit (a
	// liveness failure).
	workWindow  = time.Second
	faultWindow = 1500 * time.Millisecond
	timeLimit   = 120 * time.Second
	// skewBound is the documented bound on the skew between the clocks of
	// executors whose store judges time by their clocks (docs/sqlite.md:
	// clocks that agree within a lease; beyond it "leases themselves mean
	// nothing").
	skewBound = leaseDuration
	tailLines = 80
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// sim is one simulation's world: the scheduler, the store, the executors,
// the workload's client, the ledgers the invariants read, and the trace.
type sim struct {
	cfg   Config
	rng   *rand.Rand
	now   time.Time
	queue eventQueue
	seq   uint64
	step  int

	store  *Store
	nodes  []*node
	client *client
	cur    *node // the executor whose step is running, if any
	// running is the run whose coroutine is running, if any (runs.go).
	running *runCo
	prof    profile

	trace     strings.Builder
	hash      hash64
	tailBuf   []string
	violation *Violation

	ledger
	logger *slog.Logger
}

type hash64 interface {
	io.Writer
	Sum64() uint64
}

// Run runs one simulation.
func Run(cfg Config) Result {
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d)), now: epoch,
		hash: fnv.New64a(), logger: slog.New(slog.DiscardHandler)}
	s.ledger.init()
	s.prof = s.newProfile()
	s.prof.limit, s.prof.perKey = limitsOf(cfg.Seed)
	s.store = s.newStore()
	s.tracef("seed %d: %s", cfg.Seed, s.prof)
	if err := s.setUp(); err != nil {
		s.fail("setting up: %v", err)
	} else {
		s.loop()
	}
	for _, n := range s.nodes {
		s.stopRuns(n)
	}
	res := Result{Seed: cfg.Seed, Steps: s.step, End: s.now.Sub(epoch), Hash: s.hash.Sum64(),
		Violation: s.violation, Roots: len(s.roots), Executions: len(s.known), Faults: s.faults,
		Takeovers: s.takeovers, EarlyTakeovers: s.earlyTakeovers, CrashBudgetFailures: s.crashBudgetFailures()}
	if cfg.KeepTrace {
		res.Trace = s.trace.String()
	}
	return res
}

// loop runs steps until the work is done, a violation, or the time limit.
func (s *sim) loop() {
	for s.violation == nil {
		ev := s.next()
		if ev == nil {
			s.fail("nothing left to do, and the work is not done")
			return
		}
		if s.now.Sub(epoch) > timeLimit {
			s.fail("liveness: the work is not done after %s of simulated time: %s", timeLimit, s.unfinished())
			return
		}
		s.step++
		s.runEvent(ev)
		if s.violation != nil {
			return
		}
		s.wakeDone()
		s.checkRuns()
		s.checkStep()
		if s.now.Sub(epoch) > faultWindow && s.allFinished() {
			s.tracef("all %d executions finished", len(s.known))
			s.checkEnd()
			return
		}
	}
}

// crashNow is the panic that crashes the executor whose step is running,
// in the middle of it (sim.afterCall).
type crashNow struct{}

// runEvent runs one step; an executor that crashes mid-step (crashNow)
// is dead when it returns.
func (s *sim) runEvent(ev *event) {
	s.cur = ev.node
	defer func() {
		n := s.cur // an action of the world may run as an executor's step
		s.cur = nil
		if r := recover(); r != nil {
			if _, ok := r.(crashNow); !ok || n == nil {
				panic(r)
			}
			s.tracef("%s crashed in the middle of %s", n, ev.what)
			s.kill(n)
		}
	}()
	if ev.node != nil {
		s.tracef("%s: %s", ev.node, ev.what)
	} else {
		s.tracef("%s", ev.what)
	}
	ev.fn()
}

// tracef appends one line to the trace.
func (s *sim) tracef(format string, args ...any) {
	line := fmt.Sprintf("%4d %9.3fms ", s.step, float64(s.now.Sub(epoch))/float64(time.Millisecond)) + fmt.Sprintf(format, args...) + "\n"
	_, _ = io.WriteString(s.hash, line)
	if s.cfg.KeepTrace {
		s.trace.WriteString(line)
	}
	if len(s.tailBuf) == tailLines {
		copy(s.tailBuf, s.tailBuf[1:])
		s.tailBuf = s.tailBuf[:tailLines-1]
	}
	s.tailBuf = append(s.tailBuf, line)
}

// fail records the first violation, with the trace that led to it.
func (s *sim) fail(format string, args ...any) {
	if s.violation != nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	s.tracef("VIOLATION: %s", msg)
	s.violation = &Violation{Seed: s.cfg.Seed, Step: s.step, At: s.now.Sub(epoch), Message: msg, Tail: strings.Join(s.tailBuf, "")}
}

// between returns a duration in [lo, hi).
func (s *sim) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)))
}

func (s *sim) chance(p float64) bool { return p > 0 && s.rng.Float64() < p }

// ctx is the context of the calls a step makes: nothing in a simulation
// waits, so it is never done.
func ctx() context.Context { return context.Background() }

// newStore makes the store with the simulation's hooks.
func (s *sim) newStore() *Store {
	st := newStore(s.cfg.Bugs)
	st.h = storeHooks{
		now:       s.storeNow,
		fault:     s.storeFault,
		trace:     s.tracef,
		handed:    s.handed,
		renewed:   s.renewed,
		recovered: s.recovered,
		applied:   s.applied,
		inserted:  s.inserted,
		publish:   s.publish,
		after:     s.afterCall,
	}
	return st
}

// storeNow is the time of a store call whose params carry p: the store's
// own clock (the simulated time), or, when the seed's store takes the
// executors' time, p.
func (s *sim) storeNow(p time.Time) time.Time {
	if s.prof.executorClocks && !p.IsZero() {
		return p
	}
	return s.now
}

// maxSkew is how far an executor's clock may be off.
func (s *sim) maxSkew() time.Duration {
	if s.cfg.MaxSkew > 0 {
		return s.cfg.MaxSkew
	}
	return skewBound / 2
}

// storeFault decides whether a store call fails, before or after it takes
// effect: only within the fault window, and only for the executors' calls
// (the client's enqueues, cancels and wakes fail too; its reads for the
// checks do not go through faults).
func (s *sim) storeFault(op string) fault {
	if n := s.cur; n != nil && n.fatalNext && (op == "claim" || op == "heartbeat" || op == "complete") {
		n.fatalNext = false
		return faultFatal
	}
	if s.cfg.NoFaults || s.now.Sub(epoch) > faultWindow || !s.chance(s.prof.storeFaults) {
		return faultNone
	}
	s.faults++
	if op != "get" && op != "get_by_sleep_key" && op != "list_children" && op != "next_due" && s.rng.IntN(2) == 0 {
		return faultAfter
	}
	return faultBefore
}

// afterCall crashes the executor whose step made the call, if a crash in
// the middle of its next step was decided.
func (s *sim) afterCall(op string) {
	if n := s.cur; n != nil && n.crashMidStep {
		n.crashMidStep = false
		s.tracef("%s crashes right after store %s", n, op)
		panic(crashNow{})
	}
}

// publish delivers a store event to one subscriber: at once to the
// client, later (or never, in the fault window) to an executor.
func (s *sim) publish(sub *subscriber, ev storage.Event) {
	n := s.nodeOf(sub.owner)
	if n == nil {
		sub.fn(ev)
		return
	}
	faulty := !s.cfg.NoFaults && s.now.Sub(epoch) <= faultWindow
	if faulty && s.chance(s.prof.dropEvents) {
		s.faults++
		s.tracef("event %s to %s dropped", eventString(ev), n)
		return
	}
	var delay time.Duration
	if faulty {
		delay = s.between(0, s.prof.eventDelay+1)
	}
	s.at(delay, n, "event "+eventString(ev), func() {
		sub.fn(ev)
		if ev.Ready {
			n.dispatchSoon()
		}
	})
}

func eventString(ev storage.Event) string {
	parts := []string{}
	if ev.Ready {
		parts = append(parts, "ready")
	}
	for _, id := range ev.Finished {
		parts = append(parts, "finished "+short(id))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
