package durable

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// QueueInfo describes a queue known to the store: one an executor serves
// (Config.Queues), a task names (WithQueue at registration), or the
// default queue.
type QueueInfo struct {
	Name string
	// Paused queues' executions are not claimed by any executor until the
	// queue is resumed.
	Paused bool
	// Concurrency is the queue's global concurrency limit (SetQueueLimit);
	// 0 is none.
	Concurrency int
	// PerKey is the queue's concurrency limit per key, Rate and Per its
	// rate limit (SetQueueLimit); 0 is none.
	PerKey int
	Rate   int
	Per    time.Duration
	// UpdatedAt is when the queue was last registered, paused, resumed or
	// limited.
	UpdatedAt time.Time
}

// QueueLimit is a queue's limits across every executor on the store. A
// field left 0 is no limit of that kind.
type QueueLimit struct {
	// Concurrency is the most executions of the queue that run at once,
	// across every executor in every process on the store; 0 is no limit.
	// At most storage.MaxConcurrencyLimit.
	Concurrency int
	// PerKey is the most executions of the queue with one concurrency key
	// (WithConcurrencyKey, WithConcurrencyKeyFunc) that run at once,
	// across every process; executions without a key are not limited by
	// it. 0 is no limit; at most storage.MaxConcurrencyLimit.
	PerKey int
	// Rate is the most executions of the queue started (claimed) per
	// window of Per, across every process: a fixed window that opens at
	// the first start after the previous one closed, so up to Rate start
	// at once and up to 2*Rate within any span of Per that straddles two
	// windows (docs/semantics.md, "Queue limits"). Both 0 for no rate
	// limit; Rate at most storage.MaxRateLimit, Per 1 ms to 366 days, in
	// whole microseconds.
	Rate int
	Per  time.Duration
}

// limited reports whether l sets any limit.
func (l QueueLimit) limited() bool {
	return l.Concurrency > 0 || l.PerKey > 0 || l.Rate > 0
}

// params returns the store's parameters setting queue name's limits to l.
func (l QueueLimit) params(now time.Time, name string) storage.LimitControlParams {
	return storage.LimitControlParams{Now: now, Kind: storage.ControlQueue, Name: name,
		Concurrency: l.Concurrency, PerKey: l.PerKey, Rate: l.Rate, Per: l.Per}
}

// SetQueueLimit sets a queue's limits in the store, all of them at once,
// for every process: from the moment it returns, no claim starts an
// execution of the queue while Concurrency of them are running (counted in
// the store, whichever executor runs them), nor one whose concurrency key
// has PerKey running, nor more than Rate per window of Per; a field left 0
// removes that limit. It reports whether the limits changed (a change of
// the rate limit opens a new window). An unknown queue is an error wrapping ErrNotFound; a limit out
// of range, one wrapping ErrInvalidOption. See docs/semantics.md, "Queue
// limits", for what counts as running: an execution whose executor died
// holds its slot until another executor takes it over.
//
// One exception, bounded in time, as for PauseQueue: an executor that
// enqueues into a queue it serves while it has free slots starts the
// execution itself, without a claim, unless it knows the queue to be
// limited; it learns of a limit set in another process when it next reads
// the queues, within Config.PollInterval.
func (e *Executor) SetQueueLimit(ctx context.Context, name string, limit QueueLimit) (bool, error) {
	if e == nil {
		return false, errNilExecutor
	}
	p := limit.params(e.now(), name)
	if err := storage.ValidateLimitControl(&p); err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	changed, err := e.store.LimitControl(ctx, p)
	if errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("%w: queue %q: no executor serves it and no task names it", ErrNotFound, name)
	}
	if err != nil {
		return false, err
	}
	e.paused.limit(name, limit.limited())
	return changed, nil
}

// Queues lists the queues known to the store, by name.
func (e *Executor) Queues(ctx context.Context) ([]QueueInfo, error) {
	if e == nil {
		return nil, errNilExecutor
	}
	cs, err := e.store.ListControls(ctx, storage.ListControlsParams{Kind: storage.ControlQueue})
	if err != nil {
		return nil, err
	}
	out := make([]QueueInfo, len(cs))
	for i, c := range cs {
		out[i] = QueueInfo{Name: c.Name, Paused: c.Paused, Concurrency: c.Concurrency,
			PerKey: c.PerKey, Rate: c.Rate, Per: c.Per, UpdatedAt: c.UpdatedAt}
	}
	return out, nil
}

// PauseQueue pauses a queue in the store: from the moment it returns, no
// executor in any process claims the queue's executions until
// ResumeQueue; runs already started go on. It reports whether the queue was
// running before. An unknown queue is an error wrapping ErrNotFound.
//
// One exception, bounded in time: an executor that enqueues into a queue
// it serves while it has free slots starts the execution itself (direct
// start, see Config.Concurrency), and learns of a pause made in another
// process only when it next reads the queues, within Config.PollInterval.
func (e *Executor) PauseQueue(ctx context.Context, name string) (bool, error) {
	return e.pauseQueue(ctx, name, true)
}

// ResumeQueue resumes a paused queue; its due executions are claimed at
// once. It reports whether the queue was paused. An unknown queue is an
// error wrapping ErrNotFound.
func (e *Executor) ResumeQueue(ctx context.Context, name string) (bool, error) {
	return e.pauseQueue(ctx, name, false)
}

