package mysql

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestInsertLiterals: rows of one insert that set different columns (a
// column is left out of the statement only when no row sets it) come
// back as given, with strings that quoting would have to escape (quotes,
// backslashes, NUL, bytes that are not UTF-8, 4-byte UTF-8), across
// several statements of one Insert.
func TestInsertLiterals(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	odd := "q'uo\"te\\ba\x00ck\xff🐘"
	var rows []storage.Execution
	for i := range 2*maxInsertRows + 3 {
		e := storagetest.NewExecution(fmt.Sprintf("lit-%04d-%s", i, odd), "task "+odd)
		switch i % 4 {
		case 0:
			e.Input = nil
		case 1:
			e.Input = []byte{}
			e.Metadata = map[string]string{"k": "v'\"\\🐘"}
			e.Queue, e.Priority = "q.1", 1
		case 2:
			e.RootID, e.RootTaskID = "root"+odd, "rt"
			e.ParentID, e.ParentTaskID, e.ChildIndex = "parent"+odd, "pt", i
			e.Retry = storage.RetryPolicy{}
			e.Timeout = 0
		case 3:
			e.ActiveKey = "key'\"\\🐘" + e.ID[:8]
			e.Input = []byte(odd)
		}
		rows = append(rows, e)
	}
	if err := s.Insert(t.Context(), storage.InsertParams{Now: storagetest.Base, Executions: rows}); err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		want := rows[i]
		got := get(t, s, want.ID)
		if !bytes.Equal(got.Input, want.Input) || (got.Input == nil) != (want.Input == nil) {
			t.Errorf("%q: input %q (nil %v), want %q (nil %v)", want.ID, got.Input, got.Input == nil, want.Input, want.Input == nil)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"TaskID", got.TaskID, want.TaskID}, {"RootID", got.RootID, want.RootID}, {"ParentID", got.ParentID, want.ParentID},
			{"ChildIndex", got.ChildIndex, want.ChildIndex}, {"Retry", got.Retry, want.Retry}, {"Timeout", got.Timeout, want.Timeout},
			{"Queue", got.Queue, storage.NormalizeQueue(want.Queue)}, {"Priority", got.Priority, storage.NormalizePriority(want.Priority)},
			{"ActiveKey", got.ActiveKey, want.ActiveKey}, {"Metadata", len(got.Metadata), len(want.Metadata)},
			{"CreatedAt", got.CreatedAt, storagetest.Base}, {"DueAt", got.DueAt, storagetest.Base},
		}
		for _, c := range checks {
			if !reflect.DeepEqual(c.got, c.want) {
				t.Errorf("%q: %s %v, want %v", want.ID, c.name, c.got, c.want)
			}
		}
		if t.Failed() {
			return
		}
	}
}

// TestInsertValueWithoutLiteral: a retry multiplier that is not a number
// fails the insert with an error naming the execution and the column,
// and nothing is inserted.
func TestInsertValueWithoutLiteral(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	good := storagetest.NewExecution("fine", "task")
	bad := storagetest.NewExecution("bad", "task")
	bad.Retry.Multiplier = math.NaN()
	err := s.Insert(t.Context(), storage.InsertParams{Executions: []storage.Execution{good, bad}})
	if err == nil || !strings.Contains(err.Error(), "execution bad") || !strings.Contains(err.Error(), "retry_multiplier") {
		t.Fatalf("Insert with a NaN multiplier: %v, want an error naming execution bad and retry_multiplier", err)
	}
	if _, err := s.Get(t.Context(), storage.GetParams{ID: "fine"}); err == nil {
		t.Error("the valid row of the failed insert was inserted")
	}
}

// TestWithLiterals: the lists of ids and seqs written into statements.
func TestWithLiterals(t *testing.T) {
	if got, want := withStrings("a IN :list1", []string{"ab", "", "\x00'\\é"}), `a IN (X'6162', '', X'00275cc3a9')`; got != want {
		t.Errorf("withStrings: %s, want %s", got, want)
	}
	if got, want := withInt64s("seq IN :list1", []int64{1, -2, 300}), "seq IN (1, -2, 300)"; got != want {
		t.Errorf("withInt64s: %s, want %s", got, want)
	}
}
