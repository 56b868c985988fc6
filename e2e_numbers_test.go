package main

// End-to-end tests of what an operator reads: the CLI, the API and the
// metrics, against what happened.

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2E_OfflineAfterAKill: with the daemon killed while a job ran, and
// so not running, `events` and `show` read the file. The job is running on
// disk, but nothing runs it: they say it was cut off and runs again at the
// next start, not "running now". And a paused action's queued job (the
// pause is in the file) is held, as the daemon shows it, not "waiting for
// its turn".
func TestE2E_OfflineAfterAKill(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./slow.sh"]

  [[hook.action]]
  name = "notify"
  run = ["true"]
`))
	writeScript(t, dir, "slow.sh", "echo $$ > deploy.pid\nexec sleep 300\n")
	d := startDaemon(t, dir)
	if _, stderr, code := runCLI(t, "pause", "-config", d.config, "-admin", d.admin, "site/notify"); code != 0 {
		t.Fatalf("pause: exit %d: %s", code, stderr)
	}
	r := d.postGitHub("/hooks/site", spineSecret, "push", "off-1", pushBody("refs/heads/main", "a"))
	if r.Status != 202 {
		t.Fatalf("push = %d %s", r.Status, r.Raw)
	}
	id, _ := r.Body["id"].(string)
	var pid int
	waitFor(t, 10*time.Second, "the deploy's pid", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "deploy.pid"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 0
	})
	// The run outlives its killed daemon: the test stops it (its group).
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })
	d.kill()

	// Aimed at the killed daemon's admin address, where nothing answers
	// now (the config's listen, port 0, is no address to dial).
	out, stderr, code := runCLI(t, "show", "-config", d.config, "-admin", d.admin, id)
	if code != 0 {
		t.Fatalf("show: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "reading") {
		t.Errorf("show did not read the file (stderr %q)", stderr)
	}
	for _, tc := range []struct{ action, want, not string }{
		{"deploy", "cut off", "running now"},
		{"notify", "held: action paused", "waiting for its turn"},
	} {
		verdict := verdictOf(out, tc.action)
		if !strings.Contains(verdict, tc.want) || strings.Contains(verdict, tc.not) {
			t.Errorf("show, %s: %q; want %q, not %q\n%s", tc.action, verdict, tc.want, tc.not, out)
		}
	}
	out, stderr, code = runCLI(t, "events", "-config", d.config, "-admin", d.admin)
	if code != 0 {
		t.Fatalf("events: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"deploy=running(cut off)", "notify=pending(held)"} {
		if !strings.Contains(out, want) {
			t.Errorf("events lacks %q:\n%s", want, out)
		}
	}
}

// verdictOf returns the line under action's job in show's output: its
// verdict.
func verdictOf(show, action string) string {
	lines := strings.Split(show, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, action+"  ") && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	return ""
}

// TestE2E_EventsUnknownHook: `events -hook` with a hook the config does
// not have, and no event of it stored, says so rather than a bare "no
// events", which reads as "nothing arrived" for a misspelt hook id. A
// hook removed from the config keeps its events listed.
func TestE2E_EventsUnknownHook(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["true"]
`))
	d := startDaemon(t, dir)
	if r := d.postGitHub("/hooks/site", spineSecret, "push", "uh-1", pushBody("refs/heads/main", "a")); r.Status != 202 {
		t.Fatalf("push = %d %s", r.Status, r.Raw)
	}
	for _, tc := range []struct{ hook, want string }{
		{"stie", `no events: the config has no hook "stie" (its hooks: site)`},
		{"site", "uh-1"},
	} {
		out, stderr, code := runCLI(t, "events", "-config", d.config, "-admin", d.admin, "-hook", tc.hook)
		if code != 0 {
			t.Fatalf("events -hook %s: exit %d: %s", tc.hook, code, stderr)
		}
		if tc.hook == "site" {
			out, _, _ = runCLI(t, "events", "-config", d.config, "-admin", d.admin, "-hook", tc.hook, "-json")
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("events -hook %s printed %q; want it to contain %q", tc.hook, out, tc.want)
		}
	}
}

// TestE2E_IgnoredDeliveryShown: a delivery whose event type the hook's
// events leaves out is answered 200 and not stored, and the sender shows
// it as delivered. With an events list that misses what the sender sends
// (a typo: "pushes"), nothing ran and nothing said why: no event, no
// rejection, a log line "status=200". The rejections list shows it,
// ignored, with the type and the list, and the log line says ignored.
func TestE2E_IgnoredDeliveryShown(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, strings.Replace(schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["true"]
`), `secret = "`, `events = ["pushes", "ping"]
secret = "`, 1))
	d := startDaemon(t, dir)
	r := d.postGitHub("/hooks/site", spineSecret, "push", "ig-1", pushBody("refs/heads/main", "a"))
	if r.Status != 200 || r.Body["ignored"] != "push" {
		t.Fatalf("push to a hook whose events leave it out = %d %s; want 200 ignored", r.Status, r.Raw)
	}
	res := admDo(t, d, "GET", "/api/rejections", "", nil)
	defer res.Body.Close()
	var got struct {
		Rejections []struct {
			Hook, Check, Reason string
			Status              int
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(got.Rejections) != 1 {
		t.Fatalf("rejections = %+v; want the ignored delivery", got.Rejections)
	}
	rej := got.Rejections[0]
	if rej.Hook != "site" || rej.Status != 200 || rej.Check != "ignored" || !strings.Contains(rej.Reason, `"push"`) || !strings.Contains(rej.Reason, "pushes") {
		t.Errorf("rejection = %+v; want site, 200, ignored, naming push and the events list", rej)
	}
	if !strings.Contains(d.log.String(), "ignored=push") {
		t.Errorf("the log does not say the delivery was ignored:\n%s", d.log.String())
	}
}

// TestE2E_CrashCutRunCounted: a run cut off by a kill is counted in
// webhookd_action_runs_total{result="interrupted"} by the next start,
// which records it: the killed daemon never could, so the run that the
// API shows as interrupted was counted nowhere, and the metrics' runs fell
// short of the store's after every crash.
func TestE2E_CrashCutRunCounted(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./slow.sh"]
`))
	// The first run waits to be killed; the one after the restart ends.
	writeScript(t, dir, "slow.sh", "if [ -f first.pid ]; then exit 0; fi\necho $$ > first.pid\nexec sleep 300\n")
	d := startDaemon(t, dir)
	if r := d.postGitHub("/hooks/site", spineSecret, "push", "cut-1", pushBody("refs/heads/main", "a")); r.Status != 202 {
		t.Fatalf("push = %d %s", r.Status, r.Raw)
	}
	var pid int
	waitFor(t, 10*time.Second, "the first run's pid", func() bool {
		pid = readPid(dir, "first.pid")
		return pid > 0
	})
	t.Cleanup(func() { syscall.Kill(-pid, syscall.SIGKILL) })
	d.kill()
	d = startDaemon(t, dir)
	want := `webhookd_action_runs_total{action="deploy",hook="site",result="interrupted"} 1`
	var metrics string
	waitFor(t, 20*time.Second, "the rerun to succeed", func() bool {
		res := admDo(t, d, "GET", "/metrics", "", nil)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		metrics = string(b)
		return strings.Contains(metrics, `webhookd_action_runs_total{action="deploy",hook="site",result="succeeded"} 1`)
	})
	if !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s:\n%s", want, grepLines(metrics, "webhookd_action_runs_total"))
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
