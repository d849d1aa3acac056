package memory

import (
	"errors"

	"github.com/durable-go/durable/internal/simhook"
)

func init() { simhook.KeepDescendants = keepDescendants }

// keepDescendants switches on, in a store (a *Store), the bug of a store
// that does not cancel the descendants of an execution that ended
// unsuccessfully. Only the simulator calls it, through internal/simhook, to
// show that its invariants catch that bug.
func keepDescendants(x any) error {
	s, ok := x.(*Store)
	if !ok || s == nil {
		return errors.New("memory: simulation: not a *memory.Store")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepDescendants = true
	return nil
}
