package limited

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	const per = 10 * time.Second
	var w Window
	if got := w.At(5_000_000, per); got != (Window{Start: 5_000_000}) {
		t.Fatalf("the first window: want it to open at the claim, got %+v", got)
	}
	w = Window{Start: 5_000_000, Count: 3}
	for _, c := range []struct {
		now  int64
		want Window
	}{
		{5_000_000, w},                          // its start
		{14_999_999, w},                         // its last microsecond
		{4_000_000, w},                          // a clock behind its start counts in it
		{15_000_000, Window{Start: 15_000_000}}, // ended: a new one opens
	} {
		if got := w.At(c.now, per); got != c.want {
			t.Errorf("At(%d): want %+v, got %+v", c.now, c.want, got)
		}
	}
	if got := w.Left(5); got != 2 {
		t.Errorf("Left(5) with 3 counted: want 2, got %d", got)
	}
	if got := (Window{Count: 7}).Left(5); got != 0 {
		t.Errorf("Left(5) with 7 counted (the rate lowered): want 0, got %d", got)
	}
	if got := w.Left(0); got < 1<<30 {
		t.Errorf("Left(0), no rate limit: want no bound, got %d", got)
	}
}

func TestKeys(t *testing.T) {
	k := NewKeys(2, map[string]int{"a": 1})
	for _, c := range []struct {
		key  string
		want bool
	}{
		{"a", true}, {"a", false}, {"b", true}, {"b", true}, {"b", false}, {"", true}, {"", true},
	} {
		if got := k.Take(c.key); got != c.want {
			t.Fatalf("Take(%q): want %v, got %v", c.key, c.want, got)
		}
	}
	none := NewKeys(0, nil)
	for range 3 {
		if !none.Take("a") {
			t.Fatal("Take without a limit per key: want true")
		}
	}
}

func TestOf(t *testing.T) {
	qs := []Queue{{Name: "a", Concurrency: 1}, {Name: "b", PerKey: 1}, {Name: "c", Rate: 1, Per: time.Second}}
	if got := Of(qs, nil); len(got) != 3 {
		t.Errorf("Of every queue: want 3, got %+v", got)
	}
	if got := Of(qs, []string{"c", "x"}); len(got) != 1 || got[0].Name != "c" {
		t.Errorf("Of [c x]: want c, got %+v", got)
	}
}
