package actions

import (
	"fmt"
	"time"
)

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
			s.clockBack(back, fmt.Sprintf("the clock was stepped back by %s", back.Round(time.Millisecond)))
		}
	}
	s.lastWall, s.lastMono = wall, mono
}

// clockBack makes the queued jobs that a clock running ahead put in the
// future due as they were meant to be (store.ClockBack); back is the step
// when it is known (0 at start), seen says what made it look.
func (s *Scheduler) clockBack(back time.Duration, seen string) {
	n, err := s.st.ClockBack(s.runCtx, back)
	switch {
	case err != nil && s.runCtx.Err() != nil:
		// Stopping: the next start looks again.
		s.log.Debug("bring due times back after the clock was stepped back: stopped", "err", err)
	case err != nil:
		s.log.Error("bring due times back after the clock was stepped back", "err", err)
	case n > 0:
		s.log.Warn(seen+"; jobs queued or failed while it ran ahead are made due as they were meant to be", "jobs", n)
	}
}
