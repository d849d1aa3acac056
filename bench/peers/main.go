package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command: it returns 0 on success, 1 when a run failed
// and 2 for bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == workerCommand {
		return runWorkerCommand(args[1:], stdout, stderr)
	}
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "peers:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runBench(ctx, o, stdout); err != nil {
		fmt.Fprintln(stderr, "peers:", err)
		return 1
	}
	return 0
}

// runBench runs every selected workload o.runs times and prints the results.
func runBench(ctx context.Context, o options, stdout io.Writer) error {
	eng, err := newEngine(o.engine)
	if err != nil {
		return err
	}
	for _, w := range o.workloads {
		var runs []Result
		for i := 1; i <= o.runs; i++ {
			r, err := runOnce(ctx, o, eng, w, i)
			if err != nil {
				return fmt.Errorf("%s %s on %s, run %d: %w", o.engine, w, o.store, i, err)
			}
			runs = append(runs, r)
			if o.json {
				if err := writeJSON(stdout, r); err != nil {
					return err
				}
			}
			if !r.Supported {
				break
			}
		}
		if err := report(stdout, o, runs); err != nil {
			return err
		}
	}
	return nil
}

// report prints the summary of runs (JSON) or their table (text).
func report(stdout io.Writer, o options, runs []Result) error {
	var summary *Result
	if len(runs) > 1 {
		s := summarize(runs)
		summary = &s
	}
	if !o.json {
		return writeTable(stdout, runs, summary)
	}
	if summary != nil {
		return writeJSON(stdout, *summary)
	}
	return nil
}

// runOnce runs workload w once on a fresh store, bounded by o.timeout.
func runOnce(ctx context.Context, o options, eng engine, w string, run int) (Result, error) {
	n := o.size(w)
	r := Result{
		Engine:      eng.name(),
		Workload:    w,
		Store:       o.store,
		N:           n,
		Concurrency: o.concurrency,
		Supported:   true,
		Run:         run,
		Version:     eng.version(),
		Settings:    eng.settings(o.store, w, o.concurrency),
		Load1:       load1(),
	}
	if why := eng.unsupported(o.store, w); why != "" {
		r.Supported, r.Note = false, why
		return r, nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	st, err := newRunStore(o, eng.name())
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if cerr := st.close(context.WithoutCancel(ctx)); cerr != nil {
			fmt.Fprintln(os.Stderr, "peers: cleanup:", cerr)
		}
	}()
	if err := eng.prepare(ctx, st); err != nil {
		return Result{}, err
	}
	m, note, err := measure(ctx, o, eng, st, w, n)
	if err != nil {
		return Result{}, err
	}
	r.Metrics, r.Note = m, note
	return r, nil
}

// measure runs workload w of size n on the prepared store st.
func measure(ctx context.Context, o options, eng engine, st *runStore, w string, n int) (Metrics, string, error) {
	var m Metrics
	var err error
	switch w {
	case workloadThroughput:
		m, err = eng.throughput(ctx, st, n, o.concurrency)
	case workloadLatency:
		m, err = eng.latency(ctx, st, n, o.concurrency)
	case workloadFanout:
		m, err = eng.fanout(ctx, st, n, o.concurrency)
	case workloadRecovery:
		return runRecovery(ctx, o, eng, st, n)
	default:
		err = fmt.Errorf("unknown workload %q", w)
	}
	return m, "", err
}
