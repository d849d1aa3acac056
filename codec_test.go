package durable_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/durable-go/durable"
)

// What enqueue refuses (docs/semantics.md): with the JSON codec, a value
// that encoding/json would silently change (invalid UTF-8) or could not
// decode again (nesting deeper than 10,000) is refused with an error
// naming the task, instead of being stored changed or stored for ever
// undecodable.

const invalidUTF8 = "caf\xe9" // Latin-1 é: not UTF-8

type address struct {
	City  string `json:"city"`
	Lines []string
}

type customer struct {
	Name    string
	Address address
	Tags    map[string]string
	Photo   []byte // base64: any bytes are fine
	secret  string // not encoded
	Skipped string `json:"-"`
}

// nested returns a value nested depth levels deep ([[...[]...]]).
func nested(depth int) any {
	var v any = []any{}
	for range depth - 1 {
		v = []any{v}
	}
	return v
}

// wantRefused checks that err is an invalid-input error naming task and
// saying each of what.
func wantRefused(t *testing.T, err error, task string, what ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want the input of %s refused", task)
	}
	if !errors.Is(err, durable.ErrInvalidInput) {
		t.Fatalf("error %q does not wrap ErrInvalidInput", err)
	}
	for _, w := range append([]string{task}, what...) {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestEnqueueRefusesInvalidUTF8(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{})
	str := durable.Must(durable.NewTask(b.ex, "str", func(ctx context.Context, s string) (string, error) { return s, nil }))
	cust := durable.Must(durable.NewTask(b.ex, "cust", func(ctx context.Context, c customer) (string, error) { return c.Name, nil }))

	_, err := str.Enqueue(b.ctx, invalidUTF8)
	wantRefused(t, err, "str", "not valid UTF-8", "(the value itself)")

	_, err = str.EnqueueMany(b.ctx, []string{"fine", invalidUTF8})
	wantRefused(t, err, "str", "not valid UTF-8")

	_, err = str.EnqueueTx(b.ctx, b.store, invalidUTF8)
	wantRefused(t, err, "str", "not valid UTF-8")

	_, err = b.ex.EnqueueMany(b.ctx, durable.ChildOf(str, "ok"), durable.ChildOf(cust, customer{Address: address{Lines: []string{"1 rue", invalidUTF8}}}))
	wantRefused(t, err, "cust", "not valid UTF-8", ".Address.Lines[1]")

	_, err = cust.Enqueue(b.ctx, customer{Tags: map[string]string{invalidUTF8: "v"}})
	wantRefused(t, err, "cust", `[key "caf\xe9"]`)

	_, err = cust.Enqueue(b.ctx, customer{Tags: map[string]string{"k": invalidUTF8}})
	wantRefused(t, err, "cust", `["k"]`)

	// Nothing was stored by any of them: a batch is all or nothing.
	h, err := str.Enqueue(b.ctx, "after")
	if err != nil {
		t.Fatal(err)
	}
	if x := waitFor(t, b, h); x.Output != "after" {
		t.Fatalf("got %+v", x)
	}
}

// TestEnqueueKeepsValidText checks that what encoding/json stores exactly
// is accepted and round-trips: a genuine U+FFFD, the six characters
// \ufffd, binary data in a []byte, and invalid UTF-8 in fields that are
// not encoded.
func TestEnqueueKeepsValidText(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{})
	echo := durable.Must(durable.NewTask(b.ex, "echo_cust", func(ctx context.Context, c customer) (customer, error) { return c, nil }))
	in := customer{Name: "a\uFFFDb \\ufffd `\\ufffd`", Address: address{City: "Zürich", Lines: []string{"\u2028"}},
		Tags: map[string]string{"\uFFFD": "\\ufffd"}, Photo: []byte{0xff, 0xfe, 0x00, 0xe9}, secret: invalidUTF8, Skipped: invalidUTF8}
	h, err := echo.Enqueue(b.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	x := waitFor(t, b, h)
	want := in
	want.secret, want.Skipped = "", ""
	got, _ := json.Marshal(x.Output)
	wantJSON, _ := json.Marshal(want)
	if x.Status != durable.StatusCompleted || string(got) != string(wantJSON) || string(x.Output.Photo) != string(in.Photo) {
		t.Fatalf("got %s %+v, want %+v", x.Status, x.Output, want)
	}
}

