package postgres

import (
	"context"
	"testing"

	"github.com/durable-go/durable/internal/pgcluster"
	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestConformanceCrash runs the crash checks of the conformance suite on a
// PostgreSQL cluster of the test's own, which it crashes with pg_ctl stop
// -m immediate (what the WAL buffers held is lost).
func TestConformanceCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs its own PostgreSQL cluster")
	}
	cluster := pgcluster.New(t)
	storagetest.RunCrash(t, storagetest.CrashHarness{
		Open: func(t *testing.T) storage.Store {
			s, err := Open(context.Background(), cluster.DSN(), Config{Schema: "crash"})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		Crash: func(t *testing.T) {
			cluster.Crash(t)
			cluster.Start(t)
		},
	})
}
