package main

// End-to-end tests of the admin API and the commands that talk to it: the
// built binary as a daemon, and the same binary as the CLI against it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/admin"
	"github.com/webhookd/webhookd/cli"
)

// admRun is one run of the CLI.
type admRun struct {
	code   int
	stdout string
	stderr string
}

// admCLI runs the webhookd binary with args (and extra environment).
// Variables of the daemon's config are not in its environment unless
// given: a user's shell need not hold the hooks' secrets.
func admCLI(t *testing.T, env []string, args ...string) admRun {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append(admEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = strings.NewReader("")
	err := cmd.Run()
	r := admRun{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %v: %v", args, err)
	}
	t.Logf("webhookd %s -> %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// admEnv is the test's environment without WEBHOOKD_ variables.
func admEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEBHOOKD_") && !strings.HasPrefix(kv, "E2E_") {
			out = append(out, kv)
		}
	}
	return out
}

// admJSON runs the CLI, wants exit 0, and decodes its stdout.
func admJSON(t *testing.T, env []string, out any, args ...string) {
	t.Helper()
	r := admCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("webhookd %v: exit %d\n%s", args, r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		t.Fatalf("webhookd %v: stdout is not JSON: %v\n%s", args, err, r.stdout)
	}
}

const admConfig = `
[server]
listen = "127.0.0.1:0"
[store]
path = "%DIR%/webhookd.db"
[admin]
listen = "unix:%DIR%/admin.sock"
[[hook]]
id = "site"
provider = "github"
secret = "env:E2E_SITE_SECRET"
events = ["push", "ping"]
  [[hook.action]]
  name = "deploy"
  when = 'event == "push" && payload.ref == "refs/heads/main"'
  run = ["sh", "-c", "echo deploying {{ .payload.after }}"]
  [[hook.action]]
  name = "notify"
  run = ["sh", "-c", "echo chat is down >&2; exit 1"]
`

