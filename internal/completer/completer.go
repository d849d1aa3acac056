// Package completer writes the outcomes of runs to the store in batches
// (group commit): every transition submitted while a write is in flight
// goes into the next write, so one transaction carries many results.
//
// A failed write is retried with backoff until it is written: the
// transitions are guarded by the claim's fence and status, so a replay of a
// write that was applied although it looked failed (an ambiguous commit)
// changes nothing, and the completer forgives what such a replay reports
// (see Result.Replayed). It gives up on a batch only when the store failed
// for good (storage.ErrFatal, reported to Config.Fatal), the store is
// closed, Config.Abandon is closed, or, while stopping, after a few tries:
// the claims of a batch given up lapse and are taken over (at-least-once).
//
// The package knows nothing of the executor: a submission carries an
// opaque handle H (the executor's claim) that comes back with its result.
// Steady operation allocates nothing in the completer: the queue, its
// spare and the transitions handed to the store are buffers reused from
// write to write.
package completer

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/internal/startstop"
	"github.com/durable-go/durable/storage"
)

// ErrStopped is the Unwritten error of a transition submitted after the
// completer stopped.
var ErrStopped = errors.New("completer: stopped")

// stopTries is how many times a write is tried while stopping before its
// batch is given up.
const stopTries = 3

// Config is what a Completer depends on. Every field but Abandon is
// required.
type Config[H any] struct {
	// Complete writes one batch (storage.Store.Complete): p holds the
	// transitions of batch, in order, which it may read to decide how to
	// write them. It must keep neither p.Transitions nor batch: the
	// completer reuses both.
	Complete func(ctx context.Context, p storage.CompleteParams, batch []Result[H]) ([]storage.TransitionResult, error)
	// BatchSize is the most transitions written in one call (> 0).
	BatchSize int
	// Timeout bounds each call of Complete.
	Timeout time.Duration
	// Clock gives each write its time and paces retries.
	Clock clock.Clock
	// Backoff is how long to wait before retrying a write that failed
	// failures times (failures >= 1).
	Backoff func(failures int) time.Duration
	// Logger logs failed writes.
	Logger *slog.Logger
	// Done receives each batch once it is settled: written, or given up.
	// Every submission comes back exactly once. It is called on the
	// completer's goroutine, one batch at a time (a submission after Stop
	// is settled at once, on the submitter's goroutine); it may call
	// Submit, but not Stop. It must not keep the slice: the completer
	// reuses it.
	Done func(batch []Result[H])
	// Fatal is told of a write error wrapping storage.ErrFatal, after
	// which the completer gives up on that batch.
	Fatal func(err error)
	// Abandon, once closed, ends the wait before a retry: the batch waiting
	// is given up (a hard stop). Nil: never.
	Abandon <-chan struct{}
}

// Result is one submission and what became of it.
type Result[H any] struct {
	Handle     H
	Transition storage.Transition
	// Applied is true when the transition changed its row. After a try
	// that failed and may have been applied anyway, a later try that finds
	// the transition not applied, or its children already inserted, counts
	// it as applied (Replayed): the guard cannot tell the replay of an
	// applied transition from one that lost its claim meanwhile.
	Applied bool
	// Replayed is true when Applied was inferred so.
	Replayed bool
	// Err is the store's deterministic refusal of this transition (a
	// child's id or sleeping key taken: storage.ErrDuplicate): nothing
	// changed for it.
	Err error
	// Unwritten is the error of the last try when the completer gave up on
	// writing the batch (or ErrStopped): the transition may or may not
	// have been applied, and its claim lapses if not.
	Unwritten error
	// Now is the time of the write that settled the transition
	// (CompleteParams.Now, from which the store set its times: a retry's
	// DueAt is Now + Delay); zero when it was not written. For a Replayed
	// transition it is the last try's: the earlier try that applied it
	// used an earlier time.
	Now time.Time
}

// Completer queues submitted transitions and writes them in batches on its
// own goroutine, from Start until Stop.
type Completer[H any] struct {
	cfg Config[H]

	mu     sync.Mutex
	queue  []Result[H]
	spare  []Result[H]
	closed bool // the final flush is over: a submission is given up at once

	signal  chan struct{} // capacity 1: something was queued
	backlog atomic.Int64
	trs     []storage.Transition // a write's buffer; the writing goroutine's only

	loop startstop.Base
}

// New returns a completer; it writes nothing until Start.
func New[H any](cfg Config[H]) *Completer[H] {
	return &Completer[H]{cfg: cfg, signal: make(chan struct{}, 1)}
}

// Start starts the writing goroutine. Starting twice, or after Stop, does
// nothing.
func (c *Completer[H]) Start() { c.loop.Start(c.run) }

// Stop writes everything queued (giving up on a batch after a few failed
// tries) and returns once that is done. Later submissions are given up at
// once, with ErrStopped. Stop is idempotent, may be called before Start
// (it then writes on the caller's goroutine), and must not be called from
// Config.Done.
func (c *Completer[H]) Stop() { c.loop.StopOr(c.final) }

// Backlog is how many submissions are queued or being written.
func (c *Completer[H]) Backlog() int64 { return c.backlog.Load() }

