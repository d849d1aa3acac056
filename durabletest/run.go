package durabletest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/durable-go/durable"
	"github.com/durable-go/durable/storage"
)

// The errors of RunUntilIdle and RunFor, beside the context's and the
// executor's.
var (
	// ErrStuck: executions ran, or were due, and nothing was written to
	// the store (no claim, no result, no enqueue) for WithStuckAfter of
	// real time. The error names them. A task that blocks (on a channel
	// the test never closes, or until its own timeout, which the env's
	// clock does not reach while the task runs: see Env.Advance) or a due
	// execution that the executor does not claim (its task is not
	// registered on Env.Executor) gives it.
	ErrStuck = errors.New("durabletest: stuck")
	// ErrTooManyRuns: one RunUntilIdle or RunFor claimed more than
	// WithMaxRuns executions: a loop or a chain of retries that does not
	// end.
	ErrTooManyRuns = errors.New("durabletest: too many runs")
)

// RunUntilIdle runs the executions stored until there is nothing left to
// do: it waits while the executor runs what is due; when nothing runs and
// nothing is due, it moves the fake clock straight to the next time an
// execution comes due (a delayed enqueue, a retry's backoff, a loop's
// delay, a sleeping execution's timeout, the lease of a run whose
// executor died) and goes on; it returns nil when no execution is running
// or due and none will come due (every execution has finished, or waits
// for something only the test can do: a Wake, say). A workflow of retries
// with hours of backoff, delays of days and sleeping timeouts thus runs in
// milliseconds of real time, without a sleep and without guessing steps
// of time.
//
// It starts the executor if it has not started. It returns ErrStuck,
// ErrTooManyRuns, ctx's error, or an error wrapping durable.ErrShutdown
// when the executor stopped (a fatal store error, or the test shut it
// down).
//
// What "nothing runs" means: every execution the executor claims stays
// held by it in the store (running, or waiting while its continuation
// runs) until its result is written, so the env judges by reading the
// store when no write is going on (the executions its executor claimed,
// and the store's next due time), and waits for the store's next write,
// not for a span of time. A task function still going after its execution
// finished (a cancelled run that ignores its context) is not waited for;
// nor is the retention cleaner, when Config.Retention turns it on.
//
// RunUntilIdle also runs out the timeouts of sleeping executions: to Wake
// one before its timeout, wake it first, or use RunFor with a span shorter
// than the timeout.
func (e *Env) RunUntilIdle(ctx context.Context) error {
	return e.run(ctx, time.Time{}, false)
}

// RunFor runs as RunUntilIdle does, but moves the fake clock no further
// than d from its reading when called: it runs what is due and what comes
// due within d, then returns with the clock exactly d later, nothing
// running and nothing due. What comes due later is left for a later run.
func (e *Env) RunFor(ctx context.Context, d time.Duration) error {
	return e.run(ctx, e.clock.Now().Add(max(d, 0)), true)
}

// run is RunUntilIdle (bounded false) and RunFor (the clock stops at
// until).
func (e *Env) run(ctx context.Context, until time.Time, bounded bool) error {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if err := e.startExecutor(); err != nil {
		return err
	}
	claims0 := e.store.claims()
	progressBy := time.Now().Add(e.opts.stuckAfter) // real time: the limit of a failing test
	var seen uint64                                 // the progress count last seen
	var poked bool                                  // the executor was told of the due rows since
	var pokedAt uint64                              // the claims begun before that poke
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("durabletest: run: %w", err)
		}
		if err := e.stopped(); err != nil {
			return err
		}
		s, err := e.inspect(ctx)
		if err != nil {
			return err
		}
		if s.mark.progress != seen {
			seen, poked = s.mark.progress, false
			progressBy = time.Now().Add(e.opts.stuckAfter)
		}
		if n := e.store.claims() - claims0; n > e.opts.maxRuns {
			return fmt.Errorf("%w: %d claims in this run (WithMaxRuns %d), clock %s; the executions:\n%s",
				ErrTooManyRuns, n, e.opts.maxRuns, e.elapsed(s.now), e.describe(e.active(), describeLimit))
		}
		switch {
		case !s.stable || len(s.busy) > 0:
			// The executor is at work: wait for its next write.
		case s.due && !poked:
			// Due, not claimed yet: the executor may be asleep until its
			// next poll, which the fake clock may not reach. Tell it, once
			// until something progresses: it answers with a claim.
			pokedAt, poked = e.store.poke(), true
		case s.due:
			if err := e.unregistered(s.now, pokedAt); err != nil {
				return err
			}
		case !s.next.IsZero() && (!bounded || !s.next.After(until)):
			e.clock.Set(s.next)
			poked = false
			continue
		case bounded && s.now.Before(until):
			e.clock.Set(until)
			poked = false
			continue
		default:
			return nil
		}
		if err := e.awaitWrite(ctx, s, progressBy); err != nil {
			return err
		}
	}
}

