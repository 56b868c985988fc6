package actions

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// steppedClock is the real clock moved by an offset that a test steps,
// as NTP steps a wall clock: it runs at the real rate in between.
type steppedClock struct{ offset atomic.Int64 }

func (c *steppedClock) now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()))
}

// clockHarness is a store and a scheduler (not started) on clock.
func clockHarness(t *testing.T, clock *steppedClock, actions ...*Action) *harness {
	t.Helper()
	return newStoppedHarness(t, store.Options{Now: clock.now}, actions...)
}

// TestScheduler_ClockSteppedBack: a job whose first run failed while the
// wall clock ran an hour ahead has its retry due a second later by that
// clock. When the clock is put right, the running daemon sees the step and
// the retry runs a second after the failure, not an hour and a second.
func TestScheduler_ClockSteppedBack(t *testing.T) {
	clock := &steppedClock{}
	clock.offset.Store(int64(time.Hour))
	dir := t.TempDir()
	sh := script(t, dir, "flaky.sh", `[ -e `+filepath.Join(dir, "ran")+` ] || { touch `+filepath.Join(dir, "ran")+`; exit 1; }`+"\n")
	a := execAction("h", "flaky", sh)
	a.Retries = 1
	a.Backoff = time.Second
	h := clockHarness(t, clock, a)
	if err := h.s.Start(); err != nil {
		t.Fatal(err)
	}
	ev := h.ingest("h", `{}`)
	h.waitState(ev, store.Failed)
	clock.offset.Store(0)
	j := h.waitState(ev, store.Succeeded)
	if j.Attempts != 2 {
		t.Errorf("attempts = %d; want 2", j.Attempts)
	}
}

// TestScheduler_ClockAheadBeforeStart: two jobs of a concurrency-1 queue
// queued while the clock ran a month ahead, and a daemon started once it
// was put right: both run at once, the second after the first, not in a
// month; a warning says how many jobs were moved.
func TestScheduler_ClockAheadBeforeStart(t *testing.T) {
	clock := &steppedClock{}
	clock.offset.Store(int64(30 * 24 * time.Hour))
	dir := t.TempDir()
	a := execAction("h", "ok", script(t, dir, "ok.sh", "exit 0\n"))
	h := clockHarness(t, clock, a)
	logs := new(syncBuffer)
	h.s.log = slog.New(slog.NewTextHandler(logs, nil))
	ev1 := h.ingest("h", `{}`)
	ev2 := h.ingest("h", `{}`)
	clock.offset.Store(0)
	if err := h.s.Start(); err != nil {
		t.Fatal(err)
	}
	h.waitState(ev1, store.Succeeded)
	h.waitState(ev2, store.Succeeded)
	var warned string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "the clock is behind where it was") {
			warned = l
		}
	}
	if !strings.Contains(warned, " jobs=") {
		t.Errorf("no warning that says how many jobs were moved; log:\n%s", logs)
	}
}

// TestScheduler_ClockSteppedBackQueuedBehind: two pushes arrive while the wall
// clock runs an hour ahead; the deploy (concurrency 1) runs the first, the
// second waits behind it. NTP puts the clock right while the first still
// runs, and the daemon sees the step. When the first deploy ends, the
// second must run at once (README, Actions: "jobs queued meanwhile still
// run when they should"), not an hour later.
func TestScheduler_ClockSteppedBackQueuedBehind(t *testing.T) {
	clock := &steppedClock{}
	clock.offset.Store(int64(time.Hour))
	dir := t.TempDir()
	gate := filepath.Join(dir, "go")
	a := execAction("h", "deploy", script(t, dir, "deploy.sh", `while [ ! -e `+gate+` ]; do sleep 0.02; done`+"\n"))
	other := execAction("h2", "other", script(t, dir, "ok.sh", "exit 0\n"))
	h := clockHarness(t, clock, a, other)
	if err := h.s.Start(); err != nil {
		t.Fatal(err)
	}
	ev1 := h.ingest("h", `{}`)
	ev2 := h.ingest("h", `{}`)
	h.waitState(ev1, store.Running)

	clock.offset.Store(0) // stepped back by the hour
	// Any delivery makes a dispatch pass, which sees the step.
	h.waitState(h.ingest("h2", `{}`), store.Succeeded)

	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitState(ev1, store.Succeeded)
	h.waitState(ev2, store.Succeeded) // not in an hour
}

