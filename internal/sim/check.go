package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// The invariants. Some are checked as things happen (a fence handed out,
// a run started, a result applied), the rest after every step that wrote
// to the store, and at the end.

// ledger is what the simulation saw happen, independent of the store (a
// crash of the store does not change it).
type ledger struct {
	known    []string        // every execution inserted, in order
	knownSet map[string]bool //
	roots    []root
	// handedTo holds every (execution, fence) the store handed out, and
	// to which executor; latest the highest fence per execution.
	handedTo map[storage.Lease]string
	latest   map[string]int64
	// ran holds every (execution, fence) a run started with.
	ran map[storage.Lease]bool
	// retries counts the retries written per execution and loop
	// iteration (a loop's retry policy applies to each iteration).
	retries map[iteration]int
	// renewals holds, per claim, when (in simulated time) its lease was
	// taken or extended, and the index of that write in the store's log
	// (a server crash forgets the writes past what it keeps);
	// recoveredClaims the claims a Recover gave up.
	renewals        map[storage.Lease][]renewal
	recoveredClaims map[storage.Lease]bool
	// takeovers counts the takeovers of lapsed leases, earlyTakeovers
	// those before the lease lapsed by the simulated time.
	takeovers, earlyTakeovers int
	// final holds the terminal rows seen, as first seen.
	final  map[string]storage.Execution
	faults int
	// writes is the store's write count at the last check.
	writes int
}

// iteration names one iteration of an execution (0 but for loops).
type iteration struct {
	id string
	n  int
}

func (l *ledger) init() {
	l.knownSet = map[string]bool{}
	l.handedTo = map[storage.Lease]string{}
	l.latest = map[string]int64{}
	l.ran = map[storage.Lease]bool{}
	l.retries = map[iteration]int{}
	l.final = map[string]storage.Execution{}
	l.renewals = map[storage.Lease][]renewal{}
	l.recoveredClaims = map[storage.Lease]bool{}
}

// renewal is one write of a lease: at (simulated time), the index of the
// write in the store's log.
type renewal struct {
	at  time.Time
	log int
}

func (s *sim) inserted(rows []storage.Execution) {
	for _, r := range rows {
		if !s.knownSet[r.ID] {
			s.knownSet[r.ID] = true
			s.known = append(s.known, r.ID)
		}
	}
}

// handed checks that no fencing token is handed out twice for one
// execution, and that a takeover took a lease that lapsed.
func (s *sim) handed(id string, fence int64, executor string, takeover bool) {
	k := storage.Lease{ID: id, Fence: fence}
	if prev, ok := s.handedTo[k]; ok {
		s.fail("fencing token %d of execution %s handed out twice: to %s, then to %s", fence, short(id), prev, executor)
		return
	}
	s.handedTo[k] = executor
	if fence > s.latest[id] {
		s.latest[id] = fence
	}
	if takeover {
		s.checkTakeover(storage.Lease{ID: id, Fence: fence - 1}, executor)
	}
	s.renewals[k] = append(s.renewals[k], renewal{at: s.now, log: len(s.store.log)})
}

// checkTakeover: a lease is taken over once it lapsed, by the simulated
// time, or earlier by no more than the executors' clocks may disagree
// when the store takes their time (nothing when it judges by its own
// clock). A lease given up by a Recover may be taken at once.
func (s *sim) checkTakeover(prev storage.Lease, by string) {
	s.takeovers++
	rs := s.renewals[prev]
	if len(rs) == 0 || s.recoveredClaims[prev] {
		return
	}
	early := rs[len(rs)-1].at.Add(leaseDuration).Sub(s.now)
	if early <= 0 {
		return
	}
	s.earlyTakeovers++
	// Stores keep times to the microsecond: a lease's expiry is written
	// up to a microsecond early.
	allowed := time.Microsecond
	if s.prof.executorClocks {
		allowed += 2 * s.maxSkew()
	}
	if early > allowed {
		s.fail("the lease of %s:f%d was taken over by %s %s before it lapsed (last renewed at %s; the clocks may disagree by %s)",
			short(prev.ID), prev.Fence, by, early, rs[len(rs)-1].at.Sub(epoch), allowed)
	}
}

// renewed records the leases a heartbeat extended.
func (s *sim) renewed(leases []storage.Lease) {
	for _, l := range leases {
		s.renewals[l] = append(s.renewals[l], renewal{at: s.now, log: len(s.store.log)})
	}
}

