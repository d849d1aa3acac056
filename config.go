package durable

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/durable-go/durable/clock"
	"github.com/durable-go/durable/storage"
)

// Config configures an Executor. The zero value is valid: every field has a
// documented default.
type Config struct {
	// Logger receives the engine's logs: failed attempts (Warn), executions
	// that end failed, timed out, children failed or finalize failed
	// (Error), takeovers of lapsed leases (Warn), store errors; nothing
	// above Debug for a successful run (docs/semantics.md, Logs). Default:
	// slog.Default().
	Logger *slog.Logger
	// Codec encodes inputs and outputs. Default: JSONCodec.
	Codec Codec
	// Clock is the engine's time source. Default: clock.Real(). Tests pass a
	// clock.Fake to drive delays, timeouts and leases without sleeping.
	Clock clock.Clock

	// ExecutorID names this executor in claims. Give a stable identity (the
	// host name, a pod name) to have a restarted executor take back the work
	// its previous incarnation held at once, instead of after the leases
	// lapse. Two live executors must never share an id. Default: a random id,
	// new for every Executor.
	ExecutorID string

	// Queues are the queues this executor claims from (see WithQueue);
	// empty: every queue. An executor started with Queues registers them
	// in the store, where they can be paused and resumed from any process
	// (Executor.PauseQueue, durable queues pause). Names: 1..64 bytes of
	// [A-Za-z0-9_.:-].
	Queues []string

	// QueueLimits are limits of queues (see QueueLimit) that Start sets in
	// the store, as SetQueueLimit does, after registering the queues it
	// names (a queue named here is registered even if no task names it).
	// The store keeps one set of limits per queue, shared by every
	// process: when processes declare different limits for a queue, the
	// last to start wins, and a SetQueueLimit call later replaces them
	// until then; a queue left out keeps whatever limits it has. Names
	// and limits are checked by New (ErrInvalidOption).
	QueueLimits map[string]QueueLimit

	// Concurrency is the maximum number of task runs in this executor at
	// once. Default: 100. Range: 1..100000.
	Concurrency int
	// ClaimAhead is how many claimed executions may wait in this executor
	// for a free slot, beyond Concurrency. Claiming ahead lets one storage
	// call take a larger batch (each call has a fixed cost) and lets a
	// slot start its next run without a storage round trip. It is an upper
	// bound: the executor claims ahead only as much as its slots will
	// start within about 10ms at the recent pace of its runs (none before
	// a run has finished, none for long tasks, so that with several
	// executors a long task goes to the first free slot anywhere), and it
	// gives back waiting claims that would wait much longer when runs
	// become slow. Waiting executions hold leases like running ones (taken
	// over if this executor dies) and are given back at Shutdown. Default:
	// ten times Concurrency, capped at 1000 (the pace above bounds it for
	// all but tasks of about a millisecond or less; measured in
	// docs/performance.md); -1 means none (claim only what can start at
	// once). Range: -1..100000.
	ClaimAhead int
	// ClaimBatch is the most executions claimed in one storage call.
	// Default: Concurrency + ClaimAhead, at most four times Concurrency and
	// 500 (larger claims made MySQL's claim of several queues slower, and
	// gained nothing elsewhere: docs/performance.md). Range: 1..10000.
	ClaimBatch int
	// CompletionBatch is the most results written in one storage call.
	// Default: 500. Range: 1..10000.
	CompletionBatch int

	// PollInterval is how often the executor looks for work it was not told
	// about (work enqueued by another process on a store without
	// cross-process notifications, a lost notification) and how often Wait
	// re-reads an execution it was not told about. Default: 1s. Range:
	// 1ms..1h.
	PollInterval time.Duration

	// LeaseDuration is how long a claim holds without renewal. The executor
	// renews every lease it holds every LeaseDuration/3, so a live run never
	// loses it; when the executor dies, its work is taken over once the
	// lease lapses. Default: 30s. Range: 100ms..1h.
	LeaseDuration time.Duration

	// CrashBudget is how many times a run may lose its executor (its lease
	// lapses while it runs) before the execution fails with ErrCrashBudget.
	// It stops a task that kills its process every time from looping
	// forever. 0 means the default, 3; -1 means none (the first lapse
	// fails the execution). Range: -1..1000.
	CrashBudget int

	// MaxPayloadBytes bounds an encoded input or output. Default: 1 MiB.
	// Range: 1 KiB..64 MiB.
	MaxPayloadBytes int
	// MaxChildren bounds the children one parent run may spawn. Default:
	// 1000. Range: 1..100000.
	MaxChildren int

	// StorageTimeout bounds each storage call made by the engine's
	// background work (claims, completions, heartbeats). Default: 10s.
	// Range: at least 10ms.
	StorageTimeout time.Duration

	// Retention says how long finished executions are kept; a started
	// executor deletes the expired ones in the background (see Retention).
	Retention Retention

	// Middleware wraps enqueues and runs (see Middleware), the first in
	// the list outermost. Default: none.
	Middleware []Middleware
	// Hooks are told what happened to executions (see Hooks), in the
	// order of the list. Default: none.
	Hooks []Hooks
}

