package sim

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// envInt reads a count from the environment, or def.
func envInt(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: not a number: %v", name, v, err)
	}
	return n
}

// TestSameSeedSameHistory runs seeds twice each and compares their
// histories byte for byte.
func TestSameSeedSameHistory(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		a := Run(Config{Seed: seed, KeepTrace: true})
		b := Run(Config{Seed: seed, KeepTrace: true})
		if a.Trace != b.Trace || a.Hash != b.Hash {
			t.Fatalf("seed %d: two runs differ:\n%s", seed, firstDifference(a.Trace, b.Trace))
		}
		if a.Steps < 50 || a.Roots == 0 {
			t.Fatalf("seed %d: only %d steps, %d roots: the workload did not run", seed, a.Steps, a.Roots)
		}
	}
	if Run(Config{Seed: 1}).Hash == Run(Config{Seed: 2}).Hash {
		t.Fatal("seeds 1 and 2 have the same history")
	}
}

// firstDifference shows where two traces first differ.
func firstDifference(a, b string) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	from := max(0, i-300)
	return fmt.Sprintf("first run:\n%s\nsecond run:\n%s", a[from:min(len(a), i+200)], b[from:min(len(b), i+200)])
}

// TestSeeds runs many seeds: DURABLE_SIM_SEEDS of them (default 100; CI
// runs 10,000), from DURABLE_SIM_FROM (default 1). A failure prints the
// seed, the step, the broken invariant and the trace before it.
func TestSeeds(t *testing.T) {
	from, count := envInt(t, "DURABLE_SIM_FROM", 1), envInt(t, "DURABLE_SIM_SEEDS", 100)
	if testing.Short() {
		count = min(count, 20)
	}
	const chunk = 250
	for lo := from; lo < from+count; lo += chunk {
		hi := min(lo+chunk, from+count)
		t.Run(fmt.Sprintf("%d-%d", lo, hi-1), func(t *testing.T) {
			t.Parallel()
			failed := 0
			for seed := lo; seed < hi; seed++ {
				if r := Run(Config{Seed: seed}); r.Violation != nil {
					t.Error(r.Violation)
					if failed++; failed == 3 {
						t.Fatal("stopping after 3 failing seeds")
					}
				}
			}
		})
	}
}

// TestSeed replays one seed, DURABLE_SIM_SEED, and prints its whole
// history.
func TestSeed(t *testing.T) {
	v := os.Getenv("DURABLE_SIM_SEED")
	if v == "" {
		t.Skip("DURABLE_SIM_SEED is not set: nothing to replay")
	}
	seed := envInt(t, "DURABLE_SIM_SEED", 0)
	r := Run(Config{Seed: seed, KeepTrace: true})
	t.Log("\n" + r.Trace)
	if r.Violation != nil {
		t.Fatal(r.Violation)
	}
}

// TestRegressions runs the seeds of testdata/regressions.txt (added by
// make sim-regress SEED=n).
func TestRegressions(t *testing.T) {
	seeds, err := ReadRegressions(RegressionsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range seeds {
		if r := Run(Config{Seed: seed}); r.Violation != nil {
			t.Error(r.Violation)
		}
	}
}

// TestWithoutFaults: the workload alone finishes on every seed.
func TestWithoutFaults(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		r := Run(Config{Seed: seed, NoFaults: true})
		if r.Violation != nil {
			t.Fatal(r.Violation)
		}
		if r.Faults != 0 {
			t.Fatalf("seed %d: %d faults without faults", seed, r.Faults)
		}
	}
}

// TestClockSkew (100 seeds each): with the executors' clocks off within the documented
// bound (a lease between any two), every invariant holds and leases are
// taken over early (the skew is felt); beyond it (five leases either way)
// every invariant still holds, since none rests on the clocks, and more
// leases are taken over early: what a skew beyond the bound breaks is when
// work moves, not whether it is done once.
func TestClockSkew(t *testing.T) {
	early := map[time.Duration]int{}
	for _, maxSkew := range []time.Duration{0, 5 * skewBound} {
		for seed := uint64(1); seed <= 100; seed++ {
			r := Run(Config{Seed: seed, MaxSkew: maxSkew})
			if r.Violation != nil {
				t.Fatalf("max skew %s: %v", maxSkew, r.Violation)
			}
			early[maxSkew] += r.EarlyTakeovers
		}
	}
	t.Logf("early takeovers over 100 seeds: %d within the bound, %d beyond it", early[0], early[5*skewBound])
	if early[0] == 0 || early[5*skewBound] <= early[0] {
		t.Fatalf("early takeovers: %d within the bound, %d beyond it: the skew is not felt", early[0], early[5*skewBound])
	}
}
