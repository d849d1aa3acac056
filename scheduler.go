package durable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/durable-go/durable/internal/startstop"
	"github.com/durable-go/durable/storage"
)

// tickSource says when a schedule ticks.
type tickSource interface {
	// next returns the first tick after t, or the zero time when there
	// is none within five years.
	next(t time.Time) time.Time
}

// specTicks are a cron expression's ticks, in its time zone.
type specTicks struct{ s *cron.SpecSchedule }

func (t specTicks) next(after time.Time) time.Time {
	n := t.s.Next(after)
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// everyTicks are the multiples of an interval since the Unix epoch.
type everyTicks struct{ d time.Duration }

func (t everyTicks) next(after time.Time) time.Time {
	us, d := after.UnixMicro(), t.d.Microseconds()
	k := us / d
	if us < 0 && us%d != 0 {
		k-- // floor, not truncation, before 1970
	}
	return time.UnixMicro((k + 1) * d).UTC()
}

// latestTick returns the latest tick t with after < t < before, or the
// zero time. robfig's schedules only go forward, so it looks back from
// before in growing windows, each walked forward: the first window that
// holds a tick holds the latest, and a schedule that ticks often is
// found in the first, small one.
func latestTick(src tickSource, after, before time.Time) time.Time {
	for _, w := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 5 * 366 * 24 * time.Hour} {
		lo := before.Add(-w)
		if lo.Before(after) {
			lo = after
		}
		var last time.Time
		for t := src.next(lo); !t.IsZero() && t.Before(before); t = src.next(t) {
			last = t
		}
		if !last.IsZero() || !lo.After(after) {
			return last
		}
	}
	return time.Time{}
}

// maxTicksPerPass bounds the ticks of one schedule enqueued in one pass;
// the next pass follows at once.
const maxTicksPerPass = 100

// dueTicks returns the ticks to enqueue at now, oldest first, when every
// tick up to through has been handled: the ticks less than MissedGrace
// late, after, under MissedRunOnce, the latest of the missed ones. At most
// limit.
func dueTicks(src tickSource, policy MissedPolicy, through, now time.Time, limit int) []time.Time {
	var out []time.Time
	from := through
	if cut := now.Add(-MissedGrace); cut.After(through) {
		if policy == MissedRunOnce {
			if t := latestTick(src, through, cut); !t.IsZero() {
				out = append(out, t)
			}
		}
		from = cut.Add(-time.Nanosecond) // a tick at cut is on time
	}
	for t := src.next(from); !t.IsZero() && !t.After(now) && len(out) < limit; t = src.next(t) {
		out = append(out, t)
	}
	return out
}

// scheduler fires the schedules registered with this executor: at each
// tick, it enqueues the tick's execution (keyed by the schedule and the
// tick, so that the executors that fire the same tick make one) and moves
// the schedule's Mark in the store past the tick (compare-and-set). Every
// started executor with schedules runs one: a tick is fired by the first
// that gets to it, and an executor that did not register a schedule
// (another program on the store) never fires it. A single elected
// executor would fire only the schedules it registered itself.
type scheduler struct {
	e *Executor

	mu         sync.Mutex
	list       []*schedule
	registered bool // the executor has started: a schedule added is registered in the store at once
	running    bool // the loop has been started

	wakeCh chan struct{} // a schedule was added; capacity 1
	loop   startstop.Base
	// passedAt is the clock's time (Unix ns) at the start of the last
	// pass, stored once the loop sleeps after it (tests wait on it).
	passedAt atomic.Int64
}

func newScheduler(e *Executor) *scheduler {
	return &scheduler{e: e, wakeCh: make(chan struct{}, 1)}
}

// schedulerMaxWait bounds the loop's sleep, so that a schedule of rare
// ticks also sees within the hour that another process registered it
// anew.
const schedulerMaxWait = time.Hour

// schedulerRetry is how long the loop waits after a store error.
const schedulerRetry = time.Second

// add adds a schedule, registering it in the store at once when the
// executor has started.
func (s *scheduler) add(sc *schedule) error {
	if err := s.e.checkOpen(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.list {
		if o.name == sc.name {
			return fmt.Errorf("%w: schedule %s is already registered with this executor", ErrDuplicate, sc.name)
		}
	}
	if s.registered {
		ctx, cancel := s.e.storageCtx()
		defer cancel()
		if err := s.e.registerSchedules(ctx, []*schedule{sc}); err != nil {
			return err
		}
	}
	s.list = append(s.list, sc)
	if s.running {
		s.loop.Start(s.run)
		s.wake()
	}
	return nil
}

// register registers every schedule added so far in the store, at Start;
// the schedules added later are registered as they come.
func (s *scheduler) register(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.list) > 0 {
		if err := s.e.registerSchedules(ctx, s.list); err != nil {
			return err
		}
	}
	s.registered = true
	return nil
}

// Start starts the loop, when there are schedules (or once one is added).
func (s *scheduler) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = true
	if len(s.list) > 0 {
		s.loop.Start(s.run)
	}
}

// Stop stops the loop and returns once it has stopped. Idempotent.
func (s *scheduler) Stop() { s.loop.Stop() }

func (s *scheduler) wake() {
	select {
	case s.wakeCh <- struct{}{}:
	default:
	}
}

func (s *scheduler) schedules() []*schedule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list
}

// registerSchedules registers schedules in the store, all or none.
func (e *Executor) registerSchedules(ctx context.Context, list []*schedule) error {
	ctl, err := e.controlsOrErr()
	if err != nil {
		return err
	}
	now := e.now()
	p := storage.RegisterControlsParams{Now: now, Controls: make([]storage.Control, len(list))}
	for i, sc := range list {
		p.Controls[i] = sc.control(now)
	}
	err = e.retryStorage(ctx, func() error { return ctl.RegisterControls(ctx, p) })
	if err != nil {
		return fmt.Errorf("durable: registering schedules in the store: %w", err)
	}
	return nil
}