// Submit queues a transition; its result comes back to Config.Done with
// h.
func (c *Completer[H]) Submit(h H, tr storage.Transition) {
	c.backlog.Add(1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.backlog.Add(-1)
		c.cfg.Done([]Result[H]{{Handle: h, Transition: tr, Unwritten: ErrStopped}})
		return
	}
	c.queue = append(c.queue, Result[H]{Handle: h, Transition: tr})
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// run writes batches until Stop, then writes what is left.
func (c *Completer[H]) run(stop <-chan struct{}) {
	for {
		select {
		case <-c.signal:
			// Let runs that are finishing add their results first: a
			// fast store would otherwise be written one result at a time.
			runtime.Gosched()
			c.flush(false)
		case <-stop:
			c.final()
			return
		}
	}
}

// final writes what is queued, stopping, and closes the queue.
func (c *Completer[H]) final() { c.flush(true) }

// take removes every submission from the queue, swapping in the spare
// buffer, so steady operation allocates no queues. An empty queue keeps
// its buffer; when final, it is closed for good.
func (c *Completer[H]) take(final bool) []Result[H] {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		if final {
			c.closed = true
		}
		return nil
	}
	batch := c.queue
	c.queue, c.spare = c.spare[:0], nil
	return batch
}

// recycle offers a settled batch's buffer as the next spare.
func (c *Completer[H]) recycle(batch []Result[H]) {
	clear(batch)
	c.mu.Lock()
	if c.spare == nil && cap(batch) <= 4*c.cfg.BatchSize {
		c.spare = batch[:0]
	}
	c.mu.Unlock()
}

// flush writes batches until the queue is empty. While stopping it gives
// up on a batch after a few failed tries.
func (c *Completer[H]) flush(stopping bool) {
	limit := c.cfg.BatchSize
	for {
		batch := c.take(stopping)
		if len(batch) == 0 {
			return
		}
		for from := 0; from < len(batch); from += limit {
			c.write(batch[from:min(from+limit, len(batch))], stopping)
		}
		c.recycle(batch)
	}
}

// write writes one batch (at most BatchSize submissions), fills in its
// results and settles it. The transitions go to the store in a buffer
// reused from write to write.
func (c *Completer[H]) write(batch []Result[H], stopping bool) {
	for i := range batch {
		c.trs = append(c.trs, batch[i].Transition)
	}
	p := storage.CompleteParams{Transitions: c.trs}
	defer func() {
		clear(c.trs)
		c.trs = c.trs[:0]
	}()
	ambiguous := false // a try failed: it may have been applied anyway
	for failures := 1; ; failures++ {
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
		p.Now = c.cfg.Clock.Now()
		results, err := c.cfg.Complete(ctx, p, batch)
		cancel()
		if err == nil {
			c.written(batch, results, p.Now, ambiguous)
			break
		}
		ambiguous = true
		fatal := errors.Is(err, storage.ErrFatal)
		if fatal {
			c.cfg.Fatal(err)
		}
		if fatal || errors.Is(err, storage.ErrClosed) || (stopping && failures >= stopTries) {
			c.cfg.Logger.Error("writing results failed; their executions will be run again after their leases lapse",
				slog.Int("results", len(batch)), slog.Any("error", err))
			unwritten(batch, err)
			break
		}
		c.cfg.Logger.Warn("writing results failed; retrying", slog.Int("results", len(batch)), slog.Any("error", err))
		if !c.pause(failures) {
			unwritten(batch, err)
			break
		}
	}
	c.backlog.Add(-int64(len(batch)))
	c.cfg.Done(batch)
}

// written records the store's answers. After an ambiguous failure, an
// answer of not applied, or a duplicate-children error, is forgiven: the
// earlier try applied the transition (the children's ids were made once,
// for this transition, so finding them stored means it committed; a
// transition whose guard changes with it, like running -> waiting, simply
// does not apply again).
func (c *Completer[H]) written(batch []Result[H], results []storage.TransitionResult, now time.Time, ambiguous bool) {
	for i := range batch {
		r := &batch[i]
		r.Applied, r.Err, r.Now = results[i].Applied, results[i].Err, now
		if !ambiguous || r.Applied {
			continue
		}
		if r.Err == nil || (len(r.Transition.Children) > 0 && errors.Is(r.Err, storage.ErrDuplicate)) {
			r.Applied, r.Replayed, r.Err = true, true, nil
		}
	}
}

func unwritten[H any](batch []Result[H], err error) {
	for i := range batch {
		batch[i].Unwritten = err
	}
}

// pause waits before a retry; false if Abandon was closed.
func (c *Completer[H]) pause(failures int) bool {
	t := c.cfg.Clock.NewTimer(c.cfg.Backoff(failures))
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-c.cfg.Abandon:
		return false
	}
}

// Flush writes everything queued on the caller's goroutine and returns
// once it is written (retrying failed writes as the loop does). It is for
// a completer that is never started: the deterministic simulator
// (internal/sim) writes each batch when its scheduler says so.
func (c *Completer[H]) Flush() { c.flush(false) }
