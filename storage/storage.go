// Package storage defines the contract between the durable engine and the
// databases it runs on: the execution record, the parameter structs, the
// Store interface and the events a store publishes.
//
// A store is a dumb but exact state machine over execution rows. It never
// runs user code and never decodes payloads. All the engine's decisions
// (retry or fail, which child comes next, what a finalize receives) are taken
// in the engine; a store applies them atomically, guarded by the row's
// status and fencing token, and does the few pieces of bookkeeping that must
// happen in the same transaction as the event that causes them:
//
//   - when a child reaches a terminal status, its parent's pending-children
//     counter is decremented, and the parent becomes due (claimable for its
//     continuation) when the counter reaches zero, or at once when the child
//     did not complete and the parent fails fast;
//   - when an execution that has children ends without completing, every
//     unfinished descendant is cancelled;
//   - when children are spawned, they are inserted if and only if the parent's
//     guarded update applied.
//
// # Time
//
// Every operation's params carry Now, the engine's clock reading. Stores on
// an embedded database (memory, SQLite) use it as the current time. A store
// with a server clock (PostgreSQL) may judge due times and leases on its own
// clock instead; that is why params express future times as durations
// (Delay, Lease) relative to "now" rather than as absolute instants.
//
// # Due rows and claims
//
// A row is due when DueAt is set and DueAt <= now. What a due row needs
// depends on its status:
//
//   - ready: run it (DueAt is the earliest start time);
//   - running, not sleeping: its lease lapsed (DueAt is the lease expiry);
//     the owner is presumed dead and the run is taken over. Claims take it
//     as of its creation time (CreatedAt), not of its lease expiry: it is
//     work already under way, and must not wait behind the rows that
//     became due after it was created. A store may move such a row's DueAt
//     to its CreatedAt (and UpdatedAt to the lease expiry) before claiming;
//     its owner's heartbeat still extends the lease until a claim takes it;
//   - running, sleeping: its wake-up deadline passed; it must time out;
//   - waiting_for_children / waiting_for_finalize: its children are done (or
//     one failed and it fails fast); its continuation must run.
//
// Terminal rows, parents still waiting on children, and sleeping rows before
// their deadline have a zero DueAt. Claim takes due rows, highest priority
// first, then oldest DueAt first (a lapsed lease as of its CreatedAt), and
// hands each to exactly one caller with a new fencing token and a lease.
//
// # Stability
//
// The Store interface is the engine's internal contract made public so that
// a store can live outside this module; it is not yet a stable API. Until
// durable 1.0, a minor version may add methods to Store, add fields to the
// parameter structs and make the contract more precise; storagetest
// tests every such change, which is not counted as a breaking change. The stored forms (Status and ErrorKind strings,
// RetryPolicy's JSON) never change, since databases hold them. A store
// kept outside this module should therefore embed nothing (embedding Store
// to inherit methods would let a new method compile and then panic or do
// nothing at run time), build against the engine version it is tested
// with, and run storagetest.Run in its tests: the suite is what says a
// store is correct, and a new method comes with its tests there. This is
// the stance River takes for its driver interface (changes to riverdriver
// are not breaking changes under its semantic versioning): the contract
// moves with the engine until it has settled; 1.0 will freeze it and add
// methods only through new, optional interfaces.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status is the lifecycle status of an execution. See docs/semantics.md for
// the state machine.
type Status string

// The statuses. Terminal statuses are absorbing: no operation moves a row out
// of one.
const (
	StatusReady              Status = "ready"
	StatusRunning            Status = "running"
	StatusWaitingForChildren Status = "waiting_for_children"
	StatusWaitingForFinalize Status = "waiting_for_finalize"
	StatusCompleted          Status = "completed"
	StatusFailed             Status = "failed"
	StatusTimedOut           Status = "timed_out"
	StatusChildrenFailed     Status = "children_failed"
	StatusFinalizeFailed     Status = "finalize_failed"
	StatusCancelled          Status = "cancelled"
)

