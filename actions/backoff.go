package actions

import (
	"math/rand/v2"
	"time"
)

// MaxBackoff caps the doubling of the delay before a retry.
const MaxBackoff = time.Hour

// maxDelay bounds a backoff longer than MaxBackoff: a retry's due time
// stays a date the store can index (UnixNano ends in 2262).
const maxDelay = 365 * 24 * time.Hour

// backoff is the delay before retry n (1 for the first): base doubled for
// each earlier retry, within ±20% jitter, capped at MaxBackoff. A base
// longer than MaxBackoff is its own cap: the first retry waits as long as
// the config says, and so does every one after it (up to a year).
func backoff(base time.Duration, n int, rnd *rand.Rand) time.Duration {
	if base <= 0 {
		base = time.Second
	}
	limit := min(max(base, MaxBackoff), maxDelay)
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	jitter := 0.8 + 0.4*rnd.Float64()
	d = time.Duration(float64(d) * jitter)
	return min(d, limit)
}
