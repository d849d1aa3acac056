package mysql

import (
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestConformance runs the storage conformance suite, on the params clock
// (the suite passes fixed times), each check on its own tables.
func TestConformance(t *testing.T) {
	testDSN(t)
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openStore(t, Config{Clock: ClockParams})
	})
}

// TestEngine runs the end-to-end executor scenarios on MySQL, on the
// database's clock as in production.
func TestEngine(t *testing.T) {
	testDSN(t)
	storagetest.RunEngine(t, func(t *testing.T) storage.Store {
		return openStore(t, Config{})
	})
}
