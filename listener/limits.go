package listener

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter holds a token bucket per client address (burst: twice the rate).
// Buckets idle for a while are dropped, so the map stays small.
type limiter struct {
	mu      sync.Mutex
	now     func() time.Time
	rate    float64
	buckets map[netip.Addr]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{now: now, buckets: map[netip.Addr]*bucket{}}
}

func (l *limiter) setRate(r float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r != l.rate {
		l.rate = r
		l.buckets = map[netip.Addr]*bucket{}
	}
}

// allow takes a token for addr. When there is none, it says how long until
// there will be.
func (l *limiter) allow(addr netip.Addr) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rate <= 0 {
		return 0, true
	}
	now := l.now()
	if now.Sub(l.swept) > time.Minute {
		for a, b := range l.buckets {
			if now.Sub(b.seen) > time.Minute {
				delete(l.buckets, a)
			}
		}
		l.swept = now
	}
	b := l.buckets[addr]
	if b == nil {
		burst := max(1, int(2*l.rate))
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.rate), burst)}
		l.buckets[addr] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}
