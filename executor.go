package durable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/internal/startstop"
	"github.com/durable-go/durable/storage"
)

const (
	stateNew = iota
	stateStarted
	stateStopping
	stateStopped
)

// Executor registers tasks, enqueues executions and, once started, claims
// and runs them. Many executors (in one process or many) may share one
// store. All methods are safe for concurrent use.
type Executor struct {
	store storage.Store
	cfg   Config
	clock clock.Clock
	log   *slog.Logger
	codec Codec
	id    string

	mu      sync.Mutex
	tasks   map[string]*taskDef
	taskIDs []string // sorted snapshot for claims
	state   int

	wakeCh      chan struct{}   // dispatcher wake-up, capacity 1
	work        chan *activeRun // hands work to idle workers
	workersStop chan struct{}   // stops idle workers
	shutdownCh  chan struct{}   // closed when shutdown begins; runs see it
	runCtx      context.Context // done at a hard stop: the completer gives up retries
	hardStop    context.CancelCauseFunc

	dispatcher startstop.Base // the loop of dispatchLoop
	rounds     atomic.Uint64  // dispatch rounds done (tests wait on it)
	capacity   *capacity      // run slots, claim-ahead pacing, direct start's reservations
	leases     *leaseKeeper   // heartbeats and releases
	cleaner    *cleaner       // retention: deletes expired executions
	sched      *scheduler     // fires the schedules registered here (scheduler.go)
	hooks      hookSet        // Config.Hooks (hooks.go)
	mw         middlewares    // Config.Middleware (middleware.go)
	held       heldSet
	comp       completions
	waiters    waiterSet
	ids        *idGen

	rndMu sync.Mutex
	rnd   *rand.Rand

	unsubscribe func()

	// paused is this executor's copy of the paused queues (queues.go).
	paused pausedSet

	doneCh   chan struct{} // closed when the executor has stopped
	fatalMu  sync.Mutex
	fatalErr error // the fatal store error that stopped the executor

	// onWorker, when set, takes the runs runOnWorker would hand to a
	// worker goroutine (the simulator's scheduler: simsteps.go).
	onWorker func(*activeRun)
	// onFatal, when set, takes the stop a fatal store error begins, which
	// fatal would run on a goroutine of its own (the simulator's
	// scheduler: simsteps.go).
	onFatal func()
}

