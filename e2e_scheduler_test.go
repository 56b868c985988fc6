package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// schedConfig is one GitHub hook (secret spineSecret) with the given
// actions; %DIR% is the test's directory.
func schedConfig(actions string) string {
	return `
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"
[store]
path = "webhookd.db"
[admin]
listen = "127.0.0.1:0"
[log]
level = "debug"

[[hook]]
id = "site"
provider = "github"
secret = "` + spineSecret + `"
` + actions
}

func writeScript(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// eventJobs returns the event's jobs as the API shows them.
func eventJobs(d *proc, id string) []map[string]any {
	_, ev := d.apiEvent(id)
	var out []map[string]any
	jobs, _ := ev["jobs"].([]any)
	for _, j := range jobs {
		m, _ := j.(map[string]any)
		out = append(out, m)
	}
	return out
}

func waitJobState(t *testing.T, d *proc, id, state string, timeout time.Duration) map[string]any {
	t.Helper()
	var job map[string]any
	waitFor(t, timeout, "event "+id+" job "+state, func() bool {
		js := eventJobs(d, id)
		if len(js) == 0 {
			return false
		}
		job = js[len(js)-1]
		return job["state"] == state
	})
	return job
}

// TestE2E_RetryThenSucceed: a script that fails twice succeeds on its
// third attempt; every attempt is a run with its output.
func TestE2E_RetryThenSucceed(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "flaky"
  run = ["./flaky.sh"]
  retries = 2
  backoff = "100ms"
`))
	writeScript(t, dir, "flaky.sh", `echo "attempt $WEBHOOKD_ATTEMPT"
[ "$WEBHOOKD_ATTEMPT" -ge 3 ]
`)
	d := startDaemon(t, dir)
	r := d.postGitHub("/hooks/site", spineSecret, "push", "r-1", pushBody("refs/heads/main", "a"))
	id := fmt.Sprint(r.Body["id"])
	job := waitJobState(t, d, id, "succeeded", 20*time.Second)
	runs, _ := job["runs"].([]any)
	if len(runs) != 3 || job["attempts"] != float64(3) || job["failures"] != float64(2) {
		t.Fatalf("job = %v; want 3 runs, 2 failures", job)
	}
	for i, r := range runs {
		m := r.(map[string]any)
		want := "failed"
		if i == 2 {
			want = "succeeded"
		}
		if m["result"] != want || !strings.Contains(fmt.Sprint(m["output"]), fmt.Sprintf("attempt %d", i+1)) {
			t.Errorf("run %d = %v; want %s with its output", i+1, m, want)
		}
	}
}

// TestE2E_HungScriptKilled: a hung script and the child it started are
// killed at the timeout.
func TestE2E_HungScriptKilled(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "hang"
  run = ["./hang.sh"]
  timeout = "500ms"
`))
	writeScript(t, dir, "hang.sh", "sleep 300 &\necho $! > child.pid\nsleep 300\n")
	d := startDaemon(t, dir)
	r := d.postGitHub("/hooks/site", spineSecret, "push", "h-1", pushBody("refs/heads/main", "a"))
	job := waitJobState(t, d, fmt.Sprint(r.Body["id"]), "dead", 20*time.Second)
	if !strings.Contains(fmt.Sprint(job["reason"]), "timed out after 500ms") {
		t.Errorf("reason = %v", job["reason"])
	}
	b, err := os.ReadFile(filepath.Join(dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitFor(t, 5*time.Second, "the background child to die", func() bool { return pid > 0 && syscall.Kill(pid, 0) != nil })
}

// TestE2E_OrderNoOverlap: with concurrency 1, five events run in arrival
// order and never overlap.
func TestE2E_OrderNoOverlap(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./order.sh", "{{ .payload.after }}"]
`))
	writeScript(t, dir, "order.sh", "echo start-$1 >> order.log\nsleep 0.1\necho end-$1 >> order.log\n")
	d := startDaemon(t, dir)
	var want []string
	for i := 1; i <= 5; i++ {
		r := d.postGitHub("/hooks/site", spineSecret, "push", fmt.Sprint("o-", i), pushBody("refs/heads/main", fmt.Sprint(i)))
		if r.Status != 202 {
			t.Fatalf("push %d = %d", i, r.Status)
		}
		want = append(want, fmt.Sprint("start-", i), fmt.Sprint("end-", i))
	}
	logf := filepath.Join(dir, "order.log")
	waitFor(t, 20*time.Second, "five runs", func() bool { return len(readLines(t, logf)) == 10 })
	if got := readLines(t, logf); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("runs = %v; want %v", got, want)
	}
}

// TestE2E_CoalescedBurst: while a deploy runs, a burst of pushes queues;
// only the newest of the burst runs after it.
func TestE2E_CoalescedBurst(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./deploy.sh", "{{ .payload.after }}"]
  coalesce = true
`))
	writeScript(t, dir, "deploy.sh", "echo $1 >> deploys.log\n[ \"$1\" = first ] && while [ ! -e go ]; do sleep 0.05; done\nexit 0\n")
	d := startDaemon(t, dir)
	first := d.postGitHub("/hooks/site", spineSecret, "push", "c-0", pushBody("refs/heads/main", "first"))
	waitJobState(t, d, fmt.Sprint(first.Body["id"]), "running", 10*time.Second)
	var ids []string
	for i := 1; i <= 9; i++ {
		r := d.postGitHub("/hooks/site", spineSecret, "push", fmt.Sprint("c-", i), pushBody("refs/heads/main", fmt.Sprint("burst", i)))
		ids = append(ids, fmt.Sprint(r.Body["id"]))
	}
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o600)
	waitJobState(t, d, ids[8], "succeeded", 20*time.Second)
	if got := readLines(t, filepath.Join(dir, "deploys.log")); strings.Join(got, " ") != "first burst9" {
		t.Errorf("deploys = %v; want [first burst9]", got)
	}
	for _, id := range ids[:8] {
		job := eventJobs(d, id)[0]
		if job["state"] != "skipped" || !strings.Contains(fmt.Sprint(job["reason"]), "superseded by event") {
			t.Errorf("event %s job = %v %v; want skipped as superseded", id, job["state"], job["reason"])
		}
	}
}