func (e *Executor) pauseQueue(ctx context.Context, name string, paused bool) (bool, error) {
	if e == nil {
		return false, errNilExecutor
	}
	if err := storage.ValidateQueueName(name); err != nil {
		return false, fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	changed, err := e.store.PauseControl(ctx, storage.PauseControlParams{
		Now: e.now(), Kind: storage.ControlQueue, Name: name, Paused: paused})
	if errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("%w: queue %q: no executor serves it and no task names it", ErrNotFound, name)
	}
	if err != nil {
		return false, err
	}
	e.paused.set(name, paused)
	return changed, nil
}

// knownQueues is what an executor registers in the store at Start: the
// default queue, its Config.Queues and the queues its tasks name. e.mu is
// held.
func (e *Executor) knownQueues() []string {
	names := []string{storage.DefaultQueue}
	names = append(names, e.cfg.Queues...)
	for name := range e.cfg.QueueLimits {
		names = append(names, name)
	}
	for _, d := range e.tasks {
		if d.defaults.queue != "" {
			names = append(names, d.defaults.queue)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// registerQueue registers the queue of a task registered after Start.
func (e *Executor) registerQueue(name string) error {
	ctx, cancel := e.storageCtx()
	defer cancel()
	if err := e.putQueues(ctx, []string{name}); err != nil {
		return fmt.Errorf("durable: registering queue %q: %w", name, err)
	}
	return nil
}

// putQueues registers the queues named in the store's controls.
func (e *Executor) putQueues(ctx context.Context, names []string) error {
	cs := make([]storage.Control, len(names))
	for i, n := range names {
		cs[i] = storage.Control{Kind: storage.ControlQueue, Name: n}
	}
	return e.store.RegisterControls(ctx, storage.RegisterControlsParams{Now: e.now(), Controls: cs})
}

// registerQueues registers the executor's queues in the store and reads
// which are paused; Start calls it with e.mu held.
func (e *Executor) registerQueues(ctx context.Context) error {
	names := e.knownQueues()
	if err := e.putQueues(ctx, names); err != nil {
		return fmt.Errorf("durable: start: registering queues %v: %w", names, err)
	}
	for _, name := range slices.Sorted(maps.Keys(e.cfg.QueueLimits)) {
		p := e.cfg.QueueLimits[name].params(e.now(), name)
		if _, err := e.store.LimitControl(ctx, p); err != nil {
			return fmt.Errorf("durable: start: setting the limits of queue %q: %w", name, err)
		}
	}
	return e.readPaused(ctx)
}

// readPaused refreshes the executor's copy of the paused and the limited
// queues, which decides direct starts only (claims ask the store).
func (e *Executor) readPaused(ctx context.Context) error {
	cs, err := e.store.ListControls(ctx, storage.ListControlsParams{Kind: storage.ControlQueue})
	if err != nil {
		return err
	}
	var paused, limited []string
	for _, c := range cs {
		if c.Paused {
			paused = append(paused, c.Name)
		}
		if c.Limited() {
			limited = append(limited, c.Name)
		}
	}
	e.paused.reset(paused, limited)
	return nil
}

// refreshPaused reads the paused queues again when the executor's copy is
// PollInterval old; called by the dispatch loop. A failed read keeps the
// copy (claims do not depend on it).
func (e *Executor) refreshPaused() {
	now := e.clock.Now()
	if now.Sub(e.paused.read) < e.cfg.PollInterval {
		return
	}
	e.paused.read = now
	ctx, cancel := e.storageCtx()
	defer cancel()
	if err := e.readPaused(ctx); err != nil {
		e.log.Debug("reading the paused queues failed", "error", err)
	}
}

// serves reports whether this executor claims from queue q (stored form)
// and does not know it to be paused or limited: whether it may start an
// execution of q directly (an execution of a limited queue starts only
// through a claim, which counts the queue's running executions).
func (e *Executor) serves(q string) bool {
	q = storage.NormalizeQueue(q)
	if len(e.cfg.Queues) > 0 && !slices.Contains(e.cfg.Queues, q) {
		return false
	}
	return !e.paused.has(q)
}

// pausedSet is an executor's copy of the paused queues and of the limited
// ones.
type pausedSet struct {
	mu      sync.RWMutex
	names   []string
	limited []string
	// read is when the dispatch loop last read them (its goroutine only).
	read time.Time
}

// has reports whether queue q is paused or limited.
func (p *pausedSet) has(q string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Contains(p.names, q) || slices.Contains(p.limited, q)
}

// isLimited reports whether queue q is limited.
func (p *pausedSet) isLimited(q string) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.limited) > 0 && slices.Contains(p.limited, q)
}

// anyLimited reports whether some queue is limited.
func (p *pausedSet) anyLimited() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return len(p.limited) > 0
}

// limit records whether queue q is limited.
func (p *pausedSet) limit(q string, limited bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.limited = withOrWithout(p.limited, q, limited)
}

func (p *pausedSet) set(q string, paused bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.names = withOrWithout(p.names, q, paused)
}

// withOrWithout returns names with q in it once when in, without it
// otherwise.
func withOrWithout(names []string, q string, in bool) []string {
	i := slices.Index(names, q)
	switch {
	case in && i < 0:
		return append(names, q)
	case !in && i >= 0:
		return slices.Delete(names, i, i+1)
	}
	return names
}

func (p *pausedSet) reset(paused, limited []string) {
	p.mu.Lock()
	p.names, p.limited = paused, limited
	p.mu.Unlock()
}
