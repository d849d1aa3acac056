package durable

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Codec encodes task inputs and outputs for storage. The default is JSON.
// A codec must round-trip every type used as an input or output, including
// the engine's own wrappers (ParentOutput, FinalizeInput, LoopOutput) whose
// child results are carried as Raw values.
//
// The engine stores what Encode returns and refuses what Encode refuses:
// an input that a codec cannot encode fails Enqueue (and a child or an
// output that it cannot encode fails the run) with an error naming the
// task. Whether a value round-trips is the codec's business: JSONCodec
// refuses the values encoding/json would change or could not decode (see
// JSONCodec); a codec of your own decides for its own format.
type Codec interface {
	Encode(v any) ([]byte, error)
	Decode(data []byte, v any) error
}

// JSONCodec encodes with encoding/json.
//
// Encode refuses, with an error wrapping ErrInvalidInput, the values that
// encoding/json would not store exactly or could not decode again:
//   - a string (a field, a map key, an element, the text of a
//     TextMarshaler) that is not valid UTF-8: encoding/json would replace
//     its invalid bytes with U+FFFD without an error. The error names where
//     the string is (".Items[2].Name"). A []byte is encoded in base64 and
//     may hold any bytes;
//   - an encoding that is not valid UTF-8 (a MarshalJSON or a
//     json.RawMessage that wrote invalid bytes: decoding would replace them);
//   - nesting (of arrays and objects) deeper than 10,000 levels, which
//     encoding/json's decoder refuses.
//
// The checks cost a scan of the encoding for the escape \ufffd, and a
// UTF-8 check of it for the types that hold a MarshalJSON (other than
// time.Time's) or an interface. The value is walked only when the escape
// is present, and the nesting is measured only when the encoding holds
// more than 10,000 opening brackets (counted only in encodings of at least
// 20,002 bytes, what 10,001 levels need).
type JSONCodec struct{}

// maxJSONDepth is the deepest nesting encoding/json decodes.
const maxJSONDepth = 10000

// replacementEscape is how encoding/json writes a byte that is not valid
// UTF-8 in a string. It writes a genuine U+FFFD unescaped, so the escape
// appears in an encoding only for invalid bytes, or inside a value of a
// MarshalJSON, or in a string holding the six characters themselves.
var replacementEscape = []byte(`\ufffd`)

// Encode implements Codec.
func (JSONCodec) Encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if err := checkJSON(b, v); err != nil {
		return nil, err
	}
	return b, nil
}

// checkJSON reports the ways in which b, the encoding of v, would not
// decode back to v.
func checkJSON(b []byte, v any) error {
	if bytes.Contains(b, replacementEscape) {
		if path, ok := invalidUTF8(reflect.ValueOf(v), 0); ok {
			if path == "" {
				path = "(the value itself)"
			}
			return fmt.Errorf("%w: the string at %s is not valid UTF-8 (encoding/json would replace its invalid bytes with U+FFFD); use a []byte for binary data",
				ErrInvalidInput, path)
		}
	}
	if mayWriteRaw(reflect.TypeOf(v)) && !utf8.Valid(b) {
		return fmt.Errorf("%w: the encoding is not valid UTF-8 (a MarshalJSON or json.RawMessage wrote invalid bytes, which decoding would replace with U+FFFD)", ErrInvalidInput)
	}
	if len(b) >= 2*(maxJSONDepth+1) && bytes.Count(b, []byte{'['})+bytes.Count(b, []byte{'{'}) > maxJSONDepth {
		if d := jsonDepth(b); d > maxJSONDepth {
			return fmt.Errorf("%w: nested more than %d levels deep (arrays and objects), which encoding/json cannot decode",
				ErrInvalidInput, maxJSONDepth)
		}
	}
	return nil
}

// jsonDepth returns the nesting depth of the JSON text b, or maxJSONDepth+1
// as soon as it is deeper than maxJSONDepth.
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > maxJSONDepth {
					return deepest
				}
			}
		case ']', '}':
			depth--
		}
	}
	return deepest
}

