package storagetest

import (
	"testing"
	"time"

	"github.com/durable-go/durable/storage"
)

// CheckClockSkew checks a store that judges time on its database's clock
// (not params.Now) and runs on the database's host, so that the local
// clock reads the database's time: executors whose clocks are off by ±10
// minutes neither claim a row before it is due (delay or lease) nor miss it
// once it is. s must be empty and judge time on the database's clock. It
// takes a few seconds of real time.
func CheckClockSkew(t *testing.T, s storage.Store) {
	t.Helper()
	const delay, lease, skew = time.Second, 2 * time.Second, 10 * time.Minute
	const slack = 50 * time.Millisecond // clock reads vs statement times
	skewed := func(sign int) time.Time { return time.Now().Add(time.Duration(sign) * skew) }
	var premature, late int
	// claimAt claims with a skewed clock and reports whether it got the
	// row, and the real time after the call.
	claimAt := func(now time.Time) ([]storage.Execution, time.Time) {
		rows, err := s.Claim(t.Context(), storage.ClaimParams{
			Now: now, ExecutorID: "exec", TaskIDs: []string{"task"}, Limit: 10, Lease: lease,
		})
		if err != nil {
			t.Fatal(err)
		}
		return rows, time.Now()
	}
	// checkEarly: a fast clock must not claim the row before due. It
	// returns the row if it got it after due (a stalled machine).
	checkEarly := func(due time.Time) []storage.Execution {
		rows, after := claimAt(skewed(+1))
		if len(rows) > 0 && after.Before(due.Add(-slack)) {
			premature++
		}
		return rows
	}
	// claimLate: once due, a slow clock claims the row (unless checkEarly
	// got it already).
	claimLate := func(due time.Time, early []storage.Execution) storage.Execution {
		if len(early) == 1 {
			return early[0]
		}
		time.Sleep(time.Until(due.Add(100 * time.Millisecond)))
		rows, _ := claimAt(skewed(-1))
		if len(rows) != 1 {
			late++
			t.Fatalf("row not claimed %v after it was due", time.Since(due))
		}
		return rows[0]
	}
	within := func(what string, got, lo, hi time.Time) {
		if got.Before(lo.Add(-slack)) || got.After(hi.Add(slack)) {
			t.Fatalf("%s %v is not within [%v, %v]: not the database's now", what, got, lo, hi)
		}
	}

	// A delayed row, inserted by a clock 10 minutes slow.
	before := time.Now()
	err := s.Insert(t.Context(), storage.InsertParams{Now: skewed(-1),
		Executions: []storage.Execution{NewExecution("x", "task")}, Delays: []time.Duration{delay}})
	if err != nil {
		t.Fatal(err)
	}
	due := getRow(t, s, "x").DueAt
	within("DueAt", due, before.Add(delay), time.Now().Add(delay))
	wait, ok, err := s.NextDue(t.Context(), storage.NextDueParams{Now: skewed(+1), TaskIDs: []string{"task"}})
	if err != nil || !ok || wait > delay {
		t.Fatalf("NextDue with a fast clock: %v, %v, %v; want at most %v", wait, ok, err, delay)
	}
	before = time.Now()
	row := claimLate(due, checkEarly(due))
	within("lease expiry", row.DueAt, before.Add(lease), time.Now().Add(lease))

	// The lease: a fast clock must not take the live claim over, even
	// after a heartbeat from a slow clock; a slow clock takes it over once
	// the lease lapsed.
	if early := checkEarly(row.DueAt); len(early) > 0 {
		t.Skip("the machine stalled longer than the lease; cannot check the heartbeat")
	}
	lost, err := s.Heartbeat(t.Context(), storage.HeartbeatParams{Now: skewed(-1), Lease: lease,
		Leases: []storage.Lease{{ID: "x", Fence: row.Fence}}})
	if err != nil || len(lost) != 0 {
		t.Fatalf("Heartbeat: lost %v, %v", lost, err)
	}
	due = getRow(t, s, "x").DueAt
	if row = claimLate(due, checkEarly(due)); row.Crashes != 1 {
		t.Fatalf("taken over row: crashes %d, want 1", row.Crashes)
	}
	t.Logf("clock skew ±%v, delay %v, lease %v: premature claims %d, late claims %d", skew, delay, lease, premature, late)
	if premature != 0 || late != 0 {
		t.Fatalf("premature claims %d, late claims %d", premature, late)
	}
}

// getRow reads a row, failing the test if it cannot.
func getRow(t *testing.T, s storage.Store, id string) storage.Execution {
	t.Helper()
	e, err := s.Get(t.Context(), storage.GetParams{ID: id})
	if err != nil {
		t.Fatalf("Get(%q): %v", id, err)
	}
	return e
}
