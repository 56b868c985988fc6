package actions

import (
	"time"
)

// maxRetryDelay is the furthest off a retry is ever made due: the longest
// Retry-After honoured, with an hour to spare. A retry due later than that
// was made due by a clock that ran ahead.
const maxRetryDelay = maxRetryAfter + time.Hour

// watchClock looks for the wall clock stepped back since the last dispatch
// pass (an NTP correction of a clock that ran ahead): the wall clock then
// moved on less than the monotonic one. Jobs queued while it was ahead are
// due at its time, and would wait out the step; they are brought back in
// line (clockBack). Called under dispatchMu.
func (s *Scheduler) watchClock(now time.Time) {
	mono := time.Now()
	wall := now.Round(0) // the wall reading only
	if !s.lastMono.IsZero() {
		if back := mono.Sub(s.lastMono) - wall.Sub(s.lastWall); back > time.Second {
			s.clockBack(now, back)
		}
	}
	s.lastWall, s.lastMono = wall, mono
}

// clockBack makes the queued jobs that the clock's step put in the future
// due as they were meant to be (store.ClockBack); back is the step, zero
// when it is not known (at start).
func (s *Scheduler) clockBack(now time.Time, back time.Duration) {
	n, err := s.st.ClockBack(s.runCtx, now, back, now.Add(maxRetryDelay))
	switch {
	case err != nil:
		s.log.Error("bring due times back after the clock was stepped back", "err", err)
	case n > 0 && back > 0:
		s.log.Warn("the clock was stepped back; queued jobs made due as before", "step", back.Round(time.Millisecond), "jobs", n)
	case n > 0:
		s.log.Warn("queued jobs were due at a time the clock has not reached (it ran ahead); made due now", "jobs", n)
	}
}