// New returns an executor on store. It validates cfg and subscribes to the
// store's events; call Start to begin running executions. Enqueue, Get and
// Wait work before Start.
func New(store storage.Store, cfg Config) (*Executor, error) {
	if isNil(store) {
		return nil, fmt.Errorf("%w: nil store (%T)", ErrInvalidOption, store)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	seed := cryptoSeed()
	hooks := newHookSet(cfg.Hooks)
	store = timeStore(store, hooks.storageCall)
	e := &Executor{
		hooks:       hooks,
		mw:          newMiddlewares(cfg.Middleware),
		store:       store,
		cfg:         cfg,
		clock:       cfg.Clock,
		codec:       cfg.Codec,
		tasks:       map[string]*taskDef{},
		wakeCh:      make(chan struct{}, 1),
		work:        make(chan *activeRun),
		workersStop: make(chan struct{}),
		shutdownCh:  make(chan struct{}),
		doneCh:      make(chan struct{}),
		rnd:         rand.New(rand.NewPCG(seed[0], seed[1])),
	}
	e.ids = newIDGen(cfg.Clock, seed)
	e.id = cfg.ExecutorID
	if e.id == "" {
		e.id = "ex_" + e.ids.random(12)
	}
	e.log = cfg.Logger.With(slog.String("component", "durable"), slog.String("executor", e.id))
	e.runCtx, e.hardStop = context.WithCancelCause(context.Background())
	e.held.m = map[string]*held{}
	e.waiters.m = map[string]*waitEntry{}
	e.comp = e.newCompletions()
	e.capacity = newCapacity(cfg.Concurrency, cfg.ClaimAhead, cfg.ClaimBatch, e.wake, e.behind,
		func(r *activeRun) bool { return e.held.startable(&r.held) })
	e.leases = newLeaseKeeper(leaseKeeperConfig{
		Heartbeat: store.Heartbeat,
		Release:   store.Release,
		Held:      e.held.leases,
		Lost:      e.leasesLost,
		Fatal:     e.fatal,
		Lease:     cfg.LeaseDuration,
		Interval:  cfg.LeaseDuration / 3,
		Timeout:   cfg.StorageTimeout,
		Clock:     cfg.Clock,
		Logger:    e.log,
	})
	e.cleaner = e.newCleaner()
	e.sched = newScheduler(e)
	e.unsubscribe = store.Subscribe(e.onEvent)
	return e, nil
}

// leasesLost forgets the claims of leases a heartbeat found lost and
// cancels their runs; it returns how many were still running.
func (e *Executor) leasesLost(lost []storage.Lease) int {
	live := e.held.lose(lost, ErrLeaseLost)
	if live > 0 {
		callAll(e.hooks.leasesLost, live)
	}
	return live
}

// newCleaner returns the retention cleaner.
func (e *Executor) newCleaner() *cleaner {
	return newCleaner(cleanerConfig{DeleteExpired: e.store.DeleteExpired, Lead: e.store.Lead, Owner: e.id,
		Retention: e.cfg.Retention, Timeout: e.cfg.StorageTimeout, Fatal: e.fatal, Clock: e.clock, Logger: e.log})
}

// errNilExecutor is the error of a method called on a nil *Executor.
var errNilExecutor = fmt.Errorf("%w: nil *Executor (was the error of New ignored?)", ErrInvalidOption)

// isNil reports whether v is nil or an interface holding a nil pointer
// (or map, slice, func, chan), on which a method call would panic.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// ID returns the executor's id.
func (e *Executor) ID() string {
	if e == nil {
		return ""
	}
	return e.id
}

func (e *Executor) register(d *taskDef) error {
	e.mu.Lock()
	if e.state >= stateStopping {
		e.mu.Unlock()
		return fmt.Errorf("%w: cannot register task %s", ErrShutdown, d.id)
	}
	if _, ok := e.tasks[d.id]; ok {
		e.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrDuplicateTask, d.id)
	}
	e.tasks[d.id] = d
	ids := append(slices.Clone(e.taskIDs), d.id)
	slices.Sort(ids)
	e.taskIDs = ids
	started := e.state == stateStarted
	e.mu.Unlock()
	if started && d.defaults.queue != "" {
		// Registered after Start: its queue is made known now (Start
		// registered those of the tasks before it).
		return e.registerQueue(d.defaults.queue)
	}
	return nil
}

func (e *Executor) lookup(id string) *taskDef {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tasks[id]
}

func (e *Executor) registeredIDs() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.taskIDs
}

func (e *Executor) checkOpen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state >= stateStopping {
		return e.shutdownErr()
	}
	return nil
}

// shutdownErr is ErrShutdown, with the fatal store error that stopped the
// executor, if one did.
func (e *Executor) shutdownErr() error {
	if err := e.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrShutdown, err)
	}
	return ErrShutdown
}

