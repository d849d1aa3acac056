package faulty

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// ErrInjected is wrapped by every error the decorator injects.
var ErrInjected = errors.New("faulty: injected storage fault")

// Kind is a kind of fault.
type Kind string

// The fault kinds. See the package doc.
const (
	// KindBefore fails a call without calling the inner store.
	KindBefore Kind = "before"
	// KindAfter calls the inner store, which applies the operation, then
	// fails the call anyway (an ambiguous commit).
	KindAfter Kind = "after"
	// KindLatency delays a call by up to Options.MaxLatency.
	KindLatency Kind = "latency"
)

// AllKinds lists every fault kind.
var AllKinds = []Kind{KindBefore, KindAfter, KindLatency}

// The names of the methods faults are injected into, as used by
// Options.Methods, FailNext and Stats.
const (
	MethodInsert        = "Insert"
	MethodGet           = "Get"
	MethodGetBySleepKey = "GetBySleepKey"
	MethodListChildren  = "ListChildren"
	MethodClaim         = "Claim"
	MethodNextDue       = "NextDue"
	MethodHeartbeat     = "Heartbeat"
	MethodComplete      = "Complete"
	MethodCancel        = "Cancel"
	MethodRelease       = "Release"
	MethodRecover       = "Recover"
	MethodList          = "List"
	MethodCount         = "Count"
	MethodDelete        = "Delete"
	MethodDeleteExpired = "DeleteExpired"
	MethodLead          = "Lead"
)

// Methods lists every method faults may be injected into.
var Methods = []string{
	MethodInsert, MethodGet, MethodGetBySleepKey, MethodListChildren, MethodClaim,
	MethodNextDue, MethodHeartbeat, MethodComplete, MethodCancel, MethodRelease, MethodRecover,
	MethodList, MethodCount, MethodDelete, MethodDeleteExpired, MethodLead,
}

// DefaultMaxLatency is the MaxLatency used when Options leaves it zero.
const DefaultMaxLatency = 10 * time.Millisecond

// Options configures a Store.
type Options struct {
	// Seed seeds the fault decisions (see the package doc, Determinism).
	Seed int64
	// Rate is the probability, per call, of injecting a fault. Range 0..1;
	// 0 injects nothing (scripted faults from FailNext still apply).
	Rate float64
	// Kinds are the kinds of fault injected, each drawn with equal
	// probability. Default: KindBefore and KindAfter. A kind listed twice is
	// drawn twice as often.
	Kinds []Kind
	// MaxLatency bounds a KindLatency delay (drawn uniformly in
	// [0, MaxLatency]). Default: DefaultMaxLatency. Must not be negative.
	MaxLatency time.Duration
	// Methods restricts random faults to these methods (names from
	// Methods). Default: every method.
	Methods []string
}

// Store decorates a storage.Store with injected faults. Create it with New.
type Store struct {
	storage.Store // the inner store; Subscribe and Close pass through

	mu         sync.Mutex
	rnd        *rand.Rand
	rate       float64
	kinds      []Kind
	maxLatency time.Duration
	methods    map[string]bool // nil: every method
	scripted   map[string][]scripted
	stats      Stats
}

var (
	_ storage.Store  = (*Store)(nil)
	_ storage.Lister = (*Store)(nil)
)

// New returns a decorator over inner. It fails on a nil inner store or
// options out of range.
func New(inner storage.Store, o Options) (*Store, error) {
	if inner == nil {
		return nil, errors.New("faulty: nil inner store")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &Store{
		Store:      inner,
		rnd:        rand.New(rand.NewPCG(uint64(o.Seed), 0x6661756c7479)), // "faulty"
		rate:       o.Rate,
		kinds:      slices.Clone(o.Kinds),
		maxLatency: o.MaxLatency,
		scripted:   map[string][]scripted{},
		stats:      newStats(),
	}
	if len(s.kinds) == 0 {
		s.kinds = []Kind{KindBefore, KindAfter}
	}
	if s.maxLatency == 0 {
		s.maxLatency = DefaultMaxLatency
	}
	if len(o.Methods) > 0 {
		s.methods = map[string]bool{}
		for _, m := range o.Methods {
			s.methods[m] = true
		}
	}
	return s, nil
}

func (o Options) validate() error {
	if err := validRate(o.Rate); err != nil {
		return err
	}
	for _, k := range o.Kinds {
		if !k.valid() {
			return fmt.Errorf("faulty: unknown fault kind %q (want one of %v)", k, AllKinds)
		}
	}
	if o.MaxLatency < 0 {
		return fmt.Errorf("faulty: negative MaxLatency %s", o.MaxLatency)
	}
	for _, m := range o.Methods {
		if !slices.Contains(Methods, m) {
			return fmt.Errorf("faulty: unknown method %q (want one of %v)", m, Methods)
		}
	}
	return nil
}

func validRate(r float64) error {
	if r < 0 || r > 1 || math.IsNaN(r) {
		return fmt.Errorf("faulty: rate %v out of range 0..1", r)
	}
	return nil
}

func (k Kind) valid() bool { return slices.Contains(AllKinds, k) }

// SetRate changes the probability of a fault per call from now on. A rate
// out of range 0..1 is refused with an error and changes nothing.
func (s *Store) SetRate(rate float64) error {
	if err := validRate(rate); err != nil {
		return err
	}
	s.mu.Lock()
	s.rate = rate
	s.mu.Unlock()
	return nil
}

// Disable stops random faults (SetRate(0)). Scripted faults already queued
// by FailNext still apply.
func (s *Store) Disable() {
	s.mu.Lock()
	s.rate = 0
	s.mu.Unlock()
}

// Rate returns the current probability of a fault per call.
func (s *Store) Rate() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate
}

