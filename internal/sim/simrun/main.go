// Command simrun runs many seeds of the deterministic simulation
// (internal/sim) in parallel and reports the seeds that failed, or turns
// one failing seed into a regression test.
//
//	go run ./internal/sim/simrun -seeds 1000000 -from 1 -workers 8
//	go run ./internal/sim/simrun -regress 1234
//
// With -seeds it prints a line per failing seed (its violation, and
// the trace before it with -v), a summary, and exits 1 if any seed
// failed. With -regress it replays the seed, prints its violation and
// appends the seed to internal/sim/testdata/regressions.txt (run it from
// the module's root), which TestRegressions replays from then on.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/durable-go/durable/internal/sim"
)

func main() {
	from := flag.Uint64("from", 1, "first seed")
	seeds := flag.Uint64("seeds", 10000, "how many seeds to run")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "seeds run at once")
	verbose := flag.Bool("v", false, "print the trace before each violation")
	regress := flag.Uint64("regress", 0, "replay this seed and add it to the regression seeds")
	flag.Parse()
	if *regress != 0 {
		os.Exit(addRegression(*regress))
	}
	if *workers < 1 || *seeds == 0 {
		fmt.Fprintln(os.Stderr, "simrun: -workers and -seeds must be at least 1")
		os.Exit(2)
	}
	os.Exit(runSeeds(*from, *seeds, *workers, *verbose))
}

// runSeeds runs seeds from..from+count-1 on workers goroutines.
func runSeeds(from, count uint64, workers int, verbose bool) int {
	start := time.Now()
	var next, done, failed atomic.Uint64
	var mu sync.Mutex // one report at a time
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= count {
					return
				}
				r := sim.Run(sim.Config{Seed: from + i})
				done.Add(1)
				if r.Violation == nil {
					continue
				}
				failed.Add(1)
				mu.Lock()
				if verbose {
					fmt.Println(r.Violation.Error())
				} else {
					fmt.Printf("FAIL seed %d: step %d: %s\n", r.Seed, r.Violation.Step, r.Violation.Message)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d seeds (%d..%d) in %s: %d failed\n", done.Load(), from, from+count-1, time.Since(start).Round(time.Millisecond), failed.Load())
	if failed.Load() > 0 {
		fmt.Println("replay one: DURABLE_SIM_SEED=n go test ./internal/sim -run 'TestSeed$' -v; keep it as a test: make sim-regress SEED=n")
		return 1
	}
	return 0
}

// addRegression replays seed and appends it to the regression seeds.
func addRegression(seed uint64) int {
	r := sim.Run(sim.Config{Seed: seed})
	note := "passed when added"
	if r.Violation != nil {
		fmt.Println(r.Violation.Error())
		note = fmt.Sprintf("step %d: %s", r.Violation.Step, r.Violation.Message)
	} else {
		fmt.Printf("seed %d passes now; adding it anyway\n", seed)
	}
	path := filepath.Join("internal", "sim", sim.RegressionsFile)
	if err := sim.AddRegression(path, seed, note); err != nil {
		fmt.Fprintln(os.Stderr, "simrun:", err)
		return 1
	}
	fmt.Printf("added seed %d to %s: TestRegressions replays it\n", seed, path)
	return 0
}