// sendPort rewrites the config so `webhookd send` finds the listener the
// daemon bound (the file says port 0).
func admSendConfig(t *testing.T, d *proc) string {
	t.Helper()
	b, err := os.ReadFile(d.config)
	if err != nil {
		t.Fatal(err)
	}
	p := d.dir + "/send.toml"
	s := strings.Replace(string(b), `listen = "127.0.0.1:0"`, fmt.Sprintf("listen = %q", d.addr), 1)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestE2E_AdminCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, admConfig)
	d := startDaemon(t, dir, "E2E_SITE_SECRET=s3cret")
	if !strings.HasPrefix(d.admin, "unix:") {
		t.Fatalf("admin listens on %s; want the unix socket", d.admin)
	}
	secret := []string{"E2E_SITE_SECRET=s3cret"}
	sendCfg := admSendConfig(t, d)

	// send: signed as GitHub signs, answered by the daemon.
	r := admCLI(t, secret, "send", "-config", sendCfg, "-event", "push", "site", `{"ref":"refs/heads/main","after":"abc123"}`)
	if r.code != 0 || !strings.Contains(r.stdout, "202 Accepted") {
		t.Fatalf("send = %d %s %s", r.code, r.stdout, r.stderr)
	}
	var ack struct{ ID string }
	json.Unmarshal([]byte(r.stdout[strings.Index(r.stdout, "{"):]), &ack)
	mainID := ack.ID
	r = admCLI(t, secret, "send", "-config", sendCfg, "site", `{"ref":"refs/heads/dev","after":"def456"}`)
	json.Unmarshal([]byte(r.stdout[strings.Index(r.stdout, "{"):]), &ack)
	devID := ack.ID
	// Without the secret in this shell, send says which variable it needs.
	if r := admCLI(t, nil, "send", "-config", sendCfg, "site", `{}`); r.code != 1 || !strings.Contains(r.stderr, "E2E_SITE_SECRET") {
		t.Errorf("send without the secret = %d %s", r.code, r.stderr)
	}

	// events and show need no hook secret in the shell.
	waitFor(t, 10*time.Second, "both events finished", func() bool {
		var list admin.EventListJSON
		admJSON(t, nil, &list, "events", "-config", cfg, "-json")
		return len(list.Events) == 2 && list.Events[0].State == "dead" && list.Events[1].State == "dead"
	})
	var list admin.EventListJSON
	admJSON(t, nil, &list, "events", "-config", cfg, "-json", "-n", "1")
	if len(list.Events) != 1 || list.Events[0].ID != devID || list.Next != devID {
		t.Errorf("events -n 1 = %+v; want the dev push and a cursor", list)
	}
	admJSON(t, nil, &list, "events", "-config", cfg, "-json", "-before", list.Next)
	if len(list.Events) != 1 || list.Events[0].ID != mainID {
		t.Errorf("events -before = %+v; want the main push", list)
	}
	// The next page's command keeps the filters it was given.
	r = admCLI(t, nil, "events", "-hook", "site", "-config", cfg, "-n", "1")
	if want := "more: webhookd events -config " + cfg + " -hook site -n 1 -before " + devID + "\n"; !strings.HasSuffix(r.stdout, want) {
		t.Errorf("events -hook site -n 1 ends:\n%s\nwant %q", r.stdout, want)
	}
	r = admCLI(t, nil, "events", "-config", cfg)
	if !strings.Contains(r.stdout, "deploy=skipped notify=dead") || !strings.Contains(r.stdout, "deploy=succeeded notify=dead") {
		t.Errorf("events table:\n%s", r.stdout)
	}

	var ev admin.EventJSON
	admJSON(t, nil, &ev, "show", "-config", cfg, "-json", mainID)
	if len(ev.Jobs) != 2 || ev.Jobs[0].Runs[0].Output != "deploying abc123\n" || ev.Jobs[1].Runs[0].Output != "chat is down\n" {
		t.Fatalf("show -json = %+v", ev)
	}
	r = admCLI(t, nil, "show", "-config", cfg, devID)
	for _, want := range []string{"skipped: when is false", `payload.ref is "refs/heads/dev"`, "| chat is down", "X-Hub-Signature-256", `"after": "def456"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q", want)
		}
	}

	// replay one event, one action.
	var rep admin.ReplayJSON
	admJSON(t, nil, &rep, "replay", "-config", cfg, mainID, "-action", "deploy", "-json")
	if len(rep.Jobs) != 1 || rep.Jobs[0].Action != "deploy" {
		t.Fatalf("replay -action = %+v", rep)
	}
	waitFor(t, 10*time.Second, "the replayed deploy ran", func() bool {
		admJSON(t, nil, &ev, "show", "-config", cfg, "-json", mainID)
		return len(ev.Jobs) == 3 && ev.Jobs[2].State == "succeeded"
	})

	// retry the dead notify job.
	var job admin.JobJSON
	deadJob := ev.Jobs[1].ID
	admJSON(t, nil, &job, "retry", "-config", cfg, "-json", deadJob)
	if job.ID != deadJob {
		t.Errorf("retry = %+v", job)
	}
	waitFor(t, 10*time.Second, "the retried job ran", func() bool {
		admJSON(t, nil, &ev, "show", "-config", cfg, "-json", mainID)
		return ev.Jobs[1].State == "dead" && len(ev.Jobs[1].Runs) == 2
	})

	// Bulk: a dry run lists, then the replay queues, oldest first.
	var bulk cli.BulkResult
	admJSON(t, nil, &bulk, "replay", "-config", cfg, "-hook", "site", "-state", "dead", "-since", "1h", "-dry-run", "-json")
	if bulk.Total != 2 || len(bulk.Events) != 2 || bulk.Events[0].ID != mainID || bulk.Done == nil || !bulk.Done.DryRun {
		t.Fatalf("bulk dry run = %+v", bulk)
	}
	admJSON(t, nil, &bulk, "replay", "-config", cfg, "-hook", "site", "-state", "dead", "-json")
	if bulk.Done == nil || bulk.Done.Replayed != 2 || bulk.Done.Jobs != 3 {
		t.Fatalf("bulk replay = %+v; want 2 events, 3 jobs (2 + 1: the dev push's deploy is skipped)", bulk)
	}
	r = admCLI(t, nil, "replay", "-config", cfg, "-hook", "site", "-dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "2 events would be replayed") {
		t.Errorf("bulk dry run table = %d\n%s", r.code, r.stdout)
	}

	// pause: new events' jobs wait (held), and resume lets them run.
	var act admin.ActionJSON
	admJSON(t, nil, &act, "pause", "-config", cfg, "-json", "site/deploy")
	if !act.Paused {
		t.Fatalf("pause = %+v", act)
	}
	r = admCLI(t, secret, "send", "-config", sendCfg, "site", `{"ref":"refs/heads/main","after":"held1"}`)
	json.Unmarshal([]byte(r.stdout[strings.Index(r.stdout, "{"):]), &ack)
	admJSON(t, nil, &ev, "show", "-config", cfg, "-json", ack.ID)
	if ev.Jobs[0].State != "pending" || !strings.Contains(ev.Jobs[0].Held, "paused") {
		t.Errorf("job of a paused action = %+v; want pending, held", ev.Jobs[0])
	}
	var st admin.StatusJSON
	admGet(t, d, "", "/api/status", &st)
	if fmt.Sprint(st.Paused) != "[site/deploy]" {
		t.Errorf("status paused = %v", st.Paused)
	}
	admJSON(t, nil, &act, "resume", "-config", cfg, "-json", "site/deploy")
	waitFor(t, 10*time.Second, "the held deploy ran after resume", func() bool {
		admJSON(t, nil, &ev, "show", "-config", cfg, "-json", ack.ID)
		return ev.Jobs[0].State == "succeeded"
	})

	// cancel a queued job.
	admJSON(t, nil, &act, "pause", "-config", cfg, "-json", "site/deploy")
	admJSON(t, nil, &rep, "replay", "-config", cfg, "-json", ack.ID, "-action", "deploy")
	admJSON(t, nil, &job, "cancel", "-config", cfg, "-json", rep.Jobs[0].ID)
	if job.State != "cancelled" {
		t.Errorf("cancel = %+v", job)
	}

	// Exit statuses: 2 for a command line that makes no sense, 1 for a
	// failure, and a message.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"events", "-config", cfg, "extra"}, 2, "no arguments"},
		{[]string{"events", "-config", cfg, "-state", "bogus"}, 2, "state"},
		{[]string{"events", "-config", cfg, "-nope"}, 2, "flag provided but not defined"},
		{[]string{"events", "-config", cfg, "-n", "0"}, 2, "want 1 to 500"},
		{[]string{"events", "-config", cfg, "-n", "501"}, 2, "want 1 to 500"},
		{[]string{"show", "-config", cfg}, 2, "usage"},
		{[]string{"show", "-config", cfg, "0000000000000000"}, 1, "not found"},
		{[]string{"retry", "-config", cfg, deadJob + "x"}, 1, "not found"},
		{[]string{"retry", "-config", cfg, ev.Jobs[0].ID}, 1, "not allowed"},
		{[]string{"pause", "-config", cfg, "site"}, 2, "HOOK/ACTION"},
		{[]string{"pause", "-config", cfg, "site/nope"}, 1, "not in the config"},
		{[]string{"replay", "-config", cfg}, 2, "usage"},
		{[]string{"replay", "-config", cfg, mainID, "-hook", "site"}, 2, "not both"},
		{[]string{"replay", "-config", cfg, "-state", "dead", "-since", "last tuesday"}, 2, "-since"},
	} {
		r := admCLI(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("webhookd %v = %d %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
		if n := strings.Count(r.stderr, tc.want); n > 1 && tc.want != "usage" {
			// The flag package prints a bad flag's error with the usage:
			// webhookd does not print it again.
			t.Errorf("webhookd %v: %q is said %d times: %q", tc.args, tc.want, n, r.stderr)
		}
	}

	// No daemon: events and show read the file; the rest say they need it.
	if err := d.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	r = admCLI(t, nil, "events", "-config", cfg, "-json")
	if r.code != 0 || !strings.Contains(r.stderr, "reading") {
		t.Fatalf("events without a daemon = %d %s", r.code, r.stderr)
	}
	json.Unmarshal([]byte(r.stdout), &list)
	if len(list.Events) != 3 {
		t.Errorf("events read from the file: %d; want 3", len(list.Events))
	}
	admJSON(t, nil, &ev, "show", "-config", cfg, "-json", mainID)
	if ev.ID != mainID || len(ev.Jobs) < 3 {
		t.Errorf("show read from the file = %+v", ev)
	}
	if r := admCLI(t, nil, "replay", "-config", cfg, mainID); r.code != 1 || !strings.Contains(r.stderr, "need the running daemon") {
		t.Errorf("replay without a daemon = %d %s", r.code, r.stderr)
	}
}

// admGet reads an admin API path over the daemon's admin address (TCP or
// unix socket), with token if set, and decodes its answer.
func admGet(t *testing.T, d *proc, token, path string, out any) int {
	t.Helper()
	res := admDo(t, d, "GET", path, token, nil)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode == 200 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, b)
		}
	}
	return res.StatusCode
}

func admDo(t *testing.T, d *proc, method, path, token string, hdr http.Header) *http.Response {
	t.Helper()
	client, base := admClient(d.admin)
	req, _ := http.NewRequest(method, base+path, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

const admAuthConfig = `
[server]
listen = "127.0.0.1:0"
[store]
path = "%DIR%/webhookd.db"
[admin]
listen = "127.0.0.1:0"
token = "env:WEBHOOKD_ADMIN_TOKEN"
[[hook]]
id = "site"
provider = "github"
secret = "hook-secret"
  [[hook.action]]
  name = "deploy"
  run = ["true"]
`

func TestE2E_AdminAuth(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, admAuthConfig)
	const token = "e2e-admin-token-0123456789abcdef"
	d := startDaemon(t, dir, "WEBHOOKD_ADMIN_TOKEN="+token)
	r := d.postGitHub("/hooks/site", "hook-secret", "push", "a1", []byte(`{}`))
	id, _ := r.Body["id"].(string)

	// The API and /metrics: 401 without the token.
	for _, path := range []string{"/api/status", "/api/events", "/api/events/" + id, "/api/rejections", "/metrics"} {
		if code := admGet(t, d, "", path, nil); code != 401 {
			t.Errorf("GET %s without a token = %d; want 401", path, code)
		}
		if code := admGet(t, d, "wrong", path, nil); code != 401 {
			t.Errorf("GET %s with a wrong token = %d; want 401", path, code)
		}
		if code := admGet(t, d, token, path, nil); code != 200 {
			t.Errorf("GET %s with the token = %d; want 200", path, code)
		}
	}
	res := admDo(t, d, "GET", "/metrics", token, nil)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`webhookd_requests_total{hook="site",status="202"} 1`, "webhookd_store_commit_seconds_bucket", `webhookd_jobs{state="succeeded"}`, "webhookd_config_last_reload_successful 1"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code := admGet(t, d, "", "/healthz", nil); code != 200 {
		t.Errorf("/healthz without a token = %d; want 200", code)
	}

	// A browser gets the login page.
	res = admDo(t, d, "GET", "/", "", http.Header{"Accept": {"text/html"}})
	res.Body.Close()
	if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Errorf("GET / in a browser without a session = %d %s; want 303 to /login", res.StatusCode, res.Header.Get("Location"))
	}
	res = admDo(t, d, "GET", "/login", "", nil)
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `name="token"`) {
		t.Errorf("GET /login = %d", res.StatusCode)
	}

	// A forged cross-site POST is refused, even carrying the token.
	res = admDo(t, d, "POST", "/api/events/"+id+"/replay", token, http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}})
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("cross-site POST = %d; want 403", res.StatusCode)
	}
	res = admDo(t, d, "POST", "/events/"+id+"/replay", "", http.Header{"Origin": {"https://evil.example"}, "Content-Type": {"application/x-www-form-urlencoded"}})
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("cross-site form POST = %d; want it refused", res.StatusCode)
	}
	var ev admin.EventJSON
	admGet(t, d, token, "/api/events/"+id, &ev)
	if len(ev.Jobs) != 1 {
		t.Errorf("forged POSTs queued jobs: %d; want 1", len(ev.Jobs))
	}

	// The CLI reads the token from the config's env: reference.
	tokenEnv := []string{"WEBHOOKD_ADMIN_TOKEN=" + token}
	var list admin.EventListJSON
	admJSON(t, tokenEnv, &list, "events", "-config", cfg, "-admin", d.admin, "-json")
	if len(list.Events) != 1 {
		t.Errorf("events with the token = %+v", list)
	}
	if r := admCLI(t, nil, "events", "-config", cfg, "-admin", d.admin); r.code != 1 || !strings.Contains(r.stderr, "WEBHOOKD_ADMIN_TOKEN") {
		t.Errorf("events without the token in the shell = %d %s; want 1 naming the variable", r.code, r.stderr)
	}
	if r := admCLI(t, []string{"WEBHOOKD_ADMIN_TOKEN=wrong"}, "events", "-config", cfg, "-admin", d.admin); r.code != 1 || !strings.Contains(r.stderr, "not the daemon's") {
		t.Errorf("events with a wrong token = %d %s", r.code, r.stderr)
	}
	if strings.Contains(d.log.String(), token) {
		t.Error("the daemon logged the admin token")
	}
}

// admClient reaches an admin address: host:port or unix:/path.
func admClient(addr string) (*http.Client, string) {
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		return &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirect, Transport: admUnix(p)}, "http://localhost"
	}
	return &http.Client{Timeout: 30 * time.Second, CheckRedirect: noRedirect}, "http://" + addr
}

func admUnix(path string) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}
}

// TestE2E_PauseSurvivesARestart: a pause is kept in the database (README,
// Commands): after a stop and a start, a new event's job of the paused
// action is held, the other action's runs, and resume lets it run.
func TestE2E_PauseSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, admConfig)
	secret := "E2E_SITE_SECRET=s3cret"
	d := startDaemon(t, dir, secret)
	var act admin.ActionJSON
	admJSON(t, nil, &act, "pause", "-config", cfg, "-json", "site/deploy")
	if !act.Paused {
		t.Fatalf("pause = %+v", act)
	}
	if err := d.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	d = startDaemon(t, dir, secret)
	res := d.postGitHub("/hooks/site", "s3cret", "push", "after-restart", []byte(`{"ref":"refs/heads/main","after":"abc123"}`))
	if res.Status != 202 {
		t.Fatalf("push = %d %s", res.Status, res.Raw)
	}
	id := fmt.Sprint(res.Body["id"])
	var ev admin.EventJSON
	waitFor(t, 10*time.Second, "notify, not paused, to run", func() bool {
		admJSON(t, nil, &ev, "show", "-config", cfg, "-json", id)
		return len(ev.Jobs) == 2 && ev.Jobs[1].State == "dead"
	})
	if ev.Jobs[0].Action != "deploy" || ev.Jobs[0].State != "pending" || !strings.Contains(ev.Jobs[0].Held, "paused") {
		t.Fatalf("deploy after a restart = %+v; want pending, held: paused", ev.Jobs[0])
	}
	if r := admCLI(t, nil, "show", "-config", cfg, id); !strings.Contains(r.stdout, "held: action paused") {
		t.Errorf("show of the held job lacks \"held: action paused\":\n%s", r.stdout)
	}
	admJSON(t, nil, &act, "resume", "-config", cfg, "-json", "site/deploy")
	waitFor(t, 10*time.Second, "the held deploy to run after resume", func() bool {
		admJSON(t, nil, &ev, "show", "-config", cfg, "-json", id)
		return ev.Jobs[0].State == "succeeded"
	})
}

// readmeConfig is admConfig with the README's example actions: deploy
// prints what it deploys, notify fails as the README's does.
const readmeConfig = `
[server]
listen = "127.0.0.1:0"
[store]
path = "%DIR%/webhookd.db"
[admin]
listen = "unix:%DIR%/admin.sock"
[[hook]]
id = "site"
provider = "github"
secret = "s3cret"
events = ["push"]
  [[hook.action]]
  name = "deploy"
  run = ["sh", "-c", "echo deploying {{ .payload.after }}"]
  [[hook.action]]
  name = "notify"
  run = ["sh", "-c", "echo cannot reach chat; exit 1"]
`

// TestE2E_CommandsAsTheREADMEShows: the README's example session of
// Commands (events, show, a bulk replay's dry run and replay), each
// command run as it is written there on the event it shows (a push of its
// 42 bytes, deploy succeeded, notify dead), and its output compared with
// the README's line by line: ids, times and durations stand for what they
// are, a line with "…" in it is left out.
func TestE2E_CommandsAsTheREADMEShows(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sessions := regexp.MustCompile("(?s)```\n(\\$ webhookd events\n.*?)```\n.*?```\n(\\$ webhookd replay .*?)```\n").FindSubmatch(readme)
	if sessions == nil {
		t.Fatal("README's Commands: no example session of events, show and replay")
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, readmeConfig)
	d := startDaemon(t, dir)
	res := d.postGitHub("/hooks/site", "s3cret", "push", "0f1e2d3c-e2e", []byte(`{"ref":"refs/heads/main","after":"abc123"}`))
	if res.Status != 202 {
		t.Fatalf("push = %d %s", res.Status, res.Raw)
	}
	id := fmt.Sprint(res.Body["id"])
	waitFor(t, 10*time.Second, "the event to be dead", func() bool {
		var ev admin.EventJSON
		admJSON(t, nil, &ev, "show", "-config", cfg, "-json", id)
		return ev.State == "dead"
	})

	// The README's event: the one it shows.
	readmeID := string(regexp.MustCompile(`(?m)^\$ webhookd show (\S+)$`).FindSubmatch(sessions[1])[1])
	for _, session := range sessions[1:] {
		// A session: "$ webhookd ARGS" lines, each followed by its output.
		for _, part := range regexp.MustCompile(`(?m)^\$ `).Split(string(session), -1)[1:] {
			cmdLine, want, _ := strings.Cut(part, "\n")
			args := strings.Fields(cmdLine)[1:]
			for i, a := range args {
				if a == readmeID {
					args[i] = id
				}
			}
			r := admCLI(t, nil, append([]string{args[0], "-config", cfg}, args[1:]...)...)
			if r.code != 0 {
				t.Errorf("webhookd %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
				continue
			}
			got := strings.Split(r.stdout, "\n")
			for _, line := range strings.Split(strings.TrimSuffix(want, "\n"), "\n") {
				if strings.Contains(line, "…") {
					continue
				}
				if strings.HasPrefix(line, "replaying [") {
					continue // the progress bar, drawn on a terminal only
				}
				if regexp.MustCompile(`^[0-9A-Z]{16} `).MatchString(line) && !strings.HasPrefix(line, readmeID) {
					continue // the README's other event, a push to another ref
				}
				re := regexp.QuoteMeta(line)
				re = strings.ReplaceAll(re, readmeID[:15], regexp.QuoteMeta(id[:15]))
				re = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`).ReplaceAllString(re, `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`)
				re = regexp.MustCompile(`\b\d+ms\b`).ReplaceAllString(re, `[0-9.]+(ms|s)`) // a run under 1ms is 0s
				re = strings.ReplaceAll(re, regexp.QuoteMeta("140.82.115.4"), regexp.QuoteMeta("127.0.0.1"))
				lineRE := regexp.MustCompile("^" + re + "$")
				found := false
				for _, g := range got {
					if lineRE.MatchString(g) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("webhookd %s: no line like the README's\n%s\nin:\n%s", strings.Join(args, " "), line, r.stdout)
				}
			}
		}
	}
}
