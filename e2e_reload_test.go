package main

// End-to-end tests of hot reload: every way a config file gets saved
// applies within a second; a broken save keeps the running hooks and is
// reported; SIGHUP, file: secrets, settings that need a restart, held jobs
// of a removed hook; and reload under signed load.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const reloadSecret = "reload-secret"

var reloadEnv = []string{"E2E_RELOAD_SECRET=" + reloadSecret}

// hooksConfig serves one GitHub hook per id (secret from the environment,
// or from a file with the file: prefix in secret); extra is appended.
func hooksConfig(secret, extra string, ids ...string) string {
	if secret == "" {
		secret = "env:E2E_RELOAD_SECRET"
	}
	var b strings.Builder
	b.WriteString(`[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"
[store]
path = "data/webhookd.db"
[admin]
listen = "127.0.0.1:0"
[log]
level = "info"
`)
	for _, id := range ids {
		fmt.Fprintf(&b, "\n[[hook]]\nid = %q\nprovider = \"github\"\nsecret = %q\n", id, secret)
	}
	b.WriteString(extra)
	return b.String()
}

var deliveries atomic.Int64

// push sends a signed push to hook and returns the status (0 and the
// error when there was no answer).
func push(addr, hook, secret string) (reply, error) {
	n := deliveries.Add(1)
	return postGitHubTo(addr, "/hooks/"+hook, secret, "push", fmt.Sprintf("rl-%d-%d", os.Getpid(), n), pushBody("refs/heads/main", strconv.FormatInt(n, 10)))
}

func (d *proc) pushStatus(hook string) int {
	d.t.Helper()
	r, err := push(d.addr, hook, reloadSecret)
	if err != nil {
		d.t.Fatalf("POST /hooks/%s: %v", hook, err)
	}
	return r.Status
}

// apiStatus reads GET /api/status.
func (d *proc) apiStatus() map[string]any {
	d.t.Helper()
	res, err := httpClient.Get("http://" + d.admin + "/api/status")
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		d.t.Fatalf("GET /api/status: %v", err)
	}
	return v
}

// reloads reads webhookd_config_reloads_total{result} from /metrics.
func (d *proc) reloads(result string) int {
	d.t.Helper()
	res, err := httpClient.Get("http://" + d.admin + "/metrics")
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	want := `webhookd_config_reloads_total{result="` + result + `"} `
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				d.t.Fatalf("metric %q", sc.Text())
			}
			return int(n)
		}
	}
	d.t.Fatalf("no %s in /metrics", want)
	return 0
}

