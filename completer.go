package durable

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/durable-go/durable/storage"
)

// completer writes outcomes in batches: every outcome produced while a
// write is in flight goes into the next write, so one transaction carries
// many results (group commit). A failed write is retried with backoff; the
// guarded transitions make a replay of an already applied write a no-op.
type completer struct {
	e       *Executor
	mu      sync.Mutex
	queue   []pendingResult
	spare   []pendingResult
	signal  chan struct{}
	backlog atomic.Int64
	trs     []storage.Transition // write's buffer; only the completer's goroutine uses it
}

type pendingResult struct {
	h  *held
	tr storage.Transition
}

func newCompleter(e *Executor) *completer {
	return &completer{e: e, signal: make(chan struct{}, 1)}
}

// submit queues an outcome.
func (c *completer) submit(h *held, tr storage.Transition) {
	c.e.held.markSubmitted(h)
	c.mu.Lock()
	c.queue = append(c.queue, pendingResult{h: h, tr: tr})
	c.mu.Unlock()
	c.backlog.Add(1)
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// take removes every result from the queue, swapping in the spare buffer,
// so steady operation allocates no queues. An empty queue keeps its
// buffer.
func (c *completer) take() []pendingResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return nil
	}
	batch := c.queue
	c.queue, c.spare = c.spare[:0], nil
	return batch
}

// recycle offers a written batch's buffer as the next spare.
func (c *completer) recycle(batch []pendingResult) {
	clear(batch)
	c.mu.Lock()
	if c.spare == nil && cap(batch) <= 4*c.e.cfg.CompletionBatch {
		c.spare = batch[:0]
	}
	c.mu.Unlock()
}

// loop writes batches until the executor's background work stops, then
// writes what is left.
func (c *completer) loop() {
	defer c.e.loops.Done()
	for {
		select {
		case <-c.signal:
			// Let runs that are finishing add their results first: a
			// fast store would otherwise be written one result at a time.
			runtime.Gosched()
			c.flush(false)
		case <-c.e.bgStop:
			c.flush(true)
			return
		}
	}
}

// flush writes batches until the queue is empty. While stopping it gives
// up on a batch after a few failed tries: those claims lapse and are taken
// over (the at-least-once promise holds).
func (c *completer) flush(stopping bool) {
	limit := c.e.cfg.CompletionBatch
	for {
		batch := c.take()
		if len(batch) == 0 {
			return
		}
		for from := 0; from < len(batch); from += limit {
			c.write(batch[from:min(from+limit, len(batch))], stopping)
		}
		c.recycle(batch)
	}
}

// write writes one batch (at most CompletionBatch results). The
// transitions go to the store in a buffer reused from write to write.
func (c *completer) write(batch []pendingResult, stopping bool) {
	for i := range batch {
		c.trs = append(c.trs, batch[i].tr)
	}
	p := storage.CompleteParams{Transitions: c.trs}
	defer func() {
		clear(c.trs)
		c.trs = c.trs[:0]
	}()
	var results []storage.TransitionResult
	ambiguous := false
	for failures := 1; ; failures++ {
		ctx, cancel := c.e.storageCtx()
		p.Now = c.e.now()
		var err error
		results, err = c.e.store.Complete(ctx, p)
		cancel()
		if err == nil {
			break
		}
		ambiguous = true // the write may have been applied anyway
		if c.e.fatal(err) || errors.Is(err, storage.ErrClosed) || (stopping && failures >= 3) {
			c.e.log.Error("writing results failed; their executions will be run again after their leases lapse",
				slog.Int("results", len(batch)), slog.Any("error", err))
			c.done(batch, nil)
			return
		}
		c.e.log.Warn("writing results failed; retrying", slog.Int("results", len(batch)), slog.Any("error", err))
		if !c.pause(failures) {
			c.done(batch, nil)
			return
		}
	}
	if ambiguous {
		forgiveReplays(batch, results)
	}
	c.done(batch, results)
}

// forgiveReplays treats a duplicate-children error on a retried write as
// applied: the children's ids were made once, for this transition, so
// finding them stored means the earlier, failed-looking try committed. (A
// transition whose guard changes with it, like running -> waiting, simply
// does not apply again; a sequence's step, waiting -> waiting, does.)
func forgiveReplays(batch []pendingResult, results []storage.TransitionResult) {
	for i := range results {
		if len(batch[i].tr.Children) > 0 && errors.Is(results[i].Err, storage.ErrDuplicate) {
			results[i] = storage.TransitionResult{Applied: true}
		}
	}
}

// pause waits before a retry; false if the executor is being torn down
// hard.
func (c *completer) pause(failures int) bool {
	t := c.e.clock.NewTimer(backoff(failures, c.e.cfg.PollInterval))
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-c.e.runCtx.Done():
		return false
	}
}

// done settles a written batch: claims are forgotten, and a transition that
// failed deterministically (a child's sleeping key already taken) fails its
// execution instead.
func (c *completer) done(batch []pendingResult, results []storage.TransitionResult) {
	var retry []pendingResult
	for i, pr := range batch {
		if results != nil && results[i].Err != nil {
			retry = append(retry, pendingResult{h: pr.h, tr: spawnFailed(pr.tr, results[i].Err)})
			continue
		}
		c.e.held.remove(pr.h)
	}
	c.backlog.Add(-int64(len(batch)))
	for _, pr := range retry {
		c.submit(pr.h, pr.tr)
	}
	c.e.wakeIfStarved()
}

// spawnFailed turns a transition whose children could not be inserted into
// a non-retryable failure of the parent.
func spawnFailed(tr storage.Transition, err error) storage.Transition {
	kind := storage.ErrorKindGeneric
	if errors.Is(err, storage.ErrDuplicate) {
		kind = kindDuplicate
	}
	to := storage.StatusFailed
	if tr.From.Waiting() {
		to = storage.StatusFinalizeFailed
	}
	return storage.Transition{ID: tr.ID, Fence: tr.Fence, From: tr.From, To: to, Attempt: tr.Attempt, Iteration: tr.Iteration,
		Error: &storage.ErrorInfo{Kind: kind, Message: fmt.Sprintf("execution %s: spawning children failed: %v", tr.ID, err)}}
}
