package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// Latency holds latency percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Metrics holds the measured values of one run. A nil field was not measured
// by the workload and is printed as JSON null.
type Metrics struct {
	EnqueueRate       *float64 `json:"enqueue_rate"` // jobs/s
	DrainRate         *float64 `json:"drain_rate"`   // jobs/s
	E2EMs             *float64 `json:"e2e_ms"`       // enqueue start to all completed
	LatencyMs         *Latency `json:"latency_ms"`
	PickupMs          *float64 `json:"pickup_ms"` // median of enqueue to job body start
	FanoutMs          *float64 `json:"fanout_ms"`
	RecoveryMs        *float64 `json:"recovery_ms"`
	JobsLost          *int     `json:"jobs_lost"`
	JobsExecutedTwice *int     `json:"jobs_executed_twice"`
}

// Result is one JSON line: one run of one workload, or (Summary) the median
// of several runs, with Min and Max holding the range of each metric.
type Result struct {
	Engine      string `json:"engine"`
	Workload    string `json:"workload"`
	Store       string `json:"store"`
	N           int    `json:"n"`
	Concurrency int    `json:"concurrency"`
	Supported   bool   `json:"supported"`
	Run         int    `json:"run,omitempty"` // 1-based run number; absent on a summary
	Summary     bool   `json:"summary,omitempty"`
	Runs        int    `json:"runs,omitempty"` // number of runs a summary covers
	Metrics
	Min      *Metrics          `json:"min,omitempty"`
	Max      *Metrics          `json:"max,omitempty"`
	Version  string            `json:"version"`
	Settings map[string]string `json:"settings"`
	Load1    *float64          `json:"load1"` // 1-minute load average when the run started
	Note     string            `json:"note,omitempty"`
}

// floatField and intField name a metric and give access to it, so that
// aggregation and table printing can walk the metrics generically.
type floatField struct {
	name string
	get  func(*Metrics) **float64
}

type intField struct {
	name string
	get  func(*Metrics) **int
}

var floatFields = []floatField{
	{"enqueue_rate", func(m *Metrics) **float64 { return &m.EnqueueRate }},
	{"drain_rate", func(m *Metrics) **float64 { return &m.DrainRate }},
	{"e2e_ms", func(m *Metrics) **float64 { return &m.E2EMs }},
	{"pickup_ms", func(m *Metrics) **float64 { return &m.PickupMs }},
	{"fanout_ms", func(m *Metrics) **float64 { return &m.FanoutMs }},
	{"recovery_ms", func(m *Metrics) **float64 { return &m.RecoveryMs }},
}

var latencyFields = []struct {
	name string
	get  func(*Latency) *float64
}{
	{"p50", func(l *Latency) *float64 { return &l.P50 }},
	{"p90", func(l *Latency) *float64 { return &l.P90 }},
	{"p99", func(l *Latency) *float64 { return &l.P99 }},
	{"max", func(l *Latency) *float64 { return &l.Max }},
}

var intFields = []intField{
	{"jobs_lost", func(m *Metrics) **int { return &m.JobsLost }},
	{"jobs_executed_twice", func(m *Metrics) **int { return &m.JobsExecutedTwice }},
}

// summarize returns the summary of runs (at least one, all of the same
// workload): each metric's median, with its min and max across the runs that
// measured it.
func summarize(runs []Result) Result {
	s := runs[0]
	s.Run, s.Summary, s.Runs, s.Note = 0, true, len(runs), ""
	s.Metrics, s.Min, s.Max = Metrics{}, &Metrics{}, &Metrics{}
	s.Load1 = nil
	for _, f := range floatFields {
		var vals []float64
		for i := range runs {
			if v := *f.get(&runs[i].Metrics); v != nil {
				vals = append(vals, *v)
			}
		}
		if len(vals) > 0 {
			med, lo, hi := medianMinMax(vals)
			*f.get(&s.Metrics), *f.get(s.Min), *f.get(s.Max) = &med, &lo, &hi
		}
	}
	summarizeLatency(runs, &s)
	for _, f := range intFields {
		var vals []float64
		for i := range runs {
			if v := *f.get(&runs[i].Metrics); v != nil {
				vals = append(vals, float64(*v))
			}
		}
		if len(vals) > 0 {
			med, lo, hi := medianMinMax(vals)
			m, l, h := int(med), int(lo), int(hi)
			*f.get(&s.Metrics), *f.get(s.Min), *f.get(s.Max) = &m, &l, &h
		}
	}
	return s
}

