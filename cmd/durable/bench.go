package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/durable-go/durable/storage"
)

// benchFlags configures `durable bench`.
type benchFlags struct {
	store        string
	dsn          string
	mysqlDSN     string
	path         string
	durability   string
	workload     string
	n            int
	concurrency  int
	runs         int
	json         bool
	sameIdentity bool
	cpuProfile   string
	spread       bool // throughput: tasks spread over two queues and the nine priorities
	timeline     bool // throughput: report the drain's timeline (Result.DrainTimeline)
	queueLimit   int  // throughput: a global concurrency limit on the tasks' queues
	enqueueBatch int  // throughput: tasks per EnqueueMany call
	// retention workload
	expired  int
	drain    int
	duration time.Duration
	rate     int
	share    float64 // the cleaner's Retention.Share (0: the default)
	batch    int     // the cleaner's Retention.Batch (0: the default)
}

var workloads = []string{"throughput", "latency", "latency-remote", "fanout", "recovery"}

// extraWorkloads run only when named: --workload all leaves them out.
var extraWorkloads = []string{"retention", "server"}

// crossProcess reports whether workload w runs tasks in a second process,
// which needs a store two processes can share (not memory).
func crossProcess(w string) bool {
	return w == "latency-remote" || w == "recovery"
}

// parseBenchFlags parses the flags of `durable bench`; ok false means the
// command must stop with code (help printed, or a usage error).
func parseBenchFlags(args []string, stdout, stderr io.Writer) (f benchFlags, code int, ok bool) {
	c := newCLI("bench", "[flags]", fmt.Sprintf("Runs the standard workloads (%s) on one store.\n"+
		"latency-remote times enqueue-to-Wait of a task run by another process (a\n"+
		"bench-worker); it and recovery need --store sqlite, postgres or mysql, and\n"+
		"--workload all skips them on memory. retention (not in all; sqlite or postgres) measures\n"+
		"the retention cleaner: the purge of --expired expired executions while\n"+
		"--drain fresh tasks drain, against the same drain without it before and after, then\n"+
		"--duration at --rate enqueues per second with a 5s retention.", strings.Join(workloads, ", ")), stdout, stderr)
	c.stringVar(&f.store, "store", "sqlite", "`STORE` to measure: memory, sqlite, postgres or mysql")
	c.stringVar(&f.dsn, "dsn", envOr("DURABLE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL connection `URL` (--store postgres); each run uses a fresh schema")
	c.stringVar(&f.mysqlDSN, "mysql-dsn", envOr("DURABLE_TEST_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/test"), "MySQL `DSN` (--store mysql), user:password@tcp(host:3306)/dbname; each run uses fresh tables (a new prefix)")
	c.stringVar(&f.path, "path", "", "`DIR` for the SQLite files (--store sqlite); default: a temporary directory")
	c.stringVar(&f.durability, "durability", "full", "SQLite durability `MODE`: full (synchronous=FULL, the default) or normal (synchronous=NORMAL)")
	c.stringVar(&f.workload, "workload", "all", "`WORKLOAD`: all, "+strings.Join(append(slices.Clone(workloads), extraWorkloads...), ", "))
	c.intVar(&f.n, "n", 20000, "`N` tasks in the throughput workload")
	c.intVar(&f.concurrency, "concurrency", 100, "executor concurrency `N`")
	c.intVar(&f.runs, "runs", 1, "repeat each workload `K` times and report the median and min-max")
	c.boolVar(&f.json, "json", false, "print one JSON object per run instead of a table")
	c.stringVar(&f.cpuProfile, "cpuprofile", "", "throughput and server: write a CPU profile of the drain (server: of the single enqueues, and of the enqueue-many to FILE.many; retention: of the drain while the cleaner purges) to this `FILE` (the last run's)")
	c.boolVar(&f.spread, "spread", false, "throughput: enqueue the tasks into two queues, with priorities 1 to 9 in turn (the cost of queues and priorities in use)")
	c.boolVar(&f.timeline, "timeline", false, "throughput: report how many tasks had finished every "+timelineEvery.String()+" of the drain, with the wall clock (drain_timeline; bench/same-time.sh)")
	c.intVar(&f.enqueueBatch, "enqueue-batch", 5000, "throughput: enqueue the tasks `N` per call (EnqueueMany); with --spread, 18 lays the rows out as one call per task would")
	c.intVar(&f.queueLimit, "queue-limit", 0, "throughput: give the tasks' queues a global concurrency limit of `N` (SetQueueLimit; 0: none)")
	c.boolVar(&f.sameIdentity, "same-identity", true, "recovery: the restarted worker has the killed worker's executor id")
	c.intVar(&f.expired, "expired", 100000, "retention: `N` expired executions to purge while a drain runs (0: skip)")
	c.intVar(&f.drain, "drain", 200000, "retention: `N` fresh tasks drained during the purge, and without it")
	c.durationVar(&f.duration, "duration", time.Minute, "retention: how long the steady state runs (0: skip; 10m for issue #12)")
	c.intVar(&f.rate, "rate", 2000, "retention: steady enqueue `RATE` per second")
	c.float64Var(&f.share, "cleaner-share", 0, "retention: the cleaner's Retention.Share, the most of its time it deletes (0: the default, 1/3)")
	c.intVar(&f.batch, "cleaner-batch", 0, "retention: the cleaner's Retention.Batch, the most trees one delete takes (0: the default, 1000)")
	pos, code, ok := c.parse(args)
	if !ok {
		return f, code, false
	}
	if err := f.validate(pos); err != nil {
		return f, c.fail(err), false
	}
	return f, 0, true
}

func (f benchFlags) validate(pos []string) error {
	switch {
	case len(pos) > 0:
		return fmt.Errorf("unexpected argument %q", pos[0])
	case !slices.Contains([]string{"memory", "sqlite", "postgres", "mysql"}, f.store):
		return fmt.Errorf("--store must be memory, sqlite, postgres or mysql, not %q", f.store)
	case f.workload != "all" && !slices.Contains(workloads, f.workload) && !slices.Contains(extraWorkloads, f.workload):
		return fmt.Errorf("--workload must be all or one of %s, not %q", strings.Join(append(slices.Clone(workloads), extraWorkloads...), ", "), f.workload)
	case (f.store == "memory" || f.store == "mysql") && f.workload == "retention":
		return fmt.Errorf("--workload retention needs --store sqlite or postgres, not %s", f.store)
	case f.expired < 0 || f.expired > 10_000_000 || f.drain < 1 || f.drain > 10_000_000:
		return fmt.Errorf("--expired must be in 0..10000000 and --drain in 1..10000000, not %d and %d", f.expired, f.drain)
	case !(f.share >= 0 && f.share <= 1):
		return fmt.Errorf("--cleaner-share must be in 0..1 (0: the default), not %v", f.share)
	case f.batch < 0 || f.batch > 10000:
		return fmt.Errorf("--cleaner-batch must be in 0..10000 (0: the default), not %d", f.batch)
	case f.duration < 0 || f.rate < 1 || f.rate > 1_000_000:
		return fmt.Errorf("--duration must be at least 0 and --rate in 1..1000000, not %v and %d", f.duration, f.rate)
	case f.store == "memory" && crossProcess(f.workload):
		return fmt.Errorf("--workload %s needs a store shared by two processes (--store sqlite, postgres or mysql), not memory", f.workload)
	case f.durability != "full" && f.durability != "normal":
		return fmt.Errorf("--durability must be full or normal, not %q", f.durability)
	case f.enqueueBatch < 1 || f.enqueueBatch > 100_000:
		return fmt.Errorf("--enqueue-batch must be in 1..100000, not %d", f.enqueueBatch)
	case f.n < 1 || f.n > 10_000_000:
		return fmt.Errorf("--n must be in 1..10000000, not %d", f.n)
	case f.concurrency < 1 || f.concurrency > 100000:
		return fmt.Errorf("--concurrency must be in 1..100000, not %d", f.concurrency)
	case f.queueLimit < 0 || f.queueLimit > storage.MaxConcurrencyLimit:
		return fmt.Errorf("--queue-limit must be in 0..%d, not %d", storage.MaxConcurrencyLimit, f.queueLimit)
	case f.runs < 1 || f.runs > 100:
		return fmt.Errorf("--runs must be in 1..100, not %d", f.runs)
	case f.store == "postgres" && f.dsn == "":
		return errors.New("--store postgres needs --dsn (or DURABLE_TEST_POSTGRES_URL)")
	case f.store == "mysql" && f.mysqlDSN == "":
		return errors.New("--store mysql needs --mysql-dsn (or DURABLE_TEST_MYSQL_DSN)")
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Result is one run of one workload, in the JSON shape shared with the peer
// engines' benchmarks (bench/peers).
type Result struct {
	Engine      string  `json:"engine"`
	Workload    string  `json:"workload"`
	Store       string  `json:"store"`
	N           int     `json:"n"`
	Concurrency int     `json:"concurrency"`
	EnqueueRate float64 `json:"enqueue_rate,omitempty"`
	DrainRate   float64 `json:"drain_rate,omitempty"`
	// DrainTimeline (throughput with --timeline) is how many tasks had
	// finished at instants of the drain, every 50 ms from its start to its
	// end: [Unix time in µs, count]. Two drains run at once on one host are
	// compared over the span both were running (bench/same-time.sh). Not
	// among the peers' keys.
	DrainTimeline [][2]int64 `json:"drain_timeline,omitempty"`
	E2EMs         float64    `json:"e2e_ms,omitempty"`
	// DrainCPUUs and DrainMachineCPUUs are the CPU microseconds per task
	// during the drain: this process's, and the whole machine's (with the
	// database server; Linux only). Not among the peers' keys.
	DrainCPUUs        float64           `json:"drain_cpu_us,omitempty"`
	DrainMachineCPUUs float64           `json:"drain_machine_cpu_us,omitempty"`
	LatencyMs         *Latency          `json:"latency_ms,omitempty"`
	PickupMs          float64           `json:"pickup_ms,omitempty"`
	FanoutMs          float64           `json:"fanout_ms,omitempty"`
	RecoveryMs        float64           `json:"recovery_ms,omitempty"`
	JobsLost          *int              `json:"jobs_lost,omitempty"`
	JobsTwice         *int              `json:"jobs_executed_twice,omitempty"`
	Retention         *RetentionResult  `json:"retention,omitempty"`
	Server            *ServerResult     `json:"server,omitempty"`
	Run               int               `json:"run"`
	Version           string            `json:"version"`
	Settings          map[string]string `json:"settings"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func runBench(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseBenchFlags(args, stdout, stderr)
	if !ok {
		return code
	}
	ctx, stop := interruptContext()
	defer stop()
	var results []Result
	for _, w := range f.selected() {
		if crossProcess(w) && f.store == "memory" {
			fmt.Fprintf(stderr, "durable bench: %s needs a store shared by two processes; skipped on memory\n", w)
			continue
		}
		for run := 1; run <= f.runs; run++ {
			r, err := runWorkload(ctx, f, w)
			if err != nil {
				fmt.Fprintf(stderr, "durable bench: %s on %s: %v\n", w, f.store, err)
				return exitError
			}
			r.Run = run
			results = append(results, r)
			if f.json {
				if err := json.NewEncoder(stdout).Encode(r); err != nil {
					fmt.Fprintf(stderr, "durable bench: %s on %s: %v\n", w, f.store, err)
					return exitError
				}
			}
		}
	}
	if !f.json {
		printTable(stdout, f, results)
	}
	return exitOK
}

func (f benchFlags) selected() []string {
	if f.workload == "all" {
		return workloads
	}
	return []string{f.workload}
}

func (f benchFlags) settings() map[string]string {
	ahead := min(10*f.concurrency, 1000)
	s := map[string]string{
		"go": runtime.Version(), "gomaxprocs": fmt.Sprint(runtime.GOMAXPROCS(0)),
		"poll_interval": "1s (fallback only)",
		// The executor's defaults (durable.Config.ClaimAhead and
		// ClaimBatch, config.go) for this concurrency.
		"claim_ahead": fmt.Sprint(ahead),
		"claim_batch": fmt.Sprint(min(f.concurrency+ahead, 4*f.concurrency, 500)),
	}
	if f.store == "sqlite" {
		s["synchronous"] = strings.ToUpper(f.durability)
		s["journal_mode"] = "WAL"
	}
	return s
}

func runWorkload(ctx context.Context, f benchFlags, w string) (Result, error) {
	r := Result{Engine: "durable", Workload: w, Store: f.store, Concurrency: f.concurrency,
		Version: version(), Settings: f.settings()}
	var err error
	switch w {
	case "throughput":
		r.N = f.n
		err = benchThroughput(ctx, f, &r)
	case "latency":
		r.N = latencyRounds
		err = benchLatency(ctx, f, &r)
	case "latency-remote":
		r.N = remoteLatencyRounds
		err = benchLatencyRemote(ctx, f, &r)
	case "fanout":
		r.N = fanoutChildren
		err = benchFanout(ctx, f, &r)
	case "recovery":
		r.N = recoveryTasks
		err = benchRecovery(ctx, f, &r)
	case "server":
		r.N = f.n
		err = benchServer(ctx, f, &r)
	case "retention":
		r.N = f.expired
		r.Retention = &RetentionResult{}
		err = benchRetention(ctx, f, &r)
	}
	return r, err
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// printTable prints the median and min-max of each figure per workload.
func printTable(w io.Writer, f benchFlags, results []Result) {
	fmt.Fprintf(w, "durable bench: store=%s concurrency=%d runs=%d\n\n", f.store, f.concurrency, f.runs)
	fmt.Fprintf(w, "%-14s %-26s %s\n", "workload", "figure", "median (min-max)")
	for _, wl := range f.selected() {
		var rs []Result
		for _, r := range results {
			if r.Workload == wl {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		for _, fig := range figures(wl) {
			vals := make([]float64, len(rs))
			for i, r := range rs {
				vals[i] = fig.get(r)
			}
			fmt.Fprintf(w, "%-14s %-26s %s\n", wl, fig.name, summarize(vals, fig.unit))
		}
	}
}

type figure struct {
	name, unit string
	get        func(Result) float64
}

func figures(workload string) []figure {
	switch workload {
	case "throughput":
		return []figure{
			{"enqueue rate", "/s", func(r Result) float64 { return r.EnqueueRate }},
			{"drain rate", "/s", func(r Result) float64 { return r.DrainRate }},
			{"end to end", "ms", func(r Result) float64 { return r.E2EMs }},
			{"drain CPU/task", "us", func(r Result) float64 { return r.DrainCPUUs }},
			{"machine CPU/task", "us", func(r Result) float64 { return r.DrainMachineCPUUs }},
		}
	case "latency":
		return append(latencyFigures(), figure{"pickup (median)", "ms", func(r Result) float64 { return r.PickupMs }})
	case "latency-remote":
		return latencyFigures()
	case "fanout":
		return []figure{{"1,000 children + sum", "ms", func(r Result) float64 { return r.FanoutMs }}}
	case "retention":
		return retentionFigures()
	case "server":
		return serverFigures()
	default:
		return []figure{
			{"recovery", "ms", func(r Result) float64 { return r.RecoveryMs }},
			{"lost", "", func(r Result) float64 { return float64(*r.JobsLost) }},
			{"executed twice", "", func(r Result) float64 { return float64(*r.JobsTwice) }},
		}
	}
}

// latencyFigures are the percentiles of Result.LatencyMs; the latency
// workloads print them.
func latencyFigures() []figure {
	return []figure{
		{"p50", "ms", func(r Result) float64 { return r.LatencyMs.P50 }},
		{"p90", "ms", func(r Result) float64 { return r.LatencyMs.P90 }},
		{"p99", "ms", func(r Result) float64 { return r.LatencyMs.P99 }},
		{"max", "ms", func(r Result) float64 { return r.LatencyMs.Max }},
	}
}

func summarize(vals []float64, unit string) string {
	s := slices.Clone(vals)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) == 1 {
		return fmt.Sprintf("%s%s", num(med), unit)
	}
	return fmt.Sprintf("%s%s (%s-%s)", num(med), unit, num(s[0]), num(s[len(s)-1]))
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
