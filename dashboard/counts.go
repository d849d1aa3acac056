package dashboard

import (
	"context"
	"sync"
	"time"

	"github.com/durable-go/durable"
)

// countsCache holds the latest counts of a filter (every execution; those
// finished in the last hour), shared by the overview pages and the live
// feed: counting is the dashboard's costliest query (every row of the
// table: seconds on a SQLite table of millions), so it runs at most once
// per spacing, whatever the number of pages.
type countsCache struct {
	ex     *durable.Executor
	min    time.Duration         // the least spacing between two counts
	filter func() durable.Filter // nil: every execution

	mu    sync.Mutex // held while counting: one count at a time
	at    time.Time  // when the counts were read
	took  time.Duration
	value []durable.Count
}

// countsCost is how much of the time counting may take: the spacing is at
// least countsCost times the last count's duration.
const countsCost = 10

// get returns the counts, read again if they are older than the spacing.
func (c *countsCache) get(ctx context.Context) ([]durable.Count, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.value != nil && time.Since(c.at) < c.spacing() {
		return c.value, c.at, nil
	}
	start := time.Now()
	var f durable.Filter
	if c.filter != nil {
		f = c.filter()
	}
	counts, err := c.ex.Count(ctx, f)
	if err != nil {
		return nil, time.Time{}, err
	}
	if counts == nil {
		counts = []durable.Count{}
	}
	c.at, c.took, c.value = start, time.Since(start), counts
	return counts, start, nil
}

// due reports whether get would count again.
func (c *countsCache) due() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value == nil || time.Since(c.at) >= c.spacing()
}

func (c *countsCache) spacing() time.Duration {
	return max(c.min, countsCost*c.took)
}