// AllStatuses lists every status, active ones first.
var AllStatuses = []Status{
	StatusReady, StatusRunning, StatusWaitingForChildren, StatusWaitingForFinalize,
	StatusCompleted, StatusFailed, StatusTimedOut, StatusChildrenFailed,
	StatusFinalizeFailed, StatusCancelled,
}

// Terminal reports whether s is a finished status.
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusTimedOut, StatusChildrenFailed,
		StatusFinalizeFailed, StatusCancelled:
		return true
	}
	return false
}

// Waiting reports whether s is one of the two statuses of a parent waiting on
// its children or finalize.
func (s Status) Waiting() bool {
	return s == StatusWaitingForChildren || s == StatusWaitingForFinalize
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range AllStatuses {
		if v == s {
			return true
		}
	}
	return false
}

// ErrorKind says what an execution's error was. It is stored (in
// ErrorInfo.Kind) as its string, which therefore never changes. Stores
// write one kind themselves: ErrorKindLeaseExpired, at a takeover (Claim).
// The engine maps each kind to its sentinel error (durable.ErrTimedOut,
// ...). A task may return an error of a kind of its own
// (durable.ExecutionError); it is stored as given.
type ErrorKind string

// The error kinds, as stored.
const (
	// ErrorKindGeneric: the task returned an error of no other kind.
	ErrorKindGeneric ErrorKind = "generic"
	// ErrorKindTimedOut: an attempt or a sleeping task's wait timed out.
	ErrorKindTimedOut ErrorKind = "timed_out"
	// ErrorKindCancelled: the execution was cancelled.
	ErrorKindCancelled ErrorKind = "cancelled"
	// ErrorKindNotFound: a row the engine needed (a parent's child) is
	// missing.
	ErrorKindNotFound ErrorKind = "not_found"
	// ErrorKindPanic: the task panicked.
	ErrorKindPanic ErrorKind = "panic"
	// ErrorKindLeaseExpired: the lease of a running row lapsed (its
	// executor is presumed dead) and Claim took it over.
	ErrorKindLeaseExpired ErrorKind = "lease_expired"
	// ErrorKindInvalidInput: an input (or a child's, or a sleeping key)
	// was rejected.
	ErrorKindInvalidInput ErrorKind = "invalid_input"
	// ErrorKindPayloadTooLarge: an encoded input or output is over the
	// limit.
	ErrorKindPayloadTooLarge ErrorKind = "payload_too_large"
	// ErrorKindTooManyChildren: a parent spawned more children than the
	// limit.
	ErrorKindTooManyChildren ErrorKind = "too_many_children"
	// ErrorKindChildrenFailed: a child of a parent without a finalize
	// ended without completing.
	ErrorKindChildrenFailed ErrorKind = "children_failed"
	// ErrorKindFinalizeFailed: a parent's finalize, or a sequence's step,
	// ended without completing.
	ErrorKindFinalizeFailed ErrorKind = "finalize_failed"
	// ErrorKindCrashBudget: the run lost its executor more times than the
	// crash budget allows.
	ErrorKindCrashBudget ErrorKind = "crash_budget"
	// ErrorKindUnknownTask: a task the run named (a child's) is not
	// registered.
	ErrorKindUnknownTask ErrorKind = "unknown_task"
	// ErrorKindDuplicate: a key (a sleeping child's) is already taken.
	ErrorKindDuplicate ErrorKind = "duplicate"
	// ErrorKindEncoding: the codec failed to encode a value to store (an
	// output, a child's input) or to decode a stored input.
	ErrorKindEncoding ErrorKind = "encoding"
)

// AllErrorKinds lists every error kind the engine and the stores record.
var AllErrorKinds = []ErrorKind{
	ErrorKindGeneric, ErrorKindTimedOut, ErrorKindCancelled, ErrorKindNotFound,
	ErrorKindPanic, ErrorKindLeaseExpired, ErrorKindInvalidInput,
	ErrorKindPayloadTooLarge, ErrorKindTooManyChildren, ErrorKindChildrenFailed,
	ErrorKindFinalizeFailed, ErrorKindCrashBudget, ErrorKindUnknownTask,
	ErrorKindDuplicate, ErrorKindEncoding,
}

