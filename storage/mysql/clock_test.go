package mysql

import (
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestClockDatabaseIgnoresSkew: with ClockDatabase,
// executors whose clocks are off by ±10 minutes neither claim a row before
// it is due (delay or lease) nor miss it once it is
// (storagetest.CheckClockSkew).
func TestClockDatabaseIgnoresSkew(t *testing.T) {
	t.Parallel()
	storagetest.CheckClockSkew(t, openStore(t, Config{})) // ClockDatabase is the default
}

// get reads a row, failing the test if it cannot.
func get(t *testing.T, s *Store, id string) storage.Execution {
	t.Helper()
	e, err := s.Get(t.Context(), storage.GetParams{ID: id})
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return e
}
