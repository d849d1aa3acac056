package postgres

import (
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// TestInClaimOrder checks the ordering of claimed rows by their pre-claim
// DueAt, then seq, whether or not the statement returned them in order.
func TestInClaimOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rows := []storage.Execution{{ID: "c"}, {ID: "a"}, {ID: "d"}, {ID: "b"}}
	keys := []claimKey{{t0.Add(time.Second), 1}, {t0, 7}, {t0.Add(time.Second), 2}, {t0, 9}}
	got := inClaimOrder(rows, keys)
	var ids string
	for _, r := range got {
		ids += r.ID
	}
	if ids != "abcd" {
		t.Fatalf("order %q, want abcd", ids)
	}
	sorted := []storage.Execution{{ID: "a"}, {ID: "b"}}
	if got := inClaimOrder(sorted, []claimKey{{t0, 1}, {t0, 2}}); &got[0] != &sorted[0] {
		t.Fatal("rows already in order were copied")
	}
}