// TestEnqueueRefusesTooDeep checks the nesting limit: 10,000 levels are
// accepted and decoded at run time, 10,001 and 20,000 are refused.
func TestEnqueueRefusesTooDeep(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{})
	depth := func(v any) int {
		d := 0
		for {
			s, ok := v.([]any)
			if !ok {
				return d
			}
			d++
			if len(s) == 0 {
				return d
			}
			v = s[0]
		}
	}
	deep := durable.Must(durable.NewTask(b.ex, "deep", func(ctx context.Context, v any) (int, error) { return depth(v), nil }))
	h, err := deep.Enqueue(b.ctx, nested(10000))
	if err != nil {
		t.Fatalf("10,000 levels: %v", err)
	}
	if x := waitFor(t, b, h); x.Status != durable.StatusCompleted || x.Output != 10000 {
		t.Fatalf("10,000 levels: got %s %v %v", x.Status, x.Output, x.Err)
	}
	for _, n := range []int{10001, 20000} {
		_, err := deep.Enqueue(b.ctx, nested(n))
		wantRefused(t, err, "deep", "more than 10000 levels")
		_, err = deep.EnqueueMany(b.ctx, []any{1, nested(n)})
		wantRefused(t, err, "deep", "more than 10000 levels")
	}
	// Deep but inside a string: not nesting.
	h, err = deep.Enqueue(b.ctx, strings.Repeat("[", 30000))
	if err != nil {
		t.Fatalf("brackets in a string: %v", err)
	}
	waitFor(t, b, h)
}

func TestEnqueueRefusesInvalidUTF8FromMarshalJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{})
	raw := durable.Must(durable.NewTask(b.ex, "raw", func(ctx context.Context, m json.RawMessage) (int, error) { return len(m), nil }))
	_, err := raw.Enqueue(b.ctx, json.RawMessage(`"`+invalidUTF8+`"`))
	wantRefused(t, err, "raw", "not valid UTF-8", "MarshalJSON")
	// A MarshalJSON that writes the escape \ufffd writes valid JSON: it
	// decodes to U+FFFD, which is what it meant.
	h, err := raw.Enqueue(b.ctx, json.RawMessage(`"\ufffd"`))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, h)
}

// TestRefusedOutputsChildrenAndWake checks the other places a value is
// encoded: a run's output, a parent's child input and a Wake output fail
// with an error naming the task, without retry.
func TestRefusedOutputsChildrenAndWake(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{})
	retry := durable.WithRetry(durable.RetryPolicy{MaxRetries: 3})
	bad := durable.Must(durable.NewTask(b.ex, "bad_out", func(ctx context.Context, n int) (string, error) { return invalidUTF8, nil }, retry))
	deepOut := durable.Must(durable.NewTask(b.ex, "deep_out", func(ctx context.Context, n int) (any, error) { return nested(n), nil }, retry))
	kid := durable.Must(durable.NewTask(b.ex, "kid", func(ctx context.Context, s string) (string, error) { return s, nil }))
	parent := durable.Must(durable.NewParentTask(b.ex, "spawner", func(ctx context.Context, n int) (durable.Spawn[int], error) {
		return durable.Spawn[int]{Output: n, Children: []durable.Child{durable.ChildOf(kid, "ok"), durable.ChildOf(kid, invalidUTF8)}}, nil
	}, retry))
	nap := durable.Must(durable.NewSleepingTask[string](b.ex, "nap_utf8"))

	for _, c := range []struct {
		run  func() (*durable.ExecutionError, error)
		task string
		what []string
	}{
		{func() (*durable.ExecutionError, error) {
			h, err := bad.Enqueue(b.ctx, 1)
			if err != nil {
				return nil, err
			}
			x := waitFor(t, b, h)
			return x.Err, nil
		}, "bad_out", []string{"output of task bad_out", "not valid UTF-8"}},
		{func() (*durable.ExecutionError, error) {
			h, err := deepOut.Enqueue(b.ctx, 10001)
			if err != nil {
				return nil, err
			}
			x := waitFor(t, b, h)
			return x.Err, nil
		}, "deep_out", []string{"output of task deep_out", "more than 10000 levels"}},
		{func() (*durable.ExecutionError, error) {
			h, err := parent.Enqueue(b.ctx, 1)
			if err != nil {
				return nil, err
			}
			x := waitFor(t, b, h)
			return x.Err, nil
		}, "spawner", []string{"child 1", "input of task kid", "not valid UTF-8"}},
	} {
		ee, err := c.run()
		if err != nil {
			t.Fatal(err)
		}
		if ee == nil || ee.Retryable {
			t.Fatalf("%s: want a non-retryable error, got %+v", c.task, ee)
		}
		wantRefused(t, ee, c.task, c.what...)
	}

	if _, err := nap.Enqueue(b.ctx, "k"); err != nil {
		t.Fatal(err)
	}
	_, err := nap.Wake(b.ctx, "k", durable.Completed(invalidUTF8))
	wantRefused(t, err, "nap_utf8", "wake output", "not valid UTF-8")
	x, err := nap.Wake(b.ctx, "k", durable.Completed("fine"))
	if err != nil || x.Output != "fine" {
		t.Fatalf("wake after a refused wake: %+v %v", x, err)
	}
}

