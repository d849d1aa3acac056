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
// epoch + 16 random characters. Ids sort by creation time, which keeps SQL
// indexes append-mostly, and carry 80 random bits.
type idGen struct {
	mu    sync.Mutex
	clock clock.Clock
	rnd   *rand.ChaCha8
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
	buf := make([]byte, 0, 29)
	buf = append(buf, "te_"...)
	for i := 9; i >= 0; i-- {
		buf = append(buf, idAlphabet[(ms>>(uint(i)*5))&31])
	}
	return string(g.appendRandom(buf, 16))
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
