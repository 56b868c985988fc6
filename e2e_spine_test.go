package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/config"
	"github.com/webhookd/webhookd/internal/wire"
	"github.com/webhookd/webhookd/store"
)

const spineSecret = "e2e-secret"

// spineConfig is one GitHub hook whose action appends the event id and the
// pushed commit to a file.
const spineConfig = `
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"
[store]
path = "data/webhookd.db"
[admin]
listen = "127.0.0.1:0"
[log]
level = "debug"

[[hook]]
id = "site"
provider = "github"
secret = "env:E2E_GITHUB_SECRET"
events = ["push"]

  [[hook.action]]
  name = "deploy"
  when = 'payload.ref == "refs/heads/main"'
  run = ["./deploy.sh", "{{ .payload.after }}"]
  concurrency = 4
`

const deployScript = `#!/bin/sh
echo "$WEBHOOKD_EVENT_ID:$1" >> ran.log
`

func setupSpine(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeConfig(t, dir, spineConfig)
	if err := os.WriteFile(filepath.Join(dir, "deploy.sh"), []byte(deployScript), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

var spineEnv = []string{"E2E_GITHUB_SECRET=" + spineSecret}

func pushBody(ref, after string) []byte {
	return []byte(fmt.Sprintf(`{"ref":%q,"after":%q,"repository":{"full_name":"o/r"}}`, ref, after))
}

// TestE2E_Push: a signed push is stored, acknowledged and runs the script;
// a bad or missing signature, a repeated delivery and an ignored event type
// run nothing.
func TestE2E_Push(t *testing.T) {
	dir := setupSpine(t)
	d := startDaemon(t, dir, spineEnv...)

	r := d.postGitHub("/hooks/site", spineSecret, "push", "del-1", pushBody("refs/heads/main", "c0ffee"))
	if r.Status != 202 || r.Body["jobs"] != float64(1) {
		t.Fatalf("signed push = %d %s; want 202 with 1 job", r.Status, r.Raw)
	}
	id := fmt.Sprint(r.Body["id"])
	ranLog := filepath.Join(dir, "ran.log")
	waitFor(t, 10*time.Second, "the deploy script", func() bool { return len(readLines(t, ranLog)) == 1 })
	if got := readLines(t, ranLog)[0]; got != id+":c0ffee" {
		t.Errorf("script saw %q; want %q", got, id+":c0ffee")
	}
	waitFor(t, 5*time.Second, "the job to succeed", func() bool {
		_, ev := d.apiEvent(id)
		return strings.Join(jobStates(ev), ",") == "succeeded"
	})
	status, ev := d.apiEvent(id)
	if status != 200 || ev["hook"] != "site" || ev["delivery"] != "del-1" || ev["state"] != "succeeded" {
		t.Errorf("GET /api/events/%s = %d %v", id, status, ev)
	}

	// Refused and ignored deliveries run nothing.
	if r := d.postGitHub("/hooks/site", "wrong-secret", "push", "del-2", pushBody("refs/heads/main", "bad")); r.Status != 401 {
		t.Errorf("wrong signature = %d; want 401", r.Status)
	}
	if r := d.postGitHub("/hooks/site", "", "push", "del-3", pushBody("refs/heads/main", "bad")); r.Status != 401 {
		t.Errorf("missing signature = %d; want 401", r.Status)
	}
	if r := d.postGitHub("/hooks/site", spineSecret, "push", "del-1", pushBody("refs/heads/main", "again")); r.Status != 200 || r.Body["duplicate"] != true || r.Body["id"] != id {
		t.Errorf("repeated delivery = %d %s; want 200 duplicate of %s", r.Status, r.Raw, id)
	}
	if r := d.postGitHub("/hooks/site", spineSecret, "issues", "del-4", pushBody("refs/heads/main", "bad")); r.Status != 200 || r.Body["ignored"] != "issues" {
		t.Errorf("ignored event = %d %s; want 200 ignored", r.Status, r.Raw)
	}
	// A push to another branch is stored, and skipped with the reason.
	r = d.postGitHub("/hooks/site", spineSecret, "push", "del-5", pushBody("refs/heads/dev", "dev1"))
	if r.Status != 202 || r.Body["jobs"] != float64(0) {
		t.Errorf("push to dev = %d %s; want 202 with 0 jobs", r.Status, r.Raw)
	}
	_, dev := d.apiEvent(fmt.Sprint(r.Body["id"]))
	jobs, _ := dev["jobs"].([]any)
	if len(jobs) != 1 || !strings.Contains(fmt.Sprint(jobs[0].(map[string]any)["reason"]), `payload.ref is "refs/heads/dev"`) {
		t.Errorf("dev push jobs = %v; want one skipped with the reason", dev["jobs"])
	}
	time.Sleep(300 * time.Millisecond)
	if got := readLines(t, ranLog); len(got) != 1 {
		t.Errorf("script ran %d times: %v; want once", len(got), got)
	}
	if err := d.stop(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: exit %v; want 0", err)
	}
	st := openStore(t, filepath.Join(dir, "data", "webhookd.db"))
	stats, _ := st.Stats()
	if stats.Events != 2 {
		t.Errorf("stored %d events; want 2 (the main and dev pushes)", stats.Events)
	}
}

// TestE2E_CrashRecovery: under concurrent signed load the daemon is killed
// with SIGKILL; after a restart every acknowledged event is there and its
// action runs.
func TestE2E_CrashRecovery(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	dir := setupSpine(t)
	d := startDaemon(t, dir, spineEnv...)
	var mu sync.Mutex
	var acked []string
	deliveryOf := map[string]string{} // event id → its delivery id
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := n.Add(1)
				body := pushBody("refs/heads/main", fmt.Sprintf("c%d", i))
				r, err := postGitHubTo(d.addr, "/hooks/site", spineSecret, "push", fmt.Sprintf("crash-%d", i), body)
				if err != nil {
					return // the daemon died mid-request: not acknowledged
				}
				if r.Status == 202 {
					mu.Lock()
					acked = append(acked, fmt.Sprint(r.Body["id"]))
					deliveryOf[fmt.Sprint(r.Body["id"])] = fmt.Sprintf("crash-%d", i)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Duration(300+rand.IntN(400)) * time.Millisecond)
	d.kill()
	close(stop)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d deliveries acknowledged before the kill", len(acked))
	}
	t.Logf("%d deliveries acknowledged before SIGKILL", len(acked))

	d2 := startDaemon(t, dir, spineEnv...)
	for _, id := range acked {
		if status, _ := d2.apiEvent(id); status != 200 {
			t.Fatalf("acknowledged event %s is missing after the crash (status %d)", id, status)
		}
	}
	// The sender delivers again what it saw acknowledged: each is a
	// duplicate of the event stored before the crash (the index of recent
	// delivery ids is read back from the events).
	for _, id := range acked {
		r, err := postGitHubTo(d2.addr, "/hooks/site", spineSecret, "push", deliveryOf[id], pushBody("refs/heads/main", "again"))
		if err != nil || r.Status != 200 || r.Body["duplicate"] != true || r.Body["id"] != id {
			t.Fatalf("delivery %s sent again after the crash = %v %v; want 200 duplicate of %s", deliveryOf[id], r, err, id)
		}
	}
	ranLog := filepath.Join(dir, "ran.log")
	waitFor(t, 60*time.Second, "every acknowledged event's action", func() bool {
		seen := map[string]bool{}
		for _, l := range readLines(t, ranLog) {
			id, _, _ := strings.Cut(l, ":")
			seen[id] = true
		}
		for _, id := range acked {
			if !seen[id] {
				return false
			}
		}
		return true
	})
	if err := d2.stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, filepath.Join(dir, "data", "webhookd.db"))
	if err := st.Check(); err != nil {
		t.Fatalf("consistency check after crash: %v", err)
	}
	stats, _ := st.Stats()
	if stats.Jobs[store.Running] != 0 {
		t.Errorf("%d jobs stuck running", stats.Jobs[store.Running])
	}
}

