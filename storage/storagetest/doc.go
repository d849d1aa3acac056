// Package storagetest is the conformance suite of the storage contract
// ([storage.Store]). Every store runs it: the memory, SQLite and PostgreSQL
// stores of this module, and any store a user writes.
//
// # Running the suite
//
// Call [Run] from a test, with a function that opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store {
//			s := mystore.Open(t.TempDir())
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Each check is a parallel subtest (t.Parallel) with its own store, so open
// must isolate stores from each other (a file, schema or database each).
// The open function registers the store's cleanup; the suite never closes a
// store except in the check of Close itself, so Close must tolerate being
// called twice.
//
// # End-to-end scenarios
//
// [RunEngine] runs executor scenarios (task trees, retries, finalize,
// fan-out, loops, sleeping tasks, cancellation, two executors sharing one
// store) through an executor on stores made by open, on the real
// clock. The memory, SQLite (on temporary files) and PostgreSQL stores of
// this module run them.
//
// # Time
//
// The suite passes fixed instants (around [Base], in 2030) as params.Now and
// expects the store to use them as its clock. A store that judges due times
// on a server clock must be configured to honour params.Now to run the
// suite. Times are compared to within a microsecond.
//
// # Helpers
//
// [NewExecution], [NewChild] and [NewSleeping] build rows, and [Diff] and
// [RequireExecution] compare them as the suite does (nil and empty byte
// slices are equal, times within a microsecond are equal). Tests of a store's
// own features may reuse them.
package storagetest
