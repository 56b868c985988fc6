package actions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type harness struct {
	t   *testing.T
	st  *store.Store
	s   *Scheduler
	cfg *Config
	dir string
}

// newHarness opens a store and starts a scheduler over actions. Closing
// happens in t.Cleanup, scheduler first.
func newHarness(t *testing.T, actions ...*Action) *harness {
	t.Helper()
	return newHarnessStore(t, store.Options{}, actions...)
}

// newHarnessStore is newHarness on a store opened with opts.
func newHarnessStore(t *testing.T, opts store.Options, actions ...*Action) *harness {
	t.Helper()
	h := newStoppedHarness(t, opts, actions...)
	if err := h.s.Start(); err != nil {
		t.Fatal(err)
	}
	return h
}

// newStoppedHarness is newHarnessStore with the scheduler not started;
// the scheduler's clock is the store's (opts.Now).
func newStoppedHarness(t *testing.T, opts store.Options, actions ...*Action) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "a.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig(actions)
	s := New(Options{Store: st, Logger: testLogger(t), KillGrace: time.Second, TempDir: dir, Now: opts.Now, Rand: rand.New(rand.NewPCG(1, 2))}, cfg)
	t.Cleanup(func() {
		s.Close()
		if err := st.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		st.Close()
	})
	return &harness{t: t, st: st, s: s, cfg: cfg, dir: dir}
}

// newHeldHarness is newHarness on a store whose commits, once block is set,
// wait until unblock: the seam to hold a finish in its commit. unblock
// runs (once) at cleanup, before the harness closes the store.
func newHeldHarness(t *testing.T, actions ...*Action) (h *harness, block *atomic.Bool, unblock func()) {
	t.Helper()
	block = new(atomic.Bool)
	release := make(chan struct{})
	h = newHarnessStore(t, store.Options{FailWrites: func() error {
		if block.Load() {
			<-release
		}
		return nil
	}}, actions...)
	unblock = sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	return h, block, unblock
}

