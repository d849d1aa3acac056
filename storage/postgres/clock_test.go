package postgres

import (
	"testing"

	"github.com/durable-go/durable/storage/storagetest"
)

// TestClockDatabaseIgnoresSkew (RELIABILITY.md R11): with ClockDatabase,
// executors whose clocks are off by ±10 minutes neither claim a row before
// it is due (delay or lease) nor miss it once it is
// (storagetest.CheckClockSkew).
func TestClockDatabaseIgnoresSkew(t *testing.T) {
	t.Parallel()
	storagetest.CheckClockSkew(t, openStore(t, Config{})) // ClockDatabase is the default
}
