package store

import (
	"sync"
	"time"
)

// crockford is Crockford's base32 alphabet. It is in ascending ASCII order,
// so encoded ids sort as their numbers do.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idLen is the length of an encoded id: 80 bits in 16 characters.
const idLen = 16

// idGen makes ids from a 48-bit millisecond timestamp and a 32-bit counter.
// Ids it makes are strictly increasing, even when the clock steps back.
type idGen struct {
	mu  sync.Mutex
	ms  uint64
	seq uint64
}

// observe makes the generator's next id greater than id.
func (g *idGen) observe(id string) {
	ms, seq, ok := decodeID(id)
	if !ok {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if ms > g.ms || (ms == g.ms && seq >= g.seq) {
		g.ms, g.seq = ms, seq+1
	}
}

func (g *idGen) next(now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	ms := uint64(now.UnixMilli())
	if ms > g.ms {
		g.ms, g.seq = ms, 0
	}
	if g.seq > 0xFFFFFFFF {
		g.ms++
		g.seq = 0
	}
	id := encodeID(g.ms, g.seq)
	g.seq++
	return id
}

func encodeID(ms, seq uint64) string {
	var b [idLen]byte
	// 80 bits: ms in the high 48, seq in the low 32.
	hi := ms >> 32                // top 16 bits of ms
	lo := ms<<32 | seq&0xFFFFFFFF // low 32 bits of ms, then seq
	for i := idLen - 1; i >= 0; i-- {
		b[i] = crockford[lo&31]
		lo = lo>>5 | (hi&31)<<59
		hi >>= 5
	}
	return string(b[:])
}

func decodeID(id string) (ms, seq uint64, ok bool) {
	if len(id) != idLen {
		return 0, 0, false
	}
	var hi, lo uint64
	for i := 0; i < idLen; i++ {
		v := indexCrockford(id[i])
		if v < 0 {
			return 0, 0, false
		}
		hi = hi<<5 | lo>>59
		lo = lo<<5 | uint64(v)
	}
	return hi<<32 | lo>>32, lo & 0xFFFFFFFF, true
}

func indexCrockford(c byte) int {
	for i := 0; i < len(crockford); i++ {
		if crockford[i] == c {
			return i
		}
	}
	return -1
}

// ValidID reports whether s has the form of an event or job id.
func ValidID(s string) bool {
	_, _, ok := decodeID(s)
	return ok
}

// IDTime returns the time encoded in an id.
func IDTime(id string) time.Time {
	ms, _, ok := decodeID(id)
	if !ok {
		return time.Time{}
	}
	return time.UnixMilli(int64(ms))
}
