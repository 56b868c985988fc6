package main

// A real-browser test of the dashboard: Debian's Chromium, driven with
// chromedp, logs in, opens an event, presses Replay and sees the new run
// appear. With -screenshots it writes the pictures the README shows:
//
//	go test -run TestE2E_Browser -screenshots .

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/webhookd/webhookd/admin"
)

var screenshots = flag.Bool("screenshots", false, "write the dashboard's screenshots to docs/screenshots/ (for the README)")

// findChromium returns a Chromium (or Chrome) to drive, or why there is none.
func findChromium() (string, string) {
	if p := os.Getenv("WEBHOOKD_CHROMIUM"); p != "" {
		return p, ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, ""
		}
	}
	return "", "no Chromium found (looked for chromium, chromium-browser, google-chrome and $WEBHOOKD_CHROMIUM): on Debian, apt-get install chromium (.ci/run does)"
}

const browserConfig = `
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
events = ["push", "ping"]
  [[hook.action]]
  name = "deploy"
  when = 'event == "push" && payload.ref == "refs/heads/main"'
  run = ["sh", "-c", "echo \"deploying {{ .payload.after }} (attempt $WEBHOOKD_ATTEMPT)\"; echo 'restarting site.service'"]
  [[hook.action]]
  name = "notify"
  url = "http://127.0.0.1:9/unreachable"
  retries = 0
  timeout = "2s"
`