// ErrorInfo is the stored form of an execution's error.
type ErrorInfo struct {
	Kind      ErrorKind `json:"kind"`
	Message   string    `json:"message"`
	Retryable bool      `json:"retryable,omitempty"`
	Stack     string    `json:"stack,omitempty"`
}

// RetryPolicy is stored with every execution at insert and never changes.
// The engine computes delays; stores only persist it.
type RetryPolicy struct {
	MaxRetries int           `json:"max_retries"`
	BaseDelay  time.Duration `json:"base_delay,omitempty"`
	Multiplier float64       `json:"multiplier,omitempty"`
	MaxDelay   time.Duration `json:"max_delay,omitempty"`
	Jitter     float64       `json:"jitter,omitempty"`
}

// Execution is one persisted execution row. Stores copy it in and out: a
// caller may modify a returned Execution without changing the store.
type Execution struct {
	// ID is the execution id, unique forever. Assigned by the engine.
	ID string
	// TaskID is the registered task definition this execution runs.
	TaskID string

	// RootID/RootTaskID name the top-most ancestor; empty for a top-level
	// execution.
	RootID, RootTaskID string
	// ParentID/ParentTaskID name the direct parent; empty for a top-level
	// execution.
	ParentID, ParentTaskID string
	// ChildIndex is the position among the parent's children (declaration
	// order; for a sequence, the step). A finalize has the index one past the
	// last child.
	ChildIndex int
	// IsFinalize marks the finalize execution of its parent.
	IsFinalize bool

	// SleepKey is the caller-given unique id of a sleeping execution; empty
	// for every other execution. Unique among all rows while the row exists
	// (Delete frees it).
	SleepKey string

	Status Status

	// Input is the encoded input. Output is the encoded output of a completed
	// execution. RunOutput is a parent's own run output, kept while it waits
	// for its children and finalize.
	Input, Output, RunOutput []byte
	// Error is the last error: the previous attempt's on a ready row, the
	// final one on a failed row.
	Error *ErrorInfo

	Retry   RetryPolicy
	Timeout time.Duration

	// Attempt counts retries done (0 on the first run).
	Attempt int
	// Iteration is the index of the current loop iteration (looping tasks):
	// the number of iterations completed before it.
	Iteration int
	// Crashes counts lease lapses while running (the owner died).
	Crashes int
	// Fence is the fencing token: incremented by every claim. Every write of
	// a result, heartbeat or release is guarded by it.
	Fence int64
	// ExecutorID is the executor holding the current claim, if any.
	ExecutorID string

	// FailFast marks a parent without a finalize: a child that ends without
	// completing makes it due at once.
	FailFast bool
	// ChildrenTotal counts children spawned so far (finalize included).
	// ChildrenPending counts those not yet terminal.
	ChildrenTotal, ChildrenPending int

	// DueAt is when the row next needs an executor (see the package doc);
	// zero when it needs none. For a claimed row, it is the lease expiry.
	DueAt time.Time

	CreatedAt, UpdatedAt  time.Time
	StartedAt, FinishedAt time.Time
	WaitingForChildrenAt  time.Time
	WaitingForFinalizeAt  time.Time

	// Attempts is the history of past runs that did not complete the
	// execution, oldest first, bounded by MaxAttempts. Stored as given by
	// Insert, then written by Complete (Transition.Attempts); nil when
	// there is none (an empty list is stored as none). Stores keep its
	// times to the microsecond at least and return them in UTC, as the
	// row's.
	Attempts []Attempt
	// Tags are short strings set at insert (see ValidateTags), never
	// changed, kept in their order; nil when there is none (an empty
	// list is stored as none). List can filter on one.
	Tags []string
	// RetryOf is the ID of the execution this one retries by hand (set at
	// insert, never changed); empty for every other execution.
	RetryOf string
	// Queue is the queue the execution is claimed from and Priority its
	// priority (PriorityFirst..PriorityLast), both set at insert and never
	// changed; a store keeps an empty Queue as DefaultQueue and Priority 0
	// as DefaultPriority, and returns what it keeps.
	Queue    string
	Priority int
	// ActiveKey, when set, is a key unique among the executions that are
	// not terminal (ready, running, waiting): Insert refuses a row whose
	// ActiveKey an active row holds (an *ActiveKeyError), and the key is
	// free again as soon as its holder reaches a terminal status, by
	// whatever transition (Complete, Cancel, a cascade). Set at insert,
	// never changed, kept after the row finishes; "" for none. Stores
	// derive the uniqueness from the status (a unique index over the
	// active rows' keys), so no transition has to clear it. See
	// ValidateActiveKey.
	ActiveKey string
	// ConcurrencyKey, when set, is the key a queue's limit per key
	// (Control.PerKey) counts the row under: at most PerKey running rows
	// of the queue with one key at once. Set at insert, never changed; ""
	// for none (the row counts only against the queue's other limits). See
	// ValidateConcurrencyKey.
	ConcurrencyKey string
	// Metadata is a small map of strings set at insert (see
	// ValidateMetadata), never changed; nil when there is none (an empty
	// map is stored as none). The engine keeps the W3C trace context of
	// the enqueuing code in it ("traceparent", "tracestate"). Stores
	// return it from every read that returns the row, List included.
	// The map returned is read, never written: rows of one read may
	// share it (MetadataDecoder); whoever wants to change it copies it.
	Metadata map[string]string
}

