package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"
)

// Queues and priorities. Every execution belongs to one named queue and has
// a priority. Claim takes due rows of the queues it is asked for (all of
// them when ClaimParams.Queues is empty), never those of a paused queue,
// highest priority first (the smallest number), then DueAt ascending.
const (
	// DefaultQueue is the queue of an execution stored with an empty Queue.
	DefaultQueue = "default"
	// MaxQueueNameLen bounds a queue's (and a control's) name.
	MaxQueueNameLen = 64

	// PriorityFirst is the highest priority, PriorityLast the lowest.
	// Stores keep PriorityLevels levels and may rely on their number (the
	// SQL stores probe their claim index once per level).
	PriorityFirst  = 1
	PriorityLast   = 9
	PriorityLevels = PriorityLast - PriorityFirst + 1
	// DefaultPriority is the priority of an execution stored with
	// Priority 0.
	DefaultPriority = 5
)

// NormalizeQueue returns q, or DefaultQueue when q is empty: what a store
// keeps for an execution's Queue.
func NormalizeQueue(q string) string {
	if q == "" {
		return DefaultQueue
	}
	return q
}

// NormalizePriority returns p, or DefaultPriority when p is 0: what a store
// keeps for an execution's Priority.
func NormalizePriority(p int) int {
	if p == 0 {
		return DefaultPriority
	}
	return p
}

// ClaimOrdered returns execs and delays (nil or one per row, as in
// InsertParams) in the order claims take them (ClaimOrder). A store that
// inserts a batch in this order gives the rows the claim order they have
// in the order given (ties of priority and due time stay in the order
// given: insertion order, across queues too), and stores the rows that
// claims take together next to each other: a batch of mixed priorities
// given in turn would otherwise put each priority's rows on every ninth
// row of the table, and every claim and completion would write a page per
// row (docs/performance.md). It returns execs and delays as they are when
// they are in order already (one priority and due time: the common
// batch), else sorted copies; the caller's slices are not changed.
func ClaimOrdered(execs []Execution, delays []time.Duration) ([]Execution, []time.Duration) {
	order := ClaimOrder(execs, delays)
	if order == nil {
		return execs, delays
	}
	sorted := make([]Execution, len(execs))
	var sortedDelays []time.Duration
	if len(delays) == len(execs) {
		sortedDelays = make([]time.Duration, len(delays))
	}
	for p, from := range order {
		sorted[p] = execs[from]
		if sortedDelays != nil {
			sortedDelays[p] = delays[from]
		}
	}
	if sortedDelays == nil {
		sortedDelays = delays
	}
	return sorted, sortedDelays
}

// ClaimOrder returns the indexes of execs in the order claims take the
// rows, keeping the order of equals, or nil when that is the order given:
// Priority (NormalizePriority) ascending, then the due time that Insert
// gives each row (now plus: its delay when ready or claimed at insert,
// its Timeout when sleeping; a row with no due time sorts as due now).
// delays is nil or one per row, as in InsertParams.
func ClaimOrder(execs []Execution, delays []time.Duration) []int {
	due := func(i int) time.Duration {
		e := &execs[i]
		switch {
		case e.Status == StatusRunning && e.SleepKey != "":
			return e.Timeout
		case len(delays) == len(execs) && (e.Status == StatusReady || e.Status == StatusRunning && e.ExecutorID != ""):
			return delays[i]
		}
		return 0
	}
	return claimOrder(len(execs), func(i, j int) int {
		if c := cmp.Compare(NormalizePriority(execs[i].Priority), NormalizePriority(execs[j].Priority)); c != 0 {
			return c
		}
		return cmp.Compare(due(i), due(j))
	})
}

