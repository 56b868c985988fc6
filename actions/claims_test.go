package actions

// Tests of the README's "Reloading" claims about retries, backoff, key
// and when that no other test held.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// TestReload_RetriesApplyToRunInFlight: README: "`retries` and `backoff`
// apply to what follows each run that ends after the reload" — also a run
// that started before it. A run started with retries = 0 fails after a
// reload to retries = 1, backoff = 2h: the job waits for a retry about two
// hours away instead of being dead.
func TestReload_RetriesApplyToRunInFlight(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	sh := script(t, dir, "s.sh", `while [ ! -e `+gate+` ]; do sleep 0.02; done
exit 1
`)
	a := execAction("h", "a", sh) // retries 0, backoff 1s
	h := newHarness(t, a)
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	ev := h.ingest("h", `{}`)
	h.waitState(ev, store.Running)
	b := *a
	b.Retries, b.Backoff = 1, 2*time.Hour
	h.reload(&b)
	reloaded := time.Now()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	j := h.waitState(ev, store.Failed, store.Dead)
	if j.State != store.Failed {
		t.Fatalf("run under way at a reload to retries = 1 failed; job is %s (%s); want failed, waiting for its retry", j.State, j.Reason)
	}
	if min := reloaded.Add(time.Hour); j.NextAt.Before(min) {
		t.Errorf("retry due at %v, %v after the reload; want the new backoff (2h ±20%%)", j.NextAt, j.NextAt.Sub(reloaded).Round(time.Second))
	}
}

// TestReload_KeyAppliesToNewEvents: README: "A changed `key` applies to the
// events that arrive after it: a queued job keeps the queue its event was
// given ... (with concurrency = 1, an old queue's job and a new one's can
// overlap)".
func TestReload_KeyAppliesToNewEvents(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	sh := script(t, dir, "s.sh", `[ "$1" = x ] || while [ ! -e `+gate+` ]; do sleep 0.02; done
`)
	a := execAction("h", "a", sh, "{{ .payload.b }}") // no key, concurrency 1
	h := newHarness(t, a)
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	e1 := h.ingest("h", `{"b":"old"}`)
	h.waitState(e1, store.Running)
	e2 := h.ingest("h", `{"b":"old"}`)
	b := *a
	b.Key = mustTmpl("{{ .payload.b }}")
	h.reload(&b)
	e3 := h.ingest("h", `{"b":"x"}`)
	// e3 has a queue of its own (key "x"): it runs while e1 still runs.
	if j := h.waitState(e3, store.Succeeded); j.Key != "x" {
		t.Errorf("job of the event after the reload has key %q; want %q", j.Key, "x")
	}
	if j := h.jobs(e1)[0]; j.State != store.Running {
		t.Fatalf("e1 is %s; the test wants it still running", j.State)
	}
	// e2 kept the queue it was given: behind e1, not started.
	if j := h.jobs(e2)[0]; j.State != store.Pending || j.Key != "" {
		t.Errorf("job queued before the reload = %s with key %q; want pending in its old queue (key \"\")", j.State, j.Key)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.waitState(e1, store.Succeeded)
	h.waitState(e2, store.Succeeded)
}

// TestReload_WhenAppliesToNewEvents: README: "A changed `when` applies to
// the events that arrive after it (and to replays): ... the jobs queued
// before the reload run although the new `when` would skip them ..., and
// the jobs it skipped stay skipped".
func TestReload_WhenAppliesToNewEvents(t *testing.T) {
	dir := t.TempDir()
	ranLog := filepath.Join(dir, "ran")
	sh := script(t, dir, "s.sh", `echo "$1" >> `+ranLog+"\n")
	when := func(src string) *tmpl.Expr {
		w, err := tmpl.Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.When = when(`payload.main == true`)
	h := newHarness(t, a)
	ctx := t.Context()
	if err := h.s.SetPaused(ctx, "h", "a", true); err != nil {
		t.Fatal(err)
	}
	queued := h.ingest("h", `{"n":"queued","main":true}`)
	skipped := h.ingest("h", `{"n":"skipped","main":false}`)
	if j := h.jobs(skipped)[0]; j.State != store.Skipped {
		t.Fatalf("job whose when is false = %s; want skipped", j.State)
	}
	b := *a
	b.When = when(`payload.main == false`)
	h.reload(&b)
	after := h.ingest("h", `{"n":"after","main":true}`)
	if err := h.s.SetPaused(ctx, "h", "a", false); err != nil {
		t.Fatal(err)
	}
	h.waitState(queued, store.Succeeded)
	if j := h.jobs(after)[0]; j.State != store.Skipped {
		t.Errorf("job of an event after the reload, new when false = %s; want skipped", j.State)
	}
	if j := h.jobs(skipped)[0]; j.State != store.Skipped {
		t.Errorf("job skipped before the reload = %s; want still skipped", j.State)
	}
	// A replay goes by the new when: the event skipped before now runs.
	if _, err := h.s.Replay(ctx, skipped, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		js := h.jobs(skipped)
		if len(js) == 2 && js[1].State == store.Succeeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replayed job under the new when = %+v; want it run", js[len(js)-1])
		}
		time.Sleep(10 * time.Millisecond)
	}
	b2, _ := os.ReadFile(ranLog)
	if got := strings.Fields(string(b2)); strings.Join(got, ",") != "queued,skipped" {
		t.Errorf("ran %v; want queued (planned before the reload), then the replay of skipped", got)
	}
}

// TestWhen_FailingSkipsWithError: a when that fails as it runs (README:
// a whole number past 64 bits, which when cannot compare) records the job
// as skipped with the error, and runs nothing; a false one as skipped with
// the values it looked at.
func TestWhen_FailingSkipsWithError(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	sh := script(t, dir, "touch.sh", "touch "+marker+"\n")
	w, err := tmpl.Compile(`payload.amount > 10`)
	if err != nil {
		t.Fatal(err)
	}
	a := execAction("h", "a", sh)
	a.When = w
	h := newHarness(t, a)
	failing := h.ingest("h", `{"amount":12345678901234567890}`)
	j := h.jobs(failing)[0]
	if j.State != store.Skipped || !strings.HasPrefix(j.Reason, "when: invalid operation") {
		t.Errorf("job of a failing when = %s %q; want skipped with the when error", j.State, j.Reason)
	}
	falsy := h.ingest("h", `{"amount":3}`)
	if j := h.jobs(falsy)[0]; j.State != store.Skipped || j.Reason != "when is false: payload.amount is 3" {
		t.Errorf("job of a false when = %s %q; want skipped, when is false: payload.amount is 3", j.State, j.Reason)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran")
	}
}