// Lease names one claim: a row and the fencing token its holder got.
type Lease struct {
	ID    string
	Fence int64
}

// InsertParams inserts executions.
type InsertParams struct {
	Now time.Time
	// Executions to insert, all or nothing. For each row the store sets
	// CreatedAt = UpdatedAt = now, Fence = 0, and DueAt = now + Delays[i]
	// for a ready row (Delays may be nil: no delay). A sleeping row (status
	// running, SleepKey set) gets StartedAt = now and DueAt = now + Timeout.
	// A claimed row (status running, no SleepKey, ExecutorID set: an
	// executor that runs what it enqueues at once) gets StartedAt = now
	// and DueAt = now + Delays[i], its lease; it is held by that claim
	// (Fence 0) exactly as if Claim had returned it.
	Executions []Execution
	Delays     []time.Duration
}

// GetParams reads one execution.
type GetParams struct {
	ID string
}

// GetBySleepKeyParams reads a sleeping execution by its unique key.
type GetBySleepKeyParams struct {
	SleepKey string
}

// ListChildrenParams lists a parent's children ordered by ChildIndex.
type ListChildrenParams struct {
	ParentID string
	// FromIndex skips children with a smaller ChildIndex.
	FromIndex int
	// Limit caps the count; 0 means no limit.
	Limit int
}

// ClaimParams claims due rows.
type ClaimParams struct {
	Now        time.Time
	ExecutorID string
	// TaskIDs restricts the claim to executions of these tasks (the ones the
	// executor has registered). Empty claims nothing.
	TaskIDs []string
	// Queues restricts the claim to executions of these queues; empty
	// claims from every queue. Rows of a paused queue (Controls) are never
	// claimed.
	Queues []string
	// Limit is the maximum number of rows to claim; <= 0 claims nothing.
	Limit int
	// Lease is how long the claim holds before the row is due again.
	Lease time.Duration
	// Recheck is how long the claimer waits at most before claiming again
	// when it gets nothing (its poll interval); 0 when unknown. A store
	// that takes turns at a full limited queue's slots (PostgreSQL) holds
	// a claimer's turn for twice that.
	Recheck time.Duration
}

