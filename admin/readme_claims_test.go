package admin

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/actions"
	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// Tests for README claims of "Admin API" and "Dashboard" that no other
// test held.

// TestREADME_NotFound: 404 for no such event, job, action or endpoint,
// as a JSON error.
func TestREADME_NotFound(t *testing.T) {
	e := newEnv(t, testToken, exec("site", "deploy", "", "true"))
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/nope"},
		{"GET", "/api/events/06H0HBHXR4000000"},
		{"POST", "/api/events/06H0HBHXR4000000/replay"},
		{"GET", "/api/jobs/06H0HBHXR4000002"},
		{"POST", "/api/jobs/06H0HBHXR4000002/retry"},
		{"POST", "/api/jobs/06H0HBHXR4000002/cancel"},
		{"POST", "/api/actions/site/nope/pause"},
		{"POST", "/api/actions/nope/deploy/resume"},
	} {
		code, body := e.call(tc.method, tc.path, testToken, nil)
		var got struct{ Error string }
		if code != http.StatusNotFound || json.Unmarshal([]byte(body), &got) != nil || got.Error == "" {
			t.Errorf("%s %s = %d %s; want 404 with a JSON error", tc.method, tc.path, code, body)
		}
	}
}

// TestREADME_DashboardNoScriptNoFraming: every page (the login page too)
// carries a Content-Security-Policy that forbids scripts and framing, and
// holds no script of its own; the session cookie lasts 12 hours.
func TestREADME_DashboardNoScriptNoFraming(t *testing.T) {
	e := newEnv(t, testToken,
		exec("site", "deploy", `payload.ref == "refs/heads/main"`, "echo ok"),
		exec("site", "notify", "", "exit 3"))
	id := e.ingest("site", "push", `{"ref":"refs/heads/main"}`)
	e.waitState2(id, store.Succeeded, store.Dead)
	b := newBrowser(e)
	pages := map[string]string{}
	a := b.do("GET", "/login", nil)
	pages["/login"] = a.body
	checkCSP := func(path string, h http.Header) {
		t.Helper()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "script-src") {
			t.Errorf("GET %s: Content-Security-Policy %q allows a script source", path, csp)
		}
	}
	checkCSP("/login", a.hdr)
	a = b.do("POST", "/login", url.Values{"token": {testToken}})
	if c := a.hdr.Get("Set-Cookie"); !strings.Contains(c, "Max-Age=43200") {
		t.Errorf("session cookie %q; want Max-Age=43200 (12 hours)", c)
	}
	for _, path := range []string{"/", "/events/" + id, "/rejections", "/status"} {
		a := b.do("GET", path, nil)
		if a.code != 200 {
			t.Fatalf("GET %s = %d", path, a.code)
		}
		checkCSP(path, a.hdr)
		pages[path] = a.body
	}
	handler := regexp.MustCompile(`(?i)<script|\son[a-z]+\s*=|javascript:`)
	forms := regexp.MustCompile(`(?s)<form[^>]*method="post"[^>]*>.*?</form>`)
	nforms := 0
	for path, body := range pages {
		if m := handler.FindString(body); m != "" {
			t.Errorf("GET %s holds script: %q", path, m)
		}
		if path == "/login" {
			continue
		}
		for _, f := range forms.FindAllString(body, -1) {
			nforms++
			if !strings.Contains(f, `name="csrf"`) {
				t.Errorf("GET %s: a form without a CSRF token: %s", path, f)
			}
		}
	}
	if nforms == 0 {
		t.Errorf("no POST forms found on the pages; the CSRF check looked at nothing")
	}
}

