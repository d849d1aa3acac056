package durable

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"sync"

	"github.com/durable-go/durable/clock"
)

// Crockford's base32 alphabet: no I, L, O, U.
const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

// idGen makes execution ids: "te_" + 10 characters of milliseconds since the
// epoch + 16 characters of an 80-bit number, random for the first id of
// each millisecond and one more than the previous id's for the others (as
// ULIDs in monotonic mode). One executor's ids therefore strictly increase,
// even if the clock steps back, and sort by creation time across
// executors. Strictly increasing keys are inserted at the right edge of
// the SQL stores' primary-key index, where PostgreSQL skips the descent
// from the root; random ones land anywhere in it.
type idGen struct {
	mu     sync.Mutex
	clock  clock.Clock
	rnd    *rand.ChaCha8
	lastMS uint64
	hi     uint64 // the top 16 bits of the 80-bit number
	lo     uint64 // its low 64 bits
}

func cryptoSeed() [2]uint64 {
	var b [16]byte
	_, _ = crand.Read(b[:]) // never fails (crypto/rand panics internally if it cannot read)
	return [2]uint64{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

func newIDGen(c clock.Clock, seed [2]uint64) *idGen {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:8], seed[0])
	binary.LittleEndian.PutUint64(s[8:16], seed[1])
	return &idGen{clock: c, rnd: rand.NewChaCha8(s)}
}

func (g *idGen) execution() string {
	ms := uint64(g.clock.Now().UnixMilli())
	g.mu.Lock()
	ms, hi, lo := g.nextLocked(ms)
	g.mu.Unlock()
	var buf [29]byte
	copy(buf[:], "te_")
	for i := range 10 {
		buf[3+i] = idAlphabet[(ms>>(uint(9-i)*5))&31]
	}
	// 80 bits, most significant first: 16 bits of hi, then lo.
	for i := range 16 {
		shift := uint(15-i) * 5 // bit offset of this character in the 80-bit number
		var v uint64
		switch {
		case shift >= 64:
			v = hi >> (shift - 64)
		case shift+5 > 64:
			v = lo>>shift | hi<<(64-shift)
		default:
			v = lo >> shift
		}
		buf[13+i] = idAlphabet[v&31]
	}
	return string(buf[:])
}

// executions returns n new execution ids, in increasing order.
func (g *idGen) executions(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = g.execution()
	}
	return ids
}

// nextLocked returns the millisecond and 80-bit number of the next id:
// a new random number in a later millisecond, else the previous number
// plus one (past the largest number, the next millisecond). g.mu must be
// held.
func (g *idGen) nextLocked(ms uint64) (uint64, uint64, uint64) {
	if ms > g.lastMS {
		g.lastMS, g.hi, g.lo = ms, g.rnd.Uint64()&0xffff, g.rnd.Uint64()
		return g.lastMS, g.hi, g.lo
	}
	g.lo++
	if g.lo == 0 {
		g.hi = (g.hi + 1) & 0xffff
		if g.hi == 0 {
			g.lastMS++
			g.hi, g.lo = g.rnd.Uint64()&0xffff, g.rnd.Uint64()
		}
	}
	return g.lastMS, g.hi, g.lo
}

func (g *idGen) random(n int) string {
	return string(g.appendRandom(make([]byte, 0, n), n))
}

func (g *idGen) appendRandom(buf []byte, n int) []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	var r uint64
	for i := range n {
		if i%12 == 0 {
			r = g.rnd.Uint64()
		}
		buf = append(buf, idAlphabet[r&31])
		r >>= 5
	}
	return buf
}