// recovered records the claims of executor a Recover gave up.
func (s *sim) recovered(executor string) {
	for l, to := range s.handedTo {
		if to == executor {
			s.recoveredClaims[l] = true
		}
	}
}

// forgetRenewals forgets the renewals a server crash lost: those written
// at or past index kept of the store's log.
func (s *sim) forgetRenewals(kept int) {
	for l, rs := range s.renewals {
		s.renewals[l] = slices.DeleteFunc(rs, func(r renewal) bool { return r.log >= kept })
	}
}

// recordRun is called by every run, first thing: no (execution, fence)
// starts twice, every run holds a claim handed to its executor, and no
// run starts past its retry policy or crash budget.
func (s *sim) recordRun(c context.Context) {
	info, ok := durable.Info(c)
	if !ok {
		s.fail("a run without RunInfo")
		return
	}
	k := storage.Lease{ID: info.ExecutionID, Fence: info.Fence}
	switch {
	case s.ran[k]:
		s.fail("execution %s (%s) started twice with fence %d (now by %s)", short(k.ID), info.TaskID, k.Fence, info.ExecutorID)
	case s.handedTo[k] != info.ExecutorID:
		s.fail("execution %s runs on %s with fence %d, which was handed to %q", short(k.ID), info.ExecutorID, k.Fence, s.handedTo[k])
	case info.Attempt > jobRetries:
		s.fail("execution %s runs attempt %d, past its %d retries", short(k.ID), info.Attempt, jobRetries)
	case info.Crashes > crashBudget:
		s.fail("execution %s runs after %d crashes, past its crash budget of %d", short(k.ID), info.Crashes, crashBudget)
	}
	s.ran[k] = true
	s.tracef("%s runs %s(%s f%d a%d i%d c%d)", info.ExecutorID, short(k.ID), info.TaskID, k.Fence, info.Attempt, info.Iteration, info.Crashes)
}

// applied checks each transition the store applied: it came from the
// latest claim of its execution (or, for a sleeping row never claimed,
// from a Wake with its fence), and a retry stays within the policy.
func (s *sim) applied(tr storage.Transition, before storage.Execution) {
	if tr.Fence != s.latest[tr.ID] {
		s.fail("a result from a stale claim was accepted: execution %s %s->%s with fence %d, the latest fence handed out is %d",
			short(tr.ID), tr.From, tr.To, tr.Fence, s.latest[tr.ID])
	}
	if tr.To == storage.StatusReady && tr.From == storage.StatusRunning && tr.Error != nil {
		k := iteration{tr.ID, tr.Iteration}
		s.retries[k]++
		if s.retries[k] > before.Retry.MaxRetries {
			s.fail("execution %s retried %d times, its policy allows %d", short(tr.ID), s.retries[k], before.Retry.MaxRetries)
		}
	}
	s.inserted(tr.Children)
}

// checkStep checks the rows after a step that wrote to the store.
func (s *sim) checkStep() {
	if s.store.writes == s.writes || s.violation != nil {
		return
	}
	s.writes = s.store.writes
	var limited []string            // the running executions of the limited queue
	perKey := map[string][]string{} // and by concurrency key
	for _, id := range s.known {
		row, ok := s.store.peek(id)
		if !ok {
			s.fail("execution %s is gone from the store", short(id))
			return
		}
		s.checkRow(row)
		if s.violation != nil {
			return
		}
		if row.Queue == limitedQueue && row.Status == storage.StatusRunning && row.SleepKey == "" {
			limited = append(limited, short(row.ID))
			if row.ConcurrencyKey != "" { // a row without a key is not limited by it
				perKey[row.ConcurrencyKey] = append(perKey[row.ConcurrencyKey], short(row.ID))
			}
		}
	}
	if s.prof.limit > 0 && len(limited) > s.prof.limit {
		s.fail("queue %s has %d executions running (%s), above its limit of %d",
			limitedQueue, len(limited), strings.Join(limited, ", "), s.prof.limit)
		return
	}
	if s.prof.perKey > 0 {
		for _, k := range slices.Sorted(maps.Keys(perKey)) {
			if ids := perKey[k]; len(ids) > s.prof.perKey {
				s.fail("queue %s has %d executions of key %q running (%s), above its limit of %d per key",
					limitedQueue, len(ids), k, strings.Join(ids, ", "), s.prof.perKey)
				return
			}
		}
	}
	s.checkLiveClaims()
}