// Start begins claiming and running executions of the registered tasks. It
// returns at once; the work goes on in the background until Shutdown. With a
// stable Config.ExecutorID, it first takes back the work a previous
// incarnation of this executor held. Starting twice is a no-op; starting
// after Shutdown returns ErrShutdown.
//
// A store error after which the store cannot be used (one wrapping
// ErrStoreFailed, such as a corrupt SQLite file) stops the executor as a
// Shutdown would, without waiting for its runs: see Err and Done.
func (e *Executor) Start(ctx context.Context) error {
	if e == nil {
		return errNilExecutor
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state {
	case stateStarted:
		return nil
	case stateStopping, stateStopped:
		return e.shutdownErr()
	}
	if err := e.sched.register(ctx); err != nil {
		return err // "durable: registering schedules in the store: ..."
	}
	if err := e.begin(ctx); err != nil {
		return err
	}
	e.dispatcher.Start(e.dispatchLoop)
	e.comp.Start()
	e.leases.Start()
	e.cleaner.Start()
	e.sched.Start()
	return nil
}

// begin is what Start does before it starts the loops: with a stable
// Config.ExecutorID it takes back the work of a previous incarnation, then
// marks the executor started and opens its run slots. e.mu is held.
func (e *Executor) begin(ctx context.Context) error {
	if e.cfg.ExecutorID != "" {
		n, err := e.store.Recover(ctx, storage.RecoverParams{Now: e.clock.Now(), ExecutorID: e.id})
		if err != nil {
			return fmt.Errorf("durable: start: taking back the work of executor %s: %w", e.id, err)
		}
		if n > 0 {
			e.log.Info("took back work of a previous incarnation", slog.Int("executions", n))
		}
	}
	if err := e.registerQueues(ctx); err != nil {
		return err
	}
	e.state = stateStarted
	e.capacity.open()
	return nil
}

// Shutdown stops the executor gracefully: it stops claiming at once, closes
// the ShuttingDown channel of every run, and waits for the runs to return
// until ctx is done. Runs still going then have their contexts cancelled,
// and their claims are released so another executor can take them at once
// (their eventual results are discarded). Results already produced are
// written before Shutdown returns. Shutdown is idempotent; Get, Wait and
// Cancel keep working after it, Enqueue and Wake return ErrShutdown. It does
// not close the store. It returns nil, or Err when the executor met a fatal
// store error.
func (e *Executor) Shutdown(ctx context.Context) error {
	if e == nil {
		return errNilExecutor
	}
	if !e.beginShutdown() {
		return e.Err()
	}
	e.stopLoops()
	e.waitRuns(ctx) // the runs return, or are cancelled once ctx is done
	return e.endShutdown()
}

// stopLoops stops the loops that start work: the dispatcher claims
// nothing more, the cleaner deletes nothing more, the scheduler enqueues
// no more ticks.
func (e *Executor) stopLoops() {
	e.dispatcher.Stop()
	e.cleaner.Stop()
	e.sched.Stop()
}

// endShutdown ends a shutdown once the runs returned or were given up on.
func (e *Executor) endShutdown() error {
	e.leases.Stop()        // no more heartbeats
	e.comp.Stop()          // every result produced is written
	e.leases.giveBackAll() // the claims of the runs given up on go back
	e.hardStop(ErrShutdown)
	close(e.workersStop)
	e.unsubscribe()
	e.mu.Lock()
	e.state = stateStopped
	e.mu.Unlock()
	close(e.doneCh)
	return e.Err()
}

// beginShutdown begins the shutdown, once: it closes the executor to new
// work (Enqueue, Wake, Start), closes the ShuttingDown channel of the runs,
// and closes the capacity (no direct start, no queued run starts). It
// reports false if shutdown had begun already. Every step after it works
// whether Start ran or not.
func (e *Executor) beginShutdown() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state >= stateStopping {
		return false
	}
	e.state = stateStopping
	// Capacity closes first: a run that ends on seeing shutdownCh must not
	// hand its slot to a queued run, which would then start.
	e.capacity.close()
	close(e.shutdownCh)
	return true
}

// Done returns a channel that is closed when the executor has stopped:
// Shutdown has finished, or the executor stopped itself on a fatal store
// error (then Err says which). On a nil *Executor it is closed: nothing
// runs.
func (e *Executor) Done() <-chan struct{} {
	if e == nil {
		return closedChan
	}
	return e.doneCh
}

