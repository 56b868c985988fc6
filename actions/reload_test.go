package actions

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// reload swaps a new config into the harness, as d.apply does.
func (h *harness) reload(actions ...*Action) {
	cfg := NewConfig(actions)
	h.cfg = cfg
	h.s.SetConfig(cfg)
}

// reloadToOne reloads a with concurrency 1, one retry an hour away.
func (h *harness) reloadToOne(a *Action) {
	b := *a
	b.Concurrency = 1
	b.Retries = 1
	b.Backoff = time.Hour
	h.reload(&b)
}

// heldBack checks, after a moment, that the events' jobs are still
// pending: held behind a job waiting for its retry (concurrency = 1).
func (h *harness) heldBack(evs []string) {
	h.t.Helper()
	time.Sleep(500 * time.Millisecond)
	for _, ev := range evs {
		if j := h.jobs(ev)[0]; j.State != store.Pending {
			h.t.Errorf("job %s is %s while the job before it waits for a retry with concurrency = 1; want pending", j.ID, j.State)
		}
	}
}

// TestReload_LowerConcurrency_FailingJobHoldsBack: concurrency 3 -> 1 while
// three run. After the reload, with concurrency = 1, a failed job waiting
// for its retry must hold back the jobs behind it (README "Order and
// concurrency": at most N in flight, running or waiting for a retry).
func TestReload_LowerConcurrency_FailingJobHoldsBack(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	sh := script(t, dir, "s.sh", `case "$1" in
  slow*) while [ ! -e `+gate+` ]; do sleep 0.02; done ;;
  fail*) exit 1 ;;
esac
exit 0
`)
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.Concurrency = 3
	h := newHarness(t, a)
	var evs []string
	for _, n := range []string{"slow1", "slow2", "slow3", "fail4", "ok5", "ok6"} {
		evs = append(evs, h.ingest("h", fmt.Sprintf(`{"n":%q}`, n)))
	}
	for i := 0; i < 3; i++ {
		h.waitState(evs[i], store.Running)
	}
	h.reloadToOne(a)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		h.waitState(evs[i], store.Succeeded)
	}
	h.waitState(evs[3], store.Failed)
	h.heldBack(evs[4:])
}

// TestReload_LowerConcurrency_QueuedWindow: jobs queued (paused) under
// concurrency 3, reloaded to concurrency 1 with retries, then resumed: the
// first job fails and waits for its retry; with concurrency = 1 nothing
// behind it may start (README "Order and concurrency").
func TestReload_LowerConcurrency_QueuedWindow(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "s.sh", `case "$1" in
  fail*) exit 1 ;;
esac
exit 0
`)
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.Concurrency = 3
	h := newHarness(t, a)
	ctx := t.Context()
	if err := h.s.SetPaused(ctx, "h", "a", true); err != nil {
		t.Fatal(err)
	}
	var evs []string
	for _, n := range []string{"fail1", "ok2", "ok3", "ok4"} {
		evs = append(evs, h.ingest("h", fmt.Sprintf(`{"n":%q}`, n)))
	}
	h.reloadToOne(a)
	if err := h.s.SetPaused(ctx, "h", "a", false); err != nil {
		t.Fatal(err)
	}
	h.waitState(evs[0], store.Failed)
	h.heldBack(evs[1:])
}