// FailNext queues a fault of the given kind for the next call of method,
// whatever the rate and Options.Methods. Faults queued for one method are
// consumed one per call, in order.
func (s *Store) FailNext(method string, kind Kind) error {
	return s.FailNextWhere(method, kind, nil)
}

// FailNextWhere queues a fault of the given kind for the next call of
// method whose params (the method's params struct, e.g. a
// storage.CompleteParams) satisfy match; a nil match accepts any call. The
// fault applies whatever the rate and Options.Methods, once. match is
// called with the Store's lock held: it must be quick and must not call the
// Store.
func (s *Store) FailNextWhere(method string, kind Kind, match func(params any) bool) error {
	if !slices.Contains(Methods, method) {
		return fmt.Errorf("faulty: unknown method %q (want one of %v)", method, Methods)
	}
	if !kind.valid() {
		return fmt.Errorf("faulty: unknown fault kind %q (want one of %v)", kind, AllKinds)
	}
	s.mu.Lock()
	s.scripted[method] = append(s.scripted[method], scripted{kind: kind, match: match})
	s.mu.Unlock()
	return nil
}

// scripted is a fault queued by FailNext or FailNextWhere.
type scripted struct {
	kind  Kind
	match func(params any) bool // nil: any call
}

// takeScripted removes and returns the first queued fault of method that
// matches params. Call with s.mu held.
func (s *Store) takeScripted(method string, params any) (Kind, bool) {
	q := s.scripted[method]
	for i, sc := range q {
		if sc.match == nil || sc.match(params) {
			s.scripted[method] = slices.Delete(q, i, i+1)
			return sc.kind, true
		}
	}
	return "", false
}

// decision is what to do with one call.
type decision struct {
	kind    Kind // empty: no fault
	latency time.Duration
}

// decide counts the call and draws its fault, if any.
func (s *Store) decide(method string, params any) decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Calls++
	s.stats.CallsByMethod[method]++
	var d decision
	if k, ok := s.takeScripted(method, params); ok {
		d.kind = k
	} else if s.rnd.Float64() < s.rate && (s.methods == nil || s.methods[method]) {
		d.kind = s.kinds[s.rnd.IntN(len(s.kinds))]
	}
	if d.kind == KindLatency {
		d.latency = time.Duration(s.rnd.Int64N(int64(s.maxLatency) + 1))
	}
	return d
}

func (s *Store) count(method string, k Kind) {
	s.mu.Lock()
	s.stats.add(method, k)
	s.mu.Unlock()
}

// do runs op (the call to the inner store with params) under the fault
// drawn for it.
func (s *Store) do(ctx context.Context, method string, params any, op func() error) error {
	d := s.decide(method, params)
	switch d.kind {
	case KindBefore:
		s.count(method, KindBefore)
		return fmt.Errorf("%w: %s failed before reaching the store (not applied)", ErrInjected, method)
	case KindAfter:
		if err := op(); err != nil {
			return err
		}
		s.count(method, KindAfter)
		return fmt.Errorf("%w: %s failed after the store applied it (ambiguous commit)", ErrInjected, method)
	case KindLatency:
		s.count(method, KindLatency)
		if err := wait(ctx, d.latency); err != nil {
			return fmt.Errorf("%w: %s: injected latency of %s outlasted the context (not applied): %w", ErrInjected, method, d.latency, err)
		}
	}
	return op()
}

// wait sleeps d (real time) or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
