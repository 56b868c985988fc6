package actions

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
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

// planned plans an event of hook with cfg, as the listener does with the
// config current when the request came in; commit stores it later.
func (h *harness) planned(cfg *Config, hook, body string) *store.NewEvent {
	d := &tmpl.Data{Hook: hook, Event: "push", ContentType: "application/json", Body: []byte(body), Headers: map[string]string{}, Query: map[string]string{}}
	return &store.NewEvent{Hook: hook, Type: "push", ContentType: "application/json", Body: []byte(body), Jobs: cfg.Plan(hook, d)}
}

func (h *harness) commit(ne *store.NewEvent) string {
	h.t.Helper()
	res, err := h.st.Ingest(context.Background(), ne)
	if err != nil {
		h.t.Fatal(err)
	}
	return res.ID
}

// TestReload_PlannedBeforeLowerConcurrency: a request planned under
// concurrency 3 and stored after a reload lowered it to 1 (and after the
// reload's resize) queues its job under concurrency 1: behind A, which
// runs, and then fails, to wait an hour for its retry. The job took the
// window size of the plan (3) and joined the window beside A, and A's
// failure started it: a later deploy overtook a failing one.
func TestReload_PlannedBeforeLowerConcurrency(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	sh := script(t, dir, "s.sh", `case "$1" in
  slowfail) while [ ! -e `+gate+` ]; do sleep 0.02; done; exit 1 ;;
esac
exit 0
`)
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.Concurrency = 3
	h := newHarness(t, a)
	evA := h.ingest("h", `{"n":"slowfail"}`)
	h.waitState(evA, store.Running)
	ne := h.planned(h.cfg, "h", `{"n":"ok"}`)
	b := *a
	b.Concurrency = 1
	b.Retries = 1
	b.Backoff = time.Hour
	h.reloadResized(&b)
	evN := h.commit(ne)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitState(evA, store.Failed)
	h.heldBack([]string{evN})
}

// TestReload_PlannedBeforeRaiseConcurrency: a request planned under
// concurrency 1 and stored after a reload raised it to 3 queues its job N
// under concurrency 3: it runs beside A, which runs on, and before M,
// which comes after it. N took the window size of its plan (1) and
// waited behind A, and M, planned after the reload, would have joined
// the window ahead of it.
func TestReload_PlannedBeforeRaiseConcurrency(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "s.sh", `echo "$1" >> `+logf+`
case "$1" in
  slow) while [ ! -e `+gate+` ]; do sleep 0.02; done ;;
esac
exit 0
`)
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	h := newHarness(t, a)
	evA := h.ingest("h", `{"n":"slow"}`)
	h.waitState(evA, store.Running)
	ne := h.planned(h.cfg, "h", `{"n":"n"}`)
	b := *a
	b.Concurrency = 3
	h.reloadResized(&b)
	evN := h.commit(ne)
	for deadline := time.Now().Add(3 * time.Second); h.jobs(evN)[0].State == store.Pending; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("3 s after it was stored, with concurrency 3 and A alone running, N is pending; want it run beside A")
		}
	}
	evM := h.ingest("h", `{"n":"m"}`)
	h.waitState(evN, store.Succeeded) // A runs on
	h.waitState(evM, store.Succeeded)
	log, _ := os.ReadFile(logf)
	if got, want := strings.Fields(string(log)), []string{"slow", "n", "m"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("runs started %v; want %v (arrival order)", got, want)
	}
}
