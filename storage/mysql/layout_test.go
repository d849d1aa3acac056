package mysql

import (
	"fmt"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestInsertKeepsLevelsTogether inserts one batch of rows of nine
// priorities given in turn: each priority's rows come before the next
// priority's in seq (the clustered index's order), so that a claim of
// a priority writes the pages of its own rows (storage.InClaimOrder).
func TestInsertKeepsLevelsTogether(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	rows := make([]storage.Execution, 90)
	for i := range rows {
		rows[i] = storage.Execution{ID: fmt.Sprintf("r%02d", i), TaskID: "t", Status: storage.StatusReady,
			Queue: fmt.Sprintf("q%d", i%2), Priority: 1 + i%9}
	}
	if err := s.Insert(t.Context(), storage.InsertParams{Now: time.Now(), Executions: rows}); err != nil {
		t.Fatal(err)
	}
	res, err := s.db.QueryContext(t.Context(), "SELECT priority, min(seq), max(seq), count(*) FROM "+s.q.data.T+" GROUP BY priority ORDER BY priority")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	last, levels := int64(-1), 0
	for res.Next() {
		var p, n int
		var lo, hi int64
		if err := res.Scan(&p, &lo, &hi, &n); err != nil {
			t.Fatal(err)
		}
		if lo <= last || n != 10 {
			t.Errorf("priority %d: %d rows at seqs %d..%d, the previous priority's end at %d; want 10 after it", p, n, lo, hi, last)
		}
		last, levels = hi, levels+1
	}
	if err := res.Err(); err != nil || levels != 9 {
		t.Fatalf("%d priorities, %v", levels, err)
	}
}