// ingest stores an event for hook with body and the jobs the config plans.
func (h *harness) ingest(hook, body string) string {
	h.t.Helper()
	d := &tmpl.Data{Hook: hook, Event: "push", ContentType: "application/json", Body: []byte(body), Headers: map[string]string{}, Query: map[string]string{}}
	res, err := h.st.Ingest(context.Background(), &store.NewEvent{
		Hook: hook, Type: "push", ContentType: "application/json", Body: []byte(body), Jobs: h.cfg.Plan(hook, d),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.ID
}

// jobs returns an event's jobs.
func (h *harness) jobs(evID string) []*store.Job {
	h.t.Helper()
	ev, err := h.st.GetEvent(evID, false)
	if err != nil {
		h.t.Fatal(err)
	}
	js, err := h.st.Jobs(ev)
	if err != nil {
		h.t.Fatal(err)
	}
	return js
}

// waitState polls until the event's first job is in one of states.
func (h *harness) waitState(evID string, states ...store.State) *store.Job {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j := h.jobs(evID)[0]
		for _, s := range states {
			if j.State == s {
				return j
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("job %s is %s (%s); want %v", j.ID, j.State, j.Reason, states)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustTmpl(s string) *tmpl.Template { return tmpl.MustParse("t", s) }

func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func execAction(hook, name string, argv ...string) *Action {
	a := &Action{Hook: hook, Name: name, Timeout: 10 * time.Second, Concurrency: 1, Backoff: time.Second}
	for _, s := range argv {
		a.Run = append(a.Run, mustTmpl(s))
	}
	return a
}

func TestPlan(t *testing.T) {
	when, err := tmpl.Compile(`payload.ref == "refs/heads/main"`)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig([]*Action{
		{Hook: "h", Name: "main", When: when, Concurrency: 2, Coalesce: true},
		{Hook: "h", Name: "keyed", Key: mustTmpl("{{ .payload.repo }}")},
		{Hook: "other", Name: "x"},
	})
	d := &tmpl.Data{Hook: "h", ContentType: "application/json", Body: []byte(`{"ref":"refs/heads/dev"}`)}
	jobs := cfg.Plan("h", d)
	if len(jobs) != 2 {
		t.Fatalf("Plan = %d jobs; want 2", len(jobs))
	}
	if jobs[0].Skip == "" || !strings.Contains(jobs[0].Skip, `payload.ref is "refs/heads/dev"`) || jobs[0].Concurrency != 2 || !jobs[0].Coalesce {
		t.Errorf("job 0 = %+v; want skipped with the reason", jobs[0])
	}
	if !strings.Contains(jobs[1].Fail, `no key "repo"`) {
		t.Errorf("job 1 = %+v; want failed naming the key", jobs[1])
	}
	if got := cfg.Plan("nohook", d); got != nil {
		t.Errorf("Plan(nohook) = %v", got)
	}
}

func TestBackoff(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for n := 1; n <= 20; n++ {
		want := MaxBackoff
		if n < 10 {
			want = min(30*time.Second<<(n-1), MaxBackoff)
		}
		for i := 0; i < 100; i++ {
			got := backoff(30*time.Second, n, rnd)
			lo := time.Duration(float64(want) * 0.8)
			hi := min(time.Duration(float64(want)*1.2), MaxBackoff)
			if got < lo || got > hi {
				t.Fatalf("backoff(30s, %d) = %v; want within [%v, %v]", n, got, lo, hi)
			}
		}
	}
}

// A cut inside a character drops its leftover bytes: the kept output is
// text a person can read (é is two bytes, so 5 of them are 10).
func TestTail_CutInsideCharacter(t *testing.T) {
	tl := newTail(9)
	tl.Write([]byte(strings.Repeat("é", 5)))
	if b, trunc := tl.bytes(); string(b) != "éééé" || !trunc {
		t.Errorf("bytes = %q, %v; want the last 4 whole characters", b, trunc)
	}
	tl = newTail(9)
	tl.Write([]byte("x€y€")) // 1+3+1+3 bytes: uncut
	if b, trunc := tl.bytes(); string(b) != "x€y€" || trunc {
		t.Errorf("bytes = %q, %v; want all", b, trunc)
	}
}

func TestTail(t *testing.T) {
	tl := newTail(8)
	tl.Write([]byte("abc"))
	if b, trunc := tl.bytes(); string(b) != "abc" || trunc {
		t.Errorf("bytes = %q, %v", b, trunc)
	}
	tl.Write([]byte("defghij"))
	tl.Write([]byte("kl"))
	if b, trunc := tl.bytes(); string(b) != "efghijkl" || !trunc {
		t.Errorf("bytes = %q, %v; want the last 8", b, trunc)
	}
	tl.Write([]byte("0123456789"))
	if b, _ := tl.bytes(); string(b) != "23456789" {
		t.Errorf("bytes = %q", b)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"Mon, 23 Nov 2026 12:01:00 GMT": time.Minute,
		"soon":                          0,
		"-5":                            0,
		"86399":                         86399 * time.Second,
		"86400":                         24 * time.Hour,
		"100000":                        24 * time.Hour,
		// Past what a Duration holds once multiplied, and past uint64.
		"9999999999":                    24 * time.Hour,
		"99999999999999999999999":       24 * time.Hour,
		"Fri, 31 Dec 9999 23:59:59 GMT": 24 * time.Hour,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v; want %v", v, got, want)
		}
	}
}

// TestExec_Environment: a command gets its argv from templates, the body
// on stdin, the WEBHOOKD_ variables and env; its output is kept.
func TestExec_Environment(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "show.sh", `echo "args: $*"
echo "stdin: $(cat)"
echo "event=$WEBHOOKD_EVENT_ID hook=$WEBHOOKD_HOOK type=$WEBHOOKD_EVENT attempt=$WEBHOOKD_ATTEMPT repo=$REPO"
echo "payload file: $(cat "$WEBHOOKD_PAYLOAD_FILE")"
echo "to stderr" >&2
`)
	a := execAction("h", "show", sh, "{{ .payload.after }}", "two words")
	a.Env = []EnvVar{{Name: "REPO", Value: mustTmpl("{{ .payload.repo }}")}}
	h := newHarness(t, a)
	ev := h.ingest("h", `{"after":"abc123","repo":"o/r"}`)
	j := h.waitState(ev, store.Succeeded)
	runs, _ := h.st.Runs(j.ID)
	if len(runs) != 1 {
		t.Fatalf("runs = %d", len(runs))
	}
	out := string(runs[0].Output)
	for _, want := range []string{
		"args: abc123 two words",
		`stdin: {"after":"abc123","repo":"o/r"}`,
		fmt.Sprintf("event=%s hook=h type=push attempt=1 repo=o/r", ev),
		`payload file: {"after":"abc123","repo":"o/r"}`,
		"to stderr",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if runs[0].ExitCode == nil || *runs[0].ExitCode != 0 {
		t.Errorf("exit code = %v", runs[0].ExitCode)
	}
}

// TestExec_MissingKey: a template key the payload lacks fails the job
// with a message naming it, and runs nothing.
func TestExec_MissingKey(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	sh := script(t, dir, "touch.sh", "touch "+marker+"\n")
	h := newHarness(t, execAction("h", "a", sh, "{{ .payload.after }}"))
	ev := h.ingest("h", `{"before":"x"}`)
	j := h.waitState(ev, store.Dead)
	if !strings.Contains(j.Reason, `no key "after"`) {
		t.Errorf("reason = %q; want it to name the key", j.Reason)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the command ran")
	}
}

// TestExec_NoValueTextEscaped: a commit message that says "<no value>",
// sent as Go's encoding/json writes it (\u003cno value\u003e, as Gitea and
// Forgejo do), is passed to the command like any other text, not taken
// for a missing value.
func TestExec_NoValueTextEscaped(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "echo.sh", `echo "msg: $1"`+"\n")
	h := newHarness(t, execAction("h", "a", sh, "{{ .payload.head_commit.message }}"))
	ev := h.ingest("h", `{"head_commit":{"message":"tmpl: fix \u003cno value\u003e in output"}}`)
	j := h.waitState(ev, store.Succeeded, store.Dead, store.Failed)
	if j.State != store.Succeeded {
		t.Fatalf("job is %s (%s); want succeeded", j.State, j.Reason)
	}
	runs, _ := h.st.Runs(j.ID)
	if len(runs) != 1 || !strings.Contains(string(runs[0].Output), "msg: tmpl: fix <no value> in output") {
		t.Errorf("runs = %+v", runs)
	}
}

// TestExec_Unrunnable: an argument or environment value the payload
// fills with a NUL byte, or an empty command, can never be run: the job
// is dead at once, not retried.
func TestExec_Unrunnable(t *testing.T) {
	for name, a := range map[string]*Action{
		"nul in argument": execAction("h", "a", "/bin/echo", "{{ .payload.v }}"),
		"nul in env":      execAction("h", "a", "/bin/true"),
		"empty command":   execAction("h", "a", "{{ .payload.cmd }}"),
	} {
		t.Run(name, func(t *testing.T) {
			a.Retries = 3
			if name == "nul in env" {
				a.Env = []EnvVar{{Name: "V", Value: mustTmpl("{{ .payload.v }}")}}
			}
			h := newHarness(t, a)
			j := h.waitState(h.ingest("h", `{"v":"a\u0000b","cmd":""}`), store.Dead, store.Failed)
			if j.State != store.Dead || !strings.Contains(j.Reason, "nothing was run") {
				t.Errorf("job is %s (%s); want dead at once, nothing run", j.State, j.Reason)
			}
		})
	}
}

// TestExec_TooLong: an argument rendered from the event over what the
// kernel takes (E2BIG) fails the job at once: every retry would render it
// the same.
func TestExec_TooLong(t *testing.T) {
	dir := t.TempDir()
	a := execAction("h", "a", script(t, dir, "ok.sh", "exit 0\n"), "{{ .payload.big }}")
	a.Retries = 3
	h := newHarness(t, a)
	j := h.waitState(h.ingest("h", `{"big":"`+strings.Repeat("x", 256<<10)+`"}`), store.Dead, store.Succeeded)
	runs, _ := h.st.Runs(j.ID)
	if j.State != store.Dead || len(runs) != 1 || !strings.Contains(j.Reason, "too long") {
		t.Errorf("job %s after %d runs (%.80q); want dead after one, the argument too long", j.State, len(runs), j.Reason)
	}
}

// TestExec_MissingDir: an action whose dir is missing, or is no
// directory, fails with an error that names the directory, not one that
// says the command, which exists, is missing.
func TestExec_MissingDir(t *testing.T) {
	base := t.TempDir()
	sh := script(t, base, "deploy.sh", "echo deployed\n")
	file := filepath.Join(base, "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{
		"missing":       filepath.Join(base, "srv", "site"),
		"not directory": file,
	} {
		t.Run(name, func(t *testing.T) {
			a := execAction("h", "deploy", sh)
			a.Dir = dir
			h := newHarness(t, a)
			j := h.waitState(h.ingest("h", `{}`), store.Dead, store.Succeeded)
			if j.State != store.Dead || !strings.Contains(j.Reason, "dir "+dir+": ") {
				t.Errorf("job %s: %q; want it dead with a reason naming the dir %s", j.State, j.Reason, dir)
			}
		})
	}
}

// TestExec_TimeoutKillsGroup: at the timeout the command and the child it
// started in the background are both killed.
func TestExec_TimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	sh := script(t, dir, "hang.sh", "sleep 300 &\necho $! > "+pidFile+"\nsleep 300\n")
	a := execAction("h", "hang", sh)
	a.Timeout = 300 * time.Millisecond
	h := newHarness(t, a)
	ev := h.ingest("h", `{}`)
	j := h.waitState(ev, store.Dead)
	if !strings.Contains(j.Reason, "timed out after 300ms") {
		t.Errorf("reason = %q", j.Reason)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatalf("bad pid %q", b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("background child %d outlived its run", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExec_TimeoutThenShutdown: a run that timed out failed, also when a
// shutdown begins during its kill grace (the command ignores SIGTERM): it
// is not put back in its queue as a run cut off by the stop, to run again
// at the next start with no retries left.
func TestExec_TimeoutThenShutdown(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "stubborn.sh", "trap '' TERM\nwhile :; do sleep 0.05; done\n")
	a := execAction("h", "s", sh)
	a.Timeout = 200 * time.Millisecond
	h := newHarness(t, a) // KillGrace: 1s
	ev := h.ingest("h", `{}`)
	h.waitState(ev, store.Running)
	time.Sleep(500 * time.Millisecond) // timed out, and in its grace
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h.s.Shutdown(ctx)
	j := h.jobs(ev)[0]
	runs, err := h.st.Runs(j.ID)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs = %d, %v; want 1", len(runs), err)
	}
	if j.State != store.Dead || runs[0].Result != store.RunFailed || !strings.Contains(runs[0].Error, "timed out") {
		t.Errorf("job %s (%q), run %s (%q); want dead, its one run failed: it timed out", j.State, j.Reason, runs[0].Result, runs[0].Error)
	}
}

// TestExec_LeftoverKilled: a child left running when the command exits is
// killed, and does not hold the run open.
func TestExec_LeftoverKilled(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	sh := script(t, dir, "bg.sh", "sleep 300 &\necho $! > "+pidFile+"\necho done\n")
	h := newHarness(t, execAction("h", "bg", sh))
	start := time.Now()
	ev := h.ingest("h", `{}`)
	h.waitState(ev, store.Succeeded)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %v; the background child held it open", d)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for pid > 0 && syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("background child %d outlived its run", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExec_OutputCapped(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "loud.sh", "head -c 200000 /dev/zero | tr '\\0' 'a'\necho END\n")
	h := newHarness(t, execAction("h", "loud", sh))
	ev := h.ingest("h", `{}`)
	j := h.waitState(ev, store.Succeeded)
	runs, _ := h.st.Runs(j.ID)
	if len(runs[0].Output) != store.MaxOutput || !runs[0].Truncated || !strings.HasSuffix(string(runs[0].Output), "aEND\n") {
		t.Errorf("output %d bytes, truncated %v; want the last %d", len(runs[0].Output), runs[0].Truncated, store.MaxOutput)
	}
}

// TestScheduler_Retries: on a fake clock, a command that fails twice
// succeeds on its third attempt, each retry after the backoff.
func TestScheduler_Retries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		count := filepath.Join(dir, "count")
		sh := script(t, dir, "flaky.sh", `n=$(cat `+count+` 2>/dev/null || echo 0)
n=$((n+1)); echo $n > `+count+`
echo "attempt $WEBHOOKD_ATTEMPT"
[ $n -ge 3 ]
`)
		a := execAction("h", "flaky", sh)
		a.Retries = 2
		a.Backoff = 30 * time.Second
		h := newHarness(t, a)
		start := time.Now()
		ev := h.ingest("h", `{}`)
		for {
			synctest.Wait()
			j := h.jobs(ev)[0]
			if j.State == store.Succeeded || j.State == store.Dead {
				break
			}
			time.Sleep(time.Second)
		}
		j := h.jobs(ev)[0]
		if j.State != store.Succeeded || j.Attempts != 3 || j.Failures != 2 {
			t.Fatalf("job = %s attempts %d failures %d; want succeeded on attempt 3", j.State, j.Attempts, j.Failures)
		}
		runs, _ := h.st.Runs(j.ID)
		if len(runs) != 3 {
			t.Fatalf("runs = %d; want 3", len(runs))
		}
		// First retry after 30s ±20%, the second after 60s ±20%.
		gaps := []time.Duration{runs[1].Started.Sub(runs[0].Finished), runs[2].Started.Sub(runs[1].Finished)}
		for i, want := range []time.Duration{30 * time.Second, 60 * time.Second} {
			if gaps[i] < want*8/10 || gaps[i] > want*12/10+time.Second {
				t.Errorf("retry %d after %v; want about %v", i+1, gaps[i], want)
			}
		}
		if !strings.Contains(string(runs[2].Output), "attempt 3") {
			t.Errorf("third run output %q", runs[2].Output)
		}
		t.Logf("done after %v of fake time", time.Since(start))
	})
}

// TestScheduler_Dead: when the retries are spent the job is dead.
// TestScheduler_RetryDueAtOnce: a retry whose backoff is over before its
// failure is written (a backoff shorter than the wait for the commit) is
// not mistaken for the run that is ending: every attempt runs, and then
// the job behind it in its queue of concurrency 1.
func TestScheduler_RetryDueAtOnce(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "f.sh", `echo "$1 $WEBHOOKD_ATTEMPT" >> `+logf+"\n"+`[ "$1" = ok ]`+"\n")
	a := execAction("h", "a", sh, "{{ .payload.r }}")
	a.Retries = 2
	a.Backoff = time.Nanosecond
	h := newHarness(t, a)
	ev1 := h.ingest("h", `{"r":"fail"}`)
	ev2 := h.ingest("h", `{"r":"ok"}`)
	if j := h.waitState(ev1, store.Dead); j.Attempts != 3 {
		t.Errorf("dead after %d attempts; want 3", j.Attempts)
	}
	h.waitState(ev2, store.Succeeded)
	b, _ := os.ReadFile(logf)
	if got := strings.TrimSpace(string(b)); got != "fail 1\nfail 2\nfail 3\nok 1" {
		t.Errorf("runs:\n%s\nwant the three attempts of the first job, then the second", got)
	}
}

