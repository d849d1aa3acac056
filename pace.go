package durable

import (
	"sync/atomic"
	"time"
)

// defaultAheadWait bounds how long, at the recent pace of runs, claimed
// executions may expect to wait here for a slot: claims run ahead of
// capacity only by what the slots will start within it. Short tasks get
// the full Config.ClaimAhead; long ones none, so that with several
// executors a long task waits for the first free slot anywhere, not for
// one in the executor that claimed it.
const defaultAheadWait = 10 * time.Millisecond

// pace tracks how long runs take here, for the capacity (capacity.go) to
// claim ahead: an exponentially weighted average of finished runs, and
// when a run last finished.
type pace struct {
	avg      atomic.Int64 // nanoseconds; 0 until a run finishes
	lastDone atomic.Int64 // Unix nanoseconds of the last finished run
	wait     atomic.Int64 // the bound on waiting, defaultAheadWait (tests change it)
}

// observe records a finished run that took d.
func (p *pace) observe(d time.Duration, now time.Time) {
	ns := max(int64(d), 1)
	for {
		old := p.avg.Load()
		avg := ns
		if old > 0 {
			avg = old + (ns-old)/8
		}
		if p.avg.CompareAndSwap(old, max(avg, 1)) {
			break
		}
	}
	p.lastDone.Store(now.UnixNano())
}

// ahead is how many claimed executions may wait here beyond capacity
// when claiming, at most limit: none before any run has finished (long
// tasks must not pile up in the first executor to claim), then what
// concurrency slots start within the wait bound at the average pace.
func (p *pace) ahead(limit, concurrency int) int {
	avg := p.avg.Load()
	if avg == 0 || limit == 0 {
		return 0
	}
	return int(min(int64(concurrency)*p.wait.Load()/avg, int64(limit)))
}

// keep is how many claimed executions may go on waiting here, at most
// limit: what concurrency slots start within shedFactor times the wait
// bound. The pace is the average run, or, while runs are in progress, the
// time since one last finished when that is longer (runs just became
// slow). The margin keeps a pause (a GC, a slow claim) from giving work
// back that would start a moment later.
func (p *pace) keep(limit, concurrency, running int, now time.Time) int {
	avg := p.avg.Load()
	if avg == 0 || limit == 0 {
		return 0
	}
	if running > 0 {
		avg = max(avg, now.UnixNano()-p.lastDone.Load())
	}
	return int(min(int64(concurrency)*shedFactor*p.wait.Load()/avg, int64(limit)))
}

// shedFactor is how much longer than the claiming bound a claimed
// execution may expect to wait before it is given back.
const shedFactor = 100
