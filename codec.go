package durable

import (
	"encoding/json"
	"fmt"
)

// Codec encodes task inputs and outputs for storage. The default is JSON.
// A codec must round-trip every type used as an input or output, including
// the engine's own wrappers (ParentOutput, FinalizeInput, LoopOutput) whose
// child results are carried as Raw values.
type Codec interface {
	Encode(v any) ([]byte, error)
	Decode(data []byte, v any) error
}

// JSONCodec encodes with encoding/json.
type JSONCodec struct{}

// Encode implements Codec.
func (JSONCodec) Encode(v any) ([]byte, error) { return json.Marshal(v) }

// Decode implements Codec.
func (JSONCodec) Decode(data []byte, v any) error { return json.Unmarshal(data, v) }

// Raw is an encoded value carried inside another value (a child's output
// inside a parent's output). With the JSON codec it is embedded verbatim.
type Raw []byte

// MarshalJSON embeds r verbatim (null when empty).
func (r Raw) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	if !json.Valid(r) {
		return nil, fmt.Errorf("durable: raw value is not JSON (use one codec for the whole executor)")
	}
	return r, nil
}

// UnmarshalJSON keeps a copy of data.
func (r *Raw) UnmarshalJSON(data []byte) error {
	*r = append((*r)[:0], data...)
	return nil
}
