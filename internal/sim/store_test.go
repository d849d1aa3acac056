package sim

import (
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// The simulated store keeps the storage contract: the conformance suite
// passes on it (without hooks: no faults, its params' Now).
func TestStoreConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := NewStore()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// Its crash keeps what a database server keeps across a crash (fences and
// acknowledged writes): the checks the PostgreSQL store passes on a server
// crashed for real.
func TestStoreCrash(t *testing.T) {
	s := NewStore()
	t.Cleanup(func() { _ = s.Close() })
	storagetest.RunCrash(t, storagetest.CrashHarness{
		Open:  func(*testing.T) storage.Store { return conn{s} },
		Crash: func(*testing.T) { s.Crash() },
	})
}

// conn is one connection to the store's database: closing it leaves the
// database as it is.
type conn struct{ *Store }

func (conn) Close() error { return nil }