// claimOrder returns the indexes 0..n-1 sorted by before, ties by index
// (an unstable sort then keeps the order of equals, in O(n log n)), or nil
// when they are in that order already.
func claimOrder(n int, before func(i, j int) int) []int {
	sorted := true
	for i := 1; i < n && sorted; i++ {
		sorted = before(i-1, i) <= 0
	}
	if sorted {
		return nil
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		if c := before(i, j); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	return order
}

// ValidateQueueName rejects a queue (or control) name no store keeps: empty,
// longer than MaxQueueNameLen bytes, or with a byte outside
// [A-Za-z0-9_.:-].
func ValidateQueueName(name string) error {
	if name == "" || len(name) > MaxQueueNameLen {
		return fmt.Errorf("queue name %q: must be 1..%d bytes", name, MaxQueueNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '.' || c == ':' || c == '-') {
			return fmt.Errorf("queue name %q: only [A-Za-z0-9_.:-] allowed", name)
		}
	}
	return nil
}

// ValidatePriority rejects a priority outside PriorityFirst..PriorityLast
// (0 stands for DefaultPriority and is accepted).
func ValidatePriority(p int) error {
	if p != 0 && (p < PriorityFirst || p > PriorityLast) {
		return fmt.Errorf("priority %d: must be %d (first) to %d (last), or 0 for the default %d",
			p, PriorityFirst, PriorityLast, DefaultPriority)
	}
	return nil
}

// The kinds of controls the engine keeps.
const (
	// ControlQueue is a queue. A paused queue's rows are not claimed.
	ControlQueue = "queue"
	// ControlSchedule is a schedule; its Spec and Mark are the engine's.
	ControlSchedule = "schedule"
)

// Control is a named switch shared by every process on a store: a queue
// that can be paused, a schedule that can be paused and remembers the last
// tick it enqueued. The store keeps Spec and Mark without reading them.
type Control struct {
	// Kind and Name identify the control (ControlQueue, ControlSchedule);
	// Name follows ValidateQueueName.
	Kind, Name string
	// Paused is set and cleared by PauseControl only.
	Paused bool
	// Spec is the control's definition, written by RegisterControls (the
	// engine's JSON); at most MaxControlSpecBytes.
	Spec []byte
	// Mark is a number the engine advances with AdvanceControl (a
	// schedule's last tick, in Unix microseconds).
	Mark int64
	// Concurrency is a queue's global concurrency limit, set by
	// LimitControl only (RegisterControls keeps it; a new control has
	// none): at most that many of the queue's executions run at once on
	// the store (see Store.Claim); 0 is no limit.
	Concurrency int
	// PerKey is the queue's concurrency limit per key, set by LimitControl
	// only: at most that many of the queue's executions with one
	// Execution.ConcurrencyKey run at once on the store (rows without a
	// key are not limited by it); 0 is no limit.
	PerKey int
	// Rate and Per are the queue's rate limit, set by LimitControl only:
	// at most Rate claims of the queue's rows (starts and takeovers) per
	// window of Per (see RateWindow); Rate 0 is no limit (Per is then 0).
	Rate int
	Per  time.Duration
	// UpdatedAt is when the control was last registered, paused, resumed
	// or advanced.
	UpdatedAt time.Time
}

// MaxControlSpecBytes bounds a control's Spec.
const MaxControlSpecBytes = 64 << 10

// RegisterControlsParams registers controls.
type RegisterControlsParams struct {
	Now time.Time
	// Controls to register: one that does not exist is created with its
	// Spec and Mark and not paused; one that exists gets the Spec given
	// and keeps its Paused and Mark. All or nothing.
	Controls []Control
}

// ListControlsParams lists the controls of one kind.
type ListControlsParams struct {
	Kind string
}

// PauseControlParams pauses or resumes a control.
type PauseControlParams struct {
	Now        time.Time
	Kind, Name string
	Paused     bool
}

// AdvanceControlParams moves a control's Mark from From to To.
type AdvanceControlParams struct {
	Now        time.Time
	Kind, Name string
	From, To   int64
}

// LimitControlParams sets a queue's limits, all of them at once (a field
// left 0 removes that limit).
type LimitControlParams struct {
	Now time.Time
	// Kind is ControlQueue (no other kind has a limit).
	Kind, Name string
	// Concurrency is the global limit, 0 for none; see
	// ValidateConcurrency.
	Concurrency int
	// PerKey is the limit per concurrency key, 0 for none; see
	// ValidateConcurrency.
	PerKey int
	// Rate and Per are the rate limit, both 0 for none; see ValidateRate.
	Rate int
	Per  time.Duration
}

// SameLimits reports whether control c has the limits p sets.
func (p *LimitControlParams) SameLimits(c *Control) bool {
	return c.Concurrency == p.Concurrency && c.PerKey == p.PerKey && c.Rate == p.Rate && c.Per == p.Per
}

// Limited reports whether p sets any limit (see Control.Limited).
func (p *LimitControlParams) Limited() bool {
	return p.Concurrency > 0 || p.PerKey > 0 || p.Rate > 0
}

// Limited reports whether control c has any limit: the queues whose claims
// take the limited path of Store.Claim.
func (c *Control) Limited() bool {
	return c.Concurrency > 0 || c.PerKey > 0 || c.Rate > 0
}

// MaxConcurrencyLimit bounds a queue's concurrency limits (global and per
// key).
const MaxConcurrencyLimit = 1_000_000

// MaxRateLimit bounds a queue's rate limit (claims per window).
const MaxRateLimit = 1_000_000

// MinRatePer and MaxRatePer bound a rate limit's window.
const (
	MinRatePer = time.Millisecond
	MaxRatePer = 366 * 24 * time.Hour
)

// RateWindow describes the rate limit's window, as every store keeps it
// in the queue's control row: a fixed window that starts at the first
// claim of the queue's rows after the previous window ended (now >= start
// + Per) and counts the rows claimed in it, updated in the claim's
// transaction; a claim takes at most Rate less that count. So at most Rate
// claims start in any window, all of them at once if the rows are there
// (the burst is Rate), and at most 2*Rate in a span of Per that straddles
// two windows. A window is judged by the claim's now: the store's clock
// (PostgreSQL, MySQL) or the claimer's (SQLite, memory); a claimer whose
// clock is behind the window's start counts in that window.
const RateWindow = "fixed, from the first claim after the previous window"

// MaxConcurrencyKey is the longest Execution.ConcurrencyKey, in bytes.
const MaxConcurrencyKey = 255

// ValidateConcurrencyKey rejects a concurrency key no store keeps: empty,
// over MaxConcurrencyKey bytes, not UTF-8, or with a control character.
func ValidateConcurrencyKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty concurrency key")
	case len(key) > MaxConcurrencyKey:
		return fmt.Errorf("concurrency key of %d bytes: at most %d", len(key), MaxConcurrencyKey)
	case !utf8.ValidString(key):
		return fmt.Errorf("concurrency key %q: not UTF-8", key)
	}
	for _, r := range key {
		if unicode.IsControl(r) {
			return fmt.Errorf("concurrency key %q: control character %U", key, r)
		}
	}
	return nil
}