// TestE2E_HTTPRelay: a receiver answering 503, 503, 200 gets the body three
// times and the job succeeds once; the request is signed.
func TestE2E_HTTPRelay(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		n := len(got)
		mu.Unlock()
		if r.Header.Get("webhook-signature") == "" {
			w.WriteHeader(400)
			return
		}
		if n < 3 {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "relay"
  url = "`+srv.URL+`/in"
  retries = 3
  backoff = "100ms"
  sign = { scheme = "standard", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }
`))
	d := startDaemon(t, dir)
	body := pushBody("refs/heads/main", "relay")
	r := d.postGitHub("/hooks/site", spineSecret, "push", "x-1", body)
	job := waitJobState(t, d, fmt.Sprint(r.Body["id"]), "succeeded", 20*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests; want 3", len(got))
	}
	for i, b := range got {
		if b != string(body) {
			t.Errorf("request %d body %q; want the delivery's body", i+1, b)
		}
	}
	if runs, _ := job["runs"].([]any); len(runs) != 3 || runs[2].(map[string]any)["status"] != float64(200) {
		t.Errorf("runs = %v", job["runs"])
	}
}

// TestE2E_AfterAKill: a daemon killed while a job runs cannot stop the
// run or remove its payload directories. The next start stops that run
// before it runs the job again (so that, with concurrency 1, the two runs
// do not overlap) and removes the directories; a clean stop then leaves
// nothing. The memory directory is a runtime directory of the test's own
// on /dev/shm, as systemd would give.
func TestE2E_AfterAKill(t *testing.T) {
	shm, err := os.MkdirTemp("/dev/shm", "webhookd-e2e-")
	if err != nil {
		t.Skipf("no /dev/shm to stand for a runtime directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	dir, tmp := t.TempDir(), t.TempDir()
	env := []string{"RUNTIME_DIRECTORY=" + shm, "TMPDIR=" + tmp}
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./slow.sh"]
`))
	// The first run would last 300 s and records its pid; the second
	// records whether the first is still alive (a zombie is not), then ends.
	writeScript(t, dir, "slow.sh", `cat "$WEBHOOKD_PAYLOAD_FILE" > /dev/null && echo run >> runs.log
if [ -f first.pid ]; then
	state=$(cut -d' ' -f3 /proc/$(cat first.pid)/stat 2>/dev/null)
	if [ -n "$state" ] && [ "$state" != Z ]; then echo "overlap: the first run is alive ($state)" >> runs.log; fi
	exit 0
fi
echo $$ > first.pid
sleep 300
`)
	runDirs := func() []string {
		var out []string
		for _, parent := range []string{shm, tmp} {
			m, _ := filepath.Glob(filepath.Join(parent, "webhookd-runs-*"))
			out = append(out, m...)
		}
		return out
	}

	d := startDaemon(t, dir, env...)
	r := d.postGitHub("/hooks/site", spineSecret, "push", "k-1", pushBody("refs/heads/main", "a"))
	if r.Status != 202 {
		t.Fatalf("push = %d", r.Status)
	}
	var first int
	waitFor(t, 10*time.Second, "the first run's pid", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "first.pid"))
		first, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return first > 0
	})
	// Should the daemon fail to stop it, the test does (its group, by the
	// run's pid).
	t.Cleanup(func() { syscall.Kill(-first, syscall.SIGKILL) })
	left := runDirs()
	payloads, _ := filepath.Glob(filepath.Join(shm, "webhookd-runs-*", "webhookd-payload-*"))
	if len(left) != 2 || len(payloads) != 1 {
		t.Fatalf("while the job runs: run directories %v, payload files %v; want one of each kind of directory and one payload file", left, payloads)
	}
	d.kill()
	if got := runDirs(); len(got) != 2 {
		t.Fatalf("after SIGKILL: run directories %v; want the two the daemon could not remove", got)
	}
	if err := syscall.Kill(first, 0); err != nil {
		t.Fatalf("the first run died with its daemon (%v); this test needs it to outlive it", err)
	}
	// Restarted at once: the killed daemon's locks may outlive it by some
	// milliseconds (docs/reliability.md), which the start has to wait out.
	d = startDaemon(t, dir, env...)
	runs := filepath.Join(dir, "runs.log")
	waitFor(t, 20*time.Second, "the interrupted job to run again", func() bool { return len(readLines(t, runs)) >= 2 })
	time.Sleep(100 * time.Millisecond) // an overlap line comes right after
	if got := readLines(t, runs); len(got) != 2 {
		t.Errorf("runs.log = %q; want two runs, the second after the first was stopped", got)
	}
	for _, want := range []string{
		"stopping the runs a webhookd that did not stop left running",
		"removed payload directories left by a webhookd that did not stop",
	} {
		if !strings.Contains(d.log.String(), want) {
			t.Errorf("no log line %q", want)
		}
	}
	now := runDirs()
	for _, p := range left {
		if slices.Contains(now, p) {
			t.Errorf("%s, the killed daemon's, is still there after a start", p)
		}
	}
	if len(now) != 2 {
		t.Errorf("run directories after the restart: %v; want the new daemon's two", now)
	}
	if err := d.stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if got := runDirs(); len(got) != 0 {
		t.Errorf("after a clean stop: run directories %v; want none", got)
	}
}

