package sqlite_test

import (
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestEngine runs the end-to-end executor scenarios every store runs, each
// on its own store on a new file in t.TempDir (WAL mode, DurabilityFull, as
// in production).
func TestEngine(t *testing.T) {
	t.Parallel()
	storagetest.RunEngine(t, func(t *testing.T) storage.Store {
		s, _ := openTemp(t)
		return s
	})
}
