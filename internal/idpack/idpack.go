// Package idpack packs lists of execution ids compactly, for the events
// tables of the SQL stores that have one (SQLite, MySQL).
package idpack

import (
	"encoding/binary"
	"errors"
)

// Append appends ids to b, packed: each id as the length of the prefix
// it shares with the previous one, the length of the rest, and the rest
// (uvarints and bytes). Ids of one batch are mostly ULIDs made in order by
// one executor, which share all but their last characters: a finished
// id then takes 3 to 5 bytes instead of about 30.
func Append(b []byte, ids []string) []byte {
	prev := ""
	for _, id := range ids {
		n := 0
		for n < len(prev) && n < len(id) && prev[n] == id[n] {
			n++
		}
		b = binary.AppendUvarint(b, uint64(n))
		b = binary.AppendUvarint(b, uint64(len(id)-n))
		b = append(b, id[n:]...)
		prev = id
	}
	return b
}

// ErrMalformed is returned by Unpack for bytes Append did not write.
var ErrMalformed = errors.New("malformed packed ids")

// Unpack appends the ids packed in b to out.
func Unpack(out []string, b []byte) ([]string, error) {
	prev := ""
	for len(b) > 0 {
		shared, n := binary.Uvarint(b)
		if n <= 0 {
			return out, ErrMalformed
		}
		b = b[n:]
		rest, n := binary.Uvarint(b)
		if n <= 0 || shared > uint64(len(prev)) || rest > uint64(len(b)-n) {
			return out, ErrMalformed
		}
		b = b[n:]
		id := prev[:shared] + string(b[:rest])
		b = b[rest:]
		out = append(out, id)
		prev = id
	}
	return out, nil
}