// waitApplied waits until hook answers 202 and gone (if set) 404, and
// returns how long that took.
func (d *proc) waitApplied(hook, gone string, timeout time.Duration) time.Duration {
	d.t.Helper()
	start := time.Now()
	for {
		if d.pushStatus(hook) == 202 && (gone == "" || d.pushStatus(gone) == 404) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			d.t.Fatalf("hook %q not served (or %q still served) %v after the save\n%s", hook, gone, timeout, d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The ways a config file gets saved.

// saveRename is vim's and most editors' way: write a temp file, rename it
// over the config.
func saveRename(t *testing.T, path, content string) {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// saveInPlace opens the file truncating it and writes (nano, `cat >`).
func saveInPlace(t *testing.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// saveTruncate truncates first, then writes in a second step after pause.
func saveTruncate(pause time.Duration) func(t *testing.T, path, content string) {
	return func(t *testing.T, path, content string) {
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(pause)
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(content); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// saveRemoveCreate removes the file and creates a new one (git checkout).
func saveRemoveCreate(t *testing.T, path, content string) {
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// configMapLayout lays out dir as Kubernetes mounts a ConfigMap:
// webhookd.toml -> ..data/webhookd.toml, ..data -> ..v0.
func configMapLayout(t *testing.T, dir, content string) {
	if err := os.Mkdir(filepath.Join(dir, "..v0"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "..v0", "webhookd.toml"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..v0", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/webhookd.toml", filepath.Join(dir, "webhookd.toml")); err != nil {
		t.Fatal(err)
	}
}

// saveConfigMap swaps the ConfigMap as the kubelet does: a new directory,
// a new ..data link renamed over the old one, the old directory removed.
func saveConfigMap(t *testing.T, path, content string) {
	dir := filepath.Dir(path)
	old, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	next := fmt.Sprintf("..v%d", time.Now().UnixNano())
	if err := os.Mkdir(filepath.Join(dir, next), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, next, "webhookd.toml"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(next, filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
}

// TestE2E_ReloadSaveStyles: each way of saving applies within a second:
// the new hook answers, the removed one is 404.
func TestE2E_ReloadSaveStyles(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configMap bool
		save      func(t *testing.T, path, content string)
	}{
		{"vim-style write to temp and rename", false, saveRename},
		{"in-place write", false, saveInPlace},
		{"truncate then write", false, saveTruncate(0)},
		{"remove then create (git checkout)", false, saveRemoveCreate},
		{"ConfigMap symlink swap", true, saveConfigMap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.configMap {
				configMapLayout(t, dir, hooksConfig("", "", "old"))
			} else {
				writeConfig(t, dir, hooksConfig("", "", "old"))
			}
			d := startDaemon(t, dir, reloadEnv...)
			if s := d.pushStatus("old"); s != 202 {
				t.Fatalf("old hook = %d; want 202", s)
			}
			for i, hooks := range [][2]string{{"new", "old"}, {"newer", "new"}} {
				tc.save(t, d.config, hooksConfig("", "", hooks[0]))
				took := d.waitApplied(hooks[0], hooks[1], 5*time.Second)
				t.Logf("save %d applied in %v", i+1, took.Round(time.Millisecond))
				if took > time.Second {
					t.Errorf("save %d applied in %v; want within 1s", i+1, took)
				}
			}
			if st := d.apiStatus(); st["last_reload"] != "ok" || st["config_error"] != nil {
				t.Errorf("status = %v", st)
			}
			if n := d.reloads("error"); n != 0 {
				t.Errorf("%d failed reloads for good saves", n)
			}
		})
	}
}

// TestE2E_ReloadHalfSave: a file truncated and left empty for a while
// (a slow writer) is not applied: the hooks stay until the content lands.
func TestE2E_ReloadHalfSave(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, hooksConfig("", "", "old"))
	d := startDaemon(t, dir, reloadEnv...)
	if err := os.Truncate(d.config, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the empty file reported", func() bool {
		e, _ := d.apiStatus()["config_error"].(string)
		return strings.Contains(e, "empty")
	})
	if s := d.pushStatus("old"); s != 202 {
		t.Errorf("old hook with the file empty = %d; want 202 (still served)", s)
	}
	saveTruncate(0)(t, d.config, hooksConfig("", "", "new"))
	d.waitApplied("new", "old", 5*time.Second)
}

// TestE2E_ReloadBrokenSave: a broken save keeps serving the old hooks;
// its FILE:LINE error is in /api/status, the metric and the log (once,
// however many events and SIGHUPs); the next good save applies.
func TestE2E_ReloadBrokenSave(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, hooksConfig("", "", "site"))
	d := startDaemon(t, dir, reloadEnv...)

	broken := strings.Replace(hooksConfig("", "", "site", "other"), `id = "other"
provider = "github"`, `id = "other"
provider = "gitbub"`, 1)
	saveRename(t, d.config, broken)
	line := strings.Count(broken[:strings.Index(broken, `"gitbub"`)], "\n") + 1
	wantErr := fmt.Sprintf(`%s:%d: hook "other": unknown provider "gitbub"`, d.config, line)
	waitFor(t, 5*time.Second, "the error in /api/status", func() bool {
		e, _ := d.apiStatus()["config_error"].(string)
		return strings.Contains(e, wantErr)
	})
	if st := d.apiStatus(); st["last_reload"] != "error" {
		t.Errorf("last_reload = %v; want error", st["last_reload"])
	}
	if n := d.reloads("error"); n != 1 {
		t.Errorf(`reloads{result="error"} = %d; want 1`, n)
	}
	if s := d.pushStatus("site"); s != 202 {
		t.Errorf("old hook after a broken save = %d; want 202", s)
	}
	if s := d.pushStatus("other"); s != 404 {
		t.Errorf("hook of the broken file = %d; want 404", s)
	}

	// The same content saved again, a touch, and a SIGHUP: the error is
	// not logged again.
	saveInPlace(t, d.config, broken)
	now := time.Now()
	os.Chtimes(d.config, now, now)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, "the SIGHUP reload", func() bool { return d.reloads("error") == 2 })
	time.Sleep(200 * time.Millisecond) // time for any further (wrong) reload to show
	if n := d.reloads("error"); n != 2 {
		t.Errorf(`reloads{result="error"} = %d; want 2 (the save and the SIGHUP)`, n)
	}
	if n := strings.Count(d.log.String(), `unknown provider \"gitbub\"`); n != 1 {
		t.Errorf("the error was logged %d times; want once\n%s", n, d.log)
	}

	saveRename(t, d.config, hooksConfig("", "", "site", "other"))
	d.waitApplied("other", "", 5*time.Second)
	st := d.apiStatus()
	if st["last_reload"] != "ok" || st["config_error"] != nil {
		t.Errorf("status after the fix = %v", st)
	}
	if n := d.reloads("ok"); n != 1 {
		t.Errorf(`reloads{result="ok"} = %d; want 1`, n)
	}
}

// TestE2E_ReloadSIGHUP: SIGHUP reloads (even with the file unchanged, and
// a change made just before it applies).
func TestE2E_ReloadSIGHUP(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, hooksConfig("", "", "site"))
	d := startDaemon(t, dir, reloadEnv...)
	if st := d.apiStatus(); st["last_reload"] != nil {
		t.Fatalf("last_reload before any reload = %v", st["last_reload"])
	}
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, "the SIGHUP reload", func() bool { return d.reloads("ok") == 1 })
	if st := d.apiStatus(); st["last_reload"] != "ok" || st["last_reload_time"] == nil {
		t.Errorf("status after SIGHUP = %v", st)
	}
	if !regexp.MustCompile(`msg="config reloaded" .*trigger=SIGHUP`).MatchString(d.log.String()) {
		t.Errorf("no SIGHUP reload in the log\n%s", d.log)
	}
	saveInPlace(t, d.config, hooksConfig("", "", "site", "more"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitApplied("more", "", time.Second)
}

// TestE2E_ReloadSecretFile: a file: secret is re-read when its file
// changes, in a directory other than the config's.
func TestE2E_ReloadSecretFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secrets", "github")
	if err := os.Mkdir(filepath.Dir(secret), 0o700); err != nil {
		t.Fatal(err)
	}
	saveInPlace(t, secret, "first-secret\n")
	writeConfig(t, dir, hooksConfig("file:secrets/github", "", "site"))
	d := startDaemon(t, dir)
	r, err := push(d.addr, "site", "first-secret")
	if err != nil || r.Status != 202 {
		t.Fatalf("push with the first secret = %d %v", r.Status, err)
	}
	saveRename(t, secret, "second-secret\n")
	start := time.Now()
	waitFor(t, 5*time.Second, "the new secret", func() bool {
		r, err := push(d.addr, "site", "second-secret")
		return err == nil && r.Status == 202
	})
	t.Logf("new secret applied in %v", time.Since(start).Round(time.Millisecond))
	if r, _ := push(d.addr, "site", "first-secret"); r.Status != 401 {
		t.Errorf("push with the old secret = %d; want 401", r.Status)
	}
	if strings.Contains(d.log.String(), "second-secret") {
		t.Error("the secret is in the log")
	}
}

// TestE2E_ReloadRestartNeeded: a changed listen address or database path
// does not apply live: the log and /api/status say a restart is needed,
// the daemon keeps serving where it was, and the rest of the file applies.
func TestE2E_ReloadRestartNeeded(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, hooksConfig("", "", "site"))
	d := startDaemon(t, dir, reloadEnv...)
	cfg := strings.NewReplacer(`listen = "127.0.0.1:0"
shutdown_timeout`, `listen = "127.0.0.1:1"
shutdown_timeout`, `path = "data/webhookd.db"`, `path = "other.db"`).Replace(hooksConfig("", "", "site", "more"))
	saveRename(t, d.config, cfg)
	d.waitApplied("more", "", 5*time.Second)
	waitFor(t, time.Second, "restart_needed", func() bool {
		return fmt.Sprint(d.apiStatus()["restart_needed"]) == "[server.listen store.path]"
	})
	if !strings.Contains(d.log.String(), `msg="restart needed`) || !strings.Contains(d.log.String(), "server.listen, store.path") {
		t.Errorf("no restart-needed line in the log\n%s", d.log)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.db")); err == nil {
		t.Error("a reload opened the new database path")
	}
	// Back to the running values: no restart needed.
	saveRename(t, d.config, hooksConfig("", "", "site"))
	d.waitApplied("site", "more", 5*time.Second)
	waitFor(t, time.Second, "restart_needed cleared", func() bool { return d.apiStatus()["restart_needed"] == nil })
}

// TestE2E_ReloadRemovedHookHeld: a reload that removes a hook makes it
// 404 at once; its queued jobs are held, not dropped, and run when it
// comes back.
func TestE2E_ReloadRemovedHookHeld(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "gated.sh", `while [ ! -f gate ]; do sleep 0.02; done
echo "$WEBHOOKD_EVENT_ID" >> ran.log
`)
	action := `
  [[hook.action]]
  name = "deploy"
  run = ["./gated.sh"]
  concurrency = 1
`
	writeConfig(t, dir, hooksConfig("", action, "site"))
	d := startDaemon(t, dir, reloadEnv...)
	var ids []string
	for range 3 {
		r, err := push(d.addr, "site", reloadSecret)
		if err != nil || r.Status != 202 {
			t.Fatalf("push = %d %v", r.Status, err)
		}
		ids = append(ids, fmt.Sprint(r.Body["id"]))
	}
	waitJobState(t, d, ids[0], "running", 5*time.Second)

	saveRename(t, d.config, hooksConfig("", "", "other"))
	d.waitApplied("other", "site", time.Second)
	for _, id := range ids[1:] {
		js := eventJobs(d, id)
		if len(js) != 1 || js[0]["state"] != "pending" || !strings.Contains(fmt.Sprint(js[0]["held"]), "held") {
			t.Errorf("job of event %s after its hook was removed = %v; want pending and held", id, js)
		}
	}
	// The running one finishes; the held ones do not start.
	saveInPlace(t, filepath.Join(dir, "gate"), "")
	waitJobState(t, d, ids[0], "succeeded", 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if got := readLines(t, filepath.Join(dir, "ran.log")); len(got) != 1 {
		t.Fatalf("ran %v while the hook was removed; want only the first", got)
	}

	saveRename(t, d.config, hooksConfig("", action, "site"))
	waitFor(t, 5*time.Second, "the held jobs to run", func() bool { return len(readLines(t, filepath.Join(dir, "ran.log"))) == 3 })
	if got := readLines(t, filepath.Join(dir, "ran.log")); strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("ran %v; want %v in order", got, ids)
	}
}

// TestE2E_ReloadUnderLoad: signed requests hammer the listener while the
// config is rewritten 50 times (in every save style), adding and
// removing a hook. Every request gets its correct answer: 202, or 404 for
// the removed hook; none a 5xx, none without an answer; every
// acknowledged event is in the store afterwards.
func TestE2E_ReloadUnderLoad(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	dir := t.TempDir()
	both := hooksConfig("", "", "stable", "flip")
	only := hooksConfig("", "", "stable")
	writeConfig(t, dir, both)
	d := startDaemon(t, dir, reloadEnv...)

	var (
		mu       sync.Mutex
		acked    []string
		answers  = map[string]map[int]int{"stable": {}, "flip": {}}
		failures []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				hook := "stable"
				if (w+i)%2 == 1 {
					hook = "flip"
				}
				r, err := push(d.addr, hook, reloadSecret)
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, fmt.Sprintf("%s: no answer: %v", hook, err))
				case r.Status == 202:
					acked = append(acked, fmt.Sprint(r.Body["id"]))
				case r.Status == 404 && hook == "flip":
				default:
					failures = append(failures, fmt.Sprintf("%s: %d %s", hook, r.Status, r.Raw))
				}
				if err == nil {
					answers[hook][r.Status]++
				}
				mu.Unlock()
			}
		}()
	}

	styles := []func(*testing.T, string, string){saveRename, saveInPlace, saveTruncate(0), saveRemoveCreate}
	var slowest time.Duration
	for i := 1; i <= 50; i++ {
		cfg, flip := both, 202
		if i%2 == 1 {
			cfg, flip = only, 404
		}
		start := time.Now()
		styles[i%len(styles)](t, d.config, cfg)
		// Applied: the flip hook answers as this version says.
		waitFor(t, 5*time.Second, fmt.Sprintf("rewrite %d applied", i), func() bool {
			r, err := push(d.addr, "flip", reloadSecret)
			if err == nil && r.Status == 202 {
				mu.Lock()
				acked = append(acked, fmt.Sprint(r.Body["id"]))
				mu.Unlock()
			}
			return err == nil && r.Status == flip
		})
		slowest = max(slowest, time.Since(start))
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("answers: %v; %d acknowledged; slowest rewrite applied in %v", answers, len(acked), slowest.Round(time.Millisecond))
	for i, f := range failures {
		if i == 10 {
			t.Errorf("... and %d more", len(failures)-10)
			break
		}
		t.Error(f)
	}
	if answers["stable"][202] < 100 || answers["flip"][404] == 0 || answers["flip"][202] == 0 {
		t.Errorf("too little load to mean anything: %v", answers)
	}
	if ok := d.reloads("ok"); ok < 50 {
		t.Errorf(`reloads{result="ok"} = %d; want at least 50`, ok)
	}
	if err := d.stop(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	st := openStore(t, filepath.Join(dir, "data", "webhookd.db"))
	missing := 0
	for _, id := range acked {
		if _, err := st.GetEvent(id, false); err != nil {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged event %s: %v", id, err)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged events missing", missing, len(acked))
	}
}

// TestE2E_ReloadLogLevel: log.level applies on reload: at "warn" a stored
// delivery's info line is no longer written, at "info" it is again.
func TestE2E_ReloadLogLevel(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, hooksConfig("", "", "site"))
	d := startDaemon(t, dir, reloadEnv...)
	requestLines := func() int { return strings.Count(d.log.String(), "msg=request ") }
	if r, err := push(d.addr, "site", reloadSecret); err != nil || r.Status != 202 {
		t.Fatalf("push = %v, %v", r.Status, err)
	}
	waitFor(t, 5*time.Second, "the request's info line", func() bool { return requestLines() == 1 })
	saveInPlace(t, d.config, strings.Replace(hooksConfig("", "", "site"), `level = "info"`, `level = "warn"`, 1))
	waitFor(t, 5*time.Second, "the reload", func() bool { return d.reloads("ok") == 1 })
	for i := 0; i < 3; i++ {
		if r, err := push(d.addr, "site", reloadSecret); err != nil || r.Status != 202 {
			t.Fatalf("push = %v, %v", r.Status, err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if n := requestLines(); n != 1 {
		t.Errorf("%d request lines at level warn; want still 1", n)
	}
	if st := d.apiStatus(); st["restart_needed"] != nil {
		t.Errorf("restart_needed = %v; log.level applies live", st["restart_needed"])
	}
	saveInPlace(t, d.config, hooksConfig("", "", "site"))
	waitFor(t, 5*time.Second, "the second reload", func() bool { return d.reloads("ok") == 2 })
	if r, err := push(d.addr, "site", reloadSecret); err != nil || r.Status != 202 {
		t.Fatalf("push = %v, %v", r.Status, err)
	}
	waitFor(t, 5*time.Second, "an info line again", func() bool { return requestLines() == 2 })
}

// TestE2E_ReloadKeepsAdminTokenHidden: commands do not inherit the
// variables secrets are read from. A reload that changes where the admin
// token comes from (which applies only at a restart) must not hand the
// variable of the token still in use to the commands after it.
func TestE2E_ReloadKeepsAdminTokenHidden(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "env.sh", `env > "$WEBHOOKD_EVENT_ID.env"`+"\n")
	token := randomSecret("admtok-")
	cfg := strings.Replace(hooksConfig("", "\n  [[hook.action]]\n  name = \"env\"\n  run = [\"./env.sh\"]\n", "site"),
		"[admin]\nlisten = \"127.0.0.1:0\"\n", "[admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"env:E2E_ADMIN_TOKEN\"\n", 1)
	writeConfig(t, dir, cfg)
	d := startDaemon(t, dir, append(reloadEnv, "E2E_ADMIN_TOKEN="+token)...)
	saveRename(t, d.config, strings.Replace(cfg, `token = "env:E2E_ADMIN_TOKEN"`, `token = "the-next-token"`, 1)+
		"\n[[hook]]\nid = \"more\"\nprovider = \"github\"\nsecret = \"env:E2E_RELOAD_SECRET\"\n")
	d.waitApplied("more", "", 5*time.Second)
	r, err := push(d.addr, "site", reloadSecret)
	if err != nil || r.Status != 202 {
		t.Fatalf("push = %d, %v", r.Status, err)
	}
	out := filepath.Join(dir, fmt.Sprint(r.Body["id"])+".env")
	waitFor(t, 10*time.Second, "the command's environment", func() bool {
		b, err := os.ReadFile(out)
		return err == nil && strings.Contains(string(b), "WEBHOOKD_EVENT_ID")
	})
	if b, _ := os.ReadFile(out); strings.Contains(string(b), token) {
		t.Errorf("after the reload, a command inherited E2E_ADMIN_TOKEN, the running admin token")
	}
}

// TestE2E_ReloadSlowSave: a save written slowly (a line every 40 ms, over
// two seconds) is applied once it is done, not in parts while it is being
// written: a hook the save does not change answers throughout. A save
// whose writer stalled past the reload's quiet time (100 ms; a busy
// machine does that to a goroutine now and then) is taken for done, as
// webhookd cannot tell the two apart: that attempt judges nothing, and
// the save is written again, up to three times (then the test is skipped:
// the machine is too busy to judge it).
func TestE2E_ReloadSlowSave(t *testing.T) {
	dir := t.TempDir()
	var ids []string
	for i := 1; i <= 12; i++ {
		ids = append(ids, fmt.Sprintf("h%d", i))
	}
	content := hooksConfig("", "", ids...)
	writeConfig(t, dir, content)
	d := startDaemon(t, dir, reloadEnv...)
	if s := d.pushStatus("h12"); s != 202 {
		t.Fatalf("h12 = %d; want 202", s)
	}
	const quiet = 100 * time.Millisecond // config.Watcher's default Debounce
	for attempt := 1; ; attempt++ {
		done := make(chan time.Duration, 1) // the longest gap between two writes
		go func() {
			var gap time.Duration
			defer func() { done <- gap }()
			last := time.Now() // the truncation is the save's first write
			f, err := os.OpenFile(d.config, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			for _, l := range strings.SplitAfter(content, "\n") {
				f.WriteString(l)
				gap = max(gap, time.Since(last))
				last = time.Now()
				time.Sleep(40 * time.Millisecond)
			}
		}()
		notFound, probes := 0, 0
		var gap time.Duration
	probe:
		for {
			select {
			case gap = <-done:
				break probe
			default:
			}
			probes++
			if d.pushStatus("h12") == 404 {
				notFound++
			}
			time.Sleep(30 * time.Millisecond)
		}
		if notFound == 0 {
			return
		}
		if gap < quiet {
			t.Fatalf("hook h12, unchanged by the save, answered 404 to %d of %d deliveries while the file was being written (its writes at most %v apart)", notFound, probes, gap.Round(time.Millisecond))
		}
		t.Logf("attempt %d: the writer stalled %v between two writes, past the quiet time: a part of the save was read, and h12 answered 404 to %d of %d", attempt, gap.Round(time.Millisecond), notFound, probes)
		if attempt == 3 {
			t.Skipf("three saves in a row had a stall past %v between two writes: the machine is too busy to judge this", quiet)
		}
		// The whole file again, so that the next attempt starts from it.
		writeConfig(t, dir, content)
		waitFor(t, 10*time.Second, "h12 answers 202 after the whole file is written again", func() bool { return d.pushStatus("h12") == 202 })
	}
}