// closedChan is the Done channel of a nil *Executor.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Err returns the store error that stopped the executor, or nil. An error
// of the store after which it cannot be used safely and retrying cannot
// help (it wraps ErrStoreFailed: a corrupt SQLite file, say) stops the
// executor: it claims nothing more, cancels its runs (their results are
// discarded; their executions run again once the store is repaired and
// their leases lapse), logs the error, and shuts down. Err then returns
// that error, Done is closed once the stop is complete, and Start, Enqueue
// and Wake return ErrShutdown wrapping it. Other store errors (a timeout,
// a lost connection) are retried and never stop the executor.
func (e *Executor) Err() error {
	if e == nil {
		return errNilExecutor
	}
	e.fatalMu.Lock()
	defer e.fatalMu.Unlock()
	return e.fatalErr
}

// fatal reports whether err is a store error after which the store cannot
// be used; if so, it stops the executor, once.
func (e *Executor) fatal(err error) bool {
	if !errors.Is(err, ErrStoreFailed) {
		return false
	}
	e.fatalMu.Lock()
	first := e.fatalErr == nil
	if first {
		e.fatalErr = err
	}
	e.fatalMu.Unlock()
	if first {
		e.log.Error("the store failed and cannot be used: stopping the executor", slog.Any("error", err))
		e.held.abandonAll(err)
		if e.onFatal != nil {
			e.onFatal()
			return true
		}
		go func() {
			ctx, cancel := e.storageCtx()
			defer cancel()
			_ = e.Shutdown(ctx)
		}()
	}
	return true
}

// waitRuns waits for local runs to return until ctx is done, then cancels
// the rest and marks their claims for release. The capacity is closed and
// the dispatcher stopped: no run starts any more.
func (e *Executor) waitRuns(ctx context.Context) {
	select {
	case <-e.capacity.idle():
		return
	case <-ctx.Done():
	}
	n := e.held.abandonAll(fmt.Errorf("%w: deadline passed", ErrShutdown))
	e.log.Warn("shutdown deadline passed: cancelled runs and released their claims", slog.Int("runs", n))
	e.hardStop(ErrShutdown)
}

func (e *Executor) storageCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.cfg.StorageTimeout)
}

// onEvent receives the store's events; it must not block.
func (e *Executor) onEvent(ev storage.Event) {
	if ev.Ready {
		e.wake()
	}
	if len(ev.Finished) > 0 {
		e.waiters.notify(ev.Finished)
		e.held.interrupt(ev.Finished, ErrCancelled)
	}
}

func (e *Executor) wake() {
	select {
	case e.wakeCh <- struct{}{}:
	default:
	}
}

func (e *Executor) now() time.Time { return e.clock.Now() }

func (e *Executor) random() float64 {
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	return e.rnd.Float64()
}

// encodePayload encodes v and enforces the size limit.
func (e *Executor) encodePayload(v any, what string) ([]byte, error) {
	return encodePayload(e.codec, e.cfg.MaxPayloadBytes, v, what)
}

func (e *Executor) decode(data []byte, v any) error {
	if err := e.codec.Decode(data, v); err != nil {
		return err
	}
	if s, ok := v.(interface{ setCodec(Codec) }); ok {
		s.setCodec(e.codec)
	}
	return nil
}

// retryStorage runs op up to 4 times with a short backoff while it fails
// with anything but a definite answer (not found, duplicate, closed) or a
// context error.
func (e *Executor) retryStorage(ctx context.Context, op func() error) error {
	var err error
	for i := range 4 {
		if err = op(); err == nil || definite(err) || ctx.Err() != nil {
			return err
		}
		if !e.sleep(ctx, time.Duration(10<<i)*time.Millisecond) {
			return errors.Join(err, ctx.Err())
		}
	}
	return err
}

func definite(err error) bool {
	return errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrDuplicate) ||
		errors.Is(err, storage.ErrClosed) || errors.Is(err, ErrStoreFailed) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// sleep waits d on the engine's clock; false if ctx ended first.
func (e *Executor) sleep(ctx context.Context, d time.Duration) bool {
	t := e.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	}
}