func TestE2E_Browser(t *testing.T) {
	chromium, why := findChromium()
	if chromium == "" {
		if os.Getenv("WEBHOOKD_REQUIRE_BROWSER") != "" {
			t.Fatal(why) // CI installs one
		}
		t.Skip(why)
	}
	dir := t.TempDir()
	writeConfig(t, dir, browserConfig)
	const token = "browser-admin-token-0123456789abcdef"
	d := startDaemon(t, dir, "WEBHOOKD_ADMIN_TOKEN="+token)

	push := func(ref, after, delivery string) string {
		body := fmt.Sprintf(`{"ref":%q,"after":%q,"repository":{"full_name":"me/site"},"pusher":{"name":"ada"}}`, ref, after)
		r := d.postGitHub("/hooks/site", "hook-secret", "push", delivery, []byte(body))
		if r.Status != 202 {
			t.Fatalf("push = %d %s", r.Status, r.Raw)
		}
		return r.Body["id"].(string)
	}
	mainID := push("refs/heads/main", "9f2c1e7", "delivery-1")
	push("refs/heads/dev", "41ab0d2", "delivery-2")
	if r := d.postGitHub("/hooks/site", "wrong-secret", "push", "delivery-3", []byte(`{}`)); r.Status != 401 {
		t.Fatalf("badly signed push = %d", r.Status)
	}
	waitFor(t, 15*time.Second, "the main push's jobs finished", func() bool {
		var ev admin.EventJSON
		admGet(t, d, token, "/api/events/"+mainID, &ev)
		return len(ev.Jobs) == 2 && ev.Jobs[0].State == "succeeded" && ev.Jobs[1].State == "dead"
	})

	shots := t.ArtifactDir()
	if *screenshots {
		shots = filepath.Join("docs", "screenshots")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // root in CI
		chromedp.DisableGPU,
		// This machine's network is closed: no calls home at start.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 800),
	)...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelTab)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	location := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	shoot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Without a session the dashboard asks for the token.
	base := "http://" + d.admin
	do("open the dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	if loc := location(); !strings.Contains(loc, "/login") {
		t.Fatalf("without a session the dashboard is at %s; want the login page", loc)
	}
	do("log in",
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("table.events")))

	// The events list: each event with every action's verdict.
	list := text("main")
	for _, want := range []string{"deploy", "succeeded", "skipped", "dead", "1 refused or ignored"} {
		if !strings.Contains(list, want) {
			t.Errorf("events page lacks %q:\n%s", want, list)
		}
	}
	shoot("dashboard.png")

	// Follow the main push to its page: verdicts, output, payload.
	do("open the event", chromedp.Click(chromedp.CSS(`a[href="/events/`+mainID+`"]`)), chromedp.WaitVisible(chromedp.CSS("#replay")))
	page := text("main")
	for _, want := range []string{"ran: succeeded after 1 attempt", "deploying 9f2c1e7 (attempt 1)", "dead after 1 attempt", `"full_name": "me/site"`, "X-Github-Event"} {
		if !strings.Contains(page, want) {
			t.Errorf("event page lacks %q:\n%s", want, page)
		}
	}
	jobs := func() int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Nodes(chromedp.CSSAll("article.job")))
		if err != nil {
			t.Fatal(err)
		}
		return len(n)
	}
	if n := jobs(); n != 2 {
		t.Fatalf("event page shows %d jobs; want 2", n)
	}
	shoot("event.png")

	// Replay: the page comes back with the new jobs, and (refreshing
	// itself, without JavaScript, while they run) with their runs.
	do("press replay", chromedp.Click(chromedp.CSS("#replay")), chromedp.WaitVisible(chromedp.CSS(".banner.good")))
	if b := text(".banner.good"); !strings.Contains(b, "Replay queued") {
		t.Errorf("after replay the banner says %q", b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		page = text("main")
		if jobs() == 4 && strings.Count(page, "deploying 9f2c1e7") == 2 && strings.Count(page, "dead after 1 attempt") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replayed run did not appear on the page:\n%s", page)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(page, "deploying 9f2c1e7 (attempt 1)") || !strings.Contains(page, "an earlier job") {
		t.Errorf("replayed event page:\n%s", page)
	}
	shoot("event-replayed.png")

	// Why a delivery was refused, without a secret.
	do("open the rejections", chromedp.Navigate(base+"/rejections"), chromedp.WaitVisible(chromedp.CSS("table.rejections")))
	if rej := text("table.rejections"); !strings.Contains(rej, "mismatch") || !strings.Contains(rej, "X-Hub-Signature-256") {
		t.Errorf("rejections page:\n%s", rej)
	}
	shoot("rejections.png")
	do("open the status", chromedp.Navigate(base+"/status"), chromedp.WaitVisible(chromedp.CSS("table.queue")))
	shoot("status.png")

	// A broken save: the running config stays, and every page says so;
	// the status page shows the error with its line.
	broken := strings.Replace(browserConfig, `provider = "github"`, `provider = "githb"`, 1)
	writeConfig(t, dir, broken)
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the failed reload in /api/status", func() bool {
		var st admin.StatusJSON
		admGet(t, d, token, "/api/status", &st)
		return st.ConfigError != ""
	})
	do("open the status after a broken save", chromedp.Navigate(base+"/status"), chromedp.WaitVisible(chromedp.CSS(".config-error")))
	if e := text(".config-error"); !strings.Contains(e, "webhookd.toml:") || !strings.Contains(e, "githb") {
		t.Errorf("status page's config error:\n%s", e)
	}
	if b := text(".banner.bad"); !strings.Contains(b, "reload failed") {
		t.Errorf("banner after a broken save: %q", b)
	}
	shoot("status-config-error.png")

	// On a phone: the events page fits the screen's width.
	do("phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("table.events")))
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.documentElement.scrollWidth"))
	if err != nil {
		t.Fatal(err)
	}
	if width > 390 {
		t.Errorf("on a 390 px wide phone the events page is %d px wide", width)
	}
	shoot("phone.png")

	full := ""
	for _, p := range []string{"/", "/events/" + mainID, "/rejections", "/status"} {
		do("open "+p, chromedp.Navigate(base+p))
		html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Fatal(err)
		}
		full += html
	}
	for _, secret := range []string{token, "hook-secret"} {
		if strings.Contains(full, secret) {
			t.Errorf("a dashboard page shows the secret %q", secret)
		}
	}
}
