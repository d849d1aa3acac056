package durable

import (
	"errors"
	"fmt"
	"time"

	"github.com/durable-go/durable/internal/completer"
	"github.com/durable-go/durable/storage"
)

// completions is the executor's end of the completer (package
// internal/completer), which writes outcomes in batches: submit marks the
// claim's outcome queued (a heartbeat that then finds its lease gone raced
// the completion), and each settled batch comes back to completed.
type completions struct {
	*completer.Completer[*held]
	held *heldSet
}

// newCompletions builds the executor's completer from its store, config,
// clock and logger.
func (e *Executor) newCompletions() completions {
	return completions{held: &e.held, Completer: completer.New(completer.Config[*held]{
		Complete:  e.store.Complete,
		BatchSize: e.cfg.CompletionBatch,
		Timeout:   e.cfg.StorageTimeout,
		Clock:     e.clock,
		Backoff:   func(failures int) time.Duration { return backoff(failures, e.cfg.PollInterval) },
		Logger:    e.log,
		Done:      e.completed,
		Fatal:     func(err error) { e.fatal(err) },
		Abandon:   e.runCtx.Done(),
	})}
}

// submit queues an outcome.
func (c completions) submit(h *held, tr storage.Transition) {
	c.held.markSubmitted(h)
	c.Submit(h, tr)
}

// completed settles a batch the completer wrote (or gave up on): claims are
// forgotten, failures are logged (logs.go), and a transition that failed
// deterministically (a child's sleeping key already taken) fails its
// execution instead.
func (e *Executor) completed(batch []completer.Result[*held]) {
	e.outcomesWritten(batch)
	freed := false
	for i := range batch {
		r := &batch[i]
		if errors.Is(r.Unwritten, completer.ErrStopped) {
			continue // submitted after the stop: Shutdown gives the claim back
		}
		if r.Err != nil {
			e.comp.submit(r.Handle, spawnFailed(r.Transition, r.Err))
			continue
		}
		if r.Unwritten == nil && r.Transition.Error != nil { // a success logs nothing
			e.logOutcome(r)
		}
		e.held.remove(r.Handle)
		freed = freed || r.Unwritten == nil && r.Handle.row != nil && e.paused.isLimited(r.Handle.row.Queue)
	}
	if freed {
		// A run of a limited queue ended in the store: its slot is free
		// now, not when the run returned (the dispatcher's claim then,
		// woken by the freed local slot, found the queue still full).
		e.wake()
	}
	e.capacity.wakeIfStarved()
}

// spawnFailed turns a transition whose children could not be inserted into
// a non-retryable failure of the parent.
func spawnFailed(tr storage.Transition, err error) storage.Transition {
	kind := storage.ErrorKindGeneric
	if errors.Is(err, storage.ErrDuplicate) {
		kind = storage.ErrorKindDuplicate
	}
	to := storage.StatusFailed
	if tr.From.Waiting() {
		to = storage.StatusFinalizeFailed
	}
	return storage.Transition{ID: tr.ID, Fence: tr.Fence, From: tr.From, To: to, Attempt: tr.Attempt, Iteration: tr.Iteration,
		Error: &storage.ErrorInfo{Kind: kind, Message: fmt.Sprintf("execution %s: spawning children failed: %v", tr.ID, err)}}
}
