package durable

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
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
		Complete:  e.completeBatch,
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
	}
	e.capacity.wakeIfStarved()
}

// completeBatch writes a batch of outcomes. When some of them end runs of
// limited queues and the store can claim in the same round trip
// (storage.CompleteClaimer: PostgreSQL), it claims from those queues
// there, at most as many rows as the batch ends runs of them (and as this
// executor may claim now): the slots the batch frees in the store are
// taken again at once, not after a round trip of the dispatcher's, which
// with short tasks is most of the time a slot spends free. When another
// process's claim found the queue full, the store leaves the slots to it
// instead (its turn; see docs/semantics.md). The claimed rows are admitted
// as the dispatcher's are. When the batch frees slots of limited queues
// and claims none, the dispatcher is woken once it is written: the slots
// are free now, not when the runs returned (the dispatcher's claim then,
// woken by the freed local slots, found the queue still full).
func (e *Executor) completeBatch(ctx context.Context, p storage.CompleteParams, batch []completer.Result[*held]) ([]storage.TransitionResult, error) {
	queues, freed := e.limitedQueuesOf(batch)
	if freed == 0 {
		return e.store.Complete(ctx, p)
	}
	results, claimed, err := e.completeClaim(ctx, p, queues, freed)
	if err == nil && !claimed {
		e.wake()
	}
	return results, err
}

// completeClaim writes p and, when the store can (see completeBatch),
// claims up to freed rows of queues in the same round trip; claimed says
// whether it did.
func (e *Executor) completeClaim(ctx context.Context, p storage.CompleteParams, queues []string, freed int) ([]storage.TransitionResult, bool, error) {
	cc, ok := e.store.(storage.CompleteClaimer)
	n := 0
	if ok {
		n = min(freed, e.capacity.claimable())
	}
	var ids []string
	if n > 0 {
		ids = e.registeredIDs()
	}
	if len(ids) == 0 {
		results, err := e.store.Complete(ctx, p)
		return results, false, err
	}
	results, rows, claimed, err := cc.CompleteClaim(ctx, p, storage.ClaimParams{
		Now: p.Now, ExecutorID: e.id, TaskIDs: ids, Queues: queues, Limit: n, Lease: e.cfg.LeaseDuration,
		Recheck: e.cfg.PollInterval,
	})
	if err != nil {
		return nil, false, err
	}
	if started := e.admitReclaimed(rows); started > 0 {
		e.yieldToRuns(started)
	}
	return results, claimed, nil
}

// limitedQueuesOf returns the limited queues this executor serves whose
// runs end in batch, and how many of the batch's runs are theirs.
func (e *Executor) limitedQueuesOf(batch []completer.Result[*held]) (queues []string, runs int) {
	if !e.paused.anyLimited() {
		return nil, 0
	}
	for i := range batch {
		row := batch[i].Handle.row
		if row == nil || !e.paused.isLimited(row.Queue) || len(e.cfg.Queues) > 0 && !slices.Contains(e.cfg.Queues, row.Queue) {
			continue
		}
		runs++
		if !slices.Contains(queues, row.Queue) {
			queues = append(queues, row.Queue)
		}
	}
	return queues, runs
}

// maxYieldsToRuns bounds how many times the completer yields to the runs
// a completion's claim started (yieldToRuns).
const maxYieldsToRuns = 16

// yieldToRuns lets the runs a completion's claim just started add their
// results before the completer takes its next batch (short ones end at
// once): it yields until as many more results have been submitted as runs
// started, at most maxYieldsToRuns times. The slots of a limited queue
// then circulate in fuller batches, one per round trip.
func (e *Executor) yieldToRuns(started int) {
	target := e.comp.Backlog() + int64(started)
	for i := 0; i < maxYieldsToRuns && e.comp.Backlog() < target; i++ {
		runtime.Gosched()
	}
}

// admitReclaimed takes the rows completeBatch claimed, as admit does the
// dispatcher's; once the executor shuts down it gives them back instead.
// It returns how many it started.
func (e *Executor) admitReclaimed(rows []storage.Execution) int {
	if len(rows) == 0 {
		return 0
	}
	callAll(e.hooks.claimed, len(rows))
	e.logTakeovers(rows)
	runs := e.holdRuns(rows)
	start, ok := e.capacity.admitIfOpen(runs)
	if !ok {
		leases := make([]storage.Lease, len(runs))
		for i := range runs {
			e.held.remove(&runs[i].held)
			leases[i] = runs[i].held.lease
		}
		e.leases.giveBack(leases, "claims made while shutting down")
		return 0
	}
	for _, r := range start {
		e.startOnSlot(r)
	}
	return len(start)
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
