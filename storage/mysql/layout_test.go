package mysql

import (
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestInsertKeepsLevelsTogether: a batch of priorities given in turn is
// stored one priority after the other in the clustered index
// (storage.ClaimOrdered).
func TestInsertKeepsLevelsTogether(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	if err := s.Insert(t.Context(), storage.InsertParams{Now: time.Now(), Executions: storagetest.LevelsBatch()}); err != nil {
		t.Fatal(err)
	}
	res, err := s.db.QueryContext(t.Context(), storagetest.LevelSpansQuery(s.q.data.T))
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