// checkRow: a terminal row never changes, a finished parent's children
// are finished, the counts stay within their limits.
func (s *sim) checkRow(row storage.Execution) {
	if was, ok := s.final[row.ID]; ok {
		if row.Status != was.Status || !bytes.Equal(row.Output, was.Output) || row.Fence != was.Fence {
			s.fail("terminal execution %s changed: %s f%d -> %s f%d", short(row.ID), was.Status, was.Fence, row.Status, row.Fence)
		}
		return
	}
	switch {
	case row.Attempt > row.Retry.MaxRetries:
		s.fail("execution %s is at attempt %d, past its %d retries", short(row.ID), row.Attempt, row.Retry.MaxRetries)
	case !row.Status.Terminal():
		return
	}
	s.final[row.ID] = row
	if row.ChildrenTotal == 0 {
		return
	}
	for _, c := range s.store.children(row.ID) {
		if !c.Status.Terminal() {
			s.fail("parent %s ended %s but its child %s is %s", short(row.ID), row.Status, short(c.ID), c.Status)
			return
		}
	}
}

// checkLiveClaims: at most one executor holds the live claim of an
// execution (its lease's fence is the row's).
func (s *sim) checkLiveClaims() {
	holder := map[string]*node{}
	for _, n := range s.nodes {
		if !n.alive {
			continue
		}
		for _, l := range n.steps.Held() {
			row, ok := s.store.peek(l.ID)
			if !ok || row.Fence != l.Fence || row.Status.Terminal() {
				continue
			}
			if other := holder[l.ID]; other != nil {
				s.fail("execution %s has two live claims with fence %d: %s and %s", short(l.ID), l.Fence, other, n)
				return
			}
			holder[l.ID] = n
		}
	}
}

// checkRuns: a run whose function works holds its claim, or its context
// is done. An executor that lost a claim (a heartbeat found its lease
// taken, it claimed the execution again itself, its store failed) must
// interrupt the run: else the run goes on unseen by the heartbeats and
// shutdown, and its slot is taken until the function returns on its own.
func (s *sim) checkRuns() {
	for _, n := range s.nodes {
		if !n.alive || s.violation != nil {
			continue
		}
		var held []storage.Lease
		for _, co := range n.runs {
			if co.ctx == nil || co.finished || co.ctx.Err() != nil {
				continue
			}
			if held == nil {
				held = n.steps.Held()
			}
			if !slices.Contains(held, co.lease) {
				s.fail("run %s on %s goes on without its claim (the executor holds %s), and its context is not done",
					co.what, n, leasesString(held))
				return
			}
		}
	}
}

// crashBudgetFailures counts the executions that failed on their crash
// budget.
func (s *sim) crashBudgetFailures() int {
	n := 0
	for _, id := range s.known {
		if row, ok := s.store.peek(id); ok && row.Error != nil && row.Error.Kind == storage.ErrorKindCrashBudget {
			n++
		}
	}
	return n
}

// allFinished reports whether every execution is finished.
func (s *sim) allFinished() bool {
	for _, id := range s.known {
		if row, ok := s.store.peek(id); !ok || !row.Status.Terminal() {
			return false
		}
	}
	return true
}

// unfinished lists the executions not finished, for a liveness failure.
func (s *sim) unfinished() string {
	var parts []string
	for _, id := range s.known {
		if row, ok := s.store.peek(id); ok && !row.Status.Terminal() {
			parts = append(parts, fmt.Sprintf("%s(%s %s f%d due %s)", short(id), row.TaskID, row.Status, row.Fence, row.DueAt.Sub(epoch)))
		}
	}
	return strings.Join(parts, " ")
}

// checkEnd checks what can be checked once everything finished: the
// outputs of parents and the inputs of finalizes hold their children's
// results in order, and Wait returns the stored result.
func (s *sim) checkEnd() {
	for _, id := range s.known {
		row, _ := s.store.peek(id)
		switch {
		case row.TaskID == "fan" && row.Status == storage.StatusCompleted:
			s.checkChildren(row, row.Output, row.ID, "output")
		case row.IsFinalize:
			s.checkChildren(row, row.Input, row.ParentID, "finalize input")
		}
		if s.violation != nil {
			return
		}
	}
	for _, r := range s.roots {
		s.checkWait(r)
		if s.violation != nil {
			return
		}
	}
}

