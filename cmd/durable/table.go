package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// runBenchTable is `durable bench-table`: it reads the JSON lines of
// `durable bench --json` and of bench/peers (River, DBOS, go-workflows) from
// stdin and prints one table, workload x store x engine, with the median of
// each figure and durable's ratio to River, then, when there are MySQL
// runs, the MySQL table (durable on MySQL and PostgreSQL, go-workflows).
func runBenchTable(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := newCLI("bench-table", "< results.jsonl", "Reads the JSON lines of `durable bench --json` and of bench/peers (River, DBOS,\n"+
		"go-workflows) on standard input and prints one table, workload x store x engine,\n"+
		"with the median of each figure and durable's ratio to River; then, when there\n"+
		"are MySQL runs, durable on MySQL beside durable on PostgreSQL and go-workflows.", stdout, stderr)
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.failf("unexpected argument %q (the results come on standard input)", pos[0])
	}
	runs, err := readRuns(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "durable bench-table: %v\n", err)
		return exitError
	}
	printComparison(stdout, runs)
	return exitOK
}

// peerRun is one JSON line of either benchmark; absent figures are nil.
type peerRun struct {
	Engine    string             `json:"engine"`
	Workload  string             `json:"workload"`
	Store     string             `json:"store"`
	Summary   bool               `json:"summary"`
	Supported *bool              `json:"supported"`
	Figures   map[string]float64 `json:"-"`
}

func readRuns(r io.Reader) ([]peerRun, error) {
	var out []peerRun
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || !strings.HasPrefix(text, "{") {
			continue
		}
		var pr peerRun
		if err := json.Unmarshal([]byte(text), &pr); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		var raw map[string]any
		_ = json.Unmarshal([]byte(text), &raw)
		pr.Figures = figuresOf(raw)
		if !pr.Summary {
			out = append(out, pr)
		}
	}
	return out, sc.Err()
}

// figuresOf flattens the numeric figures of a JSON line.
func figuresOf(raw map[string]any) map[string]float64 {
	f := map[string]float64{}
	for _, k := range []string{"enqueue_rate", "drain_rate", "pickup_ms", "fanout_ms", "recovery_ms", "jobs_lost", "jobs_executed_twice"} {
		if v, ok := raw[k].(float64); ok {
			f[k] = v
		}
	}
	if lat, ok := raw["latency_ms"].(map[string]any); ok {
		for _, p := range []string{"p50", "p99"} {
			if v, ok := lat[p].(float64); ok {
				f["latency_"+p] = v
			}
		}
	}
	return f
}

var tableFigures = []struct{ workload, key, label string }{
	{"throughput", "enqueue_rate", "enqueue /s"},
	{"throughput", "drain_rate", "drain /s"},
	{"latency", "latency_p50", "latency p50 ms"},
	{"latency", "latency_p99", "latency p99 ms"},
	{"latency", "pickup_ms", "pickup ms"},
	{"latency-remote", "latency_p50", "remote p50 ms"},
	{"latency-remote", "latency_p99", "remote p99 ms"},
	{"fanout", "fanout_ms", "fanout ms"},
	{"recovery", "recovery_ms", "recovery ms"},
	{"recovery", "jobs_lost", "lost"},
	{"recovery", "jobs_executed_twice", "ended twice"},
}

func printComparison(w io.Writer, runs []peerRun) {
	engines := []string{"durable", "river", "dbos"}
	fmt.Fprintf(w, "%-9s %-15s %12s %12s %12s %10s\n", "store", "figure", "durable", "river", "dbos", "vs river")
	for _, store := range []string{"memory", "sqlite", "postgres"} {
		for _, fig := range tableFigures {
			vals := make([]string, len(engines))
			meds := make([]float64, len(engines))
			found := false
			for i, eng := range engines {
				m, ok := medianOf(runs, eng, fig.workload, store, fig.key)
				vals[i], meds[i] = "-", m
				if ok {
					vals[i], found = num(m), true
				}
			}
			if !found {
				continue
			}
			fmt.Fprintf(w, "%-9s %-15s %12s %12s %12s %10s\n", store, fig.label, vals[0], vals[1], vals[2], ratio(fig.key, meds[0], meds[1]))
		}
	}
	printMySQLComparison(w, runs)
}

// mysqlColumns are the columns of the MySQL table: durable on MySQL and on
// PostgreSQL (same run), and go-workflows on MySQL (bench/peers).
var mysqlColumns = []struct{ engine, store, header string }{
	{"durable", "mysql", "durable-mysql"},
	{"durable", "postgres", "durable-pg"},
	{"goworkflows", "mysql", "gowf-mysql"},
}

// printMySQLComparison prints, when runs hold durable's MySQL store or
// go-workflows, the medians of durable on MySQL, durable on PostgreSQL and
// go-workflows on MySQL, durable MySQL's ratio to PostgreSQL (the rate or
// the time of MySQL over PostgreSQL's) and how many times better durable on
// MySQL is than go-workflows.
func printMySQLComparison(w io.Writer, runs []peerRun) {
	if !slices.ContainsFunc(runs, func(r peerRun) bool { return r.Store == "mysql" }) {
		return
	}
	fmt.Fprintf(w, "\n%-15s %14s %14s %14s %9s %9s\n", "figure", mysqlColumns[0].header, mysqlColumns[1].header, mysqlColumns[2].header, "mysql/pg", "vs gowf")
	for _, fig := range tableFigures {
		vals := make([]string, len(mysqlColumns))
		meds := make([]float64, len(mysqlColumns))
		found := false
		for i, c := range mysqlColumns {
			m, ok := medianOf(runs, c.engine, fig.workload, c.store, fig.key)
			vals[i], meds[i] = "-", m
			if ok {
				vals[i], found = num(m), true
			}
		}
		if !found {
			continue
		}
		mysqlPG := ""
		if meds[0] != 0 && meds[1] != 0 && !strings.HasPrefix(fig.key, "jobs_") {
			mysqlPG = fmt.Sprintf("%.2f", meds[0]/meds[1])
		}
		fmt.Fprintf(w, "%-15s %14s %14s %14s %9s %9s\n", fig.label, vals[0], vals[1], vals[2], mysqlPG, ratio(fig.key, meds[0], meds[2]))
	}
}

// ratio is how many times better durable is than River on a figure.
func ratio(key string, durable, river float64) string {
	if durable == 0 || river == 0 || strings.HasPrefix(key, "jobs_") {
		return ""
	}
	if strings.HasSuffix(key, "_rate") {
		return fmt.Sprintf("%.1fx", durable/river)
	}
	return fmt.Sprintf("%.1fx", river/durable)
}

func medianOf(runs []peerRun, engine, workload, store, key string) (float64, bool) {
	var vals []float64
	for _, r := range runs {
		if r.Engine != engine || r.Workload != workload || r.Store != store || (r.Supported != nil && !*r.Supported) {
			continue
		}
		if v, ok := r.Figures[key]; ok {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return 0, false
	}
	slices.Sort(vals)
	if len(vals)%2 == 0 {
		return (vals[len(vals)/2-1] + vals[len(vals)/2]) / 2, true
	}
	return vals[len(vals)/2], true
}
