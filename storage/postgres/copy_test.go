package postgres

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestInsertCopy checks the COPY path of a bulk insert: every row round-trips
// as the INSERT path would store it, and a duplicate id fails the whole
// batch with ErrDuplicate.
func TestInsertCopy(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{Clock: ClockParams})
	ctx := t.Context()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([]storage.Execution, copyThreshold)
	delays := make([]time.Duration, len(rows))
	for i := range rows {
		rows[i] = storage.Execution{ID: fmt.Sprintf("te_copy_%04d", i), TaskID: "bulk", Status: storage.StatusReady,
			Input: []byte(fmt.Sprintf(`{"i":%d}`, i)), Timeout: time.Minute,
			Retry: storage.RetryPolicy{MaxRetries: 2, BaseDelay: time.Second, Multiplier: 2, MaxDelay: time.Minute, Jitter: 0.1}}
		delays[i] = time.Duration(i) * time.Millisecond
	}
	p := storage.InsertParams{Now: base, Executions: rows, Delays: delays}
	if !copyable(p) {
		t.Fatal("a bulk batch of plain rows should take the COPY path")
	}
	if err := s.Insert(ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 7, copyThreshold - 1} {
		got, err := s.Get(ctx, storage.GetParams{ID: rows[i].ID})
		if err != nil {
			t.Fatal(err)
		}
		want := rows[i]
		if got.TaskID != want.TaskID || string(got.Input) != string(want.Input) || got.Retry != want.Retry ||
			got.Timeout != want.Timeout || got.Status != storage.StatusReady || got.Fence != 0 ||
			!got.DueAt.Equal(base.Add(delays[i])) || !got.CreatedAt.Equal(base) || got.ParentID != "" || got.SleepKey != "" {
			t.Errorf("row %d: got %+v", i, got)
		}
	}
	claimed, err := s.Claim(ctx, storage.ClaimParams{Now: base.Add(time.Hour), ExecutorID: "ex", TaskIDs: []string{"bulk"}, Limit: 3, Lease: time.Minute})
	if err != nil || len(claimed) != 3 || claimed[0].ID != rows[0].ID {
		t.Fatalf("claim after COPY: %d rows, %v", len(claimed), err)
	}
	dup := append([]storage.Execution{}, rows...)
	for i := range dup[1:] {
		dup[i+1].ID += "_new"
	}
	err = s.Insert(ctx, storage.InsertParams{Now: base, Executions: dup})
	if !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("duplicate id in a COPY batch: %v", err)
	}
	if _, err := s.Get(ctx, storage.GetParams{ID: dup[1].ID}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a failed COPY batch left rows behind: %v", err)
	}
}
