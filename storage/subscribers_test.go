package storage_test

import (
	"slices"
	"testing"

	"github.com/durable-go/durable/storage"
)

func TestSubscribers(t *testing.T) {
	var subs storage.Subscribers
	var a, b []storage.Event
	unsubA := subs.Subscribe(func(ev storage.Event) {
		a = append(a, ev)
		if len(ev.Finished) > 0 {
			ev.Finished[0] = "changed by a" // must not reach b
		}
	})
	subs.Subscribe(func(ev storage.Event) { b = append(b, ev) })
	subs.Subscribe(nil) // ignored

	subs.Publish(storage.Event{})            // empty: not delivered
	subs.Publish(storage.Event{Ready: true}) // delivered
	finished := []string{"x", "y"}
	subs.Publish(storage.Event{Finished: finished})
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("deliveries: a %d, b %d; want 2 each", len(a), len(b))
	}
	if !b[0].Ready || !slices.Equal(b[1].Finished, []string{"x", "y"}) || !slices.Equal(finished, []string{"x", "y"}) {
		t.Fatalf("b got %+v (the publisher's slice is now %v): each subscriber must get its own copy", b, finished)
	}

	unsubA()
	unsubA() // idempotent
	subs.Publish(storage.Event{Ready: true})
	if len(a) != 2 || len(b) != 3 {
		t.Fatalf("after unsubscribe: a %d, b %d; want 2 and 3", len(a), len(b))
	}

	// A subscriber may subscribe and unsubscribe from its callback.
	var inner int
	var unsubSelf func()
	unsubSelf = subs.Subscribe(func(storage.Event) {
		unsubSelf()
		subs.Subscribe(func(storage.Event) { inner++ })
	})
	subs.Publish(storage.Event{Ready: true})
	subs.Publish(storage.Event{Ready: true})
	if inner != 1 {
		t.Fatalf("the subscriber added from a callback got %d events, want 1", inner)
	}
}