// summarizeLatency fills the latency percentiles of summary s from runs.
func summarizeLatency(runs []Result, s *Result) {
	var med, lo, hi Latency
	seen := false
	for _, f := range latencyFields {
		var vals []float64
		for i := range runs {
			if l := runs[i].LatencyMs; l != nil {
				vals = append(vals, *f.get(l))
			}
		}
		if len(vals) > 0 {
			seen = true
			*f.get(&med), *f.get(&lo), *f.get(&hi) = medianMinMax(vals)
		}
	}
	if seen {
		s.LatencyMs, s.Min.LatencyMs, s.Max.LatencyMs = &med, &lo, &hi
	}
}

// writeJSON writes r as one JSON line.
func writeJSON(w io.Writer, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// column is one printed metric: its header and its value in a Metrics.
type column struct {
	header string
	value  func(*Metrics) (float64, bool)
}

// columns returns the metrics measured by at least one of rs, in a fixed order.
func columns(rs []Result) []column {
	var all []column
	for _, f := range floatFields {
		all = append(all, column{f.name, func(m *Metrics) (float64, bool) {
			if v := *f.get(m); v != nil {
				return *v, true
			}
			return 0, false
		}})
	}
	for _, f := range latencyFields {
		all = append(all, column{"lat_" + f.name + "_ms", func(m *Metrics) (float64, bool) {
			if m.LatencyMs != nil {
				return *f.get(m.LatencyMs), true
			}
			return 0, false
		}})
	}
	for _, f := range intFields {
		all = append(all, column{f.name, func(m *Metrics) (float64, bool) {
			if v := *f.get(m); v != nil {
				return float64(*v), true
			}
			return 0, false
		}})
	}
	var used []column
	for _, c := range all {
		for i := range rs {
			if _, ok := c.value(&rs[i].Metrics); ok {
				used = append(used, c)
				break
			}
		}
	}
	return used
}

// writeTable prints the runs of one workload and, for several runs, their
// summary as a readable table followed by the settings.
func writeTable(w io.Writer, runs []Result, summary *Result) error {
	first := runs[0]
	fmt.Fprintf(w, "\n%s %s on %s: n=%d concurrency=%d (%s)\n", first.Engine, first.Workload, first.Store, first.N, first.Concurrency, first.Version)
	if !first.Supported {
		fmt.Fprintf(w, "  not supported: %s\n", first.Note)
		return nil
	}
	cols := columns(runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"run"}
	for _, c := range cols {
		header = append(header, c.header)
	}
	header = append(header, "load1")
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for i := range runs {
		row := []string{fmt.Sprint(runs[i].Run)}
		for _, c := range cols {
			row = append(row, formatValue(c.value(&runs[i].Metrics)))
		}
		row = append(row, formatLoad(runs[i].Load1))
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if summary != nil {
		med, rng := []string{"median"}, []string{"min-max"}
		for _, c := range cols {
			med = append(med, formatValue(c.value(&summary.Metrics)))
			lo, _ := c.value(summary.Min)
			hi, _ := c.value(summary.Max)
			rng = append(rng, formatNumber(lo)+"-"+formatNumber(hi))
		}
		fmt.Fprintln(tw, strings.Join(append(med, ""), "\t")+"\t")
		fmt.Fprintln(tw, strings.Join(append(rng, ""), "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	keys := slices.Sorted(maps.Keys(first.Settings))
	for _, k := range keys {
		fmt.Fprintf(w, "  %s = %s\n", k, first.Settings[k])
	}
	for i := range runs {
		if runs[i].Note != "" {
			fmt.Fprintf(w, "  run %d: %s\n", runs[i].Run, runs[i].Note)
		}
	}
	return nil
}

func formatValue(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return formatNumber(v)
}

// formatNumber prints large values as integers and small ones with decimals.
func formatNumber(v float64) string {
	switch {
	case v >= 100 || v == float64(int64(v)):
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func formatLoad(l *float64) string {
	if l == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *l)
}

// medianMinMax returns the median, minimum and maximum of vals (non-empty).
func medianMinMax(vals []float64) (med, lo, hi float64) {
	s := slices.Clone(vals)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}
