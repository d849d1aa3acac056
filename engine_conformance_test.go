package durable_test

import (
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/memory"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestEngineOnMemory runs the end-to-end scenarios every store runs.
func TestEngineOnMemory(t *testing.T) {
	t.Parallel()
	storagetest.RunEngine(t, func(t *testing.T) storage.Store { return memory.New() })
}
