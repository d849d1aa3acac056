package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/durable-go/durable/storage"
)

// TestInsertKeepsLevelsTogether inserts one batch of rows of nine
// priorities given in turn: each priority's rows get consecutive seqs
// (the table's order), so that a claim of a priority reads and writes
// the pages of its own rows, not a page per row (storage.InClaimOrder).
func TestInsertKeepsLevelsTogether(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "layout.db"), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rows := make([]storage.Execution, 90)
	for i := range rows {
		rows[i] = storage.Execution{ID: fmt.Sprintf("r%02d", i), TaskID: "t", Status: storage.StatusReady,
			Queue: fmt.Sprintf("q%d", i%2), Priority: 1 + i%9}
	}
	if err := s.Insert(t.Context(), storage.InsertParams{Now: testNow, Executions: rows}); err != nil {
		t.Fatal(err)
	}
	res, err := s.rdb.Query(`SELECT priority, min(seq), max(seq), count(*) FROM durable_executions GROUP BY priority ORDER BY priority`)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	prev := int64(0)
	for res.Next() {
		var p, n int
		var lo, hi int64
		if err := res.Scan(&p, &lo, &hi, &n); err != nil {
			t.Fatal(err)
		}
		if hi-lo+1 != int64(n) || lo != prev+1 {
			t.Errorf("priority %d: %d rows at seqs %d..%d, after seq %d; want consecutive seqs after the previous priority's", p, n, lo, hi, prev)
		}
		prev = hi
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if prev != int64(len(rows)) {
		t.Fatalf("last seq %d, want %d", prev, len(rows))
	}
}
