// Package loglimit limits the log lines that clients can cause (a refused
// request, a wrong login), so that a flood of them cannot fill the disk
// with log: a few at once, then a steady trickle, and the next line logged
// says how many were left out.
package loglimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Burst and PerSecond are the limit webhookd's listeners use: 20 lines at
// once, then one a second.
const (
	Burst     = 20
	PerSecond = 1
)

// Limiter decides which of a kind of log line are written. Its methods are
// safe for concurrent use.
type Limiter struct {
	now     func() time.Time
	mu      sync.Mutex
	lim     *rate.Limiter
	skipped int
}

// New makes a Limiter of Burst lines at once and PerSecond after that, on
// the clock now (nil: time.Now).
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, lim: rate.NewLimiter(PerSecond, Burst)}
}

// Allow reports whether to write a line now and, when it is, how many
// lines were left out since the last one written (to be logged with it as
// not_logged).
func (l *Limiter) Allow() (ok bool, skipped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lim.AllowN(l.now(), 1) {
		l.skipped++
		return false, 0
	}
	skipped, l.skipped = l.skipped, 0
	return true, skipped
}

// Attrs returns attrs with not_logged = skipped added when some were.
func Attrs(attrs []any, skipped int) []any {
	if skipped > 0 {
		return append(attrs, "not_logged", skipped)
	}
	return attrs
}
