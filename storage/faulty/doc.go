// Package faulty is a fault-injecting decorator over any [storage.Store], for
// testing how the engine behaves when its storage misbehaves (RELIABILITY.md
// scenario R8).
//
//	inner := memory.New()
//	s, err := faulty.New(inner, faulty.Options{Seed: 42, Rate: 0.05})
//	ex, err := durable.New(s, durable.Config{})
//	...
//	s.Disable() // stop injecting; let the system quiesce
//	fmt.Println(s.Stats())
//
// The decorator embeds the store it wraps. Every method of the contract
// except Subscribe and Close goes through it: Insert, Get, GetBySleepKey,
// ListChildren, Claim, NextDue, Heartbeat, Complete, Cancel, Release and
// Recover, List, Count, Delete, DeleteExpired and Lead. Subscribe and
// Close pass straight to the inner store, so events are delivered as the
// inner store publishes them.
//
// # Fault kinds
//
// On each call, with probability Rate, the decorator injects one fault, of a
// kind drawn uniformly from Options.Kinds:
//
//   - [KindBefore]: the inner store is not called; the caller gets an error.
//     Nothing changed.
//   - [KindAfter]: the inner store is called and applies the operation, but
//     the caller gets an error instead of its result: an ambiguous commit,
//     like a connection lost after COMMIT. If the inner store itself failed,
//     its error is returned and no fault is counted (nothing is ambiguous).
//   - [KindLatency]: the call waits a random time up to Options.MaxLatency
//     (real time), then runs normally. If the caller's context ends during
//     the wait, the inner store is not called and the error wraps both
//     [ErrInjected] and the context's error (a storage timeout).
//
// # Errors
//
// Every injected error wraps [ErrInjected] and names the method and the
// kind. It never wraps [storage.ErrNotFound], [storage.ErrDuplicate],
// [storage.ErrNotDeletable] or [storage.ErrClosed]: an injected fault is
// transient, and a caller that retries it must not mistake it for a
// definite answer. A KindAfter fault on Delete leaves the trees deleted.
//
// # Determinism
//
// Fault decisions come from a pseudo-random generator seeded with
// Options.Seed: for the same seed and the same sequence of calls, the same
// calls fail the same way. Calls made concurrently reach the generator in
// scheduling order, so concurrent callers see a fault pattern that depends
// on timing; the rate still holds. [Store.FailNext] and
// [Store.FailNextWhere] queue scripted faults for deterministic tests of one
// particular failure (say, the Complete call that carries a given
// transition).
//
// # Concurrency
//
// A Store is safe for concurrent use. [Store.SetRate], [Store.Disable],
// [Store.FailNext], [Store.FailNextWhere] and [Store.Stats] may be called at any time, including
// while other goroutines use the store.
package faulty
