package actions

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
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
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "a.db"), store.Options{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig(actions)
	s := New(Options{Store: st, Logger: testLogger(t), KillGrace: time.Second, TempDir: dir, Now: clock.now, Rand: rand.New(rand.NewPCG(1, 2))}, cfg)
	t.Cleanup(func() {
		s.Close()
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	return &harness{t: t, st: st, s: s, cfg: cfg, dir: dir}
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

// TestScheduler_ClockAheadBeforeStart: jobs queued while the clock ran a
// month ahead, and a daemon started once it was put right: they run at
// once, not in a month.
func TestScheduler_ClockAheadBeforeStart(t *testing.T) {
	clock := &steppedClock{}
	clock.offset.Store(int64(30 * 24 * time.Hour))
	dir := t.TempDir()
	a := execAction("h", "ok", script(t, dir, "ok.sh", "exit 0\n"))
	h := clockHarness(t, clock, a)
	d := &tmpl.Data{Hook: "h", Event: "push", ContentType: "application/json", Body: []byte(`{}`)}
	res, err := h.st.Ingest(context.Background(), &store.NewEvent{Hook: "h", Type: "push", Body: []byte(`{}`), Jobs: h.cfg.Plan("h", d)})
	if err != nil {
		t.Fatal(err)
	}
	clock.offset.Store(0)
	if err := h.s.Start(); err != nil {
		t.Fatal(err)
	}
	h.waitState(res.ID, store.Succeeded)
}
