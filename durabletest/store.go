package durabletest

import (
	"context"
	"slices"
	"sync"

	"github.com/durable-go/durable/storage"
)

// recorder wraps the env's store. It passes every call through, and
// watches the writes:
//
//   - it records the id of every execution stored (by Insert, and as a
//     child of an applied transition of Complete), in the order stored,
//     and their task ids;
//   - it records the executions the env's executor claimed (by Claim, or
//     inserted claimed: direct start), which it may hold still: the env
//     reads those, not every row, to tell whether the executor is at work;
//   - it counts the writes begun and ended (version), so that the env can
//     tell a consistent reading of the rows (no write began or ended while
//     it read) and wait for the next write instead of sleeping; and the
//     writes that made progress (progress: every write but a heartbeat and
//     a claim that took nothing), so that pokes answered by empty claims
//     are not mistaken for progress;
//   - it counts the rows claimed (by Claim, and inserted claimed: direct
//     start), to bound a run, and remembers the task ids of the last claim
//     begun after a given moment, to tell a task that is not registered;
//   - it lets the env publish Ready to the executor (poke): rows the fake
//     clock made due are news to the executor, as the store would say of
//     rows it made due itself.
//
// Methods it does not override (reads, and those added to storage.Store
// later) go to the wrapped store unchanged: embedding is safe here since
// the wrapped store implements them. So do the optional interfaces the
// engine looks for, storage.Lister and storage.Leader (Executor.List,
// Retry, Delete, the retention cleaner), which the memory store has; a
// Delete counts as a write, and DeleteExpired when it deletes rows.
type recorder struct {
	storage.Store
	lister storage.Lister
	leader storage.Leader

	mu       sync.Mutex
	ids      []string
	known    map[string]bool
	version  uint64        // incremented when a write begins and when it ends
	writing  int           // writes begun and not ended
	changed  chan struct{} // closed (and replaced) when version moves
	progress uint64        // writes ended that changed something (not heartbeats, not empty claims)
	claimed  int           // rows claimed so far, direct starts included

	self  string              // the env's executor id
	held  map[string]struct{} // executions claimed by self, perhaps held still
	tasks map[string]struct{} // the task ids of every execution stored

	claimsBegun uint64   // Claim calls begun
	lastClaim   uint64   // the latest-begun Claim call that has ended (its number)
	claimTasks  []string // the task ids that call asked for: those registered then

	subs storage.Subscribers // the executor, to poke
}

var (
	_ storage.Store  = (*recorder)(nil)
	_ storage.Lister = (*recorder)(nil)
	_ storage.Leader = (*recorder)(nil)
)

// newRecorder wraps s, which must be a storage.Lister and a
// storage.Leader (the memory store is).
func newRecorder(s interface {
	storage.Store
	storage.Lister
	storage.Leader
}) *recorder {
	return &recorder{Store: s, lister: s, leader: s, known: map[string]bool{}, changed: make(chan struct{}),
		held: map[string]struct{}{}, tasks: map[string]struct{}{}}
}

// setSelf names the env's executor, before it claims anything.
func (r *recorder) setSelf(id string) {
	r.mu.Lock()
	r.self = id
	r.mu.Unlock()
}

// begin marks a write begun.
func (r *recorder) begin() {
	r.mu.Lock()
	r.writing++
	r.bumpLocked()
	r.mu.Unlock()
}

// end marks a write ended; progressed says whether it changed anything,
// stored lists the executions it stored, claimed those it claimed for
// executor.
func (r *recorder) end(progressed bool, stored []storage.Execution, executor string, claimed []storage.Execution) {
	r.mu.Lock()
	if progressed {
		r.progress++
	}
	for i := range stored {
		if id := stored[i].ID; !r.known[id] {
			r.known[id] = true
			r.ids = append(r.ids, id)
			r.tasks[stored[i].TaskID] = struct{}{}
		}
	}
	if executor != "" && executor == r.self {
		for i := range claimed {
			r.held[claimed[i].ID] = struct{}{}
		}
	}
	r.claimed += len(claimed)
	r.writing--
	r.bumpLocked()
	r.mu.Unlock()
}

func (r *recorder) bumpLocked() {
	r.version++
	close(r.changed)
	r.changed = make(chan struct{})
}

// mark is the state of the writes at one moment: a reading of the rows
// made between two equal marks, with no write going on, is consistent.
type mark struct {
	version  uint64
	writing  int
	changed  <-chan struct{} // closed at the next write's beginning or end
	progress uint64
}

func (r *recorder) mark() mark {
	r.mu.Lock()
	defer r.mu.Unlock()
	return mark{version: r.version, writing: r.writing, changed: r.changed, progress: r.progress}
}

// heldIDs returns the executions the env's executor claimed and may hold
// still.
func (r *recorder) heldIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.held))
	for id := range r.held {
		ids = append(ids, id)
	}
	return ids
}

