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
	row    *storage.Execution
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
}

// heldSet tracks the claims held, for heartbeats, interrupts and release.
type heldSet struct {
	mu sync.Mutex
	m  map[string]*held
	// gaveUp is the cause abandonAll gave the claims up with (a fatal
	// store error, a shutdown's deadline); a claim held after it is given
	// up at once.
	gaveUp error
}

// put holds h. A claim of the same execution held already is one this
// executor lost: its lease lapsed (a stall, a late heartbeat) and the claim
// that brought h took the execution over from it. Its run is cancelled, as
// when a heartbeat finds a lease lost: else it would go on unseen by the
// heartbeats and by shutdown (which cancel what is held), its slot taken
// until its function returns on its own. One not started never starts
// (startable). Once abandonAll gave the claims up, h is given up too.
func (s *heldSet) put(h *held) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.m[h.lease.ID]; old != nil && old.cancel != nil {
		old.cancel(ErrLeaseLost)
	}
	if s.gaveUp != nil {
		h.abandoned, h.abandonCause = true, s.gaveUp
	}
	s.m[h.lease.ID] = h
}

// setCancel records the cancel function of h's run, when the run starts
// on its worker. What happened to the claim since the run was handed to
// the worker cancels it at once, as it would have cancelled a run already
// going: the claim abandoned (a hard shutdown, a fatal store error), lost
// (a heartbeat found its lease taken, or this executor claimed the
// execution again), or its execution finished elsewhere (a cancel).
func (s *heldSet) setCancel(h *held, c context.CancelCauseFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h.cancel = c
	switch {
	case h.abandoned:
		c(h.abandonCause)
	case s.m[h.lease.ID] != h:
		c(ErrLeaseLost)
	case h.finished:
		c(ErrCancelled)
	}
}

// remove forgets h (if it is still the entry for its execution).
func (s *heldSet) remove(h *held) {
	s.mu.Lock()
	if s.m[h.lease.ID] == h {
		delete(s.m, h.lease.ID)
	}
	s.mu.Unlock()
}

func (s *heldSet) isAbandoned(h *held) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
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
		switch {
		case h == nil:
		case h.cancel != nil:
			h.cancel(cause)
		default:
			h.finished = true
		}
	}
}

// startable reports whether a claim waiting for a slot may start: it is
// still held (its lease was not lost) and its execution did not end
// elsewhere meanwhile. One that may not is forgotten.
func (s *heldSet) startable(h *held) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[h.lease.ID] != h {
		return false
	}
	if h.finished {
		delete(s.m, h.lease.ID)
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
		if h == nil || h.lease.Fence != l.Fence || h.submitted {
			continue
		}
		live++
		delete(s.m, l.ID)
		if h.cancel != nil {
			h.cancel(cause)
		}
	}
	return live
}

// markSubmitted records that h's outcome is queued for the completer.
func (s *heldSet) markSubmitted(h *held) {
	s.mu.Lock()
	h.submitted = true
	s.mu.Unlock()
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
		h.abandoned, h.abandonCause = true, cause
		if h.cancel != nil {
			h.cancel(cause)
		}
	}
	return len(s.m)
}