// TestREADME_EventsAndJobsPages: /api/events gives 50 newest first by
// default and takes limit up to 500, next leading on with before=;
// /api/jobs gives one state oldest first, next leading on with after=.
func TestREADME_EventsAndJobsPages(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", `event == "never"`, "true"))
	var ids []string
	for range 55 {
		ids = append(ids, e.ingest("site", "push", `{}`))
	}
	type page struct {
		Events []struct{ ID string }
		Jobs   []struct{ ID, State string }
		Next   string
	}
	get := func(path string) page {
		t.Helper()
		var p page
		if code, body := e.call("GET", path, "", &p); code != 200 {
			t.Fatalf("GET %s = %d %s", path, code, body)
		}
		return p
	}
	p := get("/api/events")
	if len(p.Events) != 50 || p.Events[0].ID != ids[54] || p.Events[49].ID != ids[5] || p.Next == "" {
		t.Fatalf("GET /api/events: %d events, first %v, next %q; want the 50 newest, newest first, and a next", len(p.Events), p.Events[:1], p.Next)
	}
	p = get("/api/events?before=" + p.Next)
	if len(p.Events) != 5 || p.Events[0].ID != ids[4] || p.Events[4].ID != ids[0] {
		t.Errorf("the next page: %v; want the 5 oldest, newest first", p.Events)
	}
	if p = get("/api/events?limit=500"); len(p.Events) != 55 {
		t.Errorf("limit=500: %d events; want all 55", len(p.Events))
	}
	// Jobs: the skipped ones, oldest first, 20 then the rest by after=.
	var seen []string
	p = get("/api/jobs?state=skipped&limit=20")
	for n := 0; ; n++ {
		for _, j := range p.Jobs {
			if j.State != "skipped" {
				t.Errorf("job %s is %s in a listing of skipped", j.ID, j.State)
			}
			seen = append(seen, j.ID)
		}
		if p.Next == "" || n > 5 {
			break
		}
		p = get("/api/jobs?state=skipped&limit=20&after=" + p.Next)
	}
	if len(seen) != 55 || !slices.IsSorted(seen) {
		t.Errorf("jobs by after=: %d, sorted %v; want 55, oldest first", len(seen), slices.IsSorted(seen))
	}
}

// TestREADME_StatusFields: /api/status has every field the README lists;
// last_reload, last_reload_time and config_error only once a reload
// happened (and failed).
func TestREADME_StatusFields(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	if err := e.sched.SetPaused(t.Context(), "site", "deploy", true); err != nil {
		t.Fatal(err)
	}
	e.ingest("site", "push", `{}`)
	fields := func() map[string]any {
		t.Helper()
		var m map[string]any
		if code, body := e.call("GET", "/api/status", "", &m); code != 200 {
			t.Fatalf("GET /api/status = %d %s", code, body)
		}
		return m
	}
	m := fields()
	for _, k := range []string{"version", "started", "uptime_seconds", "config_file", "jobs", "running", "paused", "events", "database_bytes", "oldest_queued_job", "oldest_queued_age_seconds"} {
		if _, ok := m[k]; !ok {
			t.Errorf("/api/status lacks %s: %v", k, m)
		}
	}
	for _, k := range []string{"last_reload", "last_reload_time", "config_error", "refusing"} {
		if _, ok := m[k]; ok {
			t.Errorf("/api/status has %s before any reload, with deliveries accepted: %v", k, m)
		}
	}
	if jobs, _ := m["jobs"].(map[string]any); jobs["pending"] != 1.0 || m["events"] != 1.0 {
		t.Errorf("/api/status jobs %v, events %v; want 1 pending, 1 event", m["jobs"], m["events"])
	}
	e.mu.Lock()
	e.status.LastReload, e.status.LastReloadTime = "error", time.Now()
	e.status.ConfigError = "/etc/webhookd/webhookd.toml:3: nope"
	e.mu.Unlock()
	m = fields()
	if m["last_reload"] != "error" || m["last_reload_time"] == nil || m["config_error"] != "/etc/webhookd/webhookd.toml:3: nope" {
		t.Errorf("/api/status after a failed reload: %v", m)
	}
}

