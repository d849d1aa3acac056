package storage

import (
	"encoding/json"
	"maps"
	"reflect"
	"testing"
)

// metadataSeeds are stored forms DecodeMetadata meets: EncodeMetadata's,
// MySQL's JSON column's (spaces added), and some that only encoding/json
// reads (escapes, non-ASCII written as \u escapes, invalid input).
var metadataSeeds = []string{
	`{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}`,
	`{"a": "b", "c.d": "e f"}`,
	`{}`, ` { } `, `null`, `{"a":"x\"y"}`, `{"a":"\u003cb\u003e"}`, `{"a":"é"}`,
	`{"a":"b",}`, `{"a":"b"} x`, `{"a":1}`, `{"a":"b","a":"c"}`, `{"a":"` + "\xff" + `"}`,
	`{"a":"` + "\t" + `"}`, `[]`, `{"a"`, `{"a":`, `{"a":"b"`,
}

// FuzzDecodeMetadata checks that DecodeMetadata's hand parser agrees with
// encoding/json: what it accepts, encoding/json decodes to the same map,
// and what encoding/json rejects, DecodeMetadata rejects too.
func FuzzDecodeMetadata(f *testing.F) {
	for _, s := range metadataSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want map[string]string
		jsonErr := json.Unmarshal([]byte(s), &want)
		if fast, ok := decodePlainMetadata(s); ok {
			if jsonErr != nil {
				t.Fatalf("%q: the hand parser read %v, encoding/json fails: %v", s, fast, jsonErr)
			}
			if !maps.Equal(fast, want) {
				t.Fatalf("%q: the hand parser read %v, encoding/json %v", s, fast, want)
			}
		}
		got, err := DecodeMetadata(&s)
		if s == "" {
			return
		}
		if (err != nil) != (jsonErr != nil) {
			t.Fatalf("%q: DecodeMetadata error %v, encoding/json's %v", s, err, jsonErr)
		}
		if err == nil && len(want) > 0 && !maps.Equal(got, want) {
			t.Fatalf("%q: DecodeMetadata read %v, encoding/json %v", s, got, want)
		}
	})
}

// TestMetadataRoundTrip checks that valid metadata, with characters
// encoding/json escapes, comes back exactly, by either path.
func TestMetadataRoundTrip(t *testing.T) {
	for _, m := range []map[string]string{
		{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate": "k=v"},
		{"a": `quote " backslash \ tab ` + "\t" + ` <html> & é ` + "\u2028"},
		{"empty": ""},
	} {
		if err := ValidateMetadata(m); err != nil {
			t.Fatal(err)
		}
		s, err := EncodeMetadata(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeMetadata(s)
		if err != nil || !maps.Equal(got, m) {
			t.Fatalf("%v: stored as %s, read back %v, %v", m, *s, got, err)
		}
	}
}

// FuzzEncodeMetadata checks that EncodeMetadata writes what
// encoding/json writes, for maps of one or two entries.
func FuzzEncodeMetadata(f *testing.F) {
	f.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tracestate", "k=v")
	f.Add("a", `x"y`, "b", "<&>")
	f.Add("a", "é\t", "", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m := map[string]string{k1: v1}
		if k2 != "" {
			m[k2] = v2
		}
		want, err := json.Marshal(m)
		if err != nil {
			t.Skip()
		}
		got, err := EncodeMetadata(m)
		if err != nil || *got != string(want) {
			t.Fatalf("%v: EncodeMetadata wrote %v (%v), encoding/json %s", m, got, err, want)
		}
	})
}

func BenchmarkEncodeMetadata(b *testing.B) {
	m := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeMetadata(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMetadata(b *testing.B) {
	s := metadataSeeds[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeMetadata(&s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMetadataDecoderSharesEqualMetadata(t *testing.T) {
	var d MetadataDecoder
	a := `{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}`
	b := `{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"}`
	decode := func(s *string) map[string]string {
		t.Helper()
		m, err := d.Decode(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first, again := decode(&a), decode(&a)
	if first == nil || reflect.ValueOf(first).UnsafePointer() != reflect.ValueOf(again).UnsafePointer() {
		t.Fatalf("equal metadata of consecutive rows: two maps (%v, %v), want one", first, again)
	}
	other := decode(&b)
	if other["traceparent"] != b[16:71] || first["traceparent"] != a[16:71] {
		t.Fatalf("decoded %v after %v", other, first)
	}
	if m := decode(nil); m != nil {
		t.Fatalf("NULL decoded to %v", m)
	}
	bad := `{"traceparent":`
	if _, err := d.Decode(&bad); err == nil {
		t.Fatal("malformed metadata decoded without an error")
	}
}
