// Package limited keeps a store's copy of which queues have a global
// concurrency limit (storage.Controls.LimitControl), so that the SQL
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

// Queue is a queue with a concurrency limit.
type Queue struct {
	Name        string
	Concurrency int
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
