package faulty

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Stats counts the calls made through a Store and the faults injected.
type Stats struct {
	// Calls counts every call of a decorated method (all but Subscribe and
	// Close), faulted or not.
	Calls int64
	// CallsByMethod counts calls per method name.
	CallsByMethod map[string]int64
	// Injected counts faults injected, by kind. A KindAfter fault counts
	// only when the inner store succeeded (see the package doc).
	Injected map[Kind]int64
	// ByMethod counts faults injected, by method and kind.
	ByMethod map[string]map[Kind]int64
}

func newStats() Stats {
	return Stats{CallsByMethod: map[string]int64{}, Injected: map[Kind]int64{}, ByMethod: map[string]map[Kind]int64{}}
}

func (st *Stats) add(method string, k Kind) {
	st.Injected[k]++
	m := st.ByMethod[method]
	if m == nil {
		m = map[Kind]int64{}
		st.ByMethod[method] = m
	}
	m[k]++
}

// Faults returns the total number of faults injected.
func (st Stats) Faults() int64 {
	var n int64
	for _, v := range st.Injected {
		n += v
	}
	return n
}

// String summarises the figures on one line, e.g.
// "calls=1200 faults=60 (after=31 before=29) Claim:after=3 ...".
func (st Stats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "calls=%d faults=%d (%s)", st.Calls, st.Faults(), kindCounts(st.Injected))
	for _, m := range slices.Sorted(maps.Keys(st.ByMethod)) {
		fmt.Fprintf(&b, " %s:%s", m, kindCounts(st.ByMethod[m]))
	}
	return b.String()
}

func kindCounts(m map[Kind]int64) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, ",")
}

// Stats returns a copy of the counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := newStats()
	out.Calls = s.stats.Calls
	maps.Copy(out.CallsByMethod, s.stats.CallsByMethod)
	maps.Copy(out.Injected, s.stats.Injected)
	for m, kinds := range s.stats.ByMethod {
		out.ByMethod[m] = maps.Clone(kinds)
	}
	return out
}
