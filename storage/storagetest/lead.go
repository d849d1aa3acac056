package storagetest

import (
	"time"

	"github.com/durable-go/durable/storage"
)

var leadChecks = []check{
	{"LeadOneHolderAtATime", checkLeadOneHolder},
	{"LeadLapsesAndIsTakenOver", checkLeadLapses},
	{"LeadGivenUp", checkLeadGivenUp},
	{"LeadNamesAreIndependent", checkLeadNames},
}

// leader returns the store's lease part.
func leader(b *bundle) storage.Leader { return b.s }

// lead asks for the lease and fails the test unless the answer is want.
func lead(b *bundle, l storage.Leader, now time.Time, name, owner string, ttl time.Duration, want bool) {
	b.t.Helper()
	got, err := l.Lead(b.ctx, storage.LeadParams{Now: now, Name: name, Owner: owner, TTL: ttl})
	if err != nil {
		b.t.Fatalf("Lead(%s, %s, ttl %s) at +%s: %v", name, owner, ttl, now.Sub(Base), err)
	}
	if got != want {
		b.t.Fatalf("Lead(%s, %s, ttl %s) at +%s: held %v, want %v", name, owner, ttl, now.Sub(Base), got, want)
	}
}

func checkLeadOneHolder(b *bundle) {
	l := leader(b)
	lead(b, l, Base, "clean", "a", time.Minute, true)
	lead(b, l, Base.Add(time.Second), "clean", "b", time.Minute, false)
	// The holder extends it; the other is still refused after the first
	// expiry.
	lead(b, l, Base.Add(50*time.Second), "clean", "a", time.Minute, true)
	lead(b, l, Base.Add(70*time.Second), "clean", "b", time.Minute, false)
}

func checkLeadLapses(b *bundle) {
	l := leader(b)
	lead(b, l, Base, "clean", "a", time.Minute, true)
	lead(b, l, Base.Add(61*time.Second), "clean", "b", time.Minute, true)
	lead(b, l, Base.Add(62*time.Second), "clean", "a", time.Minute, false)
}

func checkLeadGivenUp(b *bundle) {
	l := leader(b)
	lead(b, l, Base, "clean", "a", time.Minute, true)
	lead(b, l, Base.Add(time.Second), "clean", "b", 0, false) // not b's to give up
	lead(b, l, Base.Add(2*time.Second), "clean", "b", time.Minute, false)
	lead(b, l, Base.Add(3*time.Second), "clean", "a", 0, false)
	lead(b, l, Base.Add(4*time.Second), "clean", "b", time.Minute, true)
}

func checkLeadNames(b *bundle) {
	l := leader(b)
	lead(b, l, Base, "clean", "a", time.Minute, true)
	lead(b, l, Base, "schedule", "b", time.Minute, true)
	lead(b, l, Base.Add(time.Second), "schedule", "a", time.Minute, false)
}
