package sim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// profile is what a seed chose: the executors, and how often each kind of
// fault strikes within the fault window.
type profile struct {
	nodes, batch int
	// storeFaults is the chance that a store call fails (half of the
	// writes' failures after taking effect).
	storeFaults float64
	// dropEvents is the chance an event never reaches an executor;
	// eventDelay the most one is late.
	dropEvents float64
	eventDelay time.Duration
	// crashes of executors, crashes of the database server, stalls of
	// an executor (its leases lapse), jumps of an executor's clock (within
	// maxSkew) and of the shared time.
	crashes, serverCrashes, stalls, skews, jumps int
	// executorClocks: the store judges time by the executors' clocks (the
	// Now of the params: memory, SQLite, ClockParams), not by its own;
	// each executor's clock is then off by an offset of its own from the
	// start.
	executorClocks bool
	// fatals: fatal store errors (an executor's next claim, heartbeat or
	// completion fails with an error wrapping storage.ErrFatal: it stops).
	fatals int
	// limit, when not 0, is the concurrency limit of the job task's queue
	// (limitedQueue): at most that many jobs run at once; perKey, when not
	// 0, its limit per concurrency key (a job's key is its top-level
	// execution's name, jobKey): at most that many jobs of one tree run at
	// once (checkStep).
	limit, perKey int
}

func (p profile) String() string {
	clocks := "the store's clock"
	if p.executorClocks {
		clocks = "the executors' clocks"
	}
	return fmt.Sprintf("%d executors, completion batch %d, time judged by %s; store faults %.2f, events dropped %.2f, late up to %s; "+
		"%d executor crashes, %d server crashes, %d stalls, %d clock skews, %d time jumps, %d fatal store errors",
		p.nodes, p.batch, clocks, p.storeFaults, p.dropEvents, p.eventDelay, p.crashes, p.serverCrashes, p.stalls, p.skews, p.jumps, p.fatals) +
		p.limitString()
}

func (p profile) limitString() string {
	if !p.limited() {
		return ""
	}
	return fmt.Sprintf("; queue %s limited to %d, %d per key (0: no limit)", limitedQueue, p.limit, p.perKey)
}

// limited reports whether the seed limits the job task's queue.
func (p profile) limited() bool { return p.limit > 0 || p.perKey > 0 }

// limitedQueue is the job task's queue in the seeds with a limit.
const limitedQueue = "jobs"

// limitsOf draws a seed's queue limits: none in half the seeds; else a
// concurrency limit of 1 to 3, a limit per key of 1 or 2, or both. It has
// a random source of its own, so that the seeds without a limit run as
// they did before limits were simulated (their regression seeds still
// replay the histories they were found in).
func limitsOf(seed uint64) (limit, perKey int) {
	r := rand.New(rand.NewPCG(seed, 0x6c696d6974))
	if r.IntN(2) == 0 {
		return 0, 0
	}
	switch r.IntN(3) {
	case 0:
		return 1 + r.IntN(3), 0
	case 1:
		return 0, 1 + r.IntN(2)
	default:
		return 1 + r.IntN(3), 1 + r.IntN(2)
	}
}

// newProfile draws the seed's profile. A quarter of the seeds run without
// faults of a kind, so that each kind is also seen alone with others off.
func (s *sim) newProfile() profile {
	p := profile{nodes: 1 + s.rng.IntN(3), batch: 1 + s.rng.IntN(4), executorClocks: s.rng.IntN(2) == 0}
	if s.cfg.NoFaults {
		return p
	}
	pick := func(values ...float64) float64 { return values[s.rng.IntN(len(values))] }
	p.storeFaults = pick(0, 0.02, 0.05, 0.15)
	p.dropEvents = pick(0, 0.05, 0.3)
	p.eventDelay = time.Duration(pick(0, 5, 50)) * time.Millisecond
	p.crashes = s.rng.IntN(4)
	p.serverCrashes = s.rng.IntN(3)
	p.stalls = s.rng.IntN(3)
	p.skews = s.rng.IntN(3)
	p.jumps = s.rng.IntN(2)
	p.fatals = max(0, s.rng.IntN(4)-1) // 0 in half the seeds, else 1 or 2
	return p
}

// scheduleFaults places the profile's faults in the fault window.
func (s *sim) scheduleFaults() {
	p := s.prof
	when := func() time.Duration { return s.between(0, faultWindow) }
	for range p.crashes {
		s.at(when(), nil, "fault: crash an executor", s.crashOne)
	}
	for range p.serverCrashes {
		s.at(when(), nil, "fault: the database server crashes", func() {
			s.faults++
			s.tracef("server crash: %d acknowledged asynchronous writes lost", s.store.Crash())
			s.forgetRenewals(s.store.durable)
		})
	}
	for range p.stalls {
		s.at(when(), nil, "fault: stall an executor", func() {
			if n := s.pickAlive(); n != nil {
				s.faults++
				// A stall during a stall extends it (never shortens it: the
				// steps put off until its end would run after the new end).
				if until := s.now.Add(s.between(leaseDuration, 3*leaseDuration)); until.After(n.stalledUntil) {
					n.stalledUntil = until
				}
				s.tracef("%s stalls until %s", n, n.stalledUntil.Sub(epoch))
			}
		})
	}
	for range p.skews {
		s.at(when(), nil, "fault: an executor's clock jumps", func() {
			if n := s.pickAlive(); n != nil {
				s.faults++
				n.clk.skew = s.between(-s.maxSkew(), s.maxSkew())
				s.tracef("%s clock skew now %s", n, n.clk.skew)
			}
		})
	}
	for range p.fatals {
		s.at(when(), nil, "fault: a fatal store error", func() {
			if n := s.pickAlive(); n != nil && !n.stopping {
				s.faults++
				n.fatalNext = true
				s.tracef("%s: its next claim, heartbeat or completion fails with a fatal error", n)
			}
		})
	}
	for range p.jumps {
		s.at(when(), nil, "fault: time jumps", func() {
			s.faults++
			d := s.between(0, 2*leaseDuration)
			s.now = s.now.Add(d)
			s.tracef("time jumped by %s", d)
		})
	}
}

// crashOne crashes an executor now, or right after the next store call of
// its next step.
func (s *sim) crashOne() {
	n := s.pickAlive()
	if n == nil {
		return
	}
	s.faults++
	if s.rng.IntN(2) == 0 {
		n.crashMidStep = true
		s.tracef("%s will crash in the middle of its next step", n)
		return
	}
	s.tracef("%s crashes", n)
	s.kill(n)
}

func (s *sim) pickAlive() *node {
	var alive []*node
	for _, n := range s.nodes {
		if n.alive {
			alive = append(alive, n)
		}
	}
	if len(alive) == 0 {
		return nil
	}
	return alive[s.rng.IntN(len(alive))]
}