// TestScheduler_ClockSteppedBackDuringRun: the clock is stepped back by an
// hour while a run is under way. The run then fails, and its retry is made
// due 30 minutes on by the clock as it is now (already right). The
// dispatch pass after that finish sees the step, and must leave that
// retry where it is: its backoff is by the right clock already.
func TestScheduler_ClockSteppedBackDuringRun(t *testing.T) {
	clock := &steppedClock{}
	clock.offset.Store(int64(time.Hour))
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	sh := script(t, dir, "fail.sh", "touch "+started+"\nsleep 1\nexit 1\n")
	a := execAction("h", "fail", sh)
	a.Retries = 1
	a.Backoff = 30 * time.Minute
	h := clockHarness(t, clock, a)
	if err := h.s.Start(); err != nil {
		t.Fatal(err)
	}
	ev := h.ingest("h", `{}`)
	h.waitState(ev, store.Running)
	time.Sleep(300 * time.Millisecond)
	clock.offset.Store(0) // NTP steps the clock back while the run goes on
	j := h.waitState(ev, store.Failed, store.Dead)
	time.Sleep(time.Second)
	j = h.jobs(ev)[0]
	if j.Attempts != 1 || j.State != store.Failed || j.NextAt.Before(clock.now().Add(20*time.Minute)) {
		t.Errorf("job = %s, attempts %d, next at %v (in %v); want failed once, its retry about 30m on: it failed after the step, its backoff is by the clock as it is now",
			j.State, j.Attempts, j.NextAt, j.NextAt.Sub(clock.now()).Round(time.Second))
	}
}

// TestScheduler_ClockSteppedBackRetryFromThen: a run fails while the wall
// clock runs an hour ahead; its retry is due its backoff (4s, ±20%) after
// the failure. 2.5 s later, before it is due, NTP steps the clock back by
// the hour and the running daemon sees the step: the retry runs about its
// backoff after the failure, as with no step at all, not its backoff after
// the step.
func TestScheduler_ClockSteppedBackRetryFromThen(t *testing.T) {
	clock := &steppedClock{}
	clock.offset.Store(int64(time.Hour))
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	a := execAction("h", "flaky", script(t, dir, "flaky.sh", `[ -e `+ran+` ] || { touch `+ran+`; exit 1; }`+"\n"))
	a.Retries = 1
	a.Backoff = 4 * time.Second
	other := execAction("h2", "other", script(t, dir, "ok.sh", "exit 0\n"))
	h := clockHarness(t, clock, a, other)
	if err := h.s.Start(); err != nil {
		t.Fatal(err)
	}
	ev := h.ingest("h", `{}`)
	j := h.waitState(ev, store.Failed)
	failedAt := time.Now()
	backoff := j.NextAt.Sub(j.Updated) // by the clock that ran ahead

	time.Sleep(2500 * time.Millisecond)
	clock.offset.Store(0) // stepped back by the hour, before the retry is due
	// Any delivery makes a dispatch pass, which sees the step.
	h.waitState(h.ingest("h2", `{}`), store.Succeeded)

	h.waitState(ev, store.Succeeded)
	took := time.Since(failedAt)
	if took > backoff+time.Second {
		t.Errorf("retry ran %v after the failure; want about its backoff, %v, from when it failed (the clock's step took for the failure's age, the backoff restarted at the step)",
			took.Round(10*time.Millisecond), backoff.Round(10*time.Millisecond))
	}
}

// TestScheduler_ClockBackWhileStopping: the start's look for jobs a clock
// running ahead put in the future, cut short by a stop, is no error: the
// next start looks again. (It logged an ERROR "bring due times back …:
// context canceled" at a stop during start-up, when the store's select
// took the ended context over the free queue: about half the time.)
func TestScheduler_ClockBackWhileStopping(t *testing.T) {
	h := newStoppedHarness(t, store.Options{})
	var logged bytes.Buffer
	h.s.log = slog.New(slog.NewTextHandler(&logged, nil))
	h.s.stopRuns(errors.New("stopping"))
	h.s.clockBack(0, "at start, the clock is behind where it was")
	if strings.Contains(logged.String(), "level=ERROR") {
		t.Errorf("clockBack during a stop logged %q; want no error", logged.String())
	}
}