// TestScheduler_RetryWaitingRefused: retry on a job still waiting its turn
// in a queue of concurrency 1 is refused; it would run before the earlier
// job's retry.
func TestScheduler_RetryWaitingRefused(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "f.sh", `echo "$1" >> `+logf+"\n"+`[ "$1" = 2 ] || [ "$WEBHOOKD_ATTEMPT" -ge 2 ]`+"\n")
	a := execAction("h", "a", sh, "{{ .payload.n }}")
	a.Retries = 1
	a.Backoff = 2 * time.Second
	h := newHarness(t, a)
	ev1 := h.ingest("h", `{"n":1}`)
	ev2 := h.ingest("h", `{"n":2}`)
	h.waitState(ev1, store.Failed)
	if _, err := h.s.Retry(context.Background(), h.jobs(ev2)[0].ID); !errors.Is(err, store.ErrState) {
		t.Errorf("retry of a job waiting its turn = %v; want ErrState", err)
	}
	h.waitState(ev1, store.Succeeded)
	h.waitState(ev2, store.Succeeded)
	b, _ := os.ReadFile(logf)
	if got := strings.Join(strings.Fields(string(b)), ","); got != "1,1,2" {
		t.Errorf("runs started %s; want 1,1,2 (the second event after the first's retry)", got)
	}
}