// TestE2E_AfterAKillQuietChildStopped: a deploy that prints a
// progress line while its build step (a child, in the run's group, that
// writes to its own log) works. webhookd is killed with SIGKILL; the
// deploy's next progress line meets a pipe with no reader and the deploy
// dies of SIGPIPE, leaving the build running in the run's group. The next
// start must stop that group before it runs the job again (README: "so a
// queue's runs still never overlap").
func TestE2E_AfterAKillQuietChildStopped(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./deploy.sh"]
`))
	writeScript(t, dir, "build.sh", `echo $$ > build.pid
sleep 300
`)
	writeScript(t, dir, "deploy.sh", `echo run >> runs.log
if [ -f build.pid ]; then
	state=$(cut -d' ' -f3 /proc/$(cat build.pid)/stat 2>/dev/null)
	if [ -n "$state" ] && [ "$state" != Z ]; then echo "overlap: the first run's build is alive ($state)" >> runs.log; fi
	exit 0
fi
echo $$ > deploy.pid
./build.sh > build.log 2>&1 &
while kill -0 $! 2>/dev/null; do echo "building..."; sleep 0.1; done
`)
	d := startDaemon(t, dir)
	if r := d.postGitHub("/hooks/site", spineSecret, "push", "k-1", pushBody("refs/heads/main", "a")); r.Status != 202 {
		t.Fatalf("push = %d", r.Status)
	}
	var deploy, build int
	waitFor(t, 10*time.Second, "the first run's pids", func() bool {
		deploy, build = readPid(dir, "deploy.pid"), readPid(dir, "build.pid")
		return deploy > 0 && build > 0
	})
	t.Cleanup(func() { syscall.Kill(-deploy, syscall.SIGKILL) })
	d.kill()
	// The deploy does not go on: its next progress line kills it (SIGPIPE).
	waitFor(t, 5*time.Second, "the deploy to die of SIGPIPE", func() bool { return !procAlive(deploy) })
	d = startDaemon(t, dir)
	runs := filepath.Join(dir, "runs.log")
	waitFor(t, 20*time.Second, "the interrupted job to run again", func() bool { return len(readLines(t, runs)) >= 2 })
	time.Sleep(200 * time.Millisecond)
	if got := readLines(t, runs); len(got) != 2 {
		t.Errorf("runs.log = %q; want two runs, the second after the first run's group was stopped", got)
	}
}

// TestE2E_AfterAKillSetsidServiceLives: a deploy that starts a service
// with setsid (to outlive the run, as the README says) and goes on. The
// daemon is killed; the next start stops the deploy before it runs the
// job again, and leaves the service alone, though the service leads a
// session as the deploy does and names the same payload file: the run's
// group record tells them apart.
func TestE2E_AfterAKillSetsidServiceLives(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./deploy.sh"]
`))
	writeScript(t, dir, "svc.sh", `echo $$ > svc.pid
exec sleep 300
`)
	writeScript(t, dir, "deploy.sh", `echo run >> runs.log
if [ -f deploy.pid ]; then exit 0; fi
setsid ./svc.sh > /dev/null 2>&1 &
echo $$ > deploy.pid
sleep 300
`)
	d := startDaemon(t, dir)
	if r := d.postGitHub("/hooks/site", spineSecret, "push", "s-1", pushBody("refs/heads/main", "a")); r.Status != 202 {
		t.Fatalf("push = %d", r.Status)
	}
	var deploy, svc int
	waitFor(t, 10*time.Second, "the deploy's and the service's pids", func() bool {
		deploy, svc = readPid(dir, "deploy.pid"), readPid(dir, "svc.pid")
		return deploy > 0 && svc > 0
	})
	t.Cleanup(func() {
		syscall.Kill(-deploy, syscall.SIGKILL)
		syscall.Kill(-svc, syscall.SIGKILL)
	})
	d.kill()
	d = startDaemon(t, dir)
	waitFor(t, 20*time.Second, "the interrupted job to run again", func() bool { return len(readLines(t, filepath.Join(dir, "runs.log"))) >= 2 })
	if procAlive(deploy) {
		t.Errorf("the killed daemon's deploy (pid %d) is alive after the restart ran its job again", deploy)
	}
	if !procAlive(svc) {
		t.Errorf("the service the deploy started with setsid (pid %d) was stopped by the restart", svc)
	}
}

