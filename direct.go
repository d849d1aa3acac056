package durable

import "github.com/durable-go/durable/storage"

// Direct start: an executor that enqueues work it can run at once (it is
// started, has free slots and nothing waiting for one) inserts the rows
// already claimed by itself (an insert-time claim, see storage.InsertParams)
// and starts them as soon as the insert returns. That saves the claim: a
// write and a round trip, and the dispatcher's wake-up, between enqueue
// and run. Other executors never see the rows as due; if this executor
// dies, their leases lapse and they are taken over like any claim.

// reserveDirect decides whether the batch p of items starts here directly.
// If so it reserves a slot for each row (capacity.reserve: the executor is
// started and not shutting down, has the slots free and nothing waiting for
// one) and marks the rows claimed by this executor, with the lease as their
// delay; the caller then inserts them and calls startDirect, or
// unreserveDirect when the insert fails.
func (e *Executor) reserveDirect(items []Child, p storage.InsertParams) bool {
	for i := range p.Executions {
		k := items[i].d.kind
		if p.Executions[i].Status != storage.StatusReady || p.Delays[i] != 0 ||
			(k != kindPlain && k != kindParent && k != kindLoop) || !e.serves(p.Executions[i].Queue) {
			return false
		}
	}
	if !e.capacity.reserve(len(p.Executions)) {
		return false
	}
	// StartedAt is the engine's copy's (the store sets its own at insert,
	// a moment later): the attempt history reads it.
	now := e.now()
	for i := range p.Executions {
		row := &p.Executions[i]
		row.Status, row.ExecutorID, row.Fence, row.StartedAt = storage.StatusRunning, e.id, 0, now
		p.Delays[i] = e.cfg.LeaseDuration
	}
	return true
}

// unreserveDirect frees the slots reserveDirect took for n rows.
func (e *Executor) unreserveDirect(n int) { e.capacity.unreserve(n) }

// startDirect starts the rows inserted claimed by this executor, on the
// slots reserveDirect took. Once shutdown has begun it gives them back
// instead, so another executor takes them at once: capacity.startReserved
// decides which, under the capacity's lock, so a run started here is one
// Shutdown waits for.
func (e *Executor) startDirect(rows []storage.Execution) {
	runs := e.holdRuns(rows) // reserveDirect set their Fence to 0
	if !e.capacity.startReserved(len(runs)) {
		leases := make([]storage.Lease, len(runs))
		for i := range runs {
			e.held.remove(&runs[i].held)
			leases[i] = runs[i].held.lease
		}
		e.unreserveDirect(len(runs))
		e.leases.giveBack(leases, "executions enqueued during shutdown")
		return
	}
	for i := range runs {
		e.startOnSlot(&runs[i])
	}
}
