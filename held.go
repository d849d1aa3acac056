package durable

import (
	"context"
	"sync"

	"github.com/durable-go/durable/storage"
)

// held is one claim this executor holds: from the claim until its outcome
// is written (or the claim is lost or released).
type held struct {
	lease storage.Lease
	// row is the claimed row, as the claim returned it: its run reads it,
	// and the logs of its outcome name its task and tree (logs.go).
	row *storage.Execution

	// mu guards the fields below. Each claim has its own, so that the
	// runs of a claimed batch, which start together, do not queue on the
	// set's lock to record their cancel functions (heldSet.setCancel). A
	// goroutine that holds the set's lock may take it, never the reverse.
	mu     sync.Mutex
	cancel context.CancelCauseFunc // the run's context; nil for engine work
	// abandoned is set when a hard shutdown gives the claim back: the
	// run's eventual result must be discarded.
	abandoned bool
	// abandonCause is why (the cause its run is cancelled with).
	abandonCause error
	// finished is set when the execution ended elsewhere (cancelled, say)
	// before its run started: it must not start.
	finished bool
	// submitted is set once the outcome is queued for the completer: a
	// heartbeat that finds the lease gone then raced the completion.
	submitted bool
	// gone is set when the claim stops being the set's entry for its
	// execution: a later claim of the execution replaced it, a heartbeat
	// found its lease lost, or it was removed.
	gone bool
}

// heldSet tracks the claims held, for heartbeats, interrupts and release.
// Its lock guards the map (and gaveUp); each claim's own state is under
// the claim's lock (held.mu).
type heldSet struct {
	mu sync.Mutex
	m  map[string]*held
	// gaveUp is the cause abandonAll gave the claims up with (a fatal
	// store error, a shutdown's deadline); a claim held after it is given
	// up at once.
	gaveUp error
}

// putRuns holds the claims of runs. A claim of the same execution held
// already is one this executor lost: its lease lapsed (a stall, a late
// heartbeat) and the claim that brought the new one took the execution
// over from it. Its run is cancelled, as when a heartbeat finds a lease
// lost: else it would go on unseen by the heartbeats and by shutdown
// (which cancel what is held), its slot taken until its function returns
// on its own. One not started never starts (startable). Once abandonAll
// gave the claims up, the new ones are given up too.
func (s *heldSet) putRuns(runs []activeRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range runs {
		h := &runs[i].held
		if old := s.m[h.lease.ID]; old != nil {
			old.mu.Lock()
			old.gone = true
			if old.cancel != nil {
				old.cancel(ErrLeaseLost)
			}
			old.mu.Unlock()
		}
		if s.gaveUp != nil {
			h.mu.Lock()
			h.abandoned, h.abandonCause = true, s.gaveUp
			h.mu.Unlock()
		}
		s.m[h.lease.ID] = h
	}
}

// setCancel records the cancel function of h's run, when the run starts
// on its worker. What happened to the claim since the run was handed to
// the worker cancels it at once, as it would have cancelled a run already
// going: the claim abandoned (a hard shutdown, a fatal store error), lost
// (a heartbeat found its lease taken, or this executor claimed the
// execution again), or its execution finished elsewhere (a cancel).
func (s *heldSet) setCancel(h *held, c context.CancelCauseFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cancel = c
	switch {
	case h.abandoned:
		c(h.abandonCause)
	case h.gone:
		c(ErrLeaseLost)
	case h.finished:
		c(ErrCancelled)
	}
}

// remove forgets h (if it is still the entry for its execution).
func (s *heldSet) remove(h *held) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[h.lease.ID] != h {
		return
	}
	delete(s.m, h.lease.ID)
	h.mu.Lock()
	h.gone = true
	h.mu.Unlock()
}

func (s *heldSet) isAbandoned(h *held) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.abandoned
}

func (s *heldSet) leases() []storage.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]storage.Lease, 0, len(s.m))
	for _, h := range s.m {
		out = append(out, h.lease)
	}
	return out
}

// interrupt cancels the runs of the given executions, if held here; one
// not started yet (waiting for a slot) is marked so that it never starts.
func (s *heldSet) interrupt(ids []string, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		h := s.m[id]
		if h == nil {
			continue
		}
		h.mu.Lock()
		if h.cancel != nil {
			h.cancel(cause)
		} else {
			h.finished = true
		}
		h.mu.Unlock()
	}
}

// startable reports whether a claim waiting for a slot may start: it is
// still held (its lease was not lost) and its execution did not end
// elsewhere meanwhile. One that may not is forgotten.
func (s *heldSet) startable(h *held) bool {
	h.mu.Lock()
	gone, finished := h.gone, h.finished
	h.mu.Unlock()
	switch {
	case gone:
		return false
	case finished:
		s.remove(h)
		return false
	}
	return true
}

// lose forgets lost leases and cancels their runs. It returns how many of
// them were lost while their work was still going on (not merely written
// by the completer since the heartbeat read the leases).
func (s *heldSet) lose(lost []storage.Lease, cause error) (live int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lost {
		h := s.m[l.ID]
		if h == nil || h.lease.Fence != l.Fence {
			continue
		}
		h.mu.Lock()
		if !h.submitted {
			live++
			delete(s.m, l.ID)
			h.gone = true
			if h.cancel != nil {
				h.cancel(cause)
			}
		}
		h.mu.Unlock()
	}
	return live
}

// markSubmitted records that h's outcome is queued for the completer.
func (s *heldSet) markSubmitted(h *held) {
	h.mu.Lock()
	h.submitted = true
	h.mu.Unlock()
}

// abandonAll marks every held claim abandoned, cancels the runs with
// cause, and returns how many. The claims held from then on are abandoned
// as they are held: those of a claim or a direct start in flight when the
// store failed, whose runs would otherwise start uncancelled, and which
// the executor's stop would wait for.
func (s *heldSet) abandonAll(cause error) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gaveUp = cause
	for _, h := range s.m {
		h.mu.Lock()
		h.abandoned, h.abandonCause = true, cause
		if h.cancel != nil {
			h.cancel(cause)
		}
		h.mu.Unlock()
	}
	return len(s.m)
}