// TestE2E_AfterAKillEndedRunsServiceLives: a deploy starts a service
// with setsid and ends, as the README says to; its run is recorded and
// its payload file removed. The daemon is killed later, with nothing
// running; the next start must leave that service alone, though the
// service leads a session and names the ended run's payload file in the
// dead daemon's run directory.
func TestE2E_AfterAKillEndedRunsServiceLives(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./deploy.sh"]
`))
	writeScript(t, dir, "svc.sh", `echo $$ > svc.pid.new && mv svc.pid.new svc.pid
exec sleep 300
`)
	writeScript(t, dir, "deploy.sh", `echo run >> runs.log
if [ -f svc.pid ]; then exit 0; fi
setsid ./svc.sh > /dev/null 2>&1 &
while [ ! -s svc.pid ]; do sleep 0.05; done
`)
	d := startDaemon(t, dir)
	r := d.postGitHub("/hooks/site", spineSecret, "push", "e-1", pushBody("refs/heads/main", "a"))
	if r.Status != 202 {
		t.Fatalf("push = %d", r.Status)
	}
	id, _ := r.Body["id"].(string)
	var svc int
	waitFor(t, 10*time.Second, "the service's pid", func() bool {
		svc = readPid(dir, "svc.pid")
		return svc > 0
	})
	t.Cleanup(func() { syscall.Kill(-svc, syscall.SIGKILL) })
	waitFor(t, 10*time.Second, "the deploy's job to succeed", func() bool {
		_, ev := d.apiEvent(id)
		return slices.Equal(jobStates(ev), []string{"succeeded"})
	})
	d.kill()
	waitRunDirsUnlocked(t, dir)
	d = startDaemon(t, dir)
	// Jobs are dispatched once the dead daemon's runs are stopped.
	if r := d.postGitHub("/hooks/site", spineSecret, "push", "e-2", pushBody("refs/heads/main", "b")); r.Status != 202 {
		t.Fatalf("push = %d", r.Status)
	}
	waitFor(t, 20*time.Second, "the second push's run", func() bool { return len(readLines(t, filepath.Join(dir, "runs.log"))) >= 2 })
	if !strings.Contains(d.log.String(), "removed payload directories left by a webhookd that did not stop") {
		t.Fatalf("the restart did not find the killed daemon's run directories; this test needs them")
	}
	if !procAlive(svc) {
		t.Errorf("the service a finished deploy started with setsid (pid %d) was stopped by the restart after a kill", svc)
	}
}

// waitRunDirsUnlocked waits until no run directory of the daemons on dir
// (runDirsEnv) is locked: a killed daemon's lock can outlive it by some
// milliseconds, and a start that came before would not see its
// directories as a dead daemon's.
func waitRunDirsUnlocked(t *testing.T, dir string) {
	t.Helper()
	sum := sha256.Sum256([]byte(dir))
	shm := filepath.Join("/dev/shm", "webhookd-e2e-"+hex.EncodeToString(sum[:8]))
	locks, _ := filepath.Glob(filepath.Join(dir, ".tmp", "webhookd-runs-*", "lock"))
	more, _ := filepath.Glob(filepath.Join(shm, "webhookd-runs-*", "lock"))
	for _, l := range append(locks, more...) {
		waitFor(t, 10*time.Second, "the killed daemon's lock on "+l+" to go", func() bool {
			f, err := os.Open(l)
			if err != nil {
				return true
			}
			defer f.Close()
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
				return false
			}
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			return true
		})
	}
}

// queueConfig is an action "deploy" running ./q.sh with the push's after
// as its argument, and extra settings.
func queueConfig(extra string) string {
	return schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./q.sh", "{{ .payload.after }}"]
` + extra)
}