// TestExec_RelativeCommand: a relative command path is resolved against
// the config file's directory (Base), not the dir the command runs in.
func TestExec_RelativeCommand(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"scripts", "work"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	script(t, filepath.Join(dir, "scripts"), "x.sh", "pwd -P > "+out+"\n")
	a := execAction("h", "a", "./scripts/x.sh")
	a.Base, a.Dir = dir, filepath.Join(dir, "work")
	h := newHarness(t, a)
	h.waitState(h.ingest("h", `{}`), store.Succeeded)
	b, err := os.ReadFile(out)
	want, _ := filepath.EvalSymlinks(a.Dir)
	if err != nil || strings.TrimSpace(string(b)) != want {
		t.Errorf("the command ran in %q (%v); want %s", strings.TrimSpace(string(b)), err, want)
	}
}

// TestExec_GraceForTheGroup: at the timeout, a leader that dies of SIGTERM
// at once does not cut the grace short for the rest of its group: a child
// that traps SIGTERM finishes its clean-up.
func TestExec_GraceForTheGroup(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "cleaned-up")
	child := script(t, dir, "child.sh", "trap 'sleep 0.3; echo done > "+marker+"; exit 0' TERM\nwhile :; do sleep 0.05; done\n")
	leader := script(t, dir, "leader.sh", child+" &\nwait\n")
	a := execAction("h", "deploy", leader)
	a.Timeout = 300 * time.Millisecond
	h := newHarness(t, a) // KillGrace: 1s
	h.waitState(h.ingest("h", `{}`), store.Dead)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the child's SIGTERM clean-up (0.3s) did not finish within the 1s grace: %v", err)
	}
}

// TestExec_SetsidServiceSurvives: a service a deploy starts with setsid,
// holding the output pipe, outlives the run: webhookd records the run
// after 2s but keeps draining the pipe rather than closing it (the
// service's next line would get SIGPIPE).
func TestExec_SetsidServiceSurvives(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "svc.pid")
	finished := filepath.Join(dir, "finished")
	svc := script(t, dir, "svc.sh", "echo $$ > "+pidFile+"\ni=0\nwhile [ $i -lt 15 ]; do echo \"log $i\"; sleep 0.2; i=$((i+1)); done\ntouch "+finished+"\n")
	// The deploy ends once the service is in a session of its own (it
	// writes its pid after setsid): before that, it is still in the run's
	// group, which goes when the run ends.
	deploy := script(t, dir, "deploy.sh", "setsid "+svc+" &\nwhile [ ! -s "+pidFile+" ]; do sleep 0.05; done\necho deployed\n")
	h := newHarness(t, execAction("h", "deploy", deploy))
	j := h.waitState(h.ingest("h", `{}`), store.Succeeded)
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatalf("service pid %q", b)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if runs, _ := h.st.Runs(j.ID); len(runs) != 1 || !strings.Contains(string(runs[0].Output), "deployed") {
		t.Errorf("runs = %+v; want one, with the deploy's output", runs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(finished); err == nil {
			break
		}
		if syscall.Kill(pid, 0) != nil {
			t.Fatalf("the setsid service (pid %d) died after the run ended", pid)
		}
		if time.Now().After(deadline) {
			t.Fatal("the service neither finished nor died")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What the service printed after the run was recorded is discarded:
	// the run did not wait for the service's end (3 s) to be recorded.
	if runs, _ := h.st.Runs(j.ID); len(runs) != 1 || strings.Contains(string(runs[0].Output), "log 14") {
		t.Errorf("runs = %+v; want one, without the service's last line", runs)
	}
}

func TestScheduler_Dead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := execAction("h", "fail", "/bin/false")
		a.Retries = 1
		h := newHarness(t, a)
		ev := h.ingest("h", `{}`)
		for h.jobs(ev)[0].State != store.Dead {
			synctest.Wait()
			time.Sleep(time.Second)
		}
		j := h.jobs(ev)[0]
		if j.Attempts != 2 || !strings.Contains(j.Reason, "no retries left") {
			t.Errorf("job = %+v", j)
		}
	})
}

// TestScheduler_Order: with concurrency 1, runs of an action start in the
// order their events arrived and never overlap.
func TestScheduler_Order(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	sh := script(t, dir, "order.sh", `echo "start $1" >> `+logf+`
sleep 0.05
echo "end $1" >> `+logf+"\n")
	a := execAction("h", "o", sh, "{{ .payload.n }}")
	h := newHarness(t, a)
	// Pause so that all five are queued before any starts.
	if err := h.s.SetPaused(context.Background(), "h", "o", true); err != nil {
		t.Fatal(err)
	}
	var evs []string
	for i := 1; i <= 5; i++ {
		evs = append(evs, h.ingest("h", fmt.Sprintf(`{"n":%d}`, i)))
	}
	if held := h.s.Held("h", "o"); !strings.Contains(held, "paused") {
		t.Errorf("Held = %q; want paused", held)
	}
	h.s.SetPaused(context.Background(), "h", "o", false)
	for _, ev := range evs {
		h.waitState(ev, store.Succeeded)
	}
	b, _ := os.ReadFile(logf)
	var want []string
	for i := 1; i <= 5; i++ {
		want = append(want, fmt.Sprintf("start %d", i), fmt.Sprintf("end %d", i))
	}
	if got := strings.Fields(strings.ReplaceAll(string(b), " ", "_")); strings.Join(got, ",") != strings.ReplaceAll(strings.Join(want, ","), " ", "_") {
		t.Errorf("log =\n%s\nwant strictly ordered, not overlapping", b)
	}
}