// TestREADME_PagesReloadWhileRunning: while a job runs, the event's page
// reloads itself every 2 seconds and the events list every 5; once it is
// done, neither does; a job held by a pause does not make the page reload.
func TestREADME_PagesReloadWhileRunning(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "go")
	e := newEnv(t, testToken,
		exec("site", "deploy", "", "while [ ! -e "+gate+" ]; do sleep 0.02; done"),
		exec("site", "held", "", "true"))
	if err := e.sched.SetPaused(t.Context(), "site", "held", true); err != nil {
		t.Fatal(err)
	}
	id := e.ingest("site", "push", `{}`)
	b := newBrowser(e)
	b.do("POST", "/login", url.Values{"token": {testToken}})
	refresh := regexp.MustCompile(`http-equiv="refresh" content="(\d+)"`)
	reloads := func(path string) string {
		t.Helper()
		a := b.do("GET", path, nil)
		if a.code != 200 {
			t.Fatalf("GET %s = %d", path, a.code)
		}
		if m := refresh.FindStringSubmatch(a.body); m != nil {
			return m[1]
		}
		return ""
	}
	e.waitState2(id, store.Running, store.Pending)
	if got := reloads("/events/" + id); got != "2" {
		t.Errorf("event page while a job runs reloads after %q s; want 2", got)
	}
	if got := reloads("/"); got != "5" {
		t.Errorf("events list while a job runs reloads after %q s; want 5", got)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e.waitState2(id, store.Succeeded, store.Pending)
	if got := reloads("/events/" + id); got != "" {
		t.Errorf("event page with only a held job reloads after %q s; want no reload", got)
	}
	if got := reloads("/"); got != "" {
		t.Errorf("events list with nothing running reloads after %q s; want no reload", got)
	}
}

// TestREADME_CurlExamples: each curl example of the Admin API section,
// with a real event's and job's ids, is answered 200 with what it says.
func TestREADME_CurlExamples(t *testing.T) {
	e := newEnv(t, testToken, exec("site", "deploy", "", "exit 1"), exec("other", "notify", "", "true"))
	if err := e.sched.SetPaused(t.Context(), "other", "notify", true); err != nil {
		t.Fatal(err)
	}
	id := e.ingest("site", "push", `{}`)
	e.waitState2(id, store.Dead)
	dead := e.eventAs(id, testToken).Jobs[0].ID
	queued := e.eventAs(e.ingest("other", "push", `{}`), testToken).Jobs[0].ID
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/api/events?hook=site&state=dead&limit=20", `"id": "` + id + `"`},
		{"GET", "/api/events?before=" + id, `"events": []`},
		{"GET", "/api/events/" + id, `"state": "dead"`},
		{"POST", "/api/events/" + id + "/replay", `"action": "deploy"`},
		{"POST", "/api/events/" + id + "/replay?action=deploy", `"action": "deploy"`},
		{"POST", "/api/replay?hook=site&state=dead&since=24h&dry_run=true", `{"done":`},
		{"GET", "/api/jobs?state=failed", `"jobs": []`},
		{"POST", "/api/jobs/" + dead + "/retry", `"reason": "retried by hand"`},
		{"POST", "/api/jobs/" + queued + "/cancel", `"state": "cancelled"`},
		{"POST", "/api/actions/site/deploy/pause", `"paused": true`},
		{"POST", "/api/actions/site/deploy/resume", `"paused": false`},
		{"GET", "/api/rejections", `"rejections": []`},
	} {
		code, body := e.call(tc.method, tc.path, testToken, nil)
		if code != 200 || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s = %d %s; want 200 with %s", tc.method, tc.path, code, body, tc.want)
		}
	}
}

// TestREADME_RetryStates: retry takes a failed, dead, skipped or cancelled
// job; one still waiting its turn in its queue (behind an earlier job of
// an action with concurrency 1) is 409, saying so; the queued job at the
// head of the queue is made due now.
func TestREADME_RetryStates(t *testing.T) {
	e := newEnv(t, testToken, exec("site", "deploy", `event == "push"`, "true"))
	if err := e.sched.SetPaused(t.Context(), "site", "deploy", true); err != nil {
		t.Fatal(err)
	}
	head := e.eventAs(e.ingest("site", "push", `{}`), testToken).Jobs[0].ID
	behind := e.eventAs(e.ingest("site", "push", `{}`), testToken).Jobs[0].ID
	skipped := e.eventAs(e.ingest("site", "tag", `{}`), testToken).Jobs[0].ID
	if code, body := e.call("POST", "/api/jobs/"+behind+"/retry", testToken, nil); code != 409 || !strings.Contains(body, "waits for its turn") {
		t.Errorf("retry of a job behind another = %d %s; want 409, waiting its turn", code, body)
	}
	if code, body := e.call("POST", "/api/jobs/"+head+"/retry", testToken, nil); code != 200 || !strings.Contains(body, `"state": "pending"`) {
		t.Errorf("retry of the queue's head = %d %s; want 200, pending", code, body)
	}
	if code, body := e.call("POST", "/api/jobs/"+head+"/cancel", testToken, nil); code != 200 {
		t.Fatalf("cancel = %d %s", code, body)
	}
	for name, job := range map[string]string{"cancelled": head, "skipped": skipped} {
		if code, body := e.call("POST", "/api/jobs/"+job+"/retry", testToken, nil); code != 200 || !strings.Contains(body, `"state": "pending"`) || !strings.Contains(body, "retried by hand") {
			t.Errorf("retry of a %s job = %d %s; want 200, pending again, retried by hand", name, code, body)
		}
	}
}