// Retention says how long finished executions are kept before a started
// executor deletes them, whole trees at a time: a tree goes when its root
// has been finished for the period of the root's status, whatever its
// descendants ended as. One executor at a time cleans, across every
// process sharing the store (a lease in the store elects it). The zero
// value keeps completed and cancelled executions for a day and failed
// ones for a week, as River does; -1 keeps them forever.
type Retention struct {
	// Completed is how long completed executions are kept. Default: 24h.
	Completed time.Duration
	// Failed is how long failed, timed_out, children_failed and
	// finalize_failed executions are kept. Default: 7 days.
	Failed time.Duration
	// Cancelled is how long cancelled executions are kept. Default: 24h.
	Cancelled time.Duration
	// Interval is how often the cleaner looks for expired executions, the
	// first time when the executor starts.
	// Default: 1m. Range: 1s..24h.
	Interval time.Duration
	// Batch is how many trees one delete takes (one short transaction
	// each); after each, the cleaner pauses (see Share).
	// Default: 1000. Range: 1..10000.
	Batch int
	// Share is the most of the time the cleaner spends deleting while it
	// has a backlog: after each batch it pauses so that the batch takes
	// this share of the batch and the pause (a third: twice as long as
	// the batch took). A higher share purges a backlog faster and slows
	// the executors' claims and completions more while it does. With a
	// third, a drain that kept the store busy ran about a fifth slower
	// while a backlog was purged, on SQLite and on PostgreSQL; with a
	// higher share the cut grew about in proportion on SQLite, whose one
	// writer the deletes take from the drain, and more slowly on
	// PostgreSQL (docs/performance.md, "Retention", has the figures).
	// Default: 1/3. Range: more than 0, at most 1 (1: no pause).
	Share float64
}

func (r Retention) withDefaults() Retention {
	for _, f := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&r.Completed, 24 * time.Hour}, {&r.Failed, 7 * 24 * time.Hour}, {&r.Cancelled, 24 * time.Hour}} {
		switch *f.p {
		case 0:
			*f.p = f.def
		case -1:
			*f.p = keepForever
		}
	}
	setDefault(&r.Interval, time.Minute)
	setDefault(&r.Batch, 1000)
	setDefault(&r.Share, defaultCleanerShare)
	return r
}

// keepForever is a Retention period after withDefaults: -1 given.
const keepForever time.Duration = -1 << 63

// withDefaults returns c with every zero field set to its documented
// default, and the special values mapped to what the engine uses
// (ClaimAhead and CrashBudget -1: 0). It is the only place a default is
// applied; New calls it before validate, which then checks the result.
// ExecutorID stays empty when not given: that means "no stable identity"
// (Start takes back nothing), and New names the executor at random.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Codec == nil {
		c.Codec = JSONCodec{}
	}
	if c.Clock == nil {
		c.Clock = clock.Real()
	}
	c.Queues = slices.Clone(c.Queues)
	c.QueueLimits = maps.Clone(c.QueueLimits)
	setDefault(&c.Concurrency, 100)
	switch c.ClaimAhead {
	case -1:
		c.ClaimAhead = 0
	case 0:
		c.ClaimAhead = min(10*c.Concurrency, 1000)
	}
	switch c.CrashBudget {
	case -1:
		c.CrashBudget = 0
	case 0:
		c.CrashBudget = 3
	}
	setDefault(&c.ClaimBatch, min(c.Concurrency+c.ClaimAhead, 4*c.Concurrency, 500))
	setDefault(&c.CompletionBatch, 500)
	setDefault(&c.PollInterval, time.Second)
	setDefault(&c.LeaseDuration, 30*time.Second)
	setDefault(&c.MaxPayloadBytes, 1<<20)
	setDefault(&c.MaxChildren, 1000)
	setDefault(&c.StorageTimeout, 10*time.Second)
	c.Retention = c.Retention.withDefaults()
	return c
}