// TestScheduler_KeysAndConcurrency: keys make independent queues, and
// concurrency lets that many run at once.
func TestScheduler_KeysAndConcurrency(t *testing.T) {
	rcv := newHeldReceiver(t)
	defer rcv.release()
	a := &Action{Hook: "h", Name: "k", URL: mustTmpl(rcv.url), Method: "POST", Timeout: 10 * time.Second, Concurrency: 2, Key: mustTmpl("{{ .payload.branch }}")}
	h := newHarness(t, a)
	for i := 0; i < 4; i++ {
		h.ingest("h", `{"branch":"main"}`)
		h.ingest("h", `{"branch":"dev"}`)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rcv.peak() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if p := rcv.peak(); p != 4 {
		t.Errorf("peak concurrent runs = %d; want 4 (2 keys × concurrency 2)", p)
	}
}

// heldReceiver is an HTTP receiver that holds every request until
// release, and counts the most it held at once.
type heldReceiver struct {
	url     string
	release func()
	mu      sync.Mutex
	cur, hi int
}

// newHeldReceiver starts a heldReceiver; the test's cleanup releases and
// closes it.
func newHeldReceiver(t *testing.T) *heldReceiver {
	rcv := &heldReceiver{}
	held := make(chan struct{})
	rcv.release = sync.OnceFunc(func() { close(held) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rcv.mu.Lock()
		rcv.cur++
		rcv.hi = max(rcv.hi, rcv.cur)
		rcv.mu.Unlock()
		select {
		case <-held:
		case <-r.Context().Done():
		}
		rcv.mu.Lock()
		rcv.cur--
		rcv.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(rcv.release)
	rcv.url = srv.URL
	return rcv
}

// peak is the most requests the receiver held at once.
func (rcv *heldReceiver) peak() int {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return rcv.hi
}

// TestHTTP_RetryThenSuccess: a receiver answering 503, 503, 200 gets the
// body three times; the job succeeds once.
func TestHTTP_RetryThenSuccess(t *testing.T) {
	var calls atomic.Int32
	var bodies sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		bodies.Store(n, string(b)+"|"+r.Header.Get("webhook-id"))
		if n < 3 {
			w.WriteHeader(503)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(srv.URL + "/in"), Method: "POST", Timeout: 5 * time.Second,
		Concurrency: 1, Retries: 3, Backoff: 20 * time.Millisecond, SignKey: []byte("k")}
	h := newHarness(t, a)
	ev := h.ingest("h", `{"x":1}`)
	j := h.waitState(ev, store.Succeeded)
	if calls.Load() != 3 {
		t.Errorf("receiver called %d times; want 3", calls.Load())
	}
	for i := int32(1); i <= 3; i++ {
		v, _ := bodies.Load(i)
		if want := `{"x":1}|msg_` + h.st.Instance() + "_" + j.ID; v != want {
			t.Errorf("call %d got %q; want the body and the database's name and job id as webhook-id, %q", i, v, want)
		}
	}
	runs, _ := h.st.Runs(j.ID)
	if len(runs) != 3 || runs[0].Status != 503 || runs[2].Status != 200 || string(runs[2].Output) != "ok" {
		t.Errorf("runs = %+v", runs)
	}
}

// TestHTTP_HugeRetryAfter: a Retry-After too large to multiply into a
// Duration is a wait of a day (the cap), not a retry at the backoff.
func TestHTTP_HugeRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "9999999999")
		w.WriteHeader(503)
	}))
	defer srv.Close()
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(srv.URL), Method: "POST", Timeout: 5 * time.Second,
		Concurrency: 1, Retries: 3, Backoff: 20 * time.Millisecond}
	h := newHarness(t, a)
	ev := h.ingest("h", `{}`)
	j := h.waitState(ev, store.Failed)
	if wait := time.Until(j.NextAt); wait < 23*time.Hour {
		t.Errorf("retry due in %v; want the day Retry-After is capped at", wait.Round(time.Second))
	}
	time.Sleep(200 * time.Millisecond) // 10 backoffs
	if n := calls.Load(); n != 1 {
		t.Errorf("receiver called %d times; want 1", n)
	}
}

// TestHTTP_ClientErrorFailsAtOnce: a 4xx other than 408 and 429 is not retried.
func TestHTTP_ClientErrorFailsAtOnce(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(404)
	}))
	defer srv.Close()
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(srv.URL), Method: "POST", Timeout: 5 * time.Second, Concurrency: 1, Retries: 5, Backoff: 10 * time.Millisecond}
	h := newHarness(t, a)
	j := h.waitState(h.ingest("h", `{}`), store.Dead)
	if calls.Load() != 1 || !strings.Contains(j.Reason, "HTTP 404") {
		t.Errorf("calls = %d, reason %q; want one call, dead", calls.Load(), j.Reason)
	}
}

