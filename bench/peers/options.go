package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Engine, workload and store names accepted on the command line.
const (
	engineRiver       = "river"
	engineDBOS        = "dbos"
	engineGoWorkflows = "goworkflows"

	workloadThroughput = "throughput"
	workloadLatency    = "latency"
	workloadFanout     = "fanout"
	workloadRecovery   = "recovery"
	workloadAll        = "all"

	storeSQLite   = "sqlite"
	storePostgres = "postgres"
	storeMySQL    = "mysql"
)

// defaultDSN is the PostgreSQL server used when --dsn is not given.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// defaultMySQLDSN is the MySQL server used when --dsn is not given with
// --store mysql (a go-sql-driver/mysql DSN; its database is only where the
// benchmark connects to create each run's own database).
const defaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test"

// engineStores lists the stores each engine runs on.
var engineStores = map[string][]string{
	engineRiver:       {storeSQLite, storePostgres},
	engineDBOS:        {storeSQLite, storePostgres},
	engineGoWorkflows: {storeMySQL},
}

// allWorkloads is the order in which --workload all runs the workloads.
var allWorkloads = []string{workloadThroughput, workloadLatency, workloadFanout, workloadRecovery}

// defaultSize is each workload's size when --n is not given: jobs for
// throughput and recovery, measured rounds for latency, children for fanout.
var defaultSize = map[string]int{
	workloadThroughput: 20000,
	workloadLatency:    300,
	workloadFanout:     1000,
	workloadRecovery:   2000,
}

// options is the validated command line.
type options struct {
	engine      string
	workloads   []string
	store       string
	dsn         string
	path        string // SQLite database file; empty means a fresh temp dir per run
	n           int    // 0 means the workload's default size
	concurrency int
	runs        int
	json        bool
	timeout     time.Duration // bound on one run of one workload
}

// size returns the size of workload w: --n when given, else its default.
func (o options) size(w string) int {
	if o.n > 0 {
		return o.n
	}
	return defaultSize[w]
}

// parseOptions parses and validates args (without the program name). Usage
// and flag errors are written to stderr; the returned error is flag.ErrHelp
// for -h, or describes the first invalid flag.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var workload string
	fs.StringVar(&o.engine, "engine", "", "peer engine: river, dbos or goworkflows (required)")
	fs.StringVar(&workload, "workload", workloadAll, "throughput, latency, fanout, recovery or all")
	fs.StringVar(&o.store, "store", "", "sqlite or postgres (river, dbos; default sqlite), mysql (goworkflows, the default for it)")
	fs.StringVar(&o.dsn, "dsn", "", "PostgreSQL URL (default "+defaultDSN+") or MySQL DSN (default "+defaultMySQLDSN+")")
	fs.StringVar(&o.path, "path", "", "SQLite database file to create for each run (must not exist; default: a temp dir)")
	fs.IntVar(&o.n, "n", 0, "workload size: jobs (throughput 20000, recovery 2000), rounds (latency 300), children (fanout 1000)")
	fs.IntVar(&o.concurrency, "concurrency", 100, "worker concurrency")
	fs.IntVar(&o.runs, "runs", 1, "repeat each workload K times and report the median and min-max")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per run per line")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound on one run of one workload")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: go run . --engine river|dbos|goworkflows [--workload throughput|latency|fanout|recovery|all]")
		fmt.Fprintln(fs.Output(), "                [--store sqlite|postgres|mysql] [--dsn URL] [--path FILE] [--n N] [--concurrency C] [--runs K] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ws, err := parseWorkloads(workload)
	if err != nil {
		return options{}, err
	}
	o.workloads = ws
	if err := o.validate(); err != nil {
		return options{}, err
	}
	return o, nil
}

// parseWorkloads expands a --workload value into the workloads to run.
func parseWorkloads(w string) ([]string, error) {
	if w == workloadAll {
		return allWorkloads, nil
	}
	for _, known := range allWorkloads {
		if w == known {
			return []string{w}, nil
		}
	}
	return nil, fmt.Errorf("--workload %q: want one of %s or %s", w, strings.Join(allWorkloads, ", "), workloadAll)
}

// validate checks the flags that parseOptions cannot check one by one and
// fills in the PostgreSQL default DSN.
func (o *options) validate() error {
	stores, ok := engineStores[o.engine]
	switch {
	case o.engine == "":
		return errors.New("--engine is required: river, dbos or goworkflows")
	case !ok:
		return fmt.Errorf("--engine %q: want river, dbos or goworkflows", o.engine)
	}
	if o.store == "" {
		o.store = stores[0]
	}
	if !slices.Contains(stores, o.store) {
		return fmt.Errorf("--store %q: %s runs on %s", o.store, o.engine, strings.Join(stores, " or "))
	}
	switch o.store {
	case storeSQLite:
		if o.dsn != "" {
			return errors.New("--dsn applies to --store postgres only")
		}
	case storePostgres:
		if o.path != "" {
			return errors.New("--path applies to --store sqlite only")
		}
		if o.dsn == "" {
			o.dsn = defaultDSN
		}
	case storeMySQL:
		if o.path != "" {
			return errors.New("--path applies to --store sqlite only")
		}
		if o.dsn == "" {
			o.dsn = defaultMySQLDSN
		}
		if _, err := parseMySQLDSN(o.dsn); err != nil {
			return err
		}
	}
	if o.path != "" {
		abs, err := filepath.Abs(o.path)
		if err != nil {
			return fmt.Errorf("--path %s: %w", o.path, err)
		}
		o.path = abs
		if _, err := os.Stat(o.path); err == nil {
			return fmt.Errorf("--path %s already exists; remove it or choose another file (each run creates and deletes it)", o.path)
		}
	}
	if o.n < 0 {
		return fmt.Errorf("--n %d: must be positive", o.n)
	}
	if o.concurrency < 1 {
		return fmt.Errorf("--concurrency %d: must be at least 1", o.concurrency)
	}
	if o.runs < 1 {
		return fmt.Errorf("--runs %d: must be at least 1", o.runs)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout %s: must be positive", o.timeout)
	}
	return nil
}
