package actions

import (
	"math/rand/v2"
	"time"
)

// MaxBackoff caps the delay before a retry.
const MaxBackoff = time.Hour

// backoff is the delay before retry n (1 for the first): base doubled for
// each earlier retry, within ±20% jitter, capped at MaxBackoff.
func backoff(base time.Duration, n int, rnd *rand.Rand) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	d := base
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	if d > MaxBackoff {
		d = MaxBackoff
	}
	jitter := 0.8 + 0.4*rnd.Float64()
	d = time.Duration(float64(d) * jitter)
	return min(d, MaxBackoff)
}
