package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestInsertKeepsLevelsTogether: a batch of priorities given in turn is
// stored one priority after the other (storage.ClaimOrdered).
func TestInsertKeepsLevelsTogether(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "layout.db"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Insert(t.Context(), storage.InsertParams{Now: testNow, Executions: storagetest.LevelsBatch()}); err != nil {
		t.Fatal(err)
	}
	res, err := s.rdb.Query(storagetest.LevelSpansQuery("durable_executions"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	spans, err := storagetest.ScanLevelSpans(res)
	if err != nil {
		t.Fatal(err)
	}
	storagetest.CheckLevelsTogether(t, spans)
}
