package storagetest

import (
	"bytes"
	"time"

	"github.com/durable-go/durable/storage"
)

var insertChecks = []check{
	{"InsertCopiesInAndOut", checkInsertCopies},
	{"InsertDelays", checkInsertDelays},
	{"InsertDuplicateIDRejectsBatch", checkInsertDuplicateID},
	{"InsertDuplicateSleepKey", checkInsertDuplicateSleepKey},
	{"InsertRoundTrip", checkInsertRoundTrip},
	{"InsertSleeping", checkInsertSleeping},
	{"InsertClaimed", checkInsertClaimed},
}

// fullExecution returns a row with every field the caller controls set to a
// non-zero value, as a child of parent.
func fullExecution(parent storage.Execution, id string) storage.Execution {
	e := NewChild(parent, id, "task_full", 3)
	e.IsFinalize = true
	e.Output = []byte("output bytes")
	e.RunOutput = []byte{0, 1, 2, 255}
	e.Error = &storage.ErrorInfo{Kind: storage.ErrorKindPanic, Message: "boom", Retryable: true, Stack: "goroutine 1"}
	e.Retry = storage.RetryPolicy{MaxRetries: 5, BaseDelay: 1500 * time.Millisecond, Multiplier: 2.5, MaxDelay: time.Hour, Jitter: 0.25}
	e.Timeout = 90 * time.Second
	e.Attempt, e.Iteration, e.Crashes = 2, 7, 1
	e.Fence = 99 // the store resets it to 0
	e.ExecutorID = "exec-x"
	e.FailFast = true
	e.ChildrenTotal, e.ChildrenPending = 4, 2
	e.DueAt = At(time.Hour)      // the store computes it
	e.CreatedAt = At(-time.Hour) // the store sets it
	e.UpdatedAt = At(-time.Hour)
	e.StartedAt = At(-3 * time.Minute)
	e.FinishedAt = At(-2 * time.Minute)
	e.WaitingForChildrenAt = At(-90 * time.Second)
	e.WaitingForFinalizeAt = At(-time.Minute)
	e.ActiveKey = "key:" + id
	return e
}

func checkInsertRoundTrip(b *bundle) {
	// Now carries nanoseconds and a non-UTC zone: the store keeps at least
	// microseconds and returns UTC.
	now := At(1234567891 * time.Nanosecond).In(time.FixedZone("UTC+3", 3*3600))
	root := NewExecution("root", "task_root")
	parent := NewChild(root, "parent", "task_parent", 0)
	full := fullExecution(parent, "full")
	bare := storage.Execution{ID: "bare", TaskID: "task_bare", Status: storage.StatusReady, Input: []byte{}}
	b.insert(now, []time.Duration{0, 0, 5 * time.Second, 0}, root, parent, full, bare)

	want := full
	want.Fence = 0
	want.CreatedAt, want.UpdatedAt = now, now
	want.DueAt = now.Add(5 * time.Second)
	got := b.get("full")
	RequireExecution(b.t, want, got)
	requireUTC(b, got)

	want = bare
	want.CreatedAt, want.UpdatedAt, want.DueAt = now, now, now
	got = b.get("bare")
	RequireExecution(b.t, want, got)
	if got.Error != nil {
		b.t.Fatalf("row inserted without error: Error = %+v, want nil", *got.Error)
	}
	requireUTC(b, got)
}

// requireUTC fails unless every set time of e is in UTC.
func requireUTC(b *bundle, e storage.Execution) {
	b.t.Helper()
	for name, tm := range map[string]time.Time{
		"DueAt": e.DueAt, "CreatedAt": e.CreatedAt, "UpdatedAt": e.UpdatedAt,
		"StartedAt": e.StartedAt, "FinishedAt": e.FinishedAt,
		"WaitingForChildrenAt": e.WaitingForChildrenAt, "WaitingForFinalizeAt": e.WaitingForFinalizeAt,
	} {
		if !tm.IsZero() && tm.Location() != time.UTC {
			b.t.Fatalf("%s of %q is in %v, want UTC", name, e.ID, tm.Location())
		}
	}
}

func checkInsertDelays(b *bundle) {
	b.insert(Base, []time.Duration{0, 5 * time.Second, time.Hour},
		NewExecution("a", "task"), NewExecution("b", "task"), NewExecution("c", "task"))
	b.insert(At(time.Second), nil, NewExecution("d", "task"))
	for id, due := range map[string]time.Time{"a": Base, "b": At(5 * time.Second), "c": At(time.Hour), "d": At(time.Second)} {
		e := b.get(id)
		if !timeEqual(due, e.DueAt) || e.Fence != 0 || e.Status != storage.StatusReady {
			b.t.Fatalf("row %q: DueAt %v, Fence %d, Status %s; want DueAt %v, Fence 0, ready", id, e.DueAt, e.Fence, e.Status, due)
		}
	}
}

func checkInsertSleeping(b *bundle) {
	s := NewSleeping("s", "task_sleep", "key-1", 10*time.Minute)
	b.insert(Base, nil, s)
	want := s
	want.CreatedAt, want.UpdatedAt, want.StartedAt = Base, Base, Base
	want.DueAt = At(10 * time.Minute)
	b.require(want)
	got, err := b.s.GetBySleepKey(b.ctx, storage.GetBySleepKeyParams{SleepKey: "key-1"})
	if err != nil {
		b.t.Fatalf("GetBySleepKey: %v", err)
	}
	RequireExecution(b.t, want, got)
}