// rawWriters caches, per type, mayWriteRaw's answer.
var rawWriters sync.Map // reflect.Type -> bool

// mayWriteRaw reports whether an encoding of a t may hold bytes that
// encoding/json did not write itself: whether a MarshalJSON (other than
// time.Time's) may be called, on t or on anything t holds, or an interface
// may hold one. encoding/json writes every string itself, valid UTF-8 with
// invalid bytes escaped, so the encoding of any other type is valid UTF-8.
func mayWriteRaw(t reflect.Type) bool {
	if t == nil {
		return false
	}
	if r, ok := rawWriters.Load(t); ok {
		return r.(bool)
	}
	r := writesRaw(t, map[reflect.Type]bool{})
	rawWriters.Store(t, r)
	return r
}

func writesRaw(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: answered where it was first met
	}
	seen[t] = true
	switch {
	case t == timeType:
		return false
	case t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler):
		return true
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return writesRaw(t.Elem(), seen)
	case reflect.Map:
		return writesRaw(t.Key(), seen) || writesRaw(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if writesRaw(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	execErrorType = reflect.TypeFor[ExecutionError]()
)

// invalidUTF8 looks, as encoding/json encodes v, for a string that is not
// valid UTF-8 and returns where it is (`.Field[3]["key"]`). A MarshalJSON
// is the type's own business and is not looked into, nor are error
// messages (ExecutionError), which are diagnostics rather than data.
func invalidUTF8(v reflect.Value, depth int) (string, bool) {
	if !v.IsValid() || depth > maxJSONDepth {
		return "", false
	}
	t := v.Type()
	if t == execErrorType || t.Implements(jsonMarshaler) || v.CanAddr() && reflect.PointerTo(t).Implements(jsonMarshaler) {
		return "", false
	}
	if v.CanInterface() {
		var tm encoding.TextMarshaler
		switch {
		case t.Implements(textMarshaler):
			if t.Kind() == reflect.Pointer && v.IsNil() {
				return "", false
			}
			tm = v.Interface().(encoding.TextMarshaler)
		case v.CanAddr() && reflect.PointerTo(t).Implements(textMarshaler):
			tm = v.Addr().Interface().(encoding.TextMarshaler)
		}
		if tm != nil {
			text, err := tm.MarshalText()
			return "", err == nil && !utf8.Valid(text)
		}
	}
	switch t.Kind() {
	case reflect.String:
		return "", !utf8.ValidString(v.String())
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		return invalidUTF8(v.Elem(), depth+1)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Tag.Get("json") == "-" {
				continue
			}
			if !f.IsExported() {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !f.Anonymous || ft.Kind() != reflect.Struct {
					continue
				}
			}
			if path, ok := invalidUTF8(v.Field(i), depth+1); ok {
				if f.Anonymous {
					return path, true
				}
				return "." + f.Name + path, true
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			k, name := it.Key(), mapKeyName(it.Key())
			if k.Kind() == reflect.String && !utf8.ValidString(k.String()) {
				return "[key " + name + "]", true
			}
			if k.Kind() != reflect.String {
				if _, ok := invalidUTF8(k, depth+1); ok {
					return "[key " + name + "]", true
				}
			}
			if path, ok := invalidUTF8(it.Value(), depth+1); ok {
				return "[" + name + "]" + path, true
			}
		}
	case reflect.Slice:
		if p := reflect.PointerTo(t.Elem()); t.Elem().Kind() == reflect.Uint8 && !p.Implements(jsonMarshaler) && !p.Implements(textMarshaler) {
			return "", false // encoded in base64
		}
		fallthrough
	case reflect.Array:
		for i := range v.Len() {
			if path, ok := invalidUTF8(v.Index(i), depth+1); ok {
				return "[" + strconv.Itoa(i) + "]" + path, true
			}
		}
	}
	return "", false
}

// mapKeyName names a map key in a path.
func mapKeyName(k reflect.Value) string {
	switch k.Kind() {
	case reflect.String:
		return strconv.QuoteToASCII(k.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10)
	}
	return k.Type().String()
}

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