// TestREADME_WriteFails503: a request that must write while the database
// cannot be written is answered 503 with a JSON error.
func TestREADME_WriteFails503(t *testing.T) {
	var failing atomic.Bool
	st, err := store.Open(filepath.Join(t.TempDir(), "w.db"), store.Options{FailWrites: func() error {
		if failing.Load() {
			return errors.New("injected: no space left on device")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	acts := []*actions.Action{exec("site", "deploy", "", "true")}
	acts[0].Dir = t.TempDir()
	sched := actions.New(actions.Options{Store: st, TempDir: t.TempDir()}, actions.NewConfig(acts))
	if err := sched.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sched.Close() })
	srv := New(Options{Addr: "127.0.0.1:0", Store: st, Scheduler: sched,
		Status: func() Status { return Status{} }, Rejections: func() []listener.Rejection { return nil }})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	failing.Store(true)
	res, err := http.Post(ts.URL+"/api/actions/site/deploy/pause", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var got struct{ Error string }
	if res.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(body, &got) != nil || got.Error == "" {
		t.Errorf("pause with the database failing writes = %d %s; want 503 with a JSON error", res.StatusCode, body)
	}
	failing.Store(false)
}

// TestREADME_EventTypeCutAt80: the events list cuts an event type at 80
// characters (77 and an ellipsis); one of 80 is shown whole.
func TestREADME_EventTypeCutAt80(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", `event == "never"`, "true"))
	long, fits := strings.Repeat("x", 81), strings.Repeat("y", 80)
	e.ingest("site", long, `{}`)
	e.ingest("site", fits, `{}`)
	w, _ := e.servePage("/")
	page := w.Body.String()
	if !strings.Contains(page, ">"+strings.Repeat("x", 77)+"…<") || strings.Contains(page, strings.Repeat("x", 78)) {
		t.Errorf("events list does not show an 81-character type as 77 characters and …")
	}
	if !strings.Contains(page, ">"+fits+"<") {
		t.Errorf("events list cut an 80-character type")
	}
}

// TestREADME_StatusPage: the status page shows the config file and the
// last reload with a broken file's errors line by line, the queue by
// state, what runs now, every action with a pause button, the version,
// uptime and database size.
func TestREADME_StatusPage(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "go")
	e := newEnv(t, "", exec("site", "deploy", "", "while [ ! -e "+gate+" ]; do sleep 0.02; done"))
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) })
	e.mu.Lock()
	e.status.Version = "v9.8.7-test"
	e.status.Started = time.Now().Add(-90 * time.Minute)
	e.status.LastReload, e.status.LastReloadTime = "error", time.Now()
	e.status.ConfigError = "/etc/webhookd/webhookd.toml:3: first mistake\n/etc/webhookd/webhookd.toml:9: second mistake"
	e.mu.Unlock()
	id := e.ingest("site", "push", `{}`)
	e.waitState2(id, store.Running)
	w, _ := e.servePage("/status")
	page := w.Body.String()
	for _, want := range []string{
		"<code>/etc/webhookd/webhookd.toml</code>", `<span class="state dead">error</span>`,
		"webhookd.toml:3: first mistake\n/etc/webhookd/webhookd.toml:9: second mistake</pre>",
		"<th>running</th>", "Running now", "<b>site/deploy</b> for <a href=\"/events/" + id + "\">",
		`action="/actions/site/deploy/pause"`,
		"<dd>v9.8.7-test</dd>", "<dd>1h30m", "<dt>Database</dt><dd>",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

// TestREADME_RunExitCodes: an event's runs give exit_code, the command's
// status, -1 when a signal killed it or it never started (its error says
// which).
func TestREADME_RunExitCodes(t *testing.T) {
	missing := exec("site", "missing", "", "")
	missing.Run = []*tmpl.Template{tmpl.MustParse("run", filepath.Join(t.TempDir(), "no-such-command"))}
	e := newEnv(t, "", exec("site", "exits", "", "exit 5"), exec("site", "killed", "", "kill -9 $$"), missing)
	id := e.ingest("site", "push", `{}`)
	ev := e.waitState(id, store.Dead, store.Dead, store.Dead)
	for i, want := range []struct {
		code int
		err  string
	}{{5, "exit status 5"}, {-1, "killed"}, {-1, "no-such-command"}} {
		j := ev.Jobs[i]
		if len(j.Runs) != 1 || j.Runs[0].ExitCode == nil {
			t.Fatalf("job %s: runs %+v; want one with an exit_code", j.Action, j.Runs)
		}
		if r := j.Runs[0]; *r.ExitCode != want.code || !strings.Contains(r.Error, want.err) {
			t.Errorf("job %s: exit_code %d, error %q; want %d, an error with %q", j.Action, *r.ExitCode, r.Error, want.code, want.err)
		}
	}
	// The event page: from where it came, and the exit status only of the
	// run that has one.
	w, _ := e.servePage("/events/" + id)
	page := w.Body.String()
	if !strings.Contains(page, "<dt>From</dt><dd>192.0.2.7</dd>") || strings.Count(page, " · exit ") != 1 || !strings.Contains(page, " · exit 5") {
		t.Errorf("event page: want From 192.0.2.7 and one exit status, exit 5:\n%s", page)
	}
}

// TestREADME_EventPageButtons: the event page offers Retry for a failed,
// dead, skipped or cancelled job (as the API takes), Cancel for a queued
// one, Replay of every action or one, and Pause for each action.
func TestREADME_EventPageButtons(t *testing.T) {
	e := newEnv(t, "",
		exec("site", "dies", "", "exit 1"),
		exec("site", "skips", `event == "tag"`, "true"),
		exec("site", "waits", "", "true"),
		exec("site", "cancelled", "", "true"))
	for _, a := range []string{"waits", "cancelled"} {
		if err := e.sched.SetPaused(t.Context(), "site", a, true); err != nil {
			t.Fatal(err)
		}
	}
	id := e.ingest("site", "push", `{}`)
	e.waitState(id, store.Dead, store.Skipped, store.Pending, store.Pending)
	ev := e.event(id)
	jobs := map[string]string{}
	for _, j := range ev.Jobs {
		jobs[j.Action] = j.ID
	}
	if code, body := e.call("POST", "/api/jobs/"+jobs["cancelled"]+"/cancel", "", nil); code != 200 {
		t.Fatalf("cancel = %d %s", code, body)
	}
	w, _ := e.servePage("/events/" + id)
	page := w.Body.String()
	for _, a := range []string{"dies", "skips", "cancelled"} {
		if !strings.Contains(page, `action="/jobs/`+jobs[a]+`/retry"`) {
			t.Errorf("event page offers no Retry for the %s job", a)
		}
	}
	if !strings.Contains(page, `action="/jobs/`+jobs["waits"]+`/cancel"`) || strings.Contains(page, `action="/jobs/`+jobs["waits"]+`/retry"`) {
		t.Errorf("event page: want Cancel and no Retry for the queued job")
	}
	for _, want := range []string{`action="/events/` + id + `/replay"`, ">Replay dies</button>", `action="/actions/site/dies/pause"`, `action="/actions/site/waits/resume"`} {
		if !strings.Contains(page, want) {
			t.Errorf("event page lacks %s", want)
		}
	}
}
