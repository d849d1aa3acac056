package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// Storm is what CheckConnectionStorm counted.
type Storm struct {
	Rounds, Killed         int // kill rounds, and connections they broke
	Acked, InsertErrors    int // inserts acknowledged, inserts failed
	Applied, RunErrors     int // completions applied, claims or completions failed
	Lost, AppliedNotStored int // acknowledged inserts missing, applied completions not completed
}

func (s Storm) String() string {
	return fmt.Sprintf("%d rounds, %d connections; inserts acknowledged %d (errors %d), completions applied %d (errors %d); lost %d, applied-but-not-completed %d",
		s.Rounds, s.Killed, s.Acked, s.InsertErrors, s.Applied, s.RunErrors, s.Lost, s.AppliedNotStored)
}

// CheckConnectionStorm runs a stream of inserts (of task "task"), claims
// and completions on a while kill breaks a's connections, eight times,
// 150 ms apart, and returns how many it broke. Then it checks, reading
// through b (a store on the same tables whose connections are spared),
// that every acknowledged insert is stored and every applied completion
// left its execution completed, and that something was acknowledged and
// applied at all. It returns what it counted for the caller's log.
func CheckConnectionStorm(t *testing.T, a, b storage.Store, kill func() int) Storm {
	t.Helper()
	var (
		acked, applied      []string
		mu                  sync.Mutex
		insertErrs, runErrs atomic.Int64
		stop                = make(chan struct{})
		wg                  sync.WaitGroup
	)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	wg.Go(func() { // inserts
		for i := 0; !stopped(); i++ {
			var rows []storage.Execution
			for j := range 5 {
				rows = append(rows, NewExecution(fmt.Sprintf("i%05d-%d", i, j), "task"))
			}
			if err := a.Insert(t.Context(), storage.InsertParams{Executions: rows}); err != nil {
				insertErrs.Add(1)
				continue
			}
			mu.Lock()
			for _, r := range rows {
				acked = append(acked, r.ID)
			}
			mu.Unlock()
		}
	})
	wg.Go(func() { // claims and completions
		for !stopped() {
			rows, err := a.Claim(t.Context(), storage.ClaimParams{ExecutorID: "e", TaskIDs: []string{"task"}, Limit: 20, Lease: time.Hour})
			if err != nil {
				runErrs.Add(1)
				continue
			}
			trs := make([]storage.Transition, len(rows))
			for i, r := range rows {
				trs[i] = Done(r)
			}
			res, err := a.Complete(t.Context(), storage.CompleteParams{Transitions: trs})
			if err != nil {
				runErrs.Add(1)
				continue
			}
			mu.Lock()
			for i, r := range res {
				if r.Applied {
					applied = append(applied, trs[i].ID)
				}
			}
			mu.Unlock()
		}
	})
	var s Storm
	for range 8 {
		time.Sleep(150 * time.Millisecond)
		s.Killed += kill()
		s.Rounds++
	}
	time.Sleep(150 * time.Millisecond)
	close(stop)
	wg.Wait()

	s.Acked, s.InsertErrors, s.Applied, s.RunErrors = len(acked), int(insertErrs.Load()), len(applied), int(runErrs.Load())
	s.Lost = missing(t, b, acked, "")
	s.AppliedNotStored = missing(t, b, applied, storage.StatusCompleted)
	if s.Lost != 0 || s.AppliedNotStored != 0 {
		t.Fatalf("lost %d acknowledged inserts, %d applied completions (%v)", s.Lost, s.AppliedNotStored, s)
	}
	if s.Acked == 0 || s.Applied == 0 {
		t.Fatalf("no operation succeeded during the run (%v)", s)
	}
	return s
}

// missing counts the ids that s does not hold (or, when status is set,
// holds in another status).
func missing(t *testing.T, s storage.Store, ids []string, status storage.Status) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		e, err := s.Get(t.Context(), storage.GetParams{ID: id})
		switch {
		case errors.Is(err, storage.ErrNotFound):
			n++
		case err != nil:
			t.Fatalf("get %s: %v", id, err)
		case status != "" && e.Status != status:
			n++
		}
	}
	return n
}

// CheckInsertsAgain inserts one execution into s, trying up to ten times
// (a pool drops a dead connection when it next uses it): after its
// connections were broken, the store must work again.
func CheckInsertsAgain(t *testing.T, s storage.Store, id string) {
	t.Helper()
	var err error
	for range 10 {
		if err = s.Insert(t.Context(), storage.InsertParams{Executions: []storage.Execution{NewExecution(id, "task")}}); err == nil {
			return
		}
	}
	t.Fatalf("Insert after the connections were broken: %v", err)
}
