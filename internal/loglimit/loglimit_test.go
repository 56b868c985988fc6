package loglimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(func() time.Time { return now })
	for i := range Burst {
		if ok, skipped := l.Allow(); !ok || skipped != 0 {
			t.Fatalf("line %d of the burst: Allow() = %v, %d; want true, 0", i+1, ok, skipped)
		}
	}
	for range 7 {
		if ok, _ := l.Allow(); ok {
			t.Fatalf("a line past the burst, at the same instant, allowed")
		}
	}
	now = now.Add(time.Second / PerSecond)
	if ok, skipped := l.Allow(); !ok || skipped != 7 {
		t.Errorf("Allow() a second later = %v, %d; want true, 7 left out", ok, skipped)
	}
	if ok, _ := l.Allow(); ok {
		t.Errorf("a second line in that second allowed")
	}
	now = now.Add(time.Hour)
	for i := range Burst {
		ok, skipped := l.Allow()
		if !ok || (i == 0) != (skipped == 1) {
			t.Fatalf("line %d after an hour: Allow() = %v, %d; want the burst again, the first with 1 left out", i+1, ok, skipped)
		}
	}
}
