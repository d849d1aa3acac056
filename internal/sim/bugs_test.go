package sim

import (
	"strings"
	"testing"
)

// TestBugsAreCaught switches on each deliberate bug and checks that some
// seed among the first 300 breaks the invariant that bug breaks, and that
// the same seed passes without the bug.
func TestBugsAreCaught(t *testing.T) {
	for _, c := range []struct {
		name string
		bugs Bugs
		want string // in the violation's message
	}{
		{"fence reuse after a lost claim commit", Bugs{AsyncClaims: true}, "handed out twice"},
		{"completion not guarded by the fence", Bugs{UnguardedComplete: true}, "stale claim was accepted"},
		{"retry not counted", Bugs{UncountedRetry: true}, "retried 3 times, its policy allows 2"},
		{"children listed out of order", Bugs{UnorderedChildren: true}, "the child at"},
		{"child not cancelled with its parent", Bugs{UncancelledChildren: true}, "but its child"},
		{"heartbeat extends a lease too little", Bugs{ShortHeartbeat: true}, "before it lapsed"},
		{"queue limit hidden from the executors", Bugs{HiddenLimit: true}, "above its limit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 300; seed++ {
				r := Run(Config{Seed: seed, Bugs: c.bugs})
				if r.Violation == nil {
					continue
				}
				if !strings.Contains(r.Violation.Message, c.want) {
					t.Fatalf("seed %d: violation %q, want one about %q", seed, r.Violation.Message, c.want)
				}
				if clean := Run(Config{Seed: seed}); clean.Violation != nil {
					t.Fatalf("seed %d fails without the bug too: %v", seed, clean.Violation)
				}
				t.Logf("caught by seed %d at step %d: %s", seed, r.Violation.Step, r.Violation.Message)
				return
			}
			t.Fatal("no seed of the first 300 caught it")
		})
	}
}