// NextDueParams asks when the next row of these tasks and queues (every
// queue when Queues is empty) becomes due; rows of paused queues do not
// count, and of a limited queue only what comes due after Now - Lookback
// (Store.NextDue).
type NextDueParams struct {
	Now     time.Time
	TaskIDs []string
	Queues  []string
	// Lookback is how long ago the claim that found nothing more to take
	// ran (0: at Now). A limited queue's rows and full rate windows count
	// from Now - Lookback on, not from Now: those that came due since that
	// claim are due at once, since no claim has seen them due. A store on
	// its database's clock subtracts it, plus DatabaseClockSlack, from that
	// clock's now.
	Lookback time.Duration
}

// DatabaseClockSlack is added to NextDueParams.Lookback by a store that
// reads the time from its database server's clock: the claim and the
// NextDue after it each wait some time on their way to the server, which
// the engine, measuring Lookback, cannot see. Too much slack costs at most
// a claim that finds nothing, for a limited queue's row that came due
// within it; too little, a wait of up to the poll interval.
const DatabaseClockSlack = 2 * time.Millisecond

// SinceClaim returns Now - Lookback: when the claim ran, on the engine's
// clock.
func (p NextDueParams) SinceClaim() time.Time { return p.Now.Add(-p.Lookback) }

// ServerLookback is the lookback for a store that reads the time from its
// database server's clock: Lookback plus DatabaseClockSlack (0 stays 0).
func (p NextDueParams) ServerLookback() time.Duration {
	if p.Lookback <= 0 {
		return p.Lookback
	}
	return p.Lookback + DatabaseClockSlack
}

// HeartbeatParams extends leases.
type HeartbeatParams struct {
	Now    time.Time
	Lease  time.Duration
	Leases []Lease
}

// Transition is one guarded state change of a claimed row.
type Transition struct {
	// The guard: the row's ID, Fence and Status must all match, else the
	// transition does not apply and changes nothing.
	ID    string
	Fence int64
	From  Status

	// To is the new status; never running.
	To Status

	// Output is stored when To is completed. RunOutput is stored when To is
	// waiting_for_children and entered from running (kept otherwise), and
	// cleared on every other status. Error is stored as given (nil clears).
	Output, RunOutput []byte
	Error             *ErrorInfo
	// Attempt and Iteration are written as given.
	Attempt, Iteration int
	// Attempts, when non-nil, replaces the row's attempt history (an
	// empty list clears it); nil keeps it.
	Attempts []Attempt
	// Delay, when To is ready, sets DueAt = now + Delay.
	Delay time.Duration
	// FailFast is written when To is waiting_for_children or
	// waiting_for_finalize.
	FailFast bool

	// Children are inserted (as by Insert, with no delay unless
	// ChildDelays says otherwise) if and only if the transition applies. The
	// row's ChildrenTotal and ChildrenPending grow by len(Children).
	Children    []Execution
	ChildDelays []time.Duration
}

// CompleteParams applies transitions in one transaction.
type CompleteParams struct {
	Now         time.Time
	Transitions []Transition
}

// TransitionResult tells what one transition did.
type TransitionResult struct {
	// Applied is false when the guard did not match (the row moved on, or
	// the claim was lost): nothing changed.
	Applied bool
	// Err is set when the guard matched but the transition could not be
	// applied for a deterministic reason (a child's ID or SleepKey already
	// exists: ErrDuplicate). Nothing changed for this transition; the rest of
	// the batch is unaffected.
	Err error
}

// CancelParams cancels an execution that is not terminal yet.
type CancelParams struct {
	Now   time.Time
	ID    string
	Error ErrorInfo
}

// ReleaseParams gives claims back so they can be taken at once.
type ReleaseParams struct {
	Now    time.Time
	Leases []Lease
}

// RecoverParams makes every claim held by ExecutorID due at once: its
// previous incarnation died and its work must be taken over now rather than
// when the leases lapse.
type RecoverParams struct {
	Now        time.Time
	ExecutorID string
}