// TestHTTP_CannotBeSent: a request the client cannot send (a header value
// with a line break from the payload, a Host that is not a host, a url
// that renders to another scheme) fails at once, as a template error does, and is not retried.
func TestHTTP_CannotBeSent(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	for _, tc := range []struct {
		name, url, body, want string
		headers               []EnvVar
	}{
		{"header", srv.URL, `{"title":"line1\nline2"}`, "header X-Title: its value holds a line break", []EnvVar{{Name: "X-Title", Value: mustTmpl("{{ .payload.title }}")}}},
		{"host", srv.URL, `{"tenant":"a b/c"}`, "header Host: its value is not a host; nothing was sent", []EnvVar{{Name: "Host", Value: mustTmpl("{{ .payload.tenant }}.internal")}}},
		{"scheme", "{{ .payload.u }}", `{"u":"ftp://127.0.0.1/x"}`, `url "ftp://127.0.0.1/…" is not an http:// or https:// URL`, nil},
		// Only the host is quoted: the rest of a URL can be a credential.
		{"no scheme", "{{ .payload.u }}", `{"u":"hooks.slack.com/services/T0/B0/s3cretpath"}`, `url "hooks.slack.com/…" is not an http:// or https:// URL`, nil},
		// DEL is a control character too: the client would refuse it at every retry.
		{"delete character", srv.URL, `{"title":"a\u007fb"}`, "header X-Title: its value holds a line break or another control character", []EnvVar{{Name: "X-Title", Value: mustTmpl("{{ .payload.title }}")}}},
		{"no host", "{{ .payload.u }}", `{"u":"http:///x"}`, `url "http:///…" is not an http:// or https:// URL`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(tc.url), Method: "POST", Timeout: 5 * time.Second,
				Concurrency: 1, Retries: 3, Backoff: 10 * time.Millisecond, Headers: tc.headers}
			h := newHarness(t, a)
			j := h.waitState(h.ingest("h", tc.body), store.Dead)
			runs, _ := h.st.Runs(j.ID)
			if len(runs) != 1 || !strings.Contains(j.Reason, tc.want) {
				t.Errorf("%d runs, reason %q; want one run, and %q", len(runs), j.Reason, tc.want)
			}
		})
	}
	if calls.Load() != 0 {
		t.Errorf("the receiver got %d requests; want none", calls.Load())
	}
}

// TestHTTP_ErrorQuotesHostOnly: a network error, stored with the run,
// logged and shown, quotes the URL's scheme and host, not its path (a
// Slack or Discord webhook URL's path is its credential).
func TestHTTP_ErrorQuotesHostOnly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl("http://" + addr + "/services/T0/B0/s3cretpath"), Method: "POST",
		Timeout: 5 * time.Second, Concurrency: 1}
	h := newHarness(t, a)
	j := h.waitState(h.ingest("h", `{}`), store.Dead)
	runs, _ := h.st.Runs(j.ID)
	if len(runs) != 1 || strings.Contains(j.Reason+runs[0].Error, "s3cretpath") || !strings.Contains(runs[0].Error, `"http://`+addr+`/…"`) {
		t.Errorf("reason %q, run error %q; want the host only", j.Reason, runs[0].Error)
	}
}

// TestHTTP_RedirectQuotesHostOnly: a redirect's Location is quoted as far
// as its host: it often carries the configured URL's path, a credential.
func TestHTTP_RedirectQuotesHostOnly(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://hooks.example"+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	defer srv.Close()
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(srv.URL + "/services/T0/B0/s3cretpath?token=s3cretquery"), Method: "POST",
		Timeout: 5 * time.Second, Concurrency: 1}
	h := newHarness(t, a)
	j := h.waitState(h.ingest("h", `{}`), store.Dead)
	if strings.Contains(j.Reason, "s3cret") || !strings.Contains(j.Reason, `"https://hooks.example/…"`) {
		t.Errorf("reason %q; want the redirect's host only", j.Reason)
	}
}

// TestHTTP_RenderErrorQuotesNoCredential: a url, header or body template
// that cannot render for an event fails the job naming the key, without
// quoting what may be a credential: the url past its host, a header's or
// the body's source.
func TestHTTP_RenderErrorQuotesNoCredential(t *testing.T) {
	for name, a := range map[string]*Action{
		"url":    {URL: mustTmpl("https://hooks.slack.com/services/T0/B0/s3cretpath?channel={{ .payload.channel }}")},
		"header": {URL: mustTmpl("http://127.0.0.1:1/x"), Headers: []EnvVar{{Name: "Authorization", Value: mustTmpl("Bearer s3cret-{{ .payload.channel }}")}}},
		"body":   {URL: mustTmpl("http://127.0.0.1:1/x"), Body: mustTmpl(`{"token":"s3cret","c":"{{ .payload.channel }}"}`)},
	} {
		t.Run(name, func(t *testing.T) {
			a.Hook, a.Name, a.Method, a.Timeout, a.Concurrency = "h", "relay", "POST", 5*time.Second, 1
			h := newHarness(t, a)
			j := h.waitState(h.ingest("h", `{}`), store.Dead)
			if strings.Contains(j.Reason, "s3cret") || !strings.Contains(j.Reason, `no key "channel"`) {
				t.Errorf("reason %q; want the missing key named, no credential", j.Reason)
			}
		})
	}
}

// TestHTTP_AnswerCutAtCharacter: a kept answer cut at its 64 KiB ends at
// a whole character.
func TestHTTP_AnswerCutAtCharacter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("a", maxResponse-1) + strings.Repeat("é", 10)))
	}))
	defer srv.Close()
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(srv.URL), Method: "POST", Timeout: 5 * time.Second, Concurrency: 1}
	h := newHarness(t, a)
	j := h.waitState(h.ingest("h", `{}`), store.Succeeded)
	runs, _ := h.st.Runs(j.ID)
	if len(runs) != 1 || !runs[0].Truncated || !utf8.Valid(runs[0].Output) || len(runs[0].Output) != maxResponse-1 {
		t.Errorf("kept %d bytes (valid UTF-8 %v, truncated %v); want the %d before the cut character", len(runs[0].Output), utf8.Valid(runs[0].Output), runs[0].Truncated, maxResponse-1)
	}
}

// TestHTTP_HostAndCutOff: a Host in headers is the request's Host; a
// response cut off by the timeout is kept as far as it came, marked as
// not all of it.
func TestHTTP_HostAndCutOff(t *testing.T) {
	var host atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		w.WriteHeader(200)
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(srv.URL), Method: "POST", Timeout: 300 * time.Millisecond,
		Concurrency: 1, Headers: []EnvVar{{Name: "Host", Value: mustTmpl("internal.example")}}}
	h := newHarness(t, a)
	j := h.waitState(h.ingest("h", `{}`), store.Succeeded)
	if host.Load() != "internal.example" {
		t.Errorf("Host = %v; want internal.example", host.Load())
	}
	runs, _ := h.st.Runs(j.ID)
	if len(runs) != 1 || string(runs[0].Output) != "partial" || !runs[0].Truncated {
		t.Errorf("runs = %+v; want the output so far, marked truncated", runs)
	}
}