// ValidateRate rejects a rate limit no store keeps: rate negative or over
// MaxRateLimit, a window outside MinRatePer..MaxRatePer or not a whole
// number of microseconds, or a window without a rate (or a rate without
// one).
func ValidateRate(rate int, per time.Duration) error {
	switch {
	case rate < 0 || rate > MaxRateLimit:
		return fmt.Errorf("rate limit %d: must be 1..%d, or 0 for none", rate, MaxRateLimit)
	case rate == 0 && per != 0:
		return fmt.Errorf("rate limit 0 with a period of %v: give both or neither", per)
	case rate == 0:
		return nil
	case per < MinRatePer || per > MaxRatePer:
		return fmt.Errorf("rate limit %d per %v: the period must be %v..%v", rate, per, MinRatePer, MaxRatePer)
	case per%time.Microsecond != 0:
		return fmt.Errorf("rate limit %d per %v: the period must be whole microseconds", rate, per)
	}
	return nil
}

// ValidateConcurrency rejects a concurrency limit no store keeps: negative
// or over MaxConcurrencyLimit (0 is no limit).
func ValidateConcurrency(n int) error {
	if n < 0 || n > MaxConcurrencyLimit {
		return fmt.Errorf("concurrency limit %d: must be 1..%d, or 0 for none", n, MaxConcurrencyLimit)
	}
	return nil
}

// ValidateLimitControl rejects a LimitControl call no store applies,
// naming what is wrong.
func ValidateLimitControl(p *LimitControlParams) error {
	if p.Kind != ControlQueue {
		return fmt.Errorf("control %q of kind %q: only a queue has limits", p.Name, p.Kind)
	}
	if err := ValidateQueueName(p.Name); err != nil {
		return err
	}
	if err := ValidateConcurrency(p.Concurrency); err != nil {
		return fmt.Errorf("queue %q: %w", p.Name, err)
	}
	if err := ValidateConcurrency(p.PerKey); err != nil {
		return fmt.Errorf("queue %q: per key: %w", p.Name, err)
	}
	if err := ValidateRate(p.Rate, p.Per); err != nil {
		return fmt.Errorf("queue %q: %w", p.Name, err)
	}
	return nil
}

