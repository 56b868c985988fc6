package listener

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter holds a token bucket per client (burst: twice the rate). A client
// is an IPv4 address or an IPv6 /64: one host usually holds a whole /64, and
// buckets per IPv6 address would let it take a fresh one for every request.
//
// A bucket unused long enough to have refilled is dropped, which changes
// nothing for its client. The map is also capped at maxBuckets, so a flood
// from many addresses cannot grow it without bound: past the cap, an
// arbitrary bucket makes room for the new one.
//
// A bucket remembers when its client was last refused, so that a client
// which goes on sending while it is limited is logged once, not at every
// request: its refusals are one spell until it goes as long as its bucket
// takes to fill (burst/rate: about 2 s) without one. (A client
// that sends faster than the rate is served a token at a time among its
// refusals: that does not end the spell.)
type limiter struct {
	mu      sync.Mutex
	now     func() time.Time
	rate    float64
	burst   int
	idle    time.Duration // a bucket unused this long is full again
	fill    time.Duration // how long an empty bucket takes to fill
	buckets map[netip.Prefix]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
	// refused is when the client was last refused, in Unix nanoseconds
	// (0: never; not a time.Time, which would make the bucket larger).
	refused int64
}

// maxBuckets bounds the limiter's memory (a bucket is about 200 bytes).
const maxBuckets = 100_000

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, buckets: map[netip.Prefix]*bucket{}}
}

func (l *limiter) setRate(r float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r != l.rate {
		l.rate = r
		l.burst = max(1, int(2*r))
		l.idle = time.Minute
		if r > 0 {
			l.fill = time.Duration(float64(l.burst) / r * float64(time.Second))
			l.idle = max(time.Minute, l.fill)
		}
		l.buckets = map[netip.Prefix]*bucket{}
	}
}

// clientKey is the bucket a client address draws from.
func clientKey(a netip.Addr) netip.Prefix {
	bits := a.BitLen()
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// allow takes a token for addr. When there is none, it says how long until
// there will be, and whether this refusal begins a spell (none for as
// long as the bucket takes to fill, or none since the bucket was made):
// the one worth a log line.
func (l *limiter) allow(addr netip.Addr) (wait time.Duration, ok, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate <= 0 {
		return 0, true, false
	}
	now := l.now()
	if now.Sub(l.swept) > l.idle || (len(l.buckets) >= maxBuckets && now.Sub(l.swept) > time.Second) {
		for k, b := range l.buckets {
			if now.Sub(b.seen) >= l.idle {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	key := clientKey(addr)
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			for k := range l.buckets {
				delete(l.buckets, k)
				break
			}
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.rate), l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		first = b.refused == 0 || now.UnixNano()-b.refused >= int64(l.fill)
		b.refused = now.UnixNano()
		return d, false, first
	}
	return 0, true, false
}