// TestScheduler_Held: a job whose action leaves the config waits, and runs
// when it comes back.
func TestScheduler_Held(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	sh := script(t, dir, "touch.sh", "touch "+marker+"\n")
	a := execAction("h", "a", sh)
	h := newHarness(t)
	// The event arrives while the config has the action (as planned), but
	// the scheduler's config lacks it.
	h.cfg = NewConfig([]*Action{a})
	ev := h.ingest("h", `{}`)
	time.Sleep(200 * time.Millisecond)
	if j := h.jobs(ev)[0]; j.State != store.Pending {
		t.Fatalf("job = %s; want pending (held)", j.State)
	}
	if held := h.s.Held("h", "a"); !strings.Contains(held, "held") {
		t.Errorf("Held = %q", held)
	}
	h.s.SetConfig(NewConfig([]*Action{a}))
	h.waitState(ev, store.Succeeded)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("held job did not run after the action returned")
	}
}

// TestScheduler_ShutdownInterrupts: a run cut off by a shutdown goes back
// to its queue, not counted as a failure.
func TestScheduler_ShutdownInterrupts(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "slow.sh", "sleep 30\n")
	h := newHarness(t, execAction("h", "slow", sh))
	ev := h.ingest("h", `{}`)
	h.waitState(ev, store.Running)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	n, _ := h.s.Shutdown(ctx)
	if n != 1 {
		t.Errorf("Shutdown interrupted %d runs; want 1", n)
	}
	j := h.jobs(ev)[0]
	if j.State != store.Pending || j.Failures != 0 {
		t.Errorf("job after shutdown = %s failures %d; want pending, 0", j.State, j.Failures)
	}
	runs, _ := h.st.Runs(j.ID)
	if len(runs) != 1 || runs[0].Result != store.RunInterrupted {
		t.Errorf("runs = %+v; want one interrupted", runs)
	}
}

func TestScheduler_CancelRunning(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "slow.sh", "sleep 30\n")
	h := newHarness(t, execAction("h", "slow", sh))
	ev := h.ingest("h", `{}`)
	j := h.waitState(ev, store.Running)
	got, err := h.s.Cancel(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The answer is the job as it ended, not as it ran.
	if got.State != store.Cancelled {
		t.Errorf("Cancel answered the job %s; want cancelled", got.State)
	}
	h.waitState(ev, store.Cancelled)
}

// TestScheduler_CancelJustStarted: a cancel that comes as soon as the
// store shows the job running (its start is committed, its run being
// launched) cancels it, rather than answering that a running job cannot
// be cancelled.
func TestScheduler_CancelJustStarted(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, execAction("h", "slow", script(t, dir, "slow.sh", "sleep 30\n")))
	for i := range 20 {
		ev := h.ingest("h", `{}`)
		id := h.jobs(ev)[0].ID
		deadline := time.Now().Add(10 * time.Second)
		for {
			j, err := h.st.GetJob(id)
			if err != nil {
				t.Fatal(err)
			}
			if j.State == store.Running {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s is %s; want running", id, j.State)
			}
		}
		got, err := h.s.Cancel(context.Background(), id)
		if err != nil || got.State != store.Cancelled {
			t.Fatalf("cancel %d, the moment the job shows running: %v, %v; want it cancelled", i, got, err)
		}
	}
}

