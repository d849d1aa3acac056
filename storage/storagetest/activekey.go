package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

var activeKeyChecks = []check{
	{"ActiveKeyConcurrentInsertsOneWins", checkActiveKeyConcurrent},
	{"ActiveKeyFreedByEveryTerminalStatus", checkActiveKeyFreed},
	{"ActiveKeyFreedByCascade", checkActiveKeyCascade},
	{"ActiveKeyHeldWhileActive", checkActiveKeyHeld},
	{"ActiveKeyHeldClaimedAtInsert", checkActiveKeyClaimedAtInsert},
	{"ActiveKeyTwiceInOneBatch", checkActiveKeyBatch},
}

// keyed returns a new ready execution of task holding the active key.
func keyed(id, task, key string) storage.Execution {
	e := NewExecution(id, task)
	e.ActiveKey = key
	return e
}

// requireHeld inserts a row with key and fails unless Insert refuses it
// with an *ActiveKeyError naming holder; the row must not be stored.
func (b *bundle) requireHeld(now time.Time, key string, holder storage.Execution, why string) {
	b.t.Helper()
	probe := keyed(fmt.Sprintf("probe-%s-%d", key, now.UnixNano()), "task_probe", key)
	err := b.s.Insert(b.ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{probe}})
	var ak *storage.ActiveKeyError
	if !errors.As(err, &ak) || !errors.Is(err, storage.ErrDuplicate) {
		b.t.Fatalf("%s: Insert of active key %q: want an *ActiveKeyError wrapping ErrDuplicate, got %v", why, key, err)
	}
	if ak.Key != key || ak.ID != holder.ID || ak.TaskID != holder.TaskID {
		b.t.Fatalf("%s: ActiveKeyError{Key %q, ID %q, TaskID %q}, want {%q, %q, %q}",
			why, ak.Key, ak.ID, ak.TaskID, key, holder.ID, holder.TaskID)
	}
	b.requireNotFound(probe.ID)
}

// requireFree inserts a row of key, which must succeed, and returns it as
// stored.
func (b *bundle) requireFree(now time.Time, id, key, why string) storage.Execution {
	b.t.Helper()
	e := keyed(id, "task_next", key)
	if err := b.s.Insert(b.ctx, storage.InsertParams{Now: now, Executions: []storage.Execution{e}}); err != nil {
		b.t.Fatalf("%s: Insert of active key %q: %v, want the key free", why, key, err)
	}
	return b.get(id)
}

// checkActiveKeyHeld: a row holds its key while ready, running (its lease
// lapsed or not), back to ready for a retry, and waiting for its
// children; the key is kept on the row.
func checkActiveKeyHeld(b *bundle) {
	a := keyed("a", "task_a", "k")
	b.insert(Base, nil, a)
	if got := b.get("a"); got.ActiveKey != "k" {
		b.t.Fatalf("ActiveKey read back %q, want %q", got.ActiveKey, "k")
	}
	b.requireHeld(Base, "k", a, "ready")
	run := b.claimOne(Base, "exec-1", "task_a", "a")
	b.requireHeld(Base, "k", a, "running")
	b.requireHeld(At(time.Hour), "k", a, "running, its lease lapsed")
	b.mustApply(Base, storage.Transition{ID: "a", Fence: run.Fence, From: storage.StatusRunning,
		To: storage.StatusReady, Delay: time.Minute, Attempt: 1})
	b.requireHeld(Base, "k", a, "ready for a retry")
	run = b.claimOne(At(time.Minute), "exec-1", "task_a", "a")
	b.spawnFrom(At(time.Minute), run, 1, true)
	b.requireHeld(At(time.Minute), "k", a, "waiting for its children")
	// Other keys, and rows without one, are not affected.
	b.insert(At(time.Minute), nil, keyed("b", "task_a", "other"), NewExecution("c", "task_a"), NewExecution("d", "task_a"))
	b.requireHeld(At(time.Minute), "other", b.get("b"), "another key")
}

// checkActiveKeyClaimedAtInsert: a row inserted claimed by its executor
// (direct start) holds its key as a ready one does.
func checkActiveKeyClaimedAtInsert(b *bundle) {
	e := keyed("a", "task_a", "k")
	e.Status, e.ExecutorID = storage.StatusRunning, "exec-a"
	b.insert(Base, []time.Duration{Lease}, e)
	b.requireHeld(Base, "k", e, "claimed at insert")
}