// release forgets claims the executor no longer holds, read at version:
// only if no write began or ended since (a claim since may have taken one
// of them again).
func (r *recorder) release(version uint64, ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.version != version {
		return
	}
	for _, id := range ids {
		delete(r.held, id)
	}
}

// taskIDs returns the task ids of every execution stored.
func (r *recorder) taskIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.tasks))
	for id := range r.tasks {
		ids = append(ids, id)
	}
	return ids
}

// stored returns the ids of the executions stored so far, in order.
func (r *recorder) stored() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

// claims returns how many rows were claimed so far.
func (r *recorder) claims() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claimed
}

// lastTaskIDs returns the task ids of the latest-begun claim that has
// ended, and whether it began after the claim numbered after (a count of
// claims begun, as poke returns).
func (r *recorder) lastTaskIDs(after uint64) ([]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.claimTasks, r.lastClaim > after
}

// poke tells the executor that rows may be due now. It returns how many
// claims had begun before: the executor's answer is a claim numbered
// higher.
func (r *recorder) poke() uint64 {
	r.mu.Lock()
	n := r.claimsBegun
	r.mu.Unlock()
	r.subs.Publish(storage.Event{Ready: true})
	return n
}

func (r *recorder) Insert(ctx context.Context, p storage.InsertParams) error {
	r.begin()
	err := r.Store.Insert(ctx, p)
	var stored, claimed []storage.Execution
	executor := ""
	if err == nil {
		stored = p.Executions
		for i := range p.Executions {
			x := &p.Executions[i]
			if x.Status == storage.StatusRunning && x.SleepKey == "" && x.ExecutorID != "" {
				claimed = append(claimed, *x) // inserted claimed by its executor: a direct start
				executor = x.ExecutorID
			}
		}
	}
	r.end(err == nil, stored, executor, claimed)
	return err
}

func (r *recorder) Claim(ctx context.Context, p storage.ClaimParams) ([]storage.Execution, error) {
	r.begin()
	r.mu.Lock()
	r.claimsBegun++
	n := r.claimsBegun
	r.mu.Unlock()
	rows, err := r.Store.Claim(ctx, p)
	r.mu.Lock()
	if n > r.lastClaim {
		r.lastClaim, r.claimTasks = n, slices.Clone(p.TaskIDs)
	}
	r.mu.Unlock()
	r.end(len(rows) > 0, nil, p.ExecutorID, rows)
	return rows, err
}

func (r *recorder) Complete(ctx context.Context, p storage.CompleteParams) ([]storage.TransitionResult, error) {
	r.begin()
	res, err := r.Store.Complete(ctx, p)
	var children []storage.Execution
	if err == nil {
		for i := range p.Transitions {
			if i < len(res) && res[i].Applied && res[i].Err == nil {
				children = append(children, p.Transitions[i].Children...)
			}
		}
	}
	r.end(true, children, "", nil)
	return res, err
}

func (r *recorder) Cancel(ctx context.Context, p storage.CancelParams) (bool, error) {
	r.begin()
	defer r.end(true, nil, "", nil)
	return r.Store.Cancel(ctx, p)
}

func (r *recorder) Heartbeat(ctx context.Context, p storage.HeartbeatParams) ([]storage.Lease, error) {
	r.begin()
	defer r.end(false, nil, "", nil)
	return r.Store.Heartbeat(ctx, p)
}

func (r *recorder) Release(ctx context.Context, p storage.ReleaseParams) error {
	r.begin()
	defer r.end(true, nil, "", nil)
	return r.Store.Release(ctx, p)
}

func (r *recorder) Recover(ctx context.Context, p storage.RecoverParams) (int, error) {
	r.begin()
	defer r.end(true, nil, "", nil)
	return r.Store.Recover(ctx, p)
}

// Subscribe subscribes fn to the wrapped store's events and to the pokes.
func (r *recorder) Subscribe(fn func(storage.Event)) (unsubscribe func()) {
	a := r.Store.Subscribe(fn)
	b := r.subs.Subscribe(fn)
	return func() { a(); b() }
}

func (r *recorder) List(ctx context.Context, p storage.ListParams) ([]storage.Execution, error) {
	return r.lister.List(ctx, p)
}

func (r *recorder) Count(ctx context.Context, p storage.CountParams) ([]storage.Count, error) {
	return r.lister.Count(ctx, p)
}

func (r *recorder) Delete(ctx context.Context, p storage.DeleteParams) (int, error) {
	r.begin()
	defer r.end(true, nil, "", nil)
	return r.lister.Delete(ctx, p)
}

func (r *recorder) DeleteExpired(ctx context.Context, p storage.DeleteExpiredParams) (storage.DeleteExpiredResult, error) {
	r.begin()
	res, err := r.lister.DeleteExpired(ctx, p)
	r.end(res.Rows > 0, nil, "", nil)
	return res, err
}

func (r *recorder) Lead(ctx context.Context, p storage.LeadParams) (bool, error) {
	r.begin()
	defer r.end(false, nil, "", nil)
	return r.leader.Lead(ctx, p)
}
