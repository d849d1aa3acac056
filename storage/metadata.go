package storage

import (
	"encoding/json"
	"fmt"
	"sort"
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
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

// DecodeMetadata reads what EncodeMetadata wrote; nil (SQL NULL) and ""
// decode to nil.
func DecodeMetadata(s *string) (map[string]string, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(*s), &m); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}
