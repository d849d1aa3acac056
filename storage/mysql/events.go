package mysql

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/durable-go/durable/internal/idpack"
	"github.com/durable-go/durable/storage"
)

// Events between processes. MySQL has no notifications, so a write
// transaction that makes rows due or finishes executions appends one row
// to the events table (001_init.sql) before it commits: the event of the
// transaction, with the ids of the finished executions packed in one
// value. Every store reads the rows appended since it last looked, every
// Config.PollInterval, skips its own (by the tag each store draws at
// Open) and publishes the others'.
//
// Sequence numbers are AUTO_INCREMENT values, taken when a row is
// inserted, not when its transaction commits: a row may become visible
// after rows with higher numbers (and a rolled-back row never does). The
// reader keeps each number it has not seen below the highest it has seen
// as a gap, reads the gaps again at each poll, and gives a gap up after
// gapWait: an event committed later than that (InsertTx in a caller's
// transaction that stays open) is missed, and the work it announced is
// found by the executors' polling.

// Variables for tests.
var (
	// eventRetention is how long an event row is kept; pruneEvery how
	// often each reader deletes the rows older than that.
	eventRetention = 10 * time.Second
	pruneEvery     = time.Second
	// gapWait is how long a reader waits for a gap to commit.
	gapWait = 5 * time.Second
)

// maxGaps bounds the gaps a reader keeps; past it the oldest go.
const maxGaps = 1000

// recordEvent appends ev, written by this store, to the events table
// through q, unless it is empty or events are off.
func (s *Store) recordEvent(ctx context.Context, q querier, ev storage.Event) error {
	return s.writeEvent(ctx, q, s.tag, ev)
}

// writeEvent appends ev with tag (empty: no store's, so every reader
// publishes it, its writer's included).
func (s *Store) writeEvent(ctx context.Context, q querier, tag string, ev storage.Event) error {
	if s.cfg.DisableEvents || (!ev.Ready && len(ev.Finished) == 0) {
		return nil
	}
	var finished []byte
	if len(ev.Finished) > 0 {
		finished = idpack.Append(nil, ev.Finished)
	}
	return execOrDefer(ctx, q, s.q.eventInsert, tag, ev.Ready, finished)
}

// execOrDefer runs a statement whose result nobody reads through q, or
// defers it when q is a pipe (see pipe.Defer).
func execOrDefer(ctx context.Context, q querier, stmt string, args ...any) error {
	if p, ok := q.(*pipe); ok {
		return p.Defer(ctx, stmt, args...)
	}
	_, err := q.ExecContext(ctx, stmt, args...)
	return err
}

// eventReader polls the events table for the writes of other stores.
type eventReader struct {
	s      *Store
	cancel context.CancelFunc
	done   chan struct{}

	// maxSeen is the highest seq read; gaps the lower seqs not read yet,
	// with when each was first missed.
	maxSeen int64
	gaps    map[int64]time.Time

	lastPrune, lastPoll time.Time
	failing             bool

	statsMu sync.Mutex
	polls   int64
}

// startEventReader starts reading after the newest event.
func startEventReader(ctx context.Context, s *Store) (*eventReader, error) {
	r := &eventReader{s: s, done: make(chan struct{}), gaps: map[int64]time.Time{}}
	if err := s.db.QueryRowContext(ctx, s.q.eventLast).Scan(&r.maxSeen); err != nil {
		return nil, s.wrapErr("read events", err)
	}
	var rctx context.Context
	rctx, r.cancel = context.WithCancel(context.Background())
	go r.run(rctx)
	return r, nil
}

func (r *eventReader) stop() {
	r.cancel()
	<-r.done
}

func (r *eventReader) run(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.s.cfg.PollInterval)
	defer t.Stop()
	r.lastPoll = time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.tick(ctx)
	}
}

// tick reads the new events once, and prunes old ones once in a while.
func (r *eventReader) tick(ctx context.Context) {
	now := time.Now()
	late := now.Sub(r.lastPoll) > eventRetention/2
	err := r.poll(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		if !r.failing {
			r.s.cfg.Logger.Warn("mysql: reading the events of other processes failed; retrying", "error", err)
		}
		r.failing = true
		return
	}
	if r.failing || late {
		// Events may have been missed: let the engine look for work.
		r.failing = false
		r.s.publish(storage.Event{Ready: true})
	}
	r.lastPoll = now
	if now.Sub(r.lastPrune) >= pruneEvery {
		r.lastPrune = now
		if _, err := r.s.db.ExecContext(ctx, r.s.q.eventPrune, durMicros(eventRetention), r.maxSeen); err != nil && ctx.Err() == nil {
			r.s.cfg.Logger.Warn("mysql: pruning old events failed", "error", err)
		}
	}
}

// poll reads the events after the highest seen, and the gaps.
func (r *eventReader) poll(ctx context.Context) error {
	r.statsMu.Lock()
	r.polls++
	r.statsMu.Unlock()
	q := r.s.q.eventRead
	args := []any{r.s.tag, r.s.tag, r.maxSeen}
	if len(r.gaps) > 0 {
		gaps := make([]int64, 0, len(r.gaps))
		for g := range r.gaps {
			gaps = append(gaps, g)
		}
		q = strings.Replace(q, "WHERE seq > ?", "WHERE seq > ? OR seq IN "+placeholders(len(gaps)), 1)
		args = append(args, int64Args(gaps)...)
	}
	rows, err := r.s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	now := time.Now()
	for rows.Next() {
		var seq int64
		var own, ready bool
		var finished []byte
		if err := rows.Scan(&seq, &own, &ready, &finished); err != nil {
			return err
		}
		r.saw(seq, now)
		if own {
			continue
		}
		ev := storage.Event{Ready: ready}
		if finished != nil {
			if ev.Finished, err = idpack.Unpack(nil, finished); err != nil {
				r.s.cfg.Logger.Warn("mysql: malformed event", "seq", seq, "error", err)
				ev.Ready = true
			}
		}
		r.s.publish(ev)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.expireGaps(now)
	return nil
}

// saw records that seq was read at now.
func (r *eventReader) saw(seq int64, now time.Time) {
	if seq <= r.maxSeen {
		delete(r.gaps, seq)
		return
	}
	if seq-r.maxSeen <= maxGaps {
		for g := r.maxSeen + 1; g < seq; g++ {
			r.gaps[g] = now
		}
	}
	r.maxSeen = seq
}

// expireGaps gives up the gaps older than gapWait, and the oldest past
// maxGaps.
func (r *eventReader) expireGaps(now time.Time) {
	for g, at := range r.gaps {
		if now.Sub(at) > gapWait {
			delete(r.gaps, g)
		}
	}
	if len(r.gaps) > maxGaps {
		gaps := make([]int64, 0, len(r.gaps))
		for g := range r.gaps {
			gaps = append(gaps, g)
		}
		slices.Sort(gaps)
		for _, g := range gaps[:len(gaps)-maxGaps] {
			delete(r.gaps, g)
		}
	}
}

// EventPolls returns how many times the store has read the events table
// since Open (0 with events off): an idle store reads it once per
// Config.PollInterval.
func (s *Store) EventPolls() int64 {
	if s.events == nil {
		return 0
	}
	s.events.statsMu.Lock()
	defer s.events.statsMu.Unlock()
	return s.events.polls
}