// TestE2E_KillThenLowerConcurrency: concurrency = 2; job a runs, job b
// failed and waits for its retry (both in flight), c waits. The daemon is
// killed (kill -9), concurrency is lowered to 1 while it is stopped, and
// it starts again: a runs first (the oldest, cut off by the kill), then b
// to its end, then c — as a live reload would have it, not b's retry
// ahead of a and a beside b.
func TestE2E_KillThenLowerConcurrency(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	dir := t.TempDir()
	writeConfig(t, dir, queueConfig(`  concurrency = 2
  retries = 3
  backoff = "1s"
`))
	// a: its first run waits for the file go; later ones take 0.3 s and
	// succeed. b: fails its first two attempts. c: succeeds.
	writeScript(t, dir, "q.sh", `echo "start-$1-$WEBHOOKD_ATTEMPT" >> q.log
case "$1" in
a) [ "$WEBHOOKD_ATTEMPT" = 1 ] && while [ ! -e go ]; do sleep 0.02; done; sleep 0.3 ;;
b) sleep 0.3; [ "$WEBHOOKD_ATTEMPT" -ge 3 ] || { echo "end-$1-$WEBHOOKD_ATTEMPT" >> q.log; exit 1; } ;;
esac
echo "end-$1-$WEBHOOKD_ATTEMPT" >> q.log
`)
	d := startDaemon(t, dir)
	ids := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		r := d.postGitHub("/hooks/site", spineSecret, "push", "q-"+n, pushBody("refs/heads/main", n))
		if r.Status != 202 {
			t.Fatalf("push %s = %d", n, r.Status)
		}
		ids[n] = fmt.Sprint(r.Body["id"])
		if n == "a" {
			waitJobState(t, d, ids[n], "running", 10*time.Second)
		}
	}
	waitJobState(t, d, ids["b"], "failed", 10*time.Second)
	d.kill()
	writeConfig(t, dir, queueConfig(`  concurrency = 1
  retries = 3
  backoff = "1s"
`))
	time.Sleep(1500 * time.Millisecond) // b's retry is due by the start
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o600)
	os.Remove(filepath.Join(dir, "q.log"))
	d = startDaemon(t, dir)
	waitJobState(t, d, ids["c"], "succeeded", 30*time.Second)
	got := readLines(t, filepath.Join(dir, "q.log"))
	t.Logf("runs after the restart: %v", got)
	if len(got) == 0 || !strings.HasPrefix(got[0], "start-a-") {
		t.Errorf("after the restart, with concurrency = 1, the first run is %v; want job a (the oldest, interrupted by the kill) first", got)
	}
	// With concurrency = 1, nothing starts while another job of the
	// queue runs or waits for its retry: b, once started, runs to the
	// end of its retries before a starts, or a before b.
	var order []string
	for _, l := range got {
		if strings.HasPrefix(l, "start-") {
			n := strings.Split(l, "-")[1]
			if len(order) == 0 || order[len(order)-1] != n {
				order = append(order, n)
			}
		}
	}
	if strings.Join(order, ",") != "a,b,c" {
		t.Errorf("jobs ran in the order %v; want a, b, c, each to its end (success or dead) before the next starts", order)
	}
}