// parentPayload is the stored form of a ParentOutput or FinalizeInput.
type parentPayload struct {
	Children []struct {
		ExecutionID string          `json:"execution_id"`
		Index       int             `json:"index"`
		Status      string          `json:"status"`
		Output      json.RawMessage `json:"output"`
	} `json:"children"`
}

// checkChildren compares the children results in payload (of row) with
// the children of parent as stored, in order, the finalize left out.
func (s *sim) checkChildren(row storage.Execution, payload []byte, parent, what string) {
	var p parentPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		s.fail("%s of %s does not decode: %v", what, short(row.ID), err)
		return
	}
	var kids []storage.Execution
	for _, c := range s.store.children(parent) {
		if !c.IsFinalize {
			kids = append(kids, c)
		}
	}
	if len(p.Children) != len(kids) {
		s.fail("%s of %s holds %d children results, the parent has %d children", what, short(row.ID), len(p.Children), len(kids))
		return
	}
	for i, c := range kids {
		got := p.Children[i]
		switch {
		case got.ExecutionID != c.ID || got.Index != c.ChildIndex:
			s.fail("%s of %s: result %d is child %s (index %d), the child at %d is %s", what, short(row.ID), i, short(got.ExecutionID), got.Index, i, short(c.ID))
		case got.Status != string(c.Status):
			s.fail("%s of %s: child %s is %s there, %s in the store", what, short(row.ID), short(c.ID), got.Status, c.Status)
		case c.Status == storage.StatusCompleted && !bytes.Equal(compact(got.Output), compact(c.Output)):
			s.fail("%s of %s: child %s output %s, stored %s", what, short(row.ID), short(c.ID), got.Output, c.Output)
		}
		if s.violation != nil {
			return
		}
	}
}

func compact(b []byte) []byte {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return b
	}
	return out.Bytes()
}

// checkWait: the client's Wait on a root returns the stored result.
func (s *sim) checkWait(r root) {
	row, _ := s.store.peek(r.id)
	got, err := r.kind.wait(s.client.tasks, r.id, row.Output)
	switch {
	case err != nil:
		s.fail("Wait on %s: %v", short(r.id), err)
	case got.Status != durable.Status(row.Status) || got.Attempt != row.Attempt || !got.FinishedAt.Equal(row.FinishedAt):
		s.fail("Wait on %s returned %s attempt %d, the store holds %s attempt %d", short(r.id), got.Status, got.Attempt, row.Status, row.Attempt)
	case row.Status != storage.StatusCompleted && (got.Err == nil || row.Error == nil || got.Err.Message != row.Error.Message):
		s.fail("Wait on %s returned error %v, the store holds %+v", short(r.id), got.Err, row.Error)
	case row.Status == storage.StatusCompleted && !bytes.Equal(got.output, got.stored):
		s.fail("Wait on %s returned output %s, the store holds %s", short(r.id), got.output, got.stored)
	}
}

// waitedRow is what Wait returned, its output encoded again, beside the
// stored output decoded into the same type and encoded again.
type waitedRow struct {
	durable.Execution[struct{}]
	output, stored []byte
}

// waitAs waits on execution id as a task's handle would.
func waitAs[I, O any](t *durable.Task[I, O], id string, stored []byte) (waitedRow, error) {
	h, err := t.Handle(ctx(), id)
	if err != nil {
		return waitedRow{}, err
	}
	return waited(h, stored)
}

func waited[O any](h *durable.Handle[O], stored []byte) (waitedRow, error) {
	x, err := h.Wait(ctx())
	if err != nil {
		return waitedRow{}, err
	}
	out := waitedRow{Execution: durable.Execution[struct{}]{ID: x.ID, Status: x.Status, Err: x.Err, Attempt: x.Attempt, FinishedAt: x.FinishedAt}}
	if x.Status != durable.StatusCompleted {
		return out, nil
	}
	var want O
	if err := json.Unmarshal(stored, &want); err != nil {
		return out, err
	}
	if out.output, err = json.Marshal(x.Output); err != nil {
		return out, err
	}
	out.stored, err = json.Marshal(want)
	return out, err
}