// TestReload_RaiseConcurrency: an action without key, concurrency 1 -> 3
// while one job runs: two queued jobs start at once (SetConfig: "Where an
// action's concurrency grew, its queues' windows are refilled"; README
// concurrency "runs of this action at once"; Reloading "a changed action"
// applies without restart).
func TestReload_RaiseConcurrency(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	sh := script(t, dir, "s.sh", `while [ ! -e `+gate+` ]; do sleep 0.02; done
`)
	a := execAction("h", "a", sh)
	h := newHarness(t, a)
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	var evs []string
	for i := 0; i < 4; i++ {
		evs = append(evs, h.ingest("h", `{}`))
	}
	h.waitState(evs[0], store.Running)
	b := *a
	b.Concurrency = 3
	h.reload(&b)
	deadline := time.Now().Add(3 * time.Second)
	for {
		s1, s2 := h.jobs(evs[1])[0].State, h.jobs(evs[2])[0].State
		if s1 == store.Running && s2 == store.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 s after concurrency 1 -> 3, jobs 2 and 3 are %s, %s; want running", s1, s2)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReload_RenameAndBack: renaming an action holds its jobs; the new name
// gets new jobs; renaming back runs the held ones in order.
func TestReload_RenameAndBack(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "s.sh", `echo "start $WEBHOOKD_ACTION $1" >> `+logf+`
case "$1" in
  slow*) while [ ! -e `+gate+` ]; do sleep 0.02; done ;;
esac
echo "end $WEBHOOKD_ACTION $1" >> `+logf+`
`)
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	h := newHarness(t, a)
	e1 := h.ingest("h", `{"n":"slow1"}`)
	e2 := h.ingest("h", `{"n":"two"}`)
	e3 := h.ingest("h", `{"n":"three"}`)
	h.waitState(e1, store.Running)
	b := *a
	b.Name = "b"
	h.reload(&b)
	if r := h.s.Held("h", "a"); !strings.Contains(r, "not in the config") {
		t.Errorf("Held = %q", r)
	}
	e4 := h.ingest("h", `{"n":"four"}`)
	h.waitState(e4, store.Succeeded)
	os.WriteFile(gate, nil, 0o644)
	h.waitState(e1, store.Succeeded)
	time.Sleep(300 * time.Millisecond)
	for _, ev := range []string{e2, e3} {
		if j := h.jobs(ev)[0]; j.State != store.Pending {
			t.Errorf("held job is %s", j.State)
		}
	}
	c := *a
	h.reload(&c)
	h.waitState(e2, store.Succeeded)
	h.waitState(e3, store.Succeeded)
	got, _ := os.ReadFile(logf)
	t.Logf("%s", got)
}

// TestReload_LowerConcurrency_StarvesOtherKey: key A had concurrency 100 and
// 100 queued jobs; reloaded to concurrency 1. A job of key B, its own queue,
// must start while A runs its first (README: "each key has its own
// concurrency and order").
func TestReload_LowerConcurrency_StarvesOtherKey(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	sh := script(t, dir, "s.sh", `case "$1" in
  A) while [ ! -e `+gate+` ]; do sleep 0.02; done ;;
esac
exit 0
`)
	a := execAction("h", "a", sh, "{{ .payload.k }}")
	a.Key = mustTmpl("{{ .payload.k }}")
	a.Concurrency = 100
	h := newHarness(t, a)
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	ctx := t.Context()
	h.s.SetPaused(ctx, "h", "a", true)
	for i := 0; i < 100; i++ {
		h.ingest("h", `{"k":"A"}`)
	}
	eb := h.ingest("h", `{"k":"B"}`)
	b := *a
	b.Concurrency = 1
	h.reload(&b)
	h.s.SetPaused(ctx, "h", "a", false)
	deadline := time.Now().Add(3 * time.Second)
	for h.jobs(eb)[0].State != store.Succeeded {
		if time.Now().After(deadline) {
			t.Fatalf("key B's only job is %s 3 s after resume, while key A runs one job at a time; want succeeded", h.jobs(eb)[0].State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReload_PauseReloadResume: paused, the run changes, resumed: runs with
// the new definition.
func TestReload_PauseReloadResume(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "s.sh", `echo "$1 $2" >> `+logf+"\n")
	a := execAction("h", "a", sh, "old", "{{ .payload.n }}")
	h := newHarness(t, a)
	ctx := t.Context()
	h.s.SetPaused(ctx, "h", "a", true)
	var evs []string
	for i := 1; i <= 3; i++ {
		evs = append(evs, h.ingest("h", fmt.Sprintf(`{"n":%d}`, i)))
	}
	b := execAction("h", "a", sh, "new", "{{ .payload.n }}")
	h.reload(b)
	if r := h.s.Held("h", "a"); !strings.Contains(r, "paused") {
		t.Errorf("Held = %q", r)
	}
	h.s.SetPaused(ctx, "h", "a", false)
	for _, ev := range evs {
		h.waitState(ev, store.Succeeded)
	}
	got, _ := os.ReadFile(logf)
	if string(got) != "new 1\nnew 2\nnew 3\n" {
		t.Errorf("log %q", got)
	}
}

// TestReload_BurstWithReloads: concurrency = 1, 60 events while the config
// is reloaded (run changed, action removed and re-added) many times: runs in
// arrival order, never overlapping.
func TestReload_BurstWithReloads(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "s.sh", `echo "start $2" >> `+logf+`
echo "end $2" >> `+logf+"\n")
	mk := func(v string) *Action { return execAction("h", "a", sh, v, "{{ .payload.n }}") }
	h := newHarness(t, mk("v0"))
	other := execAction("h", "z", "true")
	var evs []string
	for i := 0; i < 60; i++ {
		evs = append(evs, h.ingest("h", fmt.Sprintf(`{"n":%d}`, i)))
		switch i % 4 {
		case 0:
			h.reload(mk(fmt.Sprint("v", i)))
		case 1:
			h.reload(other) // removed; jobs planned now are for z only
		case 2:
			h.reload(mk(fmt.Sprint("v", i)), other)
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.reload(mk("final"))
	var want []string
	for _, ev := range evs {
		for _, j := range h.jobs(ev) {
			if j.Action == "a" {
				want = append(want, "start "+fmt.Sprint(strings.TrimPrefix(ev, "")))
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		done := true
		for _, ev := range evs {
			for _, j := range h.jobs(ev) {
				if j.Action == "a" && j.State != store.Succeeded {
					done = false
				}
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not all done")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(logf)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	prev := -1
	for i := 0; i+1 < len(lines); i += 2 {
		var n, m int
		fmt.Sscanf(lines[i], "start %d", &n)
		fmt.Sscanf(lines[i+1], "end %d", &m)
		if !strings.HasPrefix(lines[i], "start") || n != m || n <= prev {
			t.Fatalf("log out of order at %d:\n%s", i, b)
		}
		prev = n
	}
}

// TestReload_HookRemovedReadded: jobs held while the hook is gone, run in
// order when it returns; a retried job of a removed action is held too.
func TestReload_HookRemovedReadded(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "s.sh", `echo "start $1" >> `+logf+`
case "$1" in
  slow*) while [ ! -e `+gate+` ]; do sleep 0.02; done ;;
  fail*) exit 1 ;;
esac
echo "end $1" >> `+logf+`
`)
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.Concurrency = 2
	h := newHarness(t, a)
	e0 := h.ingest("h", `{"n":"fail0"}`)
	h.waitState(e0, store.Dead)
	e1 := h.ingest("h", `{"n":"slow1"}`)
	e2 := h.ingest("h", `{"n":"slow2"}`)
	e3 := h.ingest("h", `{"n":"three"}`)
	e4 := h.ingest("h", `{"n":"four"}`)
	h.waitState(e2, store.Running)
	h.reload()
	if r := h.s.Held("h", "a"); !strings.Contains(r, "hook h") {
		t.Errorf("Held = %q", r)
	}
	if _, err := h.s.Retry(t.Context(), h.jobs(e0)[0].ID); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(gate, nil, 0o644)
	h.waitState(e1, store.Succeeded)
	h.waitState(e2, store.Succeeded)
	time.Sleep(300 * time.Millisecond)
	for _, ev := range []string{e0, e3, e4} {
		if j := h.jobs(ev)[0]; j.State != store.Pending {
			t.Errorf("held job is %s", j.State)
		}
	}
	h.reload(a)
	h.waitState(e3, store.Succeeded)
	h.waitState(e4, store.Succeeded)
	h.waitState(e0, store.Dead)
}

// TestReload_CoalesceToggledOn: jobs queued without coalesce; coalesce
// turned on; a new event supersedes them.
func TestReload_CoalesceToggledOn(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	sh := script(t, dir, "s.sh", `case "$1" in
  slow*) while [ ! -e `+gate+` ]; do sleep 0.02; done ;;
esac
`)
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	h := newHarness(t, a)
	e1 := h.ingest("h", `{"n":"slow1"}`)
	e2 := h.ingest("h", `{"n":"two"}`)
	e3 := h.ingest("h", `{"n":"three"}`)
	h.waitState(e1, store.Running)
	b := *a
	b.Coalesce = true
	h.reload(&b)
	e4 := h.ingest("h", `{"n":"four"}`)
	os.WriteFile(gate, nil, 0o644)
	h.waitState(e4, store.Succeeded)
	h.waitState(e2, store.Skipped)
	h.waitState(e3, store.Skipped)
	h.waitState(e1, store.Succeeded)
}

// TestReload_LowerConcurrency_BothRunningFail: two runs under way when a
// reload lowers concurrency 2 -> 1; the newer fails first, its retry due
// soon, then the older fails: the newer's retry waits behind the older's.
func TestReload_LowerConcurrency_BothRunningFail(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	sh := script(t, dir, "s.sh", `echo "$1 $WEBHOOKD_ATTEMPT" >> `+log+`
[ "$WEBHOOKD_ATTEMPT" = 1 ] || exit 0
while [ ! -e `+dir+`/gate$1 ]; do sleep 0.02; done
exit 1
`)
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.Concurrency = 2
	h := newHarness(t, a)
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(dir, "gate1"), nil, 0o644)
		os.WriteFile(filepath.Join(dir, "gate2"), nil, 0o644)
	})
	ev1 := h.ingest("h", `{"n":"1"}`)
	ev2 := h.ingest("h", `{"n":"2"}`)
	h.waitState(ev1, store.Running)
	h.waitState(ev2, store.Running)
	b := *a
	b.Concurrency = 1
	b.Retries = 3
	b.Backoff = 2 * time.Second
	h.reload(&b)
	time.Sleep(300 * time.Millisecond) // the refill
	os.WriteFile(filepath.Join(dir, "gate2"), nil, 0o644)
	h.waitState(ev2, store.Failed)
	time.Sleep(2600 * time.Millisecond) // job 2's retry is due now
	if j := h.jobs(ev2)[0]; j.State != store.Failed {
		t.Fatalf("job 2 is %s while job 1 runs, concurrency 1; want failed", j.State)
	}
	os.WriteFile(filepath.Join(dir, "gate1"), nil, 0o644)
	h.waitState(ev1, store.Failed)
	time.Sleep(500 * time.Millisecond)
	j1, j2 := h.jobs(ev1)[0], h.jobs(ev2)[0]
	b2, _ := os.ReadFile(log)
	if j1.State == store.Failed && j2.State != store.Failed {
		t.Errorf("job 1 waits for its retry (%s), yet job 2 is %s (attempts %d) with concurrency = 1; want job 2 held (failed) behind job 1\nlog:\n%s", j1.State, j2.State, j2.Attempts, fmt.Sprint(string(b2)))
	}
}

// TestReload_FinishDuringReload: a finish that began before a reload
// lowered concurrency 3 -> 1 is written after the reload's refill: it
// sizes the window as the reload did, not as it was when it began (OnRun,
// called as the finish is decided, lets the reload land just then).
func TestReload_FinishDuringReload(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	sh := script(t, dir, "s.sh", `case "$1" in
  slow*) while [ ! -e `+gate+` ]; do sleep 0.02; done ;;
  fail*) exit 1 ;;
esac
exit 0
`)
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.Concurrency = 3
	st, err := store.Open(filepath.Join(dir, "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig([]*Action{a})
	b := *a
	b.Concurrency = 1
	b.Retries = 1
	b.Backoff = time.Hour
	var s *Scheduler
	first := true
	s = New(Options{Store: st, Logger: testLogger(t), KillGrace: time.Second, TempDir: dir, MaxRuns: 1,
		OnRun: func(RunInfo) {
			if !first {
				return
			}
			first = false
			s.SetConfig(NewConfig([]*Action{&b})) // the reload lands now
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if d, _, _ := st.Due("h", "a", time.Now().Add(time.Hour), 10); len(d) == 0 {
					return // shrunk: jobs 2 and 3 wait
				}
			}
			t.Error("the refill never shrank the window")
		}}, cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); st.Close() })
	h := &harness{t: t, st: st, s: s, cfg: cfg, dir: dir}
	ev1 := h.ingest("h", `{"n":"slow1"}`)
	ev2 := h.ingest("h", `{"n":"fail2"}`)
	ev3 := h.ingest("h", `{"n":"ok3"}`)
	h.waitState(ev1, store.Running)
	os.WriteFile(gate, nil, 0o644)
	h.waitState(ev1, store.Succeeded)
	h.waitState(ev2, store.Failed)
	time.Sleep(500 * time.Millisecond)
	if j := h.jobs(ev3)[0]; j.State != store.Pending {
		t.Errorf("job 3 is %s while job 2 waits for its retry, concurrency = 1; want pending", j.State)
	}
}

// TestReload_ConcurrencyChangedWhileStopped: the config's concurrency
// went from 3 to 1 while no daemon ran; at start the queues are resized,
// so a failing first job holds back the ones queued behind it.
func TestReload_ConcurrencyChangedWhileStopped(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "s.sh", `case "$1" in
  fail*) exit 1 ;;
esac
exit 0
`)
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.Concurrency = 3
	path := filepath.Join(dir, "a.db")
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := &harness{t: t, st: st, cfg: NewConfig([]*Action{a}), dir: dir}
	var evs []string
	for _, n := range []string{"fail1", "ok2", "ok3"} {
		evs = append(evs, before.ingest("h", fmt.Sprintf(`{"n":%q}`, n)))
	}
	st.Close()

	b := *a
	b.Concurrency = 1
	b.Retries = 1
	b.Backoff = time.Hour
	st, err = store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig([]*Action{&b})
	s := New(Options{Store: st, Logger: testLogger(t), KillGrace: time.Second, TempDir: dir}, cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); st.Close() })
	h := &harness{t: t, st: st, s: s, cfg: cfg, dir: dir}
	h.waitState(evs[0], store.Failed)
	h.heldBack(evs[1:])
}