// TestJSONCodecRefuses checks the codec on its own: the error says where
// the bad string is.
func TestJSONCodecRefuses(t *testing.T) {
	t.Parallel()
	type inner struct{ S []string }
	type outer struct {
		address        // embedded: its fields are promoted
		In      *inner `json:"in"`
		M       map[int]inner
	}
	for _, c := range []struct {
		v    any
		path string
	}{
		{outer{In: &inner{S: []string{"a", "b", invalidUTF8}}}, ".In.S[2]"},
		{outer{M: map[int]inner{7: {S: []string{invalidUTF8}}}}, ".M[7].S[0]"},
		{outer{address: address{City: invalidUTF8}}, ".City"},
		{[]any{1, map[string]any{"x": []any{invalidUTF8}}}, `[1]["x"][0]`},
	} {
		_, err := durable.JSONCodec{}.Encode(c.v)
		if !errors.Is(err, durable.ErrInvalidInput) || !strings.Contains(err.Error(), "the string at "+c.path+" ") {
			t.Errorf("Encode(%#v): want an error naming %s, got %v", c.v, c.path, err)
		}
	}
	// A MarshalJSON deep inside a value writes its bytes as they are.
	type event struct {
		At      time.Time
		Payload []json.RawMessage
	}
	_, err := durable.JSONCodec{}.Encode(event{Payload: []json.RawMessage{[]byte(`"` + invalidUTF8 + `"`)}})
	if !errors.Is(err, durable.ErrInvalidInput) || !strings.Contains(err.Error(), "MarshalJSON") {
		t.Errorf("RawMessage with invalid UTF-8 in a field: got %v", err)
	}
	if _, err := (durable.JSONCodec{}).Encode(event{At: time.Now(), Payload: []json.RawMessage{[]byte(`"ok"`)}}); err != nil {
		t.Errorf("valid event: %v", err)
	}
	if b, err := (durable.JSONCodec{}).Encode("\uFFFD"); err != nil || string(b) != "\"\uFFFD\"" {
		t.Errorf("U+FFFD: got %q %v", b, err)
	}
}

// TestSleepingKeyMustBeText checks that a sleeping key that is not valid
// UTF-8 or holds a NUL byte is refused on every store (PostgreSQL's text
// columns cannot hold it).
func TestSleepingKeyMustBeText(t *testing.T) {
	t.Parallel()
	b := setup(t, durable.Config{})
	nap := durable.Must(durable.NewSleepingTask[int](b.ex, "nap_key"))
	for _, key := range []string{invalidUTF8, "a\x00b"} {
		_, err := nap.Enqueue(b.ctx, key)
		wantRefused(t, err, "nap_key", "sleeping key", "valid UTF-8 without NUL")
		_, err = nap.Wake(b.ctx, key, durable.Completed(1))
		wantRefused(t, err, "nap_key", "sleeping key")
	}
	if _, err := nap.Enqueue(b.ctx, "zoë:\uFFFD"); err != nil {
		t.Fatal(err)
	}
}