// Event is published by a store after a write commits. Stores shared by many
// processes publish the events of every process (PostgreSQL with
// LISTEN/NOTIFY, SQLite through an events table read by each process);
// the memory store has only its own.
type Event struct {
	// Ready reports that rows may have become due now (inserted, retried
	// without delay, parent continuation, released).
	Ready bool
	// Finished lists executions that reached a terminal status.
	Finished []string
}

// Inserter inserts executions. Every Store is one; a store may also offer
// one bound to a caller's own database transaction, so that executions are
// stored if and only if that transaction commits (the PostgreSQL store's
// Tx; the SQLite store's Tx, inside its WithTx).
type Inserter interface {
	Insert(ctx context.Context, p InsertParams) error
}

// Store is the storage contract. Every method is safe for concurrent use
// and atomic: a method either fully applies or returns an error and changes
// nothing (Complete is atomic per call, with per-transition outcomes).
//
// Stores must pass the conformance suite in storage/storagetest.
type Store interface {
	// Insert inserts executions all or nothing. A duplicate ID or SleepKey
	// fails the whole call with an error wrapping ErrDuplicate. So does an
	// ActiveKey held by an active row (or by another row of the batch):
	// the error is then an *ActiveKeyError naming the key and its holder.
	// Two Inserts of one ActiveKey, however concurrent, never both
	// succeed while the first row is active. The rows of one call are
	// claimed in the order they are given when their priority and due
	// time are the same (insertion order); a store may lay them out in
	// another order that keeps this one (ClaimOrdered).
	Insert(ctx context.Context, p InsertParams) error

	// Get returns one execution, or an error wrapping ErrNotFound.
	Get(ctx context.Context, p GetParams) (Execution, error)

	// GetBySleepKey returns the execution with that SleepKey, or an error
	// wrapping ErrNotFound.
	GetBySleepKey(ctx context.Context, p GetBySleepKeyParams) (Execution, error)

	// ListChildren returns a parent's children (finalize included), ordered
	// by ChildIndex.
	ListChildren(ctx context.Context, p ListChildrenParams) ([]Execution, error)

	// Claim takes up to Limit due rows of the given tasks and queues, not
	// of a paused queue, Priority ascending (PriorityFirst first), then
	// DueAt ascending (ties in insertion order), a running non-sleeping row whose lease
	// lapsed counting as of its CreatedAt (so a run whose executor died is
	// taken over before the backlog enqueued after it; the SQL stores
	// apply this within 250 ms of the lapse), and for each: Fence += 1,
	// ExecutorID set, DueAt = now + Lease, UpdatedAt = now; a ready row
	// becomes running with StartedAt = now; a running non-sleeping row
	// (lease lapsed) gets Crashes += 1 and Error = {Kind: lease_expired}.
	// No row is returned to two callers. Returns the rows as they are
	// after the claim, whole (Input, Attempts, Tags included: the engine
	// appends the run's attempt to the history it read).
	//
	// A queue with a concurrency limit N (Control.Concurrency) has at most
	// N running rows that are not sleeping, across every caller: a claim
	// takes its running, not sleeping rows whose lease lapsed (each holds
	// its slot until taken over, which hands the slot on), then, in claim
	// order, at most N minus the running, not sleeping rows of the queue
	// of its other due rows (a waiting parent's continuation and a
	// sleeping deadline need a slot to be claimed too, though they do not
	// keep it). A queue with a limit per key K (Control.PerKey) has at
	// most K such rows with one ConcurrencyKey: the claim skips the rows
	// whose key has K (counting the rows it takes), and takes the next
	// ones in claim order instead (a key at its limit holds back its own
	// rows only). A queue with a rate limit (Control.Rate per
	// Control.Per) has at most Rate rows claimed per window (RateWindow),
	// lapsed runs taken over included: a claim takes at most what is left
	// of the window's count, and adds what it took to it in its
	// transaction. Every limit is judged under a lock of the queue's
	// control row (or the store's single writer), so claims of one queue,
	// in any process, take turns and never exceed it together. A claim
	// serves its limited queues before the others, each in claim order;
	// the rows it returns are in claim order. A claim may take fewer rows
	// than a queue's limits would allow (a store reads a bounded number of
	// candidates); the next claim takes the rest. NextDue counts a
	// limited queue's rows by their DueAt after the last claim only, and
	// the end of its full rate window.
	Claim(ctx context.Context, p ClaimParams) ([]Execution, error)

	// NextDue returns how long until the earliest DueAt among rows of the
	// given tasks and queues (every queue when none is listed), not of a
	// paused queue: zero when one is due already. Of a queue with a limit
	// it counts only a DueAt after now - Lookback: its rows due before the
	// last claim wait for a slot (which a completion frees, waking the
	// dispatcher), not for a time, and counting them would keep a full
	// queue's dispatcher spinning. It counts, too, the end after now -
	// Lookback of a full rate window (RateWindow) of one of those queues,
	// when the rows it held back may start. ok is false when nothing
	// counts.
	NextDue(ctx context.Context, p NextDueParams) (wait time.Duration, ok bool, err error)

	// Heartbeat sets DueAt = now + Lease on every leased row whose Fence
	// still matches and whose status is running or waiting. It returns the
	// leases that did not match: lost (taken over or finished elsewhere).
	// It must not wait for other writes of the leased rows: a store with
	// row locks may leave a row locked at that moment as it is, neither
	// extended nor lost (PostgreSQL does; the lock is mostly the executor's
	// own write of the run's outcome, and a heartbeat that waited for such
	// writes came late enough for leases to lapse).
	Heartbeat(ctx context.Context, p HeartbeatParams) (lost []Lease, err error)

	// Complete applies transitions in one transaction; results align with
	// p.Transitions. An applied transition clears ExecutorID, sets
	// UpdatedAt = now and, by its target status:
	//
	//   - ready: DueAt = now + Delay, StartedAt cleared, RunOutput cleared;
	//   - waiting_for_children / waiting_for_finalize: DueAt cleared,
	//     WaitingForChildrenAt / WaitingForFinalizeAt = now when entered,
	//     Children inserted;
	//   - terminal: FinishedAt = now, DueAt and RunOutput cleared; if the
	//     row did not complete, every unfinished descendant is cancelled (as
	//     by Cancel, without further propagation); if the row has a parent
	//     that is waiting, the parent's ChildrenPending -= 1 and the parent
	//     becomes due (DueAt = now) when it reaches 0, or at once when the row
	//     did not complete and the parent is FailFast.
	//
	// The store must not keep p.Transitions after Complete returns: the
	// engine reuses the slice.
	Complete(ctx context.Context, p CompleteParams) ([]TransitionResult, error)

	// Cancel moves a non-terminal row to cancelled (FinishedAt = now, DueAt
	// cleared, Error = p.Error, ExecutorID kept), cancels its unfinished
	// descendants, and propagates to its parent as a terminal transition
	// does. It reports whether the row was cancelled by this call; a
	// terminal row is left as it is. Unknown ID: ErrNotFound.
	Cancel(ctx context.Context, p CancelParams) (bool, error)

	// Release gives claims back: a running row whose Fence matches becomes
	// ready and due now (ExecutorID and StartedAt cleared; Attempt and
	// Crashes unchanged); a waiting row whose Fence matches becomes due now.
	Release(ctx context.Context, p ReleaseParams) error

	// Recover makes every row claimed by p.ExecutorID (DueAt set, status
	// running or waiting) due now, and returns how many.
	Recover(ctx context.Context, p RecoverParams) (int, error)

	// Lister lists, counts and deletes executions (list.go).
	Lister
	// Leader holds named leases (lead.go).
	Leader
	// Controls keeps queues and schedules shared by every process
	// (queues.go).
	Controls

	// Subscribe registers fn to receive events. fn must not block. The
	// returned function unsubscribes.
	Subscribe(fn func(Event)) (unsubscribe func())

	// Close releases the store's resources.
	Close() error
}