// TestE2E_GracefulRestart: SIGTERM with queued jobs exits 0; the jobs that
// did not run stay queued and run after the restart.
func TestE2E_GracefulRestart(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	dir := t.TempDir()
	writeConfig(t, dir, strings.Replace(spineConfig, "concurrency = 4", "concurrency = 1", 1))
	if err := os.WriteFile(filepath.Join(dir, "deploy.sh"), []byte("#!/bin/sh\nsleep 0.3\necho \"$WEBHOOKD_EVENT_ID:$1\" >> ran.log\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir, spineEnv...)
	var ids []string
	for i := 0; i < 10; i++ {
		r := d.postGitHub("/hooks/site", spineSecret, "push", fmt.Sprintf("g-%d", i), pushBody("refs/heads/main", fmt.Sprint(i)))
		if r.Status != 202 {
			t.Fatalf("push %d = %d", i, r.Status)
		}
		ids = append(ids, fmt.Sprint(r.Body["id"]))
	}
	if err := d.stop(15 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v; want exit 0", err)
	}
	before := len(readLines(t, filepath.Join(dir, "ran.log")))
	if before >= 10 {
		t.Fatalf("all 10 ran before the restart; the test needs some queued")
	}
	t.Logf("%d of 10 ran before SIGTERM", before)
	startDaemon(t, dir, spineEnv...)
	waitFor(t, 30*time.Second, "all ten to run", func() bool { return len(readLines(t, filepath.Join(dir, "ran.log"))) >= 10 })
	lines := readLines(t, filepath.Join(dir, "ran.log"))
	for i, id := range ids {
		if i < len(lines) && !strings.HasPrefix(lines[i], id+":") {
			t.Errorf("run %d was %q; want event %s (arrival order)", i, lines[i], id)
		}
	}
}

// TestE2E_Check: check reports FILE:LINE errors and exits 1; a good file
// exits 0.
func TestE2E_Check(t *testing.T) {
	dir := t.TempDir()
	p := writeConfig(t, dir, "[server]\nlisten = \":9000\"\n\n[[hook]]\nid = \"x\"\nprovider = \"gitbub\"\nsecret = \"s\"\n")
	out, err := exec.Command(binPath, "check", "-config", p).CombinedOutput()
	if code := exitStatus(err); code != 1 || !strings.HasPrefix(string(out), p+":6: hook \"x\": unknown provider \"gitbub\"") {
		t.Errorf("check bad config: exit %d\n%s\nwant FILE:LINE: message from the first character", code, out)
	}
	// serve says it the same way, and starts nothing.
	out, err = exec.Command(binPath, "serve", "-config", p).CombinedOutput()
	if code := exitStatus(err); code != 1 || !strings.HasPrefix(string(out), p+":6: hook \"x\": unknown provider \"gitbub\"") {
		t.Errorf("serve bad config: exit %d\n%s\nwant FILE:LINE: message from the first character", code, out)
	}
	writeConfig(t, dir, spineConfig)
	cmd := exec.Command(binPath, "check", "-config", p)
	cmd.Env = append(os.Environ(), spineEnv...)
	out, err = cmd.CombinedOutput()
	if code := exitStatus(err); code != 0 || !bytes.Contains(out, []byte("ok (1 hook, 1 action)")) {
		t.Errorf("check good config: exit %d\n%s", code, out)
	}
	if code := exitStatus(exec.Command(binPath, "frobnicate").Run()); code != 2 {
		t.Errorf("unknown command: exit %d; want 2", code)
	}
	// -h prints what was asked for and exits 0: the commands, before any
	// of them; a command's flags, after one.
	for _, args := range [][]string{{"-h"}, {"replay", "-h"}} {
		out, err := exec.Command(binPath, args...).CombinedOutput()
		want := map[string]string{"-h": "replay EVENT_ID", "replay": "-until T"}[args[0]]
		if code := exitStatus(err); code != 0 || !strings.Contains(string(out), want) || strings.Contains(string(out), "webhookd: ") {
			t.Errorf("webhookd %s: exit %d\n%s\nwant 0, the usage (%q) and no error", strings.Join(args, " "), code, out, want)
		}
	}
	// The file named without -config, or the command after the flags, is
	// a command line that makes no sense: exit 2, and nothing checked or
	// served in its place.
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[[hook]]\nid = \"x\"\nprovider = \"gitbub\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", bad}, {"-config", p, "check"}} {
		cmd := exec.Command(binPath, args...)
		cmd.Dir = dir // where ./webhookd.toml is good
		cmd.Env = append(os.Environ(), spineEnv...)
		timer := time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() }) // a daemon started in its place
		out, err := cmd.CombinedOutput()
		timer.Stop()
		if code := exitStatus(err); code != 2 {
			t.Errorf("webhookd %s: exit %d\n%s\nwant 2", strings.Join(args, " "), code, out)
		}
	}
}

