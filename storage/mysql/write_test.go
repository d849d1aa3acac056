package mysql

import (
	"database/sql"
	"testing"

	"github.com/durable-go/durable/storage"
)

// TestWriteSQL checks the shape of the write-back: constants for columns
// every row sets alike, CASE seq for those that differ (the most common
// value in the ELSE, the column itself for rows that keep theirs), and
// nothing for columns no row changed.
func TestWriteSQL(t *testing.T) {
	read := func(seq int64) *rowState {
		r := &rowState{seq: seq, status: storage.StatusRunning, executorID: "e",
			startedAt: sql.NullInt64{Int64: 100 + seq, Valid: true}, dueAt: sql.NullInt64{Int64: 900, Valid: true}}
		copied := *r
		r.read = &copied
		return r
	}
	rows := []*rowState{read(1), read(2), read(3)}
	for i, r := range rows {
		r.status, r.executorID, r.dueAt = storage.StatusCompleted, "", sql.NullInt64{}
		r.updatedAt = sql.NullInt64{Int64: 500, Valid: true}
		if i < 2 {
			r.outputSet, r.output = true, []byte("ok")
		}
	}
	rows[2].output, rows[2].outputSet = nil, false
	got := writeSQL("t", rows, 0)
	want := "UPDATE t SET output = CASE seq WHEN 3 THEN output ELSE X'6f6b' END, status = X'636f6d706c65746564', " +
		"executor_id = '', updated_at = 500, due_at = NULL WHERE seq IN (1, 2, 3)"
	if got != want {
		t.Errorf("writeSQL:\n got %s\nwant %s", got, want)
	}

	rows[1].attempt = 7
	got = writeSQL("t", rows[:2], 0)
	want = "UPDATE t SET output = X'6f6b', status = X'636f6d706c65746564', attempt = CASE seq WHEN 2 THEN 7 ELSE attempt END, " +
		"executor_id = '', updated_at = 500, due_at = NULL WHERE seq IN (1, 2)"
	if got != want {
		t.Errorf("writeSQL, one attempt differs:\n got %s\nwant %s", got, want)
	}

	unchanged := read(4)
	if got := writeSQL("t", []*rowState{unchanged}, 0); got != "" {
		t.Errorf("writeSQL of an unchanged row = %q, want none", got)
	}
}