// unregistered returns ErrStuck when a claim begun after the poke numbered
// pokedAt has ended without asking for the task of any of the due rows:
// no task of theirs is registered on the env's executor.
func (e *Env) unregistered(now time.Time, pokedAt uint64) error {
	ids, answered := e.store.lastTaskIDs(pokedAt)
	if !answered {
		return nil
	}
	due := e.dueRows(now)
	if len(due) == 0 {
		return nil
	}
	for _, r := range due {
		if slices.Contains(ids, r.TaskID) {
			return nil
		}
	}
	return fmt.Errorf("%w: %d execution(s) due whose task is not registered on Env.Executor (it claims %v):\n%s",
		ErrStuck, len(due), ids, e.describe(due, describeLimit))
}

// stopped returns the error of a run on an executor that has stopped.
func (e *Env) stopped() error {
	select {
	case <-e.ex.Done():
	default:
		return nil
	}
	if err := e.ex.Err(); err != nil {
		return fmt.Errorf("durabletest: the executor stopped: %w: %w", durable.ErrShutdown, err)
	}
	return fmt.Errorf("durabletest: the executor was shut down (the env shuts it down at the end of the test): %w", durable.ErrShutdown)
}

// awaitWrite waits for the store's next write after the reading s, or
// returns ErrStuck once progressBy has passed.
func (e *Env) awaitWrite(ctx context.Context, s snapshot, progressBy time.Time) error {
	t := time.NewTimer(time.Until(progressBy))
	defer t.Stop()
	select {
	case <-s.mark.changed:
		return nil
	case <-e.ex.Done():
		return nil // the loop reports it
	case <-ctx.Done():
		return fmt.Errorf("durabletest: run: %w", ctx.Err())
	case <-t.C:
	}
	switch {
	case len(s.busy) > 0:
		return fmt.Errorf("%w: %d execution(s) running for %s of real time without a write to the store, clock %s; "+
			"a task that blocks, or waits for its own timeout, holds the run (the env does not move the clock while tasks run: see Env.Advance):\n%s",
			ErrStuck, len(s.busy), e.opts.stuckAfter, e.elapsed(s.now), e.describe(s.busy, describeLimit))
	case s.due:
		due := e.dueRows(s.now)
		return fmt.Errorf("%w: %d execution(s) due and not claimed for %s of real time, clock %s; "+
			"are the executor's slots held by runs that ignore their context?\n%s",
			ErrStuck, len(due), e.opts.stuckAfter, e.elapsed(s.now), e.describe(due, describeLimit))
	}
	return fmt.Errorf("%w: a store write did not end within %s of real time", ErrStuck, e.opts.stuckAfter)
}

// snapshot is one reading of the store's state.
type snapshot struct {
	mark   mark
	stable bool      // no write began or ended while reading: the reading is consistent
	now    time.Time // the clock when read
	busy   []storage.Execution
	// When nothing is busy: whether an execution is due now, and else
	// the earliest time one comes due (zero: none will).
	due  bool
	next time.Time
}

