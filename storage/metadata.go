package storage

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// The limits of an execution's metadata (Execution.Metadata): at most
// MaxMetadataKeys keys, each 1..MaxMetadataKeyLen bytes of
// [A-Za-z0-9_.-], and at most MaxMetadataBytes bytes of keys and values
// together. A W3C traceparent (55 bytes) and a tracestate (at most 512)
// fit with room to spare.
const (
	MaxMetadataKeys   = 32
	MaxMetadataKeyLen = 128
	MaxMetadataBytes  = 4096
)

// ValidateMetadata rejects metadata no store can keep: too many keys, a
// key that is empty, too long or has a character outside [A-Za-z0-9_.-],
// a value that is not valid UTF-8 or holds a NUL (PostgreSQL's text
// refuses both), or keys and values over MaxMetadataBytes in all. The
// error names the key at fault.
func ValidateMetadata(m map[string]string) error {
	if len(m) > MaxMetadataKeys {
		return fmt.Errorf("metadata has %d keys: at most %d allowed", len(m), MaxMetadataKeys)
	}
	size := 0
	for _, k := range sortedKeys(m) {
		v := m[k]
		if err := validMetadataKey(k); err != nil {
			return err
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("metadata %q: value not valid UTF-8", k)
		}
		for i := 0; i < len(v); i++ {
			if v[i] == 0 {
				return fmt.Errorf("metadata %q: value holds a NUL byte", k)
			}
		}
		size += len(k) + len(v)
	}
	if size > MaxMetadataBytes {
		return fmt.Errorf("metadata is %d bytes of keys and values: at most %d allowed", size, MaxMetadataBytes)
	}
	return nil
}

func validMetadataKey(k string) error {
	if k == "" || len(k) > MaxMetadataKeyLen {
		return fmt.Errorf("metadata key %q: must be 1..%d bytes", k, MaxMetadataKeyLen)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("metadata key %q: only [A-Za-z0-9_.-] allowed", k)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// EncodeMetadata is the stored form of metadata the SQL stores share: a
// JSON object, its keys sorted; nil (SQL NULL) for none (nil or empty).
// Valid metadata (ValidateMetadata) round-trips exactly through
// DecodeMetadata.
func EncodeMetadata(m map[string]string) (*string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	if s, ok := encodePlainMetadata(m); ok {
		return &s, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// encodePlainMetadata writes m as encoding/json would when no key or
// value needs an escape (see plainJSON); ok is false otherwise. An
// enqueue with a trace context encodes one such map per row.
func encodePlainMetadata(m map[string]string) (string, bool) {
	var one [1]string
	keys := one[:0]
	size := 2
	for k, v := range m {
		if !plainJSON(k) || !plainJSON(v) {
			return "", false
		}
		keys = append(keys, k)
		size += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(k)
		b.WriteString(`":"`)
		b.WriteString(m[k])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String(), true
}

// plainJSON reports whether encoding/json writes s between quotes as it
// is: printable ASCII other than the quote, the backslash and the three
// characters it escapes for HTML (<, > and &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// DecodeMetadata reads what EncodeMetadata wrote; nil (SQL NULL) and ""
// decode to nil. It is called for every row a store reads, so the common
// form (a flat object whose strings hold no escape) is parsed by hand,
// without encoding/json's reflection; anything else goes through
// encoding/json, whose result it is (FuzzDecodeMetadata).
func DecodeMetadata(s *string) (map[string]string, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	m, ok := decodePlainMetadata(*s)
	if !ok {
		m = nil
		if err := json.Unmarshal([]byte(*s), &m); err != nil {
			return nil, fmt.Errorf("decode metadata: %w", err)
		}
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// MetadataDecoder decodes the metadata of the rows of one read
// (DecodeMetadata), and gives consecutive rows whose stored metadata is
// the same one map between them: the rows of one enqueue carry the same
// trace context, and a claim of a few hundred of them would otherwise
// make as many equal maps. The metadata of a stored execution is read,
// never written (Execution.Metadata), so rows may share it. The zero
// value is ready; it is not safe for concurrent use.
type MetadataDecoder struct {
	last string
	m    map[string]string
}

// Decode returns the metadata stored as s (nil for SQL NULL), the map of
// the previous call when s is the same.
func (d *MetadataDecoder) Decode(s *string) (map[string]string, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	if d.m != nil && *s == d.last {
		return d.m, nil
	}
	m, err := DecodeMetadata(s)
	if err != nil {
		return nil, err
	}
	d.last, d.m = *s, m
	return m, nil
}

// decodePlainMetadata parses s when it is a JSON object of strings with
// no backslash, no control character and valid UTF-8 in them (what
// EncodeMetadata writes for valid metadata, and MySQL's JSON column
// returns with spaces added); ok is false for anything else.
func decodePlainMetadata(s string) (m map[string]string, ok bool) {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return nil, false
	}
	i = skipSpace(s, i+1)
	m = make(map[string]string, 2)
	if i < len(s) && s[i] == '}' {
		return m, skipSpace(s, i+1) == len(s)
	}
	for {
		var k, v string
		if k, i, ok = plainString(s, i); !ok {
			return nil, false
		}
		if i = skipSpace(s, i); i >= len(s) || s[i] != ':' {
			return nil, false
		}
		if v, i, ok = plainString(s, skipSpace(s, i+1)); !ok {
			return nil, false
		}
		m[k] = v
		i = skipSpace(s, i)
		switch {
		case i < len(s) && s[i] == ',':
			i = skipSpace(s, i+1)
		case i < len(s) && s[i] == '}':
			return m, skipSpace(s, i+1) == len(s)
		default:
			return nil, false
		}
	}
}

// plainString reads the JSON string at s[i:] if it holds no backslash or
// control character and is valid UTF-8, returning it and the index after
// its closing quote.
func plainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			v := s[i+1 : j]
			return v, j + 1, utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}
