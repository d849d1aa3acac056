// Package limited keeps a store's copy of which queues have a limit (a
// global concurrency limit, one per key, or a rate limit:
// storage.Controls.LimitControl), so that the SQL
// stores' claims of queues without one cost nothing more than before
// limits existed: their claim statements leave every limited queue out
// (read in the statement, never stale), and only the separate claim of
// limited queues depends on this copy, read again when it is
// storage.LimitRefresh old. A stale copy delays the rows of a queue
// limited in another process; it never lets a claim exceed a limit.
package limited

import (
	"slices"
	"sync"
	"time"

	"github.com/durable-go/durable/storage"
)

// Queue is a queue with a limit (0: none of that kind).
type Queue struct {
	Name        string
	Concurrency int
	PerKey      int
	Rate        int
	Per         time.Duration
}

// Cache is a store's copy of the limited queues. The zero value is empty
// and due for a read.
type Cache struct {
	mu     sync.Mutex
	read   time.Time
	valid  bool
	queues []Queue
}

// Get returns the limited queues, calling read for them when the copy is
// storage.LimitRefresh old at now (wall clock) or was invalidated. A
// failed read keeps the copy, and is returned.
func (c *Cache) Get(now time.Time, read func() ([]Queue, error)) ([]Queue, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.valid && now.Sub(c.read) < storage.LimitRefresh && now.Sub(c.read) >= 0 {
		return c.queues, nil
	}
	qs, err := read()
	if err != nil {
		return c.queues, err
	}
	c.queues, c.read, c.valid = qs, now, true
	return qs, nil
}

// Invalidate makes the next Get read the limited queues again.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.valid = false
	c.mu.Unlock()
}

// Of returns the queues of qs that a claim of listed (every queue when
// empty) covers.
func Of(qs []Queue, listed []string) []Queue {
	if len(listed) == 0 || len(qs) == 0 {
		return qs
	}
	var out []Queue
	for _, q := range qs {
		if slices.Contains(listed, q.Name) {
			out = append(out, q)
		}
	}
	return out
}

// Keys counts the running rows of a queue per concurrency key while a
// claim takes rows, for a limit of Per rows per key (0: none).
type Keys struct {
	Per  int
	used map[string]int
}

// NewKeys returns the count of a queue limited to per rows per key, with
// running[k] rows of key k running already.
func NewKeys(per int, running map[string]int) *Keys {
	if running == nil {
		running = map[string]int{}
	}
	return &Keys{Per: per, used: running}
}

// Take reports whether a row of key (none when "") may be claimed, and
// counts it if so.
func (k *Keys) Take(key string) bool {
	if k.Per == 0 || key == "" {
		return true
	}
	if k.used[key] >= k.Per {
		return false
	}
	k.used[key]++
	return true
}

// Window is a queue's rate window as its control row keeps it: when it
// started (Unix microseconds, 0 for none yet) and how many rows were
// claimed in it (storage.RateWindow).
type Window struct {
	Start int64
	Count int
}

// At returns the window a claim at now (Unix microseconds) counts in, for
// windows of per: w, or a new empty one starting at now once w has ended.
func (w Window) At(now int64, per time.Duration) Window {
	if w.Start == 0 || now >= w.Start+per.Microseconds() {
		return Window{Start: now}
	}
	return w
}

// Left returns how many more rows a window of rate may claim (rate 0: no
// limit, max int).
func (w Window) Left(rate int) int {
	if rate == 0 {
		return int(^uint(0) >> 1)
	}
	return max(0, rate-w.Count)
}