// inspect reads the store's state (e.runMu must be held):
//
//   - busy: the executions held by the env's executor (claimed: running,
//     or waiting while their continuation runs) whose lease has not
//     lapsed. The env reads those the executor claimed, not every row;
//     those it no longer holds are forgotten.
//   - when none is busy, the store's NextDue over every task stored says
//     whether an execution is due (ready, a sleeping deadline passed, a
//     parent's children done, the lease of another executor id lapsed) and
//     else when the next one comes due. No lease of the env's executor is
//     among them: it holds nothing.
func (e *Env) inspect(ctx context.Context) (snapshot, error) {
	s := snapshot{mark: e.store.mark()}
	s.now = e.clock.Now()
	self := e.ex.ID()
	var released []string
	for _, id := range e.store.heldIDs() {
		row, err := e.mem.Get(ctx, storage.GetParams{ID: id})
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return s, fmt.Errorf("durabletest: reading execution %s: %w", id, err)
		}
		held := err == nil && row.ExecutorID == self && !row.Status.Terminal() &&
			(row.Status == storage.StatusRunning || row.Status.Waiting()) &&
			row.DueAt.After(s.now) // a lapsed lease is due: another claim takes it
		if !held {
			released = append(released, id)
			continue
		}
		s.busy = append(s.busy, row)
	}
	if len(s.busy) == 0 {
		wait, ok, err := e.mem.NextDue(ctx, storage.NextDueParams{Now: s.now, TaskIDs: e.store.taskIDs()})
		if err != nil {
			return s, fmt.Errorf("durabletest: reading the next due time: %w", err)
		}
		switch {
		case ok && wait <= 0:
			s.due = true
		case ok:
			s.next = s.now.Add(wait)
		}
	}
	m := e.store.mark()
	s.stable = s.mark.writing == 0 && m.version == s.mark.version
	if s.stable {
		e.store.release(s.mark.version, released)
	}
	return s, nil
}

// dueRows reads every stored execution and returns those due at now, for
// the errors.
func (e *Env) dueRows(now time.Time) []storage.Execution {
	var out []storage.Execution
	for _, r := range e.rows() {
		if !r.Status.Terminal() && !r.DueAt.IsZero() && !r.DueAt.After(now) {
			out = append(out, r)
		}
	}
	return out
}

// active returns the stored executions that have not finished.
func (e *Env) active() []storage.Execution {
	var out []storage.Execution
	for _, r := range e.rows() {
		if !r.Status.Terminal() {
			out = append(out, r)
		}
	}
	return out
}

// rows returns every stored execution, in the order stored.
func (e *Env) rows() []storage.Execution {
	var out []storage.Execution
	for _, id := range e.store.stored() {
		row, err := e.mem.Get(context.Background(), storage.GetParams{ID: id})
		if err == nil {
			out = append(out, row)
		}
	}
	return out
}

// describeLimit is how many executions an error's table shows.
const describeLimit = 50

// describe formats rows as a table, times as offsets from the env's start:
// the first limit of them (0: all).
func (e *Env) describe(rows []storage.Execution, limit int) string {
	if len(rows) == 0 {
		return "  (none)\n"
	}
	more := 0
	if limit > 0 && len(rows) > limit {
		rows, more = rows[:limit], len(rows)-limit
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 2, 8, 2, ' ', 0)
	fmt.Fprintln(w, "  ID\tTASK\tSTATUS\tATTEMPT\tITERATION\tDUE\tPARENT\tERROR")
	for _, r := range rows {
		parent := r.ParentID
		if parent == "" {
			parent = "-"
		}
		errText := "-"
		if r.Error != nil {
			errText = fmt.Sprintf("%s: %s", r.Error.Kind, r.Error.Message)
			if rs := []rune(errText); len(rs) > 120 {
				errText = string(rs[:117]) + "..."
			}
			errText = strings.ReplaceAll(errText, "\n", " ")
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.ID, r.TaskID, r.Status, r.Attempt+1, r.Iteration,
			e.elapsed(r.DueAt), parent, errText)
	}
	_ = w.Flush()
	if more > 0 {
		fmt.Fprintf(&b, "  ... and %d more\n", more)
	}
	return b.String()
}