// Sentinel errors. Stores wrap them with context.
var (
	ErrNotFound  = errors.New("not found")
	ErrDuplicate = errors.New("duplicate")
	// ErrClosed is returned by a store that has been closed.
	ErrClosed = errors.New("store closed")
	// ErrFatal is wrapped by an error after which the store cannot be used
	// safely, and retrying cannot help: its database is corrupt, say. An
	// engine that meets it stops claiming and running executions, and
	// reports it, instead of retrying. A store's own sentinel (such as the
	// SQLite store's ErrCorrupt) is wrapped beside it.
	ErrFatal = errors.New("store failed: cannot go on")
)

// AnyReady reports whether an insert of execs makes work for executors:
// whether any is ready (due now or after its delay). Stores publish
// Event.Ready for an insert only then: rows inserted claimed by their
// executor (direct start), sleeping or finished need no claim.
func AnyReady(execs []Execution) bool {
	for i := range execs {
		if execs[i].Status == StatusReady {
			return true
		}
	}
	return false
}

// ValidateExecution rejects an execution no store can insert: one without
// an ID or a TaskID, or with an unknown status. Stores call it on every row
// they insert.
func ValidateExecution(e *Execution) error {
	switch {
	case e.ID == "":
		return errors.New("execution with an empty ID")
	case e.TaskID == "":
		return fmt.Errorf("execution %s has an empty TaskID", e.ID)
	case !e.Status.Valid():
		return fmt.Errorf("execution %s has unknown status %q", e.ID, e.Status)
	}
	if err := ValidateTags(e.Tags); err != nil {
		return fmt.Errorf("execution %s: %w", e.ID, err)
	}
	if e.Queue != "" {
		if err := ValidateQueueName(e.Queue); err != nil {
			return fmt.Errorf("execution %s: %w", e.ID, err)
		}
	}
	if err := ValidatePriority(e.Priority); err != nil {
		return fmt.Errorf("execution %s: %w", e.ID, err)
	}
	if err := ValidateMetadata(e.Metadata); err != nil {
		return fmt.Errorf("execution %s: %w", e.ID, err)
	}
	if e.ActiveKey != "" {
		if err := ValidateActiveKey(e.ActiveKey); err != nil {
			return fmt.Errorf("execution %s: %w", e.ID, err)
		}
	}
	if e.ConcurrencyKey != "" {
		if err := ValidateConcurrencyKey(e.ConcurrencyKey); err != nil {
			return fmt.Errorf("execution %s: %w", e.ID, err)
		}
	}
	return nil
}

