package durable

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/durable-go/durable/internal/simhook"
	"github.com/durable-go/durable/storage"
)

// The deterministic simulator (internal/sim) drives an executor step by
// step through internal/simhook. These are the steps: each calls the code
// the executor's own loops call, on the caller's goroutine; the loops
// themselves never start.

func init() { simhook.Install = installSim }

// installSim prepares e, never started, for the simulator (see
// simhook.Install).
func installSim(x any, seed uint64, hooks simhook.Hooks) (simhook.Steps, error) {
	e, ok := x.(*Executor)
	if !ok || e == nil {
		return simhook.Steps{}, errors.New("durable: simulation: not a *Executor")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state != stateNew {
		return simhook.Steps{}, errors.New("durable: simulation: the executor was started")
	}
	e.ids = newIDGen(e.clock, [2]uint64{seed, seed ^ 0x9e3779b97f4a7c15})
	e.rnd = rand.New(rand.NewPCG(seed^0x2545f4914f6cdd1d, seed))
	e.onWorker = func(r *activeRun) { hooks.Run(r.runOrContinue, *r.row) }
	e.onFatal = hooks.Fatal
	return simhook.Steps{
		Begin:     e.simBegin,
		Dispatch:  e.simDispatch,
		Heartbeat: e.leases.heartbeat,
		Flush:     e.comp.Flush,
		Held: func() []storage.Lease {
			leases := e.held.leases()
			slices.SortFunc(leases, func(a, b storage.Lease) int { return strings.Compare(a.ID, b.ID) })
			return leases
		},
		BeginStop: e.simBeginStop,
		Idle:      e.simIdle,
		EndStop:   e.endShutdown,
	}, nil
}

// simBeginStop is Shutdown's beginning, up to its wait for the runs.
func (e *Executor) simBeginStop() bool {
	if !e.beginShutdown() {
		return false
	}
	e.stopLoops()
	return true
}

// simIdle is what Shutdown's waitRuns waits for, without waiting.
func (e *Executor) simIdle() bool {
	select {
	case <-e.capacity.idle():
		return true
	default:
		return false
	}
}

func (e *Executor) simBegin(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.begin(ctx)
}

// simDispatch is one claim of a dispatcher round (dispatch), without the
// parts that follow the wall clock (the pace of claim-ahead, shedding).
func (e *Executor) simDispatch(limit int) (int, error) {
	rows, err := e.claim(limit, e.now())
	if err != nil {
		e.fatal(err) // as dispatchLoop does
		return 0, err
	}
	e.logTakeovers(rows)
	e.admit(rows)
	return len(rows), nil
}
