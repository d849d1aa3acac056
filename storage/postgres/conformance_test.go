package postgres

import (
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestConformance runs the storage conformance suite, on the params clock
// (the suite passes fixed times), each check on its own schema.
func TestConformance(t *testing.T) {
	testURL(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openStore(t, WithClock(ClockParams))
	})
}
