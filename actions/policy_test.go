package actions

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// TestScheduler_BusyActionLeavesRunsToOthers: when every run the scheduler
// may have at once (MaxRuns) is taken by one action's backlog, a run that
// ends does not hand its place straight to the next job of its own queue
// while another action has a job due: the other action's job starts
// before that backlog is through. (Each finish started its own queue's
// next job, so a deploy waited behind a relay's whole backlog.)
func TestScheduler_BusyActionLeavesRunsToOthers(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "run.sh", `echo "$1" >> `+logf+"\nsleep 0.2\n")
	busy := execAction("a", "relay", sh, "a{{ .payload.n }}")
	busy.Concurrency = 2
	other := execAction("b", "deploy", sh, "b")
	h := newStoppedHarness(t, store.Options{}, busy, other)
	h.s.opts.MaxRuns = 2
	for n := range 8 {
		h.ingest("a", fmt.Sprintf(`{"n":%d}`, n+1))
	}
	ev := h.ingest("b", `{}`)
	if err := h.s.Start(); err != nil {
		t.Fatal(err)
	}
	h.waitState(ev, store.Succeeded)
	b, _ := os.ReadFile(logf)
	starts := strings.Fields(string(b))
	i := slices.Index(starts, "b")
	if i < 0 || i > 3 {
		t.Errorf("starts %v: the other action's job started %dth; want among the first 4, not behind the busy action's backlog", starts, i+1)
	}
}
