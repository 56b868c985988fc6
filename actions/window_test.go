package actions

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestReload_RaiseAfterShrinkKeepsRunsInFlight: concurrency 3 with A, B
// and C running; a reload lowers it to 1 and B fails (it waits behind
// A; C runs on past the window); another raises it to 2 while A and C
// still run; then A fails. A (waiting for its retry) and C (running) are
// the two in flight (README, "Order and concurrency"): B runs after A's
// retry, not before it. The window was counted as the queue's first two
// jobs, C ignored: the raise put B in it, and A's failure started B, with
// C still running and A waiting for its retry — three in flight.
func TestReload_RaiseAfterShrinkKeepsRunsInFlight(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "s.sh", `echo "start $1 $WEBHOOKD_ATTEMPT" >> `+logf+`
[ "$WEBHOOKD_ATTEMPT" = 1 ] || exit 0
while [ ! -e `+dir+`/gate$1 ]; do sleep 0.02; done
[ "$1" = c ] && exit 0
exit 1
`)
	open := func(n string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "gate"+n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { open("a"); open("b"); open("c") })
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.Concurrency = 3
	a.Retries = 2
	a.Backoff = 50 * time.Millisecond
	h := newHarness(t, a)
	resize := func(n int) {
		b := *a
		b.Concurrency = n
		h.reloadResized(&b)
	}
	evA := h.ingest("h", `{"n":"a"}`)
	evB := h.ingest("h", `{"n":"b"}`)
	evC := h.ingest("h", `{"n":"c"}`)
	for _, ev := range []string{evA, evB, evC} {
		h.waitState(ev, store.Running)
	}
	resize(1)
	open("b")
	jb := h.waitState(evB, store.Failed)
	time.Sleep(time.Until(jb.NextAt) + 20*time.Millisecond) // B's retry is due
	resize(2)
	open("a")
	h.waitState(evA, store.Succeeded)
	h.waitState(evB, store.Succeeded)
	open("c")
	h.waitState(evC, store.Succeeded)
	b, _ := os.ReadFile(logf)
	var retries []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasSuffix(l, " 2") {
			retries = append(retries, l)
		}
	}
	if got, want := strings.Join(retries, ","), "start a 2,start b 2"; got != want {
		t.Errorf("retries ran %s; want %s: with concurrency 2, A waiting for its retry and C running, B waits\nlog:\n%s", got, want, b)
	}
}

// reloadResized is reload, returning once the queues of the actions
// whose concurrency changed are resized: SetConfig resizes them in the
// background, and the test needs to know that it has.
func (h *harness) reloadResized(actions ...*Action) {
	cfg := NewConfig(actions)
	h.cfg = cfg
	old := h.s.cfg.Swap(cfg)
	for _, a := range cfg.Actions {
		if prev := old.Action(a.Hook, a.Name); prev == nil || a.Concurrency != prev.Concurrency {
			h.s.resize(a.Hook, a.Name)
		}
	}
	h.s.wake()
}
