package storagetest

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// check is one conformance check, run as a subtest on a fresh store.
type check struct {
	name string
	fn   func(b *bundle)
}

// storeChecks lists the store-level checks, one slice per file.
func storeChecks() []check {
	var all []check
	for _, group := range [][]check{
		insertChecks, readChecks, claimChecks, leaseChecks, completeChecks,
		cancelChecks, storeWideChecks, eventChecks, scenarioChecks, leadChecks, listChecks, metadataChecks, queueChecks,
		activeKeyChecks,
	} {
		all = append(all, group...)
	}
	return all
}

// Run runs every store-level check of the contract as a parallel subtest,
// in name order. Each subtest calls open to get a fresh, empty store; open
// registers the store's cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	checks := storeChecks()
	sort.Slice(checks, func(i, j int) bool { return checks[i].name < checks[j].name })
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(&bundle{t: t, s: open(t), ctx: t.Context()})
		})
	}
}

// bundle is what a check works with: its test, its store and short-hands
// that fail the test on unexpected errors.
type bundle struct {
	t   *testing.T
	s   storage.Store
	ctx context.Context
}

// insert inserts rows at now with the given delays (nil: none).
func (b *bundle) insert(now time.Time, delays []time.Duration, rows ...storage.Execution) {
	b.t.Helper()
	err := b.s.Insert(b.ctx, storage.InsertParams{Now: now, Executions: rows, Delays: delays})
	if err != nil {
		b.t.Fatalf("Insert: %v", err)
	}
}

// get returns a row, failing the test if it cannot.
func (b *bundle) get(id string) storage.Execution {
	b.t.Helper()
	e, err := b.s.Get(b.ctx, storage.GetParams{ID: id})
	if err != nil {
		b.t.Fatalf("Get(%q): %v", id, err)
	}
	return e
}

// requireNotFound fails the test unless row id is absent.
func (b *bundle) requireNotFound(id string) {
	b.t.Helper()
	_, err := b.s.Get(b.ctx, storage.GetParams{ID: id})
	if !errors.Is(err, storage.ErrNotFound) {
		b.t.Fatalf("Get(%q): want an error wrapping ErrNotFound, got %v", id, err)
	}
}

// claim claims up to limit rows of tasks at now with the suite's Lease.
func (b *bundle) claim(now time.Time, executor string, limit int, tasks ...string) []storage.Execution {
	b.t.Helper()
	rows, err := b.s.Claim(b.ctx, storage.ClaimParams{
		Now: now, ExecutorID: executor, TaskIDs: tasks, Limit: limit, Lease: Lease,
	})
	if err != nil {
		b.t.Fatalf("Claim: %v", err)
	}
	if len(rows) > max(limit, 0) {
		b.t.Fatalf("Claim with limit %d returned %d rows", limit, len(rows))
	}
	return rows
}

// claimIDs claims like claim and returns the ids in order.
func (b *bundle) claimIDs(now time.Time, executor string, limit int, tasks ...string) []string {
	b.t.Helper()
	return ids(b.claim(now, executor, limit, tasks...))
}

// claimOne claims the single due row of task, which must be id.
func (b *bundle) claimOne(now time.Time, executor, task, id string) storage.Execution {
	b.t.Helper()
	rows := b.claim(now, executor, 10, task)
	if len(rows) != 1 || rows[0].ID != id {
		b.t.Fatalf("Claim of task %q at %s: want [%s], got %v", task, now.Format(time.RFC3339), id, ids(rows))
	}
	return rows[0]
}

// complete applies transitions at now.
func (b *bundle) complete(now time.Time, trs ...storage.Transition) []storage.TransitionResult {
	b.t.Helper()
	res, err := b.s.Complete(b.ctx, storage.CompleteParams{Now: now, Transitions: trs})
	if err != nil {
		b.t.Fatalf("Complete: %v", err)
	}
	if len(res) != len(trs) {
		b.t.Fatalf("Complete: %d results for %d transitions", len(res), len(trs))
	}
	return res
}

// mustApply applies one transition and fails unless it applied cleanly.
func (b *bundle) mustApply(now time.Time, tr storage.Transition) {
	b.t.Helper()
	res := b.complete(now, tr)
	if !res[0].Applied || res[0].Err != nil {
		b.t.Fatalf("Complete of %q (%s -> %s, fence %d): applied=%v err=%v",
			tr.ID, tr.From, tr.To, tr.Fence, res[0].Applied, res[0].Err)
	}
}

// finish moves a claimed row (status running) to a terminal status.
func (b *bundle) finish(now time.Time, e storage.Execution, to storage.Status) {
	b.t.Helper()
	tr := storage.Transition{ID: e.ID, Fence: e.Fence, From: e.Status, To: to}
	if to == storage.StatusCompleted {
		tr.Output = []byte(`"done"`)
	} else {
		tr.Error = &storage.ErrorInfo{Kind: storage.ErrorKindGeneric, Message: "failed on purpose"}
	}
	b.mustApply(now, tr)
}

// running inserts a ready row of its own task (taskID = "t_" + id) at now
// and claims it; it returns the claimed row.
func (b *bundle) running(now time.Time, id string) storage.Execution {
	b.t.Helper()
	b.insert(now, nil, NewExecution(id, "t_"+id))
	return b.claimOne(now, "exec-1", "t_"+id, id)
}

// spawn makes a parent waiting_for_children on n children at now: the
// parent (task "t_" + id) is inserted, claimed and completed with children
// id + "-c0" … (task "t_" + child id). It returns the parent and children as
// stored.
func (b *bundle) spawn(now time.Time, id string, n int, failFast bool) (storage.Execution, []storage.Execution) {
	b.t.Helper()
	p := b.running(now, id)
	return b.spawnFrom(now, p, n, failFast)
}

// spawnFrom completes the claimed row p to waiting_for_children with n
// children, as spawn does.
func (b *bundle) spawnFrom(now time.Time, p storage.Execution, n int, failFast bool) (storage.Execution, []storage.Execution) {
	b.t.Helper()
	kids := make([]storage.Execution, n)
	for i := range kids {
		cid := p.ID + "-c" + strconv.Itoa(i)
		kids[i] = NewChild(p, cid, "t_"+cid, i)
	}
	b.mustApply(now, storage.Transition{
		ID: p.ID, Fence: p.Fence, From: p.Status, To: storage.StatusWaitingForChildren,
		RunOutput: []byte(`"run output"`), FailFast: failFast, Children: kids,
	})
	for i := range kids {
		kids[i] = b.get(kids[i].ID)
	}
	return b.get(p.ID), kids
}

// claimChild claims a child created by spawn.
func (b *bundle) claimChild(now time.Time, c storage.Execution) storage.Execution {
	b.t.Helper()
	return b.claimOne(now, "exec-1", c.TaskID, c.ID)
}

// require fails the test at once when the row differs from want.
func (b *bundle) require(want storage.Execution, ignore ...string) {
	b.t.Helper()
	RequireExecution(b.t, want, b.get(want.ID), ignore...)
}

// requireUnchanged fails unless the row is exactly as before.
func (b *bundle) requireUnchanged(before storage.Execution) {
	b.t.Helper()
	b.require(before)
}

func ids(rows []storage.Execution) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

func requireIDs(t testing.TB, what string, want, got []string) {
	t.Helper()
	if !slices.Equal(want, got) {
		t.Fatalf("%s: want %v, got %v", what, want, got)
	}
}

func requireErrIs(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: want an error wrapping %q, got %v", what, target, err)
	}
}

func requireContains(t testing.TB, what, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%s: %q does not contain %q", what, s, sub)
	}
}
