package memory

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/durable-go/durable/internal/limited"
	"github.com/durable-go/durable/storage"
)

// claimLimited picks, from each queue with a limit that the claim covers
// (by name), its running, not sleeping rows whose lease lapsed (they hold
// their slots), then as many of its other due rows as it has free slots,
// skipping those whose concurrency key is at the queue's limit per key,
// each in claim order, within what is left of the queue's rate window, up
// to limit rows in all (see storage.Store.Claim). The rows stay in their
// due queues: claimRow moves them.
func (s *Store) claimLimited(p storage.ClaimParams, now time.Time, limit int) []*row {
	var picked []*row
	for _, c := range s.limitedQueues(p.Queues) {
		if len(picked) >= limit {
			break
		}
		picked = append(picked, s.claimLimitedQueue(c, p.TaskIDs, now, limit-len(picked))...)
	}
	return picked
}

// claimLimitedQueue picks up to limit rows of the limited queue c (see
// claimLimited) and counts them in its rate window.
func (s *Store) claimLimitedQueue(c *storage.Control, taskIDs []string, now time.Time, limit int) []*row {
	win := s.windows[c.Name].At(now.UnixMicro(), c.Per)
	limit = min(limit, win.Left(c.Rate))
	free := limit
	if c.Concurrency > 0 {
		free = c.Concurrency - s.runningIn(c.Name)
	}
	keys := limited.NewKeys(c.PerKey, s.runningKeysIn(c.Name, c.PerKey))
	var picked, rest []*row
	for _, r := range s.dueIn(taskIDs, c.Name, now) {
		switch {
		case len(picked) >= limit:
		case r.e.Status == storage.StatusRunning && r.e.SleepKey == "":
			picked = append(picked, r)
		default:
			rest = append(rest, r)
		}
	}
	for _, r := range rest {
		if len(picked) >= limit || free <= 0 {
			break
		}
		if keys.Take(r.e.ConcurrencyKey) {
			picked = append(picked, r)
			free--
		}
	}
	if c.Rate > 0 && len(picked) > 0 {
		win.Count += len(picked)
		s.windows[c.Name] = win
	}
	return picked
}

// runningKeysIn counts the running, not sleeping rows of queue q by
// concurrency key, when q has a limit per key (nil otherwise).
func (s *Store) runningKeysIn(q string, perKey int) map[string]int {
	if perKey == 0 {
		return nil
	}
	out := map[string]int{}
	for _, r := range s.rows {
		if r.e.Queue == q && r.e.ConcurrencyKey != "" && r.e.Status == storage.StatusRunning && r.e.SleepKey == "" {
			out[r.e.ConcurrencyKey]++
		}
	}
	return out
}

// limitedQueues returns the controls of the queues with a limit, not
// paused, of queues (every queue when empty), by name.
func (s *Store) limitedQueues(queues []string) []*storage.Control {
	var out []*storage.Control
	for key, c := range s.controls {
		if key.kind == storage.ControlQueue && c.Limited() && !c.Paused &&
			(len(queues) == 0 || slices.Contains(queues, key.name)) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *storage.Control) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// runningIn counts the running, not sleeping rows of queue q: the slots
// its limit counts (a scan of every row; limits are rare in tests).
func (s *Store) runningIn(q string) int {
	n := 0
	for _, r := range s.rows {
		if r.e.Queue == q && r.e.Status == storage.StatusRunning && r.e.SleepKey == "" {
			n++
		}
	}
	return n
}

// dueIn returns the rows of the tasks in queue q due at now, in claim
// order.
func (s *Store) dueIn(taskIDs []string, q string, now time.Time) []*row {
	nowKey := now.UnixMicro()
	s.gen++
	var out []*row
	for _, id := range taskIDs {
		for _, key := range s.dueKeys[id] {
			dq := s.due[key]
			if key.queue != q || dq.mark == s.gen {
				continue
			}
			dq.mark = s.gen
			for _, r := range dq.rows {
				if r.due <= nowKey {
					out = append(out, r)
				}
			}
		}
	}
	slices.SortFunc(out, claimOrder)
	return out
}

// claimOrder orders rows as Claim returns them: Priority, DueAt, then
// insertion order.
func claimOrder(a, b *row) int {
	if c := cmp.Compare(a.e.Priority, b.e.Priority); c != 0 {
		return c
	}
	if c := cmp.Compare(a.due, b.due); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}