// checkActiveKeyBatch: two rows of one batch with one key fail the batch,
// and a batch whose key is held stores none of its rows.
func checkActiveKeyBatch(b *bundle) {
	err := b.s.Insert(b.ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{
		NewExecution("x", "task"), keyed("a", "task", "k"), keyed("b", "task", "k"),
	}})
	requireErrIs(b.t, "Insert of one active key twice in a batch", err, storage.ErrDuplicate)
	for _, id := range []string{"x", "a", "b"} {
		b.requireNotFound(id)
	}
	h := keyed("h", "task", "k")
	b.insert(Base, nil, h)
	err = b.s.Insert(b.ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{
		NewExecution("y", "task"), keyed("c", "task", "free"), keyed("d", "task", "k"),
	}})
	var ak *storage.ActiveKeyError
	if !errors.As(err, &ak) || ak.ID != "h" {
		b.t.Fatalf("Insert of a batch with a held key: want an *ActiveKeyError naming h, got %v", err)
	}
	for _, id := range []string{"y", "c", "d"} {
		b.requireNotFound(id)
	}
	b.requireFree(Base, "e", "free", "the key of a refused batch")
}

// checkActiveKeyFreed: each way a row becomes terminal frees its key, and
// the finished row keeps it.
func checkActiveKeyFreed(b *bundle) {
	now := Base
	for i, to := range []storage.Status{storage.StatusCompleted, storage.StatusFailed, storage.StatusTimedOut,
		storage.StatusChildrenFailed, storage.StatusFinalizeFailed, storage.StatusCancelled} {
		key := "k-" + string(to)
		id := fmt.Sprintf("a%d", i)
		b.insert(now, nil, keyed(id, "task_"+id, key))
		run := b.claimOne(now, "exec-1", "task_"+id, id)
		b.requireHeld(now, key, run, "running")
		b.finish(now, run, to)
		if got := b.get(id); got.ActiveKey != key {
			b.t.Fatalf("%s row: ActiveKey %q, want %q kept", to, got.ActiveKey, key)
		}
		b.requireFree(now, id+"-next", key, string(to))
	}
	// Cancel, of a ready row and of a running one.
	b.insert(now, nil, keyed("r", "task_r", "k-ready"))
	b.cancel(now, "r")
	b.requireFree(now, "r-next", "k-ready", "cancel of a ready row")
	run := b.running(now, "s")
	b.insert(now, nil, keyed("s2", "task_s2", "k-run"))
	run2 := b.claimOne(now, "exec-1", "task_s2", "s2")
	b.cancel(now, run2.ID)
	b.requireFree(now, "s2-next", "k-run", "cancel of a running row")
	b.finish(now, run, storage.StatusCompleted)
	// The next holder of a freed key holds it in turn.
	b.requireHeld(now, "k-run", b.get("s2-next"), "the new holder")
}

// checkActiveKeyCascade: keyed children cancelled by their parent's end,
// or by a Cancel of the tree, free their keys.
func checkActiveKeyCascade(b *bundle) {
	for _, byCancel := range []bool{false, true} {
		id := fmt.Sprintf("p%v", byCancel)
		p := b.running(Base, id)
		kids := []storage.Execution{NewChild(p, id+"-c0", "t_c", 0), NewChild(p, id+"-c1", "t_c", 1)}
		kids[0].ActiveKey, kids[1].ActiveKey = id+"-k0", id+"-k1"
		b.mustApply(Base, storage.Transition{ID: p.ID, Fence: p.Fence, From: p.Status,
			To: storage.StatusWaitingForChildren, FailFast: true, Children: kids})
		b.requireHeld(Base, id+"-k0", kids[0], "a waiting child")
		if byCancel {
			b.cancel(Base, p.ID)
		} else {
			// The parent's continuation fails it: its children are cancelled.
			b.cancel(Base, kids[0].ID)
			cont := b.claimOne(Base, "exec-1", p.TaskID, p.ID)
			b.finish(Base, cont, storage.StatusChildrenFailed)
		}
		for i, k := range kids {
			if got := b.get(k.ID); got.Status != storage.StatusCancelled {
				b.t.Fatalf("child %s: %s, want cancelled", k.ID, got.Status)
			}
			b.requireFree(Base, fmt.Sprintf("%s-next%d", id, i), k.ActiveKey, "a child cancelled by its parent")
		}
	}
}

// checkActiveKeyConcurrent: of many concurrent inserts of one key, exactly
// one succeeds, and every other names it.
func checkActiveKeyConcurrent(b *bundle) {
	const inserters = 16
	var mu sync.Mutex
	var won []string
	lost := map[string]string{} // loser -> the holder its error named
	var wg sync.WaitGroup
	for i := range inserters {
		id := fmt.Sprintf("c%02d", i)
		wg.Go(func() {
			err := b.s.Insert(b.ctx, storage.InsertParams{Now: Base, Executions: []storage.Execution{keyed(id, "task", "k")}})
			mu.Lock()
			defer mu.Unlock()
			var ak *storage.ActiveKeyError
			switch {
			case err == nil:
				won = append(won, id)
			case errors.As(err, &ak):
				lost[id] = ak.ID
			default:
				b.t.Errorf("Insert of %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		b.t.Fatalf("%d concurrent inserts of one active key: %d succeeded (%v), want 1", inserters, len(won), won)
	}
	for id, holder := range lost {
		if holder != won[0] {
			b.t.Fatalf("insert %s was refused naming %q, want the winner %s", id, holder, won[0])
		}
		b.requireNotFound(id)
	}
}