// Controls keeps the controls shared by the processes of a store. Store
// includes it.
type Controls interface {
	// RegisterControls creates or updates controls (see
	// RegisterControlsParams). A kind or name that is empty or invalid
	// fails the call, which then changes nothing.
	RegisterControls(ctx context.Context, p RegisterControlsParams) error

	// ListControls returns the controls of p.Kind, by name.
	ListControls(ctx context.Context, p ListControlsParams) ([]Control, error)

	// PauseControl sets a control's Paused and reports whether it changed.
	// An unknown control: ErrNotFound. Resuming a queue (Paused false, was
	// true) publishes Event.Ready, since its rows may be due; pausing one
	// takes effect for every Claim that starts after PauseControl returns
	// (rows claimed before keep running).
	PauseControl(ctx context.Context, p PauseControlParams) (changed bool, err error)

	// AdvanceControl sets a control's Mark to p.To if it is p.From, and
	// reports whether it did (false: another caller moved it first). An
	// unknown control: ErrNotFound.
	AdvanceControl(ctx context.Context, p AdvanceControlParams) (bool, error)

	// LimitControl sets a queue's limits (LimitControlParams: all at
	// once, 0 for none) and reports whether they changed; a change of the
	// rate limit starts a new window. Params that ValidateLimitControl refuses fail
	// the call, which then changes nothing; an unknown queue:
	// ErrNotFound. A change publishes Event.Ready, since rows may be
	// claimable. The limit holds for every Claim that starts after
	// LimitControl returns, in every process; a store may take up to
	// LimitRefresh to claim the rows of a queue limited from another
	// process (it never claims beyond the limit meanwhile).
	LimitControl(ctx context.Context, p LimitControlParams) (changed bool, err error)
}

// LimitRefresh is how long a store may go on with its copy of which queues
// have a concurrency limit; see Controls.LimitControl.
const LimitRefresh = 250 * time.Millisecond

// ValidateControls rejects a registration with a control no store
// registers (ValidateControl), naming the first.
func ValidateControls(cs []Control) error {
	for i := range cs {
		if err := ValidateControl(&cs[i]); err != nil {
			return err
		}
	}
	return nil
}

// ValidateControl rejects a control no store registers.
func ValidateControl(c *Control) error {
	switch c.Kind {
	case ControlQueue, ControlSchedule:
	default:
		return fmt.Errorf("control %q: unknown kind %q", c.Name, c.Kind)
	}
	if err := ValidateQueueName(c.Name); err != nil {
		return fmt.Errorf("control of kind %s: %w", c.Kind, err)
	}
	if len(c.Spec) > MaxControlSpecBytes {
		return fmt.Errorf("control %s %q: spec of %d bytes, at most %d allowed", c.Kind, c.Name, len(c.Spec), MaxControlSpecBytes)
	}
	return nil
}

// CompleteClaimer is implemented by a store that can claim in the round
// trip of a completion: the engine uses it when a batch of outcomes frees
// slots of limited queues, so that the slots are claimed again as soon as
// they are free, without a round trip of their own (PostgreSQL).
type CompleteClaimer interface {
	// CompleteClaim applies p as Complete does and then, in the same
	// transaction, claims as Claim(c) does from c.Queues, which must all
	// be queues with a concurrency limit: the claim counts the running
	// rows after p's transitions. When it cannot do both in one round
	// trip (a batch Complete writes in several statements, a queue of
	// c.Queues without a concurrency limit, or limited per key) it applies
	// p alone and reports claimed false: then the caller claims as it
	// would have.
	CompleteClaim(ctx context.Context, p CompleteParams, c ClaimParams) (results []TransitionResult, rows []Execution, claimed bool, err error)
}

// CompleteClaim calls s's CompleteClaim when s is a CompleteClaimer, and
// otherwise applies p with s.Complete and claims nothing (claimed false).
// A wrapper of a Store that embeds it as an interface, which hides the
// method, forwards it with this.
func CompleteClaim(ctx context.Context, s Store, p CompleteParams, c ClaimParams) ([]TransitionResult, []Execution, bool, error) {
	if cc, ok := s.(CompleteClaimer); ok {
		return cc.CompleteClaim(ctx, p, c)
	}
	res, err := s.Complete(ctx, p)
	return res, nil, false, err
}
