package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ms converts d to fractional milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// rate returns n events over d as events per second.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be non-empty and sorted ascending.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// latencyOf returns the p50/p90/p99/max of samples (non-empty) in ms.
func latencyOf(samples []time.Duration) *Latency {
	s := slices.Clone(samples)
	slices.Sort(s)
	return &Latency{
		P50: ms(percentile(s, 50)),
		P90: ms(percentile(s, 90)),
		P99: ms(percentile(s, 99)),
		Max: ms(s[len(s)-1]),
	}
}

// median returns the median of samples (non-empty) in ms.
func median(samples []time.Duration) float64 {
	s := slices.Clone(samples)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return ms(s[n/2])
	}
	return (ms(s[n/2-1]) + ms(s[n/2])) / 2
}

// load1 returns the 1-minute load average, or nil where /proc/loadavg is
// not available.
func load1() *float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return nil
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return nil
	}
	return &v
}
