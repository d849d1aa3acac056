package durable

import (
	"encoding/json"
	"reflect"
	"testing"
)

// fuzzInput is an input type with the shapes JSON decoding treats apart:
// a nested struct, a pointer, a slice, a map, a number and a raw value.
type fuzzInput struct {
	Name  string            `json:"name"`
	N     int8              `json:"n"`
	F     float64           `json:"f"`
	P     *bool             `json:"p"`
	List  []string          `json:"list"`
	Map   map[string]int    `json:"map"`
	Inner struct{ A []int } `json:"inner"`
	Raw   json.RawMessage   `json:"raw"`
}

// FuzzDecodeJSONInput checks decodeJSONInput's fast path (json.Unmarshal)
// against decodeInputStrictly (a json.Decoder that wants one value): the
// same inputs are accepted with the same values, the same refused with the
// same errors.
func FuzzDecodeJSONInput(f *testing.F) {
	for _, s := range []string{`{"name":"a","n":1}`, `  {"list":["x"],"map":{"k":2}} `, `{"n":300}`, `{"n":"1"}`,
		`{"inner":{"A":[1,2]}}`, `{"raw":[1,{"b":null}]}`, `null`, `1 2`, `{} {}`, `{"p":true}x`, `[1]`, `"s"`,
		`{"f":1e400}`, `{"name":"\ud800"}`, `{"NAME":"case"}`, `{"name":1,"name":"b"}`, ``, `{`} {
		f.Add([]byte(s))
	}
	types := []reflect.Type{reflect.TypeFor[fuzzInput](), reflect.TypeFor[any](), reflect.TypeFor[[]int](),
		reflect.TypeFor[int](), reflect.TypeFor[json.RawMessage]()}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, typ := range types {
			d := &taskDef{id: "fuzz", inType: typ}
			in, err := checkedInput(d, b)
			if err != nil {
				continue
			}
			got, gotErr := decodeJSONInput(d, in)
			want, wantErr := decodeInputStrictly(d, in)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%s %q: decodeJSONInput error %v, the decoder's %v", typ, in, gotErr, wantErr)
			}
			if gotErr != nil {
				if gotErr.Error() != wantErr.Error() {
					t.Fatalf("%s %q: errors differ: %v and %v", typ, in, gotErr, wantErr)
				}
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s %q: decodeJSONInput gives %#v, the decoder %#v", typ, in, got, want)
			}
		}
	})
}
