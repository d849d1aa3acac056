package mysql

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
	"github.com/durable-go/durable/storage/storagetest"
)

// TestLargePayloadsRoundTrip: payloads of 1 MiB (the engine's limit) in
// batches larger than the server's max_allowed_packet (16 MiB on MariaDB
// 10.11) are stored and read back exactly: the store splits its
// statements. Every byte value, and 4-byte UTF-8 in strings, round-trips.
func TestLargePayloadsRoundTrip(t *testing.T) {
	t.Parallel()
	s := openStore(t, Config{})
	const n = 24 // 24 MiB of inputs in one Insert, 48 MiB of outputs in one Complete
	payload := func(seed int) []byte {
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte(i*7 + seed)
		}
		return b
	}
	rows := make([]storage.Execution, n)
	for i := range rows {
		rows[i] = storagetest.NewExecution(fmt.Sprintf("big-%02d", i), "big 🐘 task")
		rows[i].Input = payload(i)
		rows[i].Tags = []string{"é🐘", "tag,less"[:3]}
	}
	if err := s.Insert(t.Context(), storage.InsertParams{Executions: rows}); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.Claim(t.Context(), storage.ClaimParams{ExecutorID: "e", TaskIDs: []string{"big 🐘 task"}, Limit: n, Lease: time.Minute})
	if err != nil || len(claimed) != n {
		t.Fatalf("Claim: %d rows, %v", len(claimed), err)
	}
	var trs []storage.Transition
	for i, c := range claimed {
		if !bytes.Equal(c.Input, rows[i].Input) {
			t.Fatalf("claimed %s: input differs", c.ID)
		}
		trs = append(trs, storage.Transition{ID: c.ID, Fence: c.Fence, From: storage.StatusRunning,
			To: storage.StatusWaitingForChildren, RunOutput: payload(100 + i),
			Children: []storage.Execution{storagetest.NewChild(c, c.ID+"-c", "child", 0)}})
	}
	res, err := s.Complete(t.Context(), storage.CompleteParams{Transitions: trs})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Applied || r.Err != nil {
			t.Fatalf("transition %d: %+v", i, r)
		}
	}
	for i := range rows {
		e := get(t, s, rows[i].ID)
		if !bytes.Equal(e.Input, rows[i].Input) || !bytes.Equal(e.RunOutput, payload(100+i)) {
			t.Fatalf("%s: payloads differ after the round trip", e.ID)
		}
		if e.TaskID != "big 🐘 task" || len(e.Tags) != 2 || e.Tags[0] != "é🐘" {
			t.Fatalf("%s: strings differ: %q %q", e.ID, e.TaskID, e.Tags)
		}
	}
}
