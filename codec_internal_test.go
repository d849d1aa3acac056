package durable

import (
	"encoding/json"
	"strings"
	"testing"
)

type benchInput struct {
	ID, Customer, Email string
	Amount              int64
	Items               []string
	Note                string
}

// BenchmarkCheckJSON is what JSONCodec.Encode adds to json.Marshal: the
// checks of checkJSON on an encoding that passes them.
func BenchmarkCheckJSON(b *testing.B) {
	small := benchInput{ID: "ord_01HZX3", Customer: "Zoë Müller", Email: "zoe@example.com", Amount: 4999,
		Items: []string{"book", "pen", "café au lait"}, Note: "leave at the door"}
	big := small
	big.Note = strings.Repeat("0123456789abcdef", 4096)
	var brackets []any
	for range 12000 {
		brackets = append(brackets, []int{})
	}
	for _, c := range []struct {
		name string
		v    any
	}{
		{"Struct150B", small}, {"Struct64KiB", big}, {"Any150B", any(map[string]any{"id": small.ID, "items": small.Items, "note": small.Note})},
		{"12000FlatArrays", brackets},
	} {
		enc, err := json.Marshal(c.v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(enc)))
			for range b.N {
				if err := checkJSON(enc, c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
