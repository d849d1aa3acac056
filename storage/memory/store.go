package memory

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/storage"
)

var _ storage.Store = (*Store)(nil)

// Store is an in-memory, non-durable [storage.Store]. The zero value is not
// usable; call [New]. A Store is safe for concurrent use.
type Store struct {
	mu     sync.Mutex
	closed bool
	// seq numbers inserted rows: ties on DueAt are broken by it.
	seq uint64
	// gen numbers Claim and NextDue calls, to skip repeated task ids.
	gen        uint64
	rows       map[string]*row
	bySleepKey map[string]*row
	// byActiveKey holds the latest row inserted with each ActiveKey: the
	// key's holder while that row is not terminal (insert.go), whatever
	// made it terminal.
	byActiveKey map[string]*row
	// children holds each parent's children ordered by (ChildIndex, seq).
	children map[string][]*row
	// byRoot holds the rows of each tree below its root (the rows whose
	// RootID is it), in insertion order: what Delete removes with it.
	byRoot map[string][]*row
	// byCreated holds every row ordered by its list key (CreatedAt, then
	// ID as bytes): List scans it (list.go).
	byCreated []*row
	// due holds, per task, queue and priority, the rows whose DueAt is
	// set; dueKeys lists each task's keys.
	due     map[dueKey]*dueQueue
	dueKeys map[string][]dueKey
	// controls holds the controls (queues.go).
	controls map[controlKey]*storage.Control
	// windows holds the rate windows of the queues with a rate limit, by
	// name (limits.go).
	windows map[string]limited.Window
	// leases holds the leases of running, non-sleeping rows by expiry,
	// stale entries among them, for the claims' rescue (lapse.go).
	leases leaseHeap
	// leads holds the named leases of Lead (lead.go).
	leads map[string]lead
	// batchIDs, batchKeys and batchActive are scratch sets for duplicate
	// checks within one batch; empty between calls. batchActive maps an
	// ActiveKey to the row of the batch that takes it.
	batchIDs, batchKeys map[string]struct{}
	batchActive         map[string]*storage.Execution
	// keepDescendants is a deliberate bug only the simulator switches on
	// (simhook.go): an execution that ends unsuccessfully leaves its
	// descendants as they are.
	keepDescendants bool

	subs storage.Subscribers
}

// row is one stored execution and its index positions.
type row struct {
	e   storage.Execution
	seq uint64
	// due is DueAt in Unix microseconds (its stored precision): the heap
	// key, meaningful only while heapIdx >= 0.
	due int64
	// heapIdx is the row's position in its task's due queue; -1 when its
	// DueAt is zero.
	heapIdx int
}

// New returns an empty store. It holds no resources besides memory: Close
// drops the data and makes later calls fail with [storage.ErrClosed].
func New() *Store {
	return &Store{
		rows:        make(map[string]*row),
		bySleepKey:  make(map[string]*row),
		byActiveKey: make(map[string]*row),
		batchActive: make(map[string]*storage.Execution),
		children:    make(map[string][]*row),
		byRoot:      make(map[string][]*row),
		due:         make(map[dueKey]*dueQueue),
		dueKeys:     make(map[string][]dueKey),
		controls:    make(map[controlKey]*storage.Control),
		windows:     make(map[string]limited.Window),
		batchIDs:    make(map[string]struct{}),
		batchKeys:   make(map[string]struct{}),
		leads:       make(map[string]lead),
	}
}

// lock takes the store mutex after checking ctx and that the store is open.
// On success the caller must call s.mu.Unlock.
func (s *Store) lock(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("memory: %s: %w", op, storage.ErrClosed)
	}
	return nil
}

// Close marks the store closed: every later call returns an error wrapping
// [storage.ErrClosed]. Its data is dropped. Closing twice is a no-op.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.rows, s.bySleepKey, s.children, s.due, s.leases = nil, nil, nil, nil, nil
	s.byActiveKey = nil
	s.dueKeys, s.controls = nil, nil
	s.byRoot, s.byCreated = nil, nil
	return nil
}

// Subscribe registers fn to receive the events of this store's writes. fn is
// called synchronously by the goroutine that made the write, after the write
// is visible and outside the store's lock; it must not block. An event being
// delivered while unsubscribe runs may still reach fn. The returned function
// unsubscribes; calling it more than once is harmless.
func (s *Store) Subscribe(fn func(storage.Event)) (unsubscribe func()) {
	return s.subs.Subscribe(fn)
}

// events collects what one write call must publish.
type events struct {
	ready    bool
	finished []string
}

// publish delivers ev to every subscriber. It must be called without s.mu
// held.
func (s *Store) publish(ev events) {
	s.subs.Publish(storage.Event{Ready: ev.ready, Finished: ev.finished})
}

// dbTime normalises a time as a database column would: UTC, microsecond
// precision, no monotonic reading. The zero time stays zero.
func dbTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// copyExecution returns a deep copy of e: byte slices, the error, the tags
// and the attempts (with their errors) are not shared. Nil and empty byte
// slices are kept apart; empty tags and attempts become nil. The metadata
// map is shared: a stored row's is never written (newRow copies the
// caller's at insert), and a read's is read only (storage.Execution).
func copyExecution(e storage.Execution) storage.Execution {
	c := e
	c.Input = bytes.Clone(e.Input)
	c.Output = bytes.Clone(e.Output)
	c.RunOutput = bytes.Clone(e.RunOutput)
	c.Error = cloneError(e.Error)
	c.Tags = cloneTags(e.Tags)
	if len(e.Metadata) == 0 {
		c.Metadata = nil
	}
	c.Attempts = copyAttempts(e.Attempts)
	return c
}

// cloneMetadata returns a copy of m; nil when there is none.
func cloneMetadata(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// cloneTags returns a copy of tags; nil when there is none.
func cloneTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	return slices.Clone(tags)
}

// copyAttempts returns a deep copy of an attempt history with its times
// normalised (see dbTime); nil when there is none.
func copyAttempts(in []storage.Attempt) []storage.Attempt {
	if len(in) == 0 {
		return nil
	}
	out := make([]storage.Attempt, len(in))
	for i, a := range in {
		a.StartedAt, a.FinishedAt = dbTime(a.StartedAt), dbTime(a.FinishedAt)
		a.Error = cloneError(a.Error)
		out[i] = a
	}
	return out
}

func cloneError(e *storage.ErrorInfo) *storage.ErrorInfo {
	if e == nil {
		return nil
	}
	c := *e
	return &c
}

// normaliseTimes applies dbTime to every time field of e.
func normaliseTimes(e *storage.Execution) {
	for _, t := range []*time.Time{
		&e.DueAt, &e.CreatedAt, &e.UpdatedAt, &e.StartedAt, &e.FinishedAt,
		&e.WaitingForChildrenAt, &e.WaitingForFinalizeAt,
	} {
		*t = dbTime(*t)
	}
}