// MaxActiveKey is the longest ActiveKey, in bytes.
const MaxActiveKey = 255

// ValidateActiveKey rejects an ActiveKey no store can keep: an empty one,
// one over MaxActiveKey bytes, or one with a NUL byte.
func ValidateActiveKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty active key")
	case len(key) > MaxActiveKey:
		return fmt.Errorf("active key of %d bytes: at most %d", len(key), MaxActiveKey)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("active key %q holds a NUL byte", key)
	}
	return nil
}

// ActiveKeyError is the error of an Insert refused because a row's
// ActiveKey is held by an active execution. It wraps ErrDuplicate.
type ActiveKeyError struct {
	// Key is the ActiveKey refused.
	Key string
	// ID and TaskID name the active execution that holds it: a row
	// already stored, or one earlier in the same batch. They are empty
	// when a store that found the key held could not read its holder
	// before the holder finished (the key may be free again: inserting
	// again may succeed).
	ID, TaskID string
}

func (e *ActiveKeyError) Error() string {
	if e.ID == "" {
		return fmt.Sprintf("active key %q is held by an active execution: %v", e.Key, ErrDuplicate)
	}
	return fmt.Sprintf("active key %q is held by active execution %s (task %s): %v", e.Key, e.ID, e.TaskID, ErrDuplicate)
}

// Unwrap returns ErrDuplicate.
func (e *ActiveKeyError) Unwrap() error { return ErrDuplicate }