func setDefault[T int | float64 | time.Duration](p *T, v T) {
	if *p == 0 {
		*p = v
	}
}

func (c Config) validate() error {
	checks := []struct {
		ok   bool
		name string
		want string
	}{
		{c.Concurrency >= 1 && c.Concurrency <= 100000, "Concurrency", "1..100000"},
		{c.ClaimAhead >= 0 && c.ClaimAhead <= 100000, "ClaimAhead", "0..100000 (0 means the default; use -1 for none)"},
		{c.ClaimBatch >= 1 && c.ClaimBatch <= 10000, "ClaimBatch", "1..10000"},
		{c.CompletionBatch >= 1 && c.CompletionBatch <= 10000, "CompletionBatch", "1..10000"},
		{c.PollInterval >= time.Millisecond && c.PollInterval <= time.Hour, "PollInterval", "1ms..1h"},
		{c.LeaseDuration >= 100*time.Millisecond && c.LeaseDuration <= time.Hour, "LeaseDuration", "100ms..1h"},
		{c.CrashBudget >= 0 && c.CrashBudget <= 1000, "CrashBudget", "0..1000 (0 means the default, 3; use -1 for none)"},
		{c.MaxPayloadBytes >= 1<<10 && c.MaxPayloadBytes <= 64<<20, "MaxPayloadBytes", "1KiB..64MiB"},
		{c.MaxChildren >= 1 && c.MaxChildren <= 100000, "MaxChildren", "1..100000"},
		{c.StorageTimeout >= 10*time.Millisecond, "StorageTimeout", ">= 10ms"},
		{c.ExecutorID == "" || validID(c.ExecutorID), "ExecutorID", "[A-Za-z0-9_.:-]{1,255}"},
		{c.Retention.Completed > 0 || c.Retention.Completed == keepForever, "Retention.Completed", "> 0, or -1 to keep forever"},
		{c.Retention.Failed > 0 || c.Retention.Failed == keepForever, "Retention.Failed", "> 0, or -1 to keep forever"},
		{c.Retention.Cancelled > 0 || c.Retention.Cancelled == keepForever, "Retention.Cancelled", "> 0, or -1 to keep forever"},
		{c.Retention.Interval >= time.Second && c.Retention.Interval <= 24*time.Hour, "Retention.Interval", "1s..24h"},
		{c.Retention.Batch >= 1 && c.Retention.Batch <= 10000, "Retention.Batch", "1..10000"},
		{c.Retention.Share > 0 && c.Retention.Share <= 1, "Retention.Share", "more than 0, at most 1"},
	}
	for _, ch := range checks {
		if !ch.ok {
			return fmt.Errorf("%w: Config.%s out of range (want %s)", ErrInvalidOption, ch.name, ch.want)
		}
	}
	if err := validQueues(c.Queues); err != nil {
		return err
	}
	return validQueueLimits(c.QueueLimits)
}

// validQueueLimits checks Config.QueueLimits: valid names and limits.
func validQueueLimits(limits map[string]QueueLimit) error {
	for _, name := range slices.Sorted(maps.Keys(limits)) {
		p := limits[name].params(time.Time{}, name)
		if err := storage.ValidateLimitControl(&p); err != nil {
			return fmt.Errorf("%w: Config.QueueLimits: %w", ErrInvalidOption, err)
		}
	}
	return nil
}

// validQueues checks Config.Queues: valid names, none twice.
func validQueues(queues []string) error {
	for i, q := range queues {
		if err := storage.ValidateQueueName(q); err != nil {
			return fmt.Errorf("%w: Config.Queues[%d]: %w", ErrInvalidOption, i, err)
		}
		if slices.Contains(queues[:i], q) {
			return fmt.Errorf("%w: Config.Queues: queue %q listed twice", ErrInvalidOption, q)
		}
	}
	return nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == ':' || r == '-') {
			return false
		}
	}
	return true
}