// TestE2E_HTTPURLEscapesPayload: a payload value templated into an HTTP
// action's url arrives as that value: spaces, & and # neither break the
// request nor add a query parameter or cut the path, in the path (where
// its slashes stay) and in the query; a value the template already passes
// through urlquery is not escaped twice.
func TestE2E_HTTPURLEscapesPayload(t *testing.T) {
	type got struct {
		path  string
		query url.Values
	}
	reqs := make(chan got, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs <- got{r.URL.Path, r.URL.Query()}
	}))
	defer srv.Close()
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "relay"
  url = "`+srv.URL+`/job/{{ .payload.ref }}/run?ref={{ .payload.ref }}&q={{ urlquery .payload.ref }}&after={{ .payload.after }}"
  retries = 0
`))
	d := startDaemon(t, dir)
	ref := "feature/x y&z=1#frag?n"
	r := d.postGitHub("/hooks/site", spineSecret, "push", "x-1", pushBody(ref, "c0ffee"))
	job := waitJobState(t, d, fmt.Sprint(r.Body["id"]), "succeeded", 10*time.Second)
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests; job %v", len(reqs), job)
	}
	g := <-reqs
	if want := "/job/" + ref + "/run"; g.path != want {
		t.Errorf("path %q; want %q", g.path, want)
	}
	want := url.Values{"ref": {ref}, "q": {ref}, "after": {"c0ffee"}}
	if !reflect.DeepEqual(g.query, want) {
		t.Errorf("query %v; want %v", g.query, want)
	}
}