// A run whose finish is being written is over: Running (what /api/status
// and the dashboard show) lists the run its finish started, not both, so
// it never shows more runs than the action's concurrency.
func TestScheduler_RunningExcludesFinishing(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "wait.sh", `while [ ! -e "$0.go-$1" ]; do sleep 0.01; done`+"\n")
	h, block, unblock := newHeldHarness(t, execAction("h", "seq", sh, "{{ .payload.n }}"))

	ev1 := h.ingest("h", `{"n": 1}`)
	ev2 := h.ingest("h", `{"n": 2}`)
	j1 := h.waitState(ev1, store.Running)
	j2 := h.jobs(ev2)[0]

	// Run 1 ends; its finish, which starts run 2, is held in its commit.
	block.Store(true)
	if err := os.WriteFile(sh+".go-1", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ids []string
		for _, j := range h.s.Running() {
			ids = append(ids, j.ID)
		}
		if slices.Contains(ids, j2.ID) {
			if len(ids) != 1 {
				t.Errorf("Running = %v while run 1 (%s) is being recorded; want only run 2 (%s)", ids, j1.ID, j2.ID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run 2 never started; Running = %v", ids)
		}
		time.Sleep(5 * time.Millisecond)
	}
	block.Store(false)
	unblock()
	if err := os.WriteFile(sh+".go-2", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	h.waitState(ev2, store.Succeeded)
	if j := h.jobs(ev1)[0]; j.State != store.Succeeded {
		t.Errorf("run 1 is %s; want succeeded", j.State)
	}
}

func TestScheduler_Replay(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	sh := script(t, dir, "count.sh", "echo x >> "+count+"\n")
	h := newHarness(t, execAction("h", "c", sh))
	ev := h.ingest("h", `{}`)
	h.waitState(ev, store.Succeeded)
	jobs, err := h.s.Replay(context.Background(), ev, "")
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Replay = %v, %v", jobs, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		js := h.jobs(ev)
		if len(js) == 2 && js[1].State == store.Succeeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replayed job did not run: %+v", js[len(js)-1])
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, _ := os.ReadFile(count)
	if strings.Count(string(b), "x") != 2 {
		t.Errorf("ran %d times; want 2", strings.Count(string(b), "x"))
	}
	if _, err := h.s.Replay(context.Background(), ev, "nope"); err == nil {
		t.Errorf("Replay of a missing action succeeded")
	}
}

// TestExec_SetsidLastLine: a deploy whose last line starts a service with
// `setsid svc &` and ends at once does not take the service with it.
func TestExec_SetsidLastLine(t *testing.T) {
	dir := t.TempDir()
	var pids []string
	t.Cleanup(func() {
		for _, p := range pids {
			if pid, _ := strconv.Atoi(p); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	for i := range 5 {
		started := filepath.Join(dir, fmt.Sprint("started-", i))
		svc := script(t, dir, fmt.Sprint("svc-", i, ".sh"), "echo $$ > "+started+"\nsleep 5\n")
		deploy := script(t, dir, fmt.Sprint("deploy-", i, ".sh"), "setsid "+svc+" > /dev/null 2>&1 &\n")
		h := newHarness(t, execAction("h", "deploy", deploy))
		h.waitState(h.ingest("h", `{}`), store.Succeeded)
		deadline := time.Now().Add(3 * time.Second)
		for {
			if b, err := os.ReadFile(started); err == nil && len(b) > 0 {
				pids = append(pids, strings.TrimSpace(string(b)))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: the service started with `setsid svc &` as the deploy's last line never ran", i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestScheduler_RetrySkippedKeepsKeyQueue: with key = ref and
// concurrency = 1, a job whose `when` was false is retried while a job of
// the same branch runs. It belongs to the branch's queue, so it waits for
// that run; it does not run beside it in the empty key's queue.
func TestScheduler_RetrySkippedKeepsKeyQueue(t *testing.T) {
	dir := t.TempDir()
	logf := filepath.Join(dir, "log")
	gate := filepath.Join(dir, "gate")
	sh := script(t, dir, "s.sh", `echo "start $1" >> `+logf+`
if [ "$1" = slow ]; then while [ ! -e `+gate+` ]; do sleep 0.02; done; fi
echo "end $1" >> `+logf+"\n")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	when, err := tmpl.Compile(`payload.go == true`)
	if err != nil {
		t.Fatal(err)
	}
	a := execAction("h", "deploy", sh, "{{ .payload.n }}")
	a.When = when
	a.Key = mustTmpl("{{ .payload.ref }}")
	h := newHarness(t, a)

	ev1 := h.ingest("h", `{"ref":"refs/heads/main","go":true,"n":"slow"}`)
	h.waitState(ev1, store.Running)
	ev2 := h.ingest("h", `{"ref":"refs/heads/main","go":false,"n":"two"}`)
	j2 := h.waitState(ev2, store.Skipped)
	if _, err := h.s.Retry(context.Background(), j2.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	j2 = h.jobs(ev2)[0]
	b, _ := os.ReadFile(logf)
	if h.jobs(ev1)[0].State == store.Running && strings.Contains(string(b), "start two") {
		t.Errorf("the retried job (key %q, state %s) ran while the job before it in queue refs/heads/main runs, concurrency = 1:\n%s", j2.Key, j2.State, b)
	}
	os.WriteFile(gate, nil, 0o644)
	h.waitState(ev1, store.Succeeded)
}

// TestScheduler_RetrySkippedKeyFails: a job its when skipped has no key
// yet; a retry renders it from the event, and when it cannot be rendered
// the retry is refused, saying why, rather than running the job in the
// empty key's queue.
func TestScheduler_RetrySkippedKeyFails(t *testing.T) {
	dir := t.TempDir()
	when, err := tmpl.Compile(`payload.go == true`)
	if err != nil {
		t.Fatal(err)
	}
	a := execAction("h", "deploy", script(t, dir, "ok.sh", "exit 0\n"))
	a.When = when
	a.Key = mustTmpl("{{ .payload.ref }}")
	h := newHarness(t, a)
	ev := h.ingest("h", `{"go":false}`)
	j := h.waitState(ev, store.Skipped)
	if _, err := h.s.Retry(context.Background(), j.ID); err == nil || !strings.Contains(err.Error(), "queue key") {
		t.Errorf("Retry of a skipped job whose key cannot be rendered = %v; want it refused, naming the key", err)
	}
	if j := h.jobs(ev)[0]; j.State != store.Skipped {
		t.Errorf("job after the refused retry = %s; want still skipped", j.State)
	}
}

// TestWhyNotStarted_PermissionDenied: EACCES for a script without the
// exec bit says chmod +x; for one that has it (on a file system mounted
// noexec, or behind a directory the daemon's user may not enter, which a
// test run as root cannot make), it says so, rather than leaving the
// kernel's bare "permission denied" for a file that is executable.
func TestWhyNotStarted_PermissionDenied(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.sh")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := script(t, dir, "exe.sh", "exit 0\n")
	denied := &os.PathError{Op: "fork/exec", Path: exe, Err: syscall.EACCES}
	if got := whyNotStarted(plain, denied); !strings.Contains(got, "chmod +x "+plain) {
		t.Errorf("a script without the exec bit: %q; want the chmod +x hint", got)
	}
	got := whyNotStarted(exe, denied)
	if strings.Contains(got, "chmod") || !strings.Contains(got, "noexec") || !strings.Contains(got, "directory") {
		t.Errorf("an executable script, permission denied: %q; want noexec and a directory named as the likely causes, no chmod hint", got)
	}
}

// TestScheduler_CutOffByStopsInARow: a job whose every run a stop cuts off
// (a script that restarts webhookd and waits for it) is dead after
// store.CutOffLimit of them in a row, with a reason that says what to do,
// rather than run again at every start for good; a run that ends by
// itself in between starts the count again.
func TestScheduler_CutOffByStopsInARow(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "slow.sh", `[ -e "$0.fail" ] && { rm -f "$0.fail"; exit 1; }
: >"$0.running"
sleep 30
`)
	a := execAction("h", "slow", sh)
	a.Retries = 3
	a.Backoff = time.Millisecond
	h := newHarness(t, a)
	ev := h.ingest("h", `{}`)
	s := h.s
	stop := func() {
		t.Helper()
		// Once the script runs: a run the store shows running may be
		// still being launched.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if os.Remove(sh+".running") == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the script did not run")
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if n, _ := s.Shutdown(ctx); n != 1 {
			t.Fatalf("Shutdown interrupted %d runs; want 1", n)
		}
	}
	start := func() {
		t.Helper()
		s = New(Options{Store: h.st, Logger: testLogger(t), KillGrace: time.Second, TempDir: dir}, h.cfg)
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
	}
	// Cut off store.CutOffLimit-1 times; the next run fails by itself, and
	// its retry runs.
	for i := 1; i < store.CutOffLimit; i++ {
		stop()
		if j := h.jobs(ev)[0]; j.State != store.Pending {
			t.Fatalf("job after a stop = %s (%s); want pending", j.State, j.Reason)
		}
		if i == store.CutOffLimit-1 {
			if err := os.WriteFile(sh+".fail", nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		start()
	}
	// From here, store.CutOffLimit cut-offs in a row: the last makes it dead.
	for i := 1; i <= store.CutOffLimit; i++ {
		stop()
		j := h.jobs(ev)[0]
		if i < store.CutOffLimit {
			if j.State != store.Pending {
				t.Fatalf("job after %d stops in a row = %s (%s); want pending", i, j.State, j.Reason)
			}
			start()
			continue
		}
		if j.State != store.Dead || !strings.Contains(j.Reason, "cut off by a stop") || !strings.Contains(j.Reason, "--no-block") {
			t.Errorf("job after %d stops in a row = %s (%q); want dead, saying why and what to do", i, j.State, j.Reason)
		}
	}
	runs, _ := h.st.Runs(h.jobs(ev)[0].ID)
	if len(runs) != 2*store.CutOffLimit {
		t.Errorf("%d runs recorded; want %d", len(runs), 2*store.CutOffLimit)
	}
}
