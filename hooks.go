package durable

import (
	"time"

	"github.com/durable-go/durable/internal/completer"
	"github.com/durable-go/durable/storage"
)

// Hooks are told what happened to executions and to the engine's work,
// after it happened: the metrics of package metrics and of the
// OpenTelemetry module are built on them. Every field may be nil; install
// them with Config.Hooks, where several compose (each is called, in
// order).
//
// A hook is called on the engine's own goroutines (the dispatcher's, the
// completer's, the lease keeper's, the caller's of a store method), often
// with locks of no one's but its own held: it must be quick and must not
// block, as a metric's counter is. A hook that panics crashes the process,
// as a panic on any goroutine does.
//
// With no hook installed, the engine's only cost is a length test at each
// place a hook could be called (BenchmarkHooks measures it).
type Hooks struct {
	// Claimed is called after each claim that took rows, with how many
	// (rows inserted claimed by their enqueuer, a direct start, are not
	// claimed: see RunInfo.Direct).
	Claimed func(n int)
	// BatchWritten is called after each batch of outcomes the store
	// applied or refused, with its size.
	BatchWritten func(n int)
	// AttemptFailed is called when a failed run's outcome was written and
	// the execution will run again (a retry).
	AttemptFailed func(Outcome)
	// ExecutionFinished is called when an outcome written by this
	// executor ended an execution: completed, or one of the failed
	// statuses. A cancellation made by Cancel, and the cancellation of a
	// failed parent's descendants by the store, are not reported; neither
	// is an outcome the store refused (the claim was lost).
	ExecutionFinished func(Outcome)
	// LeaseTakenOver is called when a claim took over an execution whose
	// lease lapsed (its executor is presumed dead).
	LeaseTakenOver func(Takeover)
	// LeasesLost is called when a heartbeat found leases of this
	// executor's running work lost (taken over, or finished elsewhere),
	// with how many.
	LeasesLost func(n int)
	// StorageCall is called after every call the executor makes to its
	// store, with the operation's name, its duration and its error.
	StorageCall func(StorageCall)
}

// Outcome is an execution's written outcome, as AttemptFailed and
// ExecutionFinished see it.
type Outcome struct {
	TaskID, ExecutionID string
	// Status is the status the execution moved to: ready for a retry.
	Status Status
	// Attempt counts the retries before the run (0 for the first run).
	Attempt int
	// Err is the run's error; nil when the execution completed.
	Err *ExecutionError
}

// Takeover is a claim of an execution whose lease lapsed.
type Takeover struct {
	TaskID, ExecutionID string
	// Crashes counts the lapses so far, this one included.
	Crashes int
}

// StorageCall is one call of the store by the executor.
type StorageCall struct {
	// Operation is the store method's name: "Insert", "Claim",
	// "Complete", "Heartbeat", ... (the methods of storage.Store).
	Operation string
	Duration  time.Duration
	Err       error
}

// hookSet holds the installed hooks of each kind, without the nil ones:
// an empty list costs a length test.
type hookSet struct {
	claimed, batchWritten, leasesLost []func(int)
	attemptFailed, finished           []func(Outcome)
	takenOver                         []func(Takeover)
	storageCall                       []func(StorageCall)
}

// newHookSet gathers the non-nil hooks of hs, in order.
func newHookSet(hs []Hooks) hookSet {
	var s hookSet
	for _, h := range hs {
		s.claimed = appendHook(s.claimed, h.Claimed)
		s.batchWritten = appendHook(s.batchWritten, h.BatchWritten)
		s.leasesLost = appendHook(s.leasesLost, h.LeasesLost)
		s.attemptFailed = appendHook(s.attemptFailed, h.AttemptFailed)
		s.finished = appendHook(s.finished, h.ExecutionFinished)
		s.takenOver = appendHook(s.takenOver, h.LeaseTakenOver)
		s.storageCall = appendHook(s.storageCall, h.StorageCall)
	}
	return s
}

func appendHook[F any](list []F, f F) []F {
	if isNil(f) {
		return list
	}
	return append(list, f)
}

func callAll[T any](fs []func(T), v T) {
	for _, f := range fs {
		f(v)
	}
}

// outcomesWritten calls the outcome hooks for a batch the completer
// settled (completed calls it).
func (e *Executor) outcomesWritten(batch []completer.Result[*held]) {
	callAll(e.hooks.batchWritten, len(batch))
	if len(e.hooks.attemptFailed) == 0 && len(e.hooks.finished) == 0 {
		return
	}
	for i := range batch {
		r := &batch[i]
		if !r.Applied || r.Unwritten != nil || r.Err != nil {
			continue
		}
		tr := &r.Transition
		switch {
		case tr.To == storage.StatusReady && tr.Error != nil:
			callAll(e.hooks.attemptFailed, outcomeOf(r))
		case tr.To.Terminal() && tr.To != storage.StatusCancelled:
			callAll(e.hooks.finished, outcomeOf(r))
		}
	}
}

// outcomeOf is a written transition as the hooks see it.
func outcomeOf(r *completer.Result[*held]) Outcome {
	tr := &r.Transition
	o := Outcome{ExecutionID: tr.ID, Status: tr.To, Attempt: tr.Attempt, Err: execErrorFromInfo(tr.Error)}
	if row := r.Handle.row; row != nil {
		o.TaskID, o.Attempt = row.TaskID, row.Attempt
	}
	return o
}
