package storagetest

import (
	"fmt"
	"testing"

	"github.com/durable-go/durable/storage"
)

// The check of a SQL store's layout of a batch (storage.ClaimOrdered):
// each store's tests insert LevelsBatch, read which seqs each priority's
// rows got (LevelSpansQuery, ScanLevelSpans), and pass them to
// CheckLevelsTogether.

// LevelsBatch returns 90 ready rows of task "t" in the queues q0 and q1
// in turn and the priorities 1 to 9 in turn: given in this order, each
// priority's rows would be every ninth row.
func LevelsBatch() []storage.Execution {
	rows := make([]storage.Execution, 90)
	for i := range rows {
		rows[i] = storage.Execution{ID: fmt.Sprintf("r%02d", i), TaskID: "t", Status: storage.StatusReady,
			Queue: fmt.Sprintf("q%d", i%2), Priority: 1 + i%9}
	}
	return rows
}

// LevelSpan is what a store holds of one priority's rows of LevelsBatch:
// how many, and their first and last seq (the table's order).
type LevelSpan struct {
	Priority, Rows int
	First, Last    int64
}

// LevelSpansQuery is the query of the LevelSpans of table, whose seq
// column is its order.
func LevelSpansQuery(table string) string {
	return "SELECT priority, count(*), min(seq), max(seq) FROM " + table + " GROUP BY priority ORDER BY priority"
}

// Rows is what ScanLevelSpans reads: database/sql's *Rows, pgx's Rows.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanLevelSpans reads the result of LevelSpansQuery.
func ScanLevelSpans(rows Rows) ([]LevelSpan, error) {
	var spans []LevelSpan
	for rows.Next() {
		var sp LevelSpan
		if err := rows.Scan(&sp.Priority, &sp.Rows, &sp.First, &sp.Last); err != nil {
			return nil, err
		}
		spans = append(spans, sp)
	}
	return spans, rows.Err()
}

// CheckLevelsTogether fails t unless spans, in priority order, are the
// nine priorities of LevelsBatch, each one's 10 rows after the previous
// priority's: a claim of a priority then reads and writes the pages of
// its own rows, not a page per row.
func CheckLevelsTogether(t testing.TB, spans []LevelSpan) {
	t.Helper()
	if len(spans) != storage.PriorityLevels {
		t.Fatalf("%d priorities stored, want %d", len(spans), storage.PriorityLevels)
	}
	last := int64(-1 << 63)
	for _, sp := range spans {
		if sp.First <= last || sp.Rows != 10 {
			t.Errorf("priority %d: %d rows at seqs %d..%d, the previous priority's end at %d; want 10 after it",
				sp.Priority, sp.Rows, sp.First, sp.Last, last)
		}
		last = sp.Last
	}
}