func (s *scheduler) run(stop <-chan struct{}) {
	timer := s.e.clock.NewTimer(schedulerMaxWait)
	defer timer.Stop()
	for {
		now, next := s.pass(stop)
		// The wait is taken from the clock now, not when the pass began:
		// a pass that took long must not sleep past the next tick.
		timer.Reset(max(next.Sub(s.e.now()), 0))
		s.passedAt.Store(now.UnixNano())
		select {
		case <-stop:
			return
		case <-s.wakeCh:
		case <-timer.C():
		}
	}
}

// pass fires what is due at now and returns now and when to pass next:
// at the next tick of a schedule.
func (s *scheduler) pass(stop <-chan struct{}) (now, next time.Time) {
	now = s.e.now()
	ctl, err := s.e.controlsOrErr()
	if err != nil {
		return now, now.Add(schedulerMaxWait) // not reached: Schedule refuses such a store
	}
	var cs []storage.Control
	err = s.call(func(ctx context.Context) (err error) {
		cs, err = ctl.ListControls(ctx, storage.ListControlsParams{Kind: storage.ControlSchedule})
		return err
	})
	if err != nil {
		return now, now.Add(schedulerRetry)
	}
	stored := make(map[string]*storage.Control, len(cs))
	for i := range cs {
		stored[cs[i].Name] = &cs[i]
	}
	next = now.Add(schedulerMaxWait)
	for _, sc := range s.schedules() {
		select {
		case <-stop:
			return now, now
		default:
		}
		c := stored[sc.name]
		if !s.current(sc, c) {
			continue
		}
		switch more, err := s.fire(ctl, sc, c, now); {
		case err != nil:
			next = earliest(next, now.Add(schedulerRetry))
		case more:
			next = now
		default:
			if t := sc.ticks.next(now); !t.IsZero() {
				next = earliest(next, t)
			}
		}
	}
	return now, next
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// current reports whether the store holds sc as this executor registered
// it, and logs when that changes.
func (s *scheduler) current(sc *schedule, c *storage.Control) bool {
	switch {
	case c == nil:
		// Not reached while the store keeps what it was given: schedules
		// are registered before the loop starts.
		if !sc.superseded {
			s.e.log.Warn("schedule: not in the store; not fired", slog.String("schedule", sc.name))
		}
		sc.superseded = true
		return false
	case !sc.sameSpec(c):
		if !sc.superseded {
			s.e.log.Warn("schedule: the store holds another definition, registered since by another executor; this one no longer fires it",
				slog.String("schedule", sc.name))
		}
		sc.superseded = true
		return false
	case sc.superseded:
		s.e.log.Info("schedule: the store holds this executor's definition again; firing it", slog.String("schedule", sc.name))
		sc.superseded = false
	}
	return true
}

// fire enqueues sc's due ticks at now, moving its Mark past each, or,
// when it is paused, moves the Mark past them. It reports whether more
// ticks are due than one pass takes. It stops, without error, when
// another executor moved the Mark first: that one fires the ticks.
func (s *scheduler) fire(ctl storage.Controls, sc *schedule, c *storage.Control, now time.Time) (more bool, err error) {
	mark := c.Mark
	through := time.UnixMicro(mark)
	if c.Paused {
		if t := latestTick(sc.ticks, through, now.Add(time.Nanosecond)); !t.IsZero() {
			_, err = s.advance(ctl, sc, mark, t)
		}
		return false, err
	}
	ticks := dueTicks(sc.ticks, sc.missed, through, now, maxTicksPerPass)
	for _, t := range ticks {
		if err := s.enqueue(sc, t); err != nil {
			return false, err
		}
		moved, err := s.advance(ctl, sc, mark, t)
		if err != nil || !moved {
			return false, err
		}
		mark = t.UnixMicro()
	}
	return len(ticks) == maxTicksPerPass, nil
}

// enqueue enqueues the execution of sc's tick; if another executor
// enqueued it first, the key makes this enqueue return that execution.
func (s *scheduler) enqueue(sc *schedule, tick time.Time) error {
	var ids []string
	err := s.call(func(ctx context.Context) (err error) {
		ids, err = s.e.enqueue(ctx, []Child{{d: sc.d, input: sc.input, opts: sc.tickOpts(tick)}})
		return err
	})
	if err == nil {
		s.e.log.Debug("schedule: enqueued a tick", slog.String("schedule", sc.name),
			slog.Time("tick", tick), slog.String("execution", ids[0]))
	}
	return err
}

// advance moves sc's Mark from from to tick, and reports whether it did.
func (s *scheduler) advance(ctl storage.Controls, sc *schedule, from int64, tick time.Time) (bool, error) {
	var moved bool
	err := s.call(func(ctx context.Context) (err error) {
		moved, err = ctl.AdvanceControl(ctx, storage.AdvanceControlParams{Now: s.e.now(),
			Kind: storage.ControlSchedule, Name: sc.name, From: from, To: tick.UnixMicro()})
		return err
	})
	return moved, err
}

// call runs one store call under the storage timeout; an error is logged
// (a fatal one stops the executor) and returned. An enqueue refused
// because the executor is shutting down is not logged.
func (s *scheduler) call(fn func(ctx context.Context) error) error {
	ctx, cancel := s.e.storageCtx()
	defer cancel()
	err := fn(ctx)
	if err != nil && !errors.Is(err, ErrShutdown) && !s.e.fatal(err) {
		s.e.log.Warn("schedule: store call failed; retrying", slog.Any("error", err))
	}
	return err
}