func exitStatus(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestExampleConfig: the bundled example loads and builds, so it never rots.
func TestExampleConfig(t *testing.T) {
	cfg, _, err := config.Load("webhookd.toml.example")
	if err != nil {
		t.Fatalf("webhookd.toml.example: %v", err)
	}
	if _, _, err := wire.Build(cfg); err != nil {
		t.Fatalf("build example: %v", err)
	}
	h := cfg.Hook("site")
	if h == nil || len(h.Actions) != 1 {
		t.Fatalf("example hooks = %+v", cfg.Hooks)
	}
	if fi, err := os.Stat(filepath.Join(filepath.Dir(cfg.File), "examples", "deploy.sh")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("examples/deploy.sh missing or not executable: %v", err)
	}
}

// TestE2E_TryIt: the README's "Try it", on the bundled example config and
// script as they are (only the two ports moved to free loopback ones): the
// README's signed push is answered 202 with one job, and examples/deploy.sh
// runs and appends its line to deploys.log beside the config; the same
// delivery again is 200 duplicate; the push to refs/heads/dev is stored
// and its job skipped with the reason the README quotes.
func TestE2E_TryIt(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The README's own body and the reason it says a dev push is skipped with.
	m := regexp.MustCompile(`(?m)^body='([^']*)'$`).FindSubmatch(readme)
	r := regexp.MustCompile("job is `skipped` with the\\s+reason `([^`]*)`").FindSubmatch(readme)
	if m == nil || r == nil {
		t.Fatal("README's Try it: no body='…' line, or no skipped reason in backquotes")
	}
	body, reason := m[1], string(bytes.Join(bytes.Fields(r[1]), []byte(" ")))

	dir := t.TempDir()
	example, err := os.ReadFile("webhookd.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(example), `listen = ":9000"`, `listen = "127.0.0.1:0"`, 1)
	cfg = strings.Replace(cfg, `listen = "127.0.0.1:9001"`, `listen = "127.0.0.1:0"`, 1)
	if strings.Count(cfg, `"127.0.0.1:0"`) != 2 {
		t.Fatal("webhookd.toml.example: its two listen lines are not the README's :9000 and 127.0.0.1:9001")
	}
	writeConfig(t, dir, cfg)
	script, err := os.ReadFile(filepath.Join("examples", "deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "examples"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "examples", "deploy.sh"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, dir)

	res := d.postGitHub("/hooks/site", "change-me", "push", "curl-1", body)
	if res.Status != 202 || res.Body["jobs"] != float64(1) {
		t.Fatalf("the README's push = %d %s; want 202 with 1 job", res.Status, res.Raw)
	}
	id := fmt.Sprint(res.Body["id"])
	deploys := filepath.Join(dir, "deploys.log")
	waitFor(t, 10*time.Second, "deploys.log", func() bool { return len(readLines(t, deploys)) > 0 })
	if b, _ := os.ReadFile(deploys); !bytes.HasSuffix(b, []byte(" me/site 0123abc\n")) {
		t.Errorf("deploys.log = %q; want a line ending in \"me/site 0123abc\"", b)
	}
	waitFor(t, 5*time.Second, "the deploy to succeed", func() bool {
		_, ev := d.apiEvent(id)
		return strings.Join(jobStates(ev), ",") == "succeeded"
	})
	if res := d.postGitHub("/hooks/site", "change-me", "push", "curl-1", body); res.Status != 200 || res.Body["duplicate"] != true || res.Body["id"] != id {
		t.Errorf("the same delivery again = %d %s; want 200 duplicate of %s", res.Status, res.Raw, id)
	}
	dev := bytes.Replace(body, []byte("refs/heads/main"), []byte("refs/heads/dev"), 1)
	res = d.postGitHub("/hooks/site", "change-me", "push", "curl-2", dev)
	if res.Status != 202 || res.Body["jobs"] != float64(0) {
		t.Fatalf("the push to dev = %d %s; want 202 with 0 jobs", res.Status, res.Raw)
	}
	_, ev := d.apiEvent(fmt.Sprint(res.Body["id"]))
	jobs, _ := ev["jobs"].([]any)
	if len(jobs) != 1 || jobs[0].(map[string]any)["state"] != "skipped" || jobs[0].(map[string]any)["reason"] != reason {
		t.Errorf("the push to dev: jobs %v; want one skipped with reason %q", ev["jobs"], reason)
	}
	tryItCommands(t, d, readme, id)
}

// tryItCommands: the rest of Try it, with the commands it shows, run as it
// runs them on the example (in a copy naming the ports the daemon took, as
// the example's fixed ones would be): the README's send is answered 202
// with one job, and the same send again 200, a duplicate of the first;
// events lists the first push as succeeded, and show prints its job and
// the script's output. And GitHub's ping (the walkthrough's step 4) is
// accepted and its deploy skipped.
func tryItCommands(t *testing.T, d *proc, readme []byte, curlID string) {
	t.Helper()
	m := regexp.MustCompile("`go run \\. send -config webhookd\\.toml\\.example ([^`']*)'([^']*)'`").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README's Try it: no `go run . send -config webhookd.toml.example … '…'` command")
	}
	b, err := os.ReadFile(d.config)
	if err != nil {
		t.Fatal(err)
	}
	cmds := strings.Replace(string(b), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", d.addr), 1)
	cmds = strings.Replace(cmds, `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", d.admin), 1)
	cfg := filepath.Join(d.dir, "cmds.toml") // beside the daemon's: the same webhookd.db and script
	if err := os.WriteFile(cfg, []byte(cmds), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"send", "-config", cfg}, strings.Fields(string(m[1]))...), string(m[2]))
	r := admCLI(t, nil, args...)
	var ack struct {
		ID        string
		Jobs      int
		Duplicate bool
	}
	if i := strings.Index(r.stdout, "{"); i >= 0 {
		json.Unmarshal([]byte(r.stdout[i:]), &ack)
	}
	if r.code != 0 || !strings.HasPrefix(r.stdout, "HTTP/1.1 202 Accepted\n") || ack.ID == "" || ack.Jobs != 1 {
		t.Fatalf("the README's send = %d\n%s%s\nwant 0, 202 and 1 job", r.code, r.stdout, r.stderr)
	}
	if want := regexp.MustCompile(`(?m)^POST http://` + regexp.QuoteMeta(d.addr) + `/hooks/site \(github, event "push", delivery try-1, 80 bytes\)$`); !want.MatchString(r.stderr) {
		t.Errorf("the README's send said\n%s\nwant a line %s", r.stderr, want)
	}
	first := ack.ID
	ack.ID = ""
	r = admCLI(t, nil, args...)
	if i := strings.Index(r.stdout, "{"); i >= 0 {
		json.Unmarshal([]byte(r.stdout[i:]), &ack)
	}
	if r.code != 0 || !strings.HasPrefix(r.stdout, "HTTP/1.1 200 OK\n") || !ack.Duplicate || ack.ID != first {
		t.Errorf("the same send again = %d\n%s%s\nwant 0, 200 and a duplicate of %s", r.code, r.stdout, r.stderr, first)
	}

	// Without -delivery, each send is a new delivery (send-…), never a
	// duplicate.
	for range 2 {
		r = admCLI(t, nil, "send", "-config", cfg, "site", string(m[2]))
		if r.code != 0 || !strings.HasPrefix(r.stdout, "HTTP/1.1 202 Accepted\n") || !strings.Contains(r.stderr, "delivery send-") {
			t.Errorf("send without -delivery = %d\n%s%s\nwant 0, 202 and a delivery send-…", r.code, r.stdout, r.stderr)
		}
	}

	// A send the listener refuses (signed with another secret: 401) prints
	// the answer and exits 1, as anything but a 2xx does.
	wrong := filepath.Join(d.dir, "wrong-secret.toml")
	if !strings.Contains(cmds, `secret = "change-me"`) {
		t.Fatal(`webhookd.toml.example: no secret = "change-me"`)
	}
	if err := os.WriteFile(wrong, []byte(strings.Replace(cmds, `secret = "change-me"`, `secret = "not-the-secret"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = admCLI(t, nil, "send", "-config", wrong, "site", string(m[2]))
	if r.code != 1 || !strings.HasPrefix(r.stdout, "HTTP/1.1 401 Unauthorized\n") || !strings.Contains(r.stderr, "401") {
		t.Errorf("send with the wrong secret = %d\n%s%s\nwant 1, and the 401 printed", r.code, r.stdout, r.stderr)
	}

	r = admCLI(t, nil, "events", "-config", cfg)
	if r.code != 0 || !regexp.MustCompile(`(?m)^`+curlID+`\s.*\ssite\s+push\s+succeeded\s+deploy=succeeded$`).MatchString(r.stdout) {
		t.Errorf("events = %d\n%s%s\nwant a line: %s … site push succeeded deploy=succeeded", r.code, r.stdout, r.stderr, curlID)
	}
	r = admCLI(t, nil, "show", "-config", cfg, curlID)
	for _, want := range []string{"event     " + curlID, "deploy  succeeded", "run 1: succeeded, exit 0", "| deploying me/site at 0123abc", `"full_name": "me/site"`} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("show = %d, lacks %q:\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}

	res := d.postGitHub("/hooks/site", "change-me", "ping", "ping-1", []byte(`{"zen":"Keep it logically awesome.","hook_id":1}`))
	if res.Status != 202 || res.Body["jobs"] != float64(0) {
		t.Fatalf("GitHub's ping = %d %s; want 202 with 0 jobs", res.Status, res.Raw)
	}
	_, ev := d.apiEvent(fmt.Sprint(res.Body["id"]))
	if got := strings.Join(jobStates(ev), ","); got != "skipped" {
		t.Errorf("GitHub's ping: jobs %s; want its deploy skipped", got)
	}
}

// TestE2E_HupDuringStop: SIGHUPs (a reload, logrotate) and more SIGTERMs
// arriving while the daemon stops after SIGTERM do not turn a clean stop
// into a death by signal: the exit status stays 0. Until 2026-12-07 the
// daemon ignored them on its way out (os/signal's Ignore), which leaves a
// moment in which the runtime neither catches nor ignores the signal and
// takes its default action: 7 of 240 stops under this fire died of
// SIGHUP, 0 of 240 since the signals stay caught until the exit.
func TestE2E_HupDuringStop(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	for try := range 20 {
		dir := t.TempDir()
		writeConfig(t, dir, schedConfig(""))
		d := startDaemon(t, dir)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-d.exited:
						return
					default:
					}
					d.cmd.Process.Signal(syscall.SIGHUP)
					d.cmd.Process.Signal(syscall.SIGTERM)
				}
			}()
		}
		time.Sleep(50 * time.Millisecond)
		err := d.stop(10 * time.Second)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Errorf("try %d: stop with SIGHUPs and SIGTERMs coming = %v; want exit 0", try, err)
		}
	}
}

// TestE2E_StopStartsNoNewRuns: SIGTERM drains (README, Signals:
// "the listener stops accepting, running actions get up to
// shutdown_timeout to finish ... jobs that did not run stay queued for the
// next start"). A deploy queue of five 1-second runs is under way and a
// slow sender has a request half sent. While the listener waits for that
// request, the scheduler must not start more deploys, only to cut them off
// when shutdown_timeout ends.
func TestE2E_StopStartsNoNewRuns(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	dir := t.TempDir()
	writeConfig(t, dir, strings.Replace(schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["sh", "-c", "echo start >> %DIR%/starts; sleep 1"]
`), `shutdown_timeout = "5s"`, `shutdown_timeout = "3s"`, 1))
	d := startDaemon(t, dir)
	for i := range 5 {
		if r := d.postGitHub("/hooks/site", spineSecret, "push", fmt.Sprintf("d-%d", i), []byte(`{}`)); r.Status != 202 {
			t.Fatalf("delivery %d: %d %s", i, r.Status, r.Raw)
		}
	}
	starts := func() int {
		b, _ := os.ReadFile(filepath.Join(dir, "starts"))
		return strings.Count(string(b), "start")
	}
	waitFor(t, 5*time.Second, "the first deploy", func() bool { return starts() >= 1 })

	// A slow sender: headers and part of the body, then nothing.
	c, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /hooks/site HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nX-GitHub-Event: push\r\n\r\n{")
	time.Sleep(100 * time.Millisecond)

	before := starts()
	if err := d.stop(15 * time.Second); err != nil {
		t.Logf("exit: %v", err)
	}
	if after := starts(); after > before+1 {
		t.Errorf("%d deploys started after SIGTERM (%d before it); want none (at most one racing the signal): each was cut off at shutdown_timeout and runs again at the next start", after-before, before)
	}
}
