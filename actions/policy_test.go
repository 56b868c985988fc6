package actions

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestScheduler_BackoffPastAnHour: a backoff longer than the hour that
// caps the doubling is the first retry's delay as written (±20%), not cut
// to the cap: backoff = "3h" waits about three hours.
func TestScheduler_BackoffPastAnHour(t *testing.T) {
	a := execAction("h", "a", "false")
	a.Retries = 2
	a.Backoff = 3 * time.Hour
	h := newHarness(t, a)
	ev := h.ingest("h", `{}`)
	j := h.waitState(ev, store.Failed)
	runs, err := h.st.Runs(j.ID)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %v, %v; want one", runs, err)
	}
	if wait := j.NextAt.Sub(runs[0].Finished); wait < a.Backoff*8/10 || wait > a.Backoff*12/10+time.Second {
		t.Errorf("backoff = 3h: first retry %v after the failure; want 3h ±20%%", wait.Round(time.Second))
	}
}

// TestBackoff_LongBase: a base past MaxBackoff is every retry's delay,
// within the jitter below it; one of centuries is a year, never a wrapped
// (negative) Duration that would retry at once.
func TestBackoff_LongBase(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ base, want time.Duration }{
		{3 * time.Hour, 3 * time.Hour},
		{250 * 365 * 24 * time.Hour, maxDelay},
	} {
		for n := 1; n <= 40; n++ {
			if got := backoff(tc.base, n, rnd); got < tc.want*8/10 || got > tc.want {
				t.Fatalf("backoff(%v, %d) = %v; want within [%v, %v]", tc.base, n, got, tc.want*8/10, tc.want)
			}
		}
	}
}