// checkInsertClaimed inserts a row claimed by its executor (an executor
// that runs what it enqueues at once): it is held exactly as if Claim had
// returned it, with Fence 0 and the lease given as its delay.
func checkInsertClaimed(b *bundle) {
	e := NewExecution("a", "task")
	e.Status, e.ExecutorID = storage.StatusRunning, "exec-a"
	b.insert(Base, []time.Duration{Lease}, e)
	want := e
	want.CreatedAt, want.UpdatedAt, want.StartedAt = Base, Base, Base
	want.DueAt = At(Lease)
	b.require(want)
	requireIDs(b.t, "Claim before the lease lapsed", []string{}, b.claimIDs(At(Lease-time.Second), "exec-b", 10, "task"))

	if lost := b.heartbeat(At(time.Second), Lease, storage.Lease{ID: "a", Fence: 0}); len(lost) != 0 {
		b.t.Fatalf("Heartbeat of the insert-time claim lost %v", lost)
	}
	if got := b.get("a").DueAt; !timeEqual(At(time.Second+Lease), got) {
		b.t.Fatalf("DueAt after the heartbeat: %v, want %v", got, At(time.Second+Lease))
	}
	b.mustApply(At(2*time.Second), storage.Transition{ID: "a", Fence: 0, From: storage.StatusRunning, To: storage.StatusCompleted, Output: []byte(`1`)})
	if got := b.get("a"); got.Status != storage.StatusCompleted || got.ExecutorID != "" || !got.DueAt.IsZero() {
		b.t.Fatalf("after completing the insert-time claim: status %s, executor %q, DueAt %v", got.Status, got.ExecutorID, got.DueAt)
	}

	// Its lease lapses like any claim's: another executor takes it over.
	l := NewExecution("l", "task")
	l.Status, l.ExecutorID = storage.StatusRunning, "exec-a"
	b.insert(Base, []time.Duration{Lease}, l)
	got := b.claimOne(At(Lease), "exec-b", "task", "l")
	if got.Fence != 1 || got.ExecutorID != "exec-b" || got.Crashes != 1 {
		b.t.Fatalf("take-over of a lapsed insert-time claim: fence %d, executor %q, crashes %d; want 1, exec-b, 1",
			got.Fence, got.ExecutorID, got.Crashes)
	}
}

func checkInsertDuplicateID(b *bundle) {
	b.insert(Base, nil, NewExecution("a", "task"))
	before := b.get("a")

	err := b.s.Insert(b.ctx, storage.InsertParams{Now: At(time.Second), Executions: []storage.Execution{
		NewExecution("b", "task"), NewExecution("a", "other"),
	}})
	requireErrIs(b.t, "Insert of an existing id", err, storage.ErrDuplicate)
	b.requireNotFound("b")
	b.requireUnchanged(before)

	err = b.s.Insert(b.ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{
		NewExecution("c", "task"), NewExecution("c", "task"),
	}})
	requireErrIs(b.t, "Insert of one id twice", err, storage.ErrDuplicate)
	b.requireNotFound("c")
}

func checkInsertDuplicateSleepKey(b *bundle) {
	b.insert(Base, nil, NewSleeping("s1", "task_sleep", "key", time.Hour))

	err := b.s.Insert(b.ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{
		NewExecution("x", "task"), NewSleeping("s2", "task_sleep", "key", time.Hour),
	}})
	requireErrIs(b.t, "Insert of an existing sleep key", err, storage.ErrDuplicate)
	b.requireNotFound("x")
	b.requireNotFound("s2")

	// The key stays taken after the sleeping row finished (woken).
	b.mustApply(At(time.Second), storage.Transition{
		ID: "s1", Fence: 0, From: storage.StatusRunning, To: storage.StatusCompleted, Output: []byte(`1`),
	})
	err = b.s.Insert(b.ctx, storage.InsertParams{Now: At(2 * time.Second), Executions: []storage.Execution{
		NewSleeping("s3", "task_sleep", "key", time.Hour),
	}})
	requireErrIs(b.t, "Insert of the sleep key of a finished row", err, storage.ErrDuplicate)
	b.requireNotFound("s3")

	err = b.s.Insert(b.ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{
		NewSleeping("s4", "task_sleep", "key-2", time.Hour), NewSleeping("s5", "task_sleep", "key-2", time.Hour),
	}})
	requireErrIs(b.t, "Insert of one sleep key twice", err, storage.ErrDuplicate)
	b.requireNotFound("s4")
}

func checkInsertCopies(b *bundle) {
	e := NewExecution("a", "task")
	e.Output = []byte("out")
	e.Error = &storage.ErrorInfo{Kind: "generic", Message: "m"}
	b.insert(Base, nil, e)
	want := deepCopy(b.get("a"))

	e.Input[0], e.Output[0] = 'X', 'X'
	e.Error.Message = "changed by the caller"
	b.require(want)

	got := b.get("a")
	got.Input[0], got.Output[0] = 'Y', 'Y'
	got.Error.Message = "changed by the reader"
	b.require(want)
}

// deepCopy returns e sharing no memory with the original.
func deepCopy(e storage.Execution) storage.Execution {
	e.Input = bytes.Clone(e.Input)
	e.Output = bytes.Clone(e.Output)
	e.RunOutput = bytes.Clone(e.RunOutput)
	if e.Error != nil {
		errCopy := *e.Error
		e.Error = &errCopy
	}
	return e
}
