package admin

import (
	"context"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/listener"
	"github.com/webhookd/webhookd/store"
)

func TestDashboard_Pages(t *testing.T) {
	e := newEnv(t, testToken,
		exec("site", "deploy", `event == "push" && payload.ref == "refs/heads/main"`, "echo deploying $WEBHOOKD_EVENT_ID"),
		exec("site", "notify", "", "echo notify failed >&2; exit 7"))
	main := e.ingest("site", "push", `{"ref":"refs/heads/main","note":"<script>alert(1)</script>"}`)
	dev := e.ingest("site", "push", `{"ref":"refs/heads/dev"}`)
	e.waitState2(main, store.Succeeded, store.Dead)
	e.waitState2(dev, store.Skipped, store.Dead)
	e.mu.Lock()
	e.status.ConfigError = "/etc/webhookd/webhookd.toml:12: hook \"site\": unknown provider \"githb\""
	e.status.LastReload = "error"
	e.status.LastReloadTime = time.Now()
	e.rejections = []listener.Rejection{{Time: time.Now(), Hook: "site", Path: "/hooks/site", Remote: "198.51.100.4", Status: 401, Check: "mismatch", Reason: "signature does not match: X-Hub-Signature-256"}}
	e.mu.Unlock()

	b := newBrowser(e)
	b.do("POST", "/login", url.Values{"token": {testToken}})

	check := func(path string, wants ...string) string {
		t.Helper()
		a := b.do("GET", path, nil)
		if a.code != 200 {
			t.Fatalf("GET %s = %d\n%s", path, a.code, a.body)
		}
		if !strings.HasPrefix(a.hdr.Get("Content-Type"), "text/html") || !strings.Contains(a.hdr.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("GET %s: headers %v", path, a.hdr)
		}
		for _, w := range wants {
			if !strings.Contains(a.body, w) {
				t.Errorf("GET %s lacks %q", path, w)
			}
		}
		for _, never := range []string{testToken, "<script>alert"} {
			if strings.Contains(a.body, never) {
				t.Errorf("GET %s shows %q", path, never)
			}
		}
		return a.body
	}

	// The events list: each event with every action's verdict, the queue,
	// the failed reload's banner.
	check("/",
		`href="/events/`+main+`"`, `href="/events/`+dev+`"`,
		"when is false", `refs/heads/dev`, // why the deploy did not run
		"2 dead", "The last config reload failed", "1 refused or ignored",
		`<option value="site">`)
	check("/?state=dead", `href="/events/`+dev+`"`, `href="/events/`+main+`"`)
	if body := check("/?hook=other"); strings.Contains(body, `href="/events/`) {
		t.Error("hook filter shows events of another hook")
	}
	if a := b.do("GET", "/?state=bogus", nil); a.code != 400 {
		t.Errorf("GET /?state=bogus = %d; want 400", a.code)
	}

	// The event page: the verdicts, the runs with their output, the
	// payload (pretty, escaped) and headers, the buttons.
	check("/events/"+main,
		"ran: succeeded after 1 attempt", "deploying "+main,
		"dead after 1 attempt: exit status 7", "notify failed", "exit 7",
		"&#34;note&#34;: &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;", // pretty-printed, escaped
		"X-Github-Event", `action="/events/`+main+`/replay"`, `/retry"`, "Pause deploy")
	check("/events/"+dev, "skipped: when is false", `payload.ref is &#34;refs/heads/dev&#34;`)
	if a := b.do("GET", "/events/0000000000000000", nil); a.code != 404 || !strings.Contains(a.body, "404 Not Found") {
		t.Errorf("unknown event page = %d", a.code)
	}

	check("/rejections", "mismatch", "signature does not match: X-Hub-Signature-256", "198.51.100.4")
	check("/status", "unknown provider", "/etc/webhookd/webhookd.toml", "site/deploy", "Pause")

	// Forms: retry the dead job, pause and resume an action.
	page := b.do("GET", "/events/"+main, nil).body
	csrf := csrfOf(t, page)
	ev := e.eventAs(main, testToken)
	dead := ev.Jobs[1]
	a := b.do("POST", "/jobs/"+dead.ID+"/retry", url.Values{"csrf": {csrf}})
	if a.code != 303 || a.hdr.Get("Location") != "/events/"+main+"?done=retry" {
		t.Fatalf("retry form = %d to %q", a.code, a.hdr.Get("Location"))
	}
	check("/events/"+main+"?done=retry", "Job queued to run again.")
	e.waitState2(main, store.Succeeded, store.Dead)
	if n := len(e.eventAs(main, testToken).Jobs[1].Runs); n != 2 {
		t.Errorf("after the retry form: %d runs; want 2", n)
	}
	a = b.do("POST", "/actions/site/deploy/pause", url.Values{"csrf": {csrf}, "back": {"/status"}})
	if a.code != 303 || a.hdr.Get("Location") != "/status?done=pause" {
		t.Fatalf("pause form = %d to %q", a.code, a.hdr.Get("Location"))
	}
	check("/status?done=pause", "Action paused", "Resume")
	check("/", "paused: site/deploy")
	a = b.do("POST", "/actions/site/deploy/resume", url.Values{"csrf": {csrf}, "back": {"https://evil.example/"}})
	if a.code != 303 || a.hdr.Get("Location") != "/status?done=resume" {
		t.Errorf("resume form with an outside back = %d to %q; want /status", a.code, a.hdr.Get("Location"))
	}
	if len(e.sched.Paused()) != 0 {
		t.Error("resume form did not resume")
	}
	// Cancel a queued job: pause, replay, cancel.
	b.do("POST", "/actions/site/deploy/pause", url.Values{"csrf": {csrf}})
	b.do("POST", "/events/"+main+"/replay", url.Values{"csrf": {csrf}, "action": {"deploy"}})
	ev = e.eventAs(main, testToken)
	queued := ev.Jobs[len(ev.Jobs)-1]
	if queued.State != store.Pending {
		t.Fatalf("replayed job = %+v; want pending", queued)
	}
	check("/events/"+main, "held: action paused; runs when resumed", `action="/jobs/`+queued.ID+`/cancel"`)
	if a := b.do("POST", "/jobs/"+queued.ID+"/cancel", url.Values{"csrf": {csrf}}); a.code != 303 {
		t.Errorf("cancel form = %d", a.code)
	}
	if j, _ := e.st.GetJob(queued.ID); j.State != store.Cancelled {
		t.Errorf("after the cancel form: %s; want cancelled", j.State)
	}
	// An action on a job that cannot take it is an error page, not a crash.
	if a := b.do("POST", "/jobs/"+queued.ID+"/cancel", url.Values{"csrf": {csrf}}); a.code != 409 || !strings.Contains(a.body, "409 Conflict") {
		t.Errorf("second cancel form = %d", a.code)
	}

	// The stylesheet needs no login.
	anon := newBrowser(e)
	if a := anon.do("GET", "/static/style.css", nil); a.code != 200 || !strings.HasPrefix(a.hdr.Get("Content-Type"), "text/css") {
		t.Errorf("style.css = %d %s", a.code, a.hdr.Get("Content-Type"))
	}
}

// waitState2 is waitState with the test token.
func (e *env) waitState2(id string, want ...store.State) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev := e.eventAs(id, testToken)
		var got []store.State
		for _, j := range ev.Jobs {
			got = append(got, j.State)
		}
		if len(got) == len(want) {
			same := true
			for i := range got {
				same = same && got[i] == want[i]
			}
			if same {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("event %s: job states %v; want %v", id, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestVerdict(t *testing.T) {
	now := time.Now()
	tests := []struct {
		j    JobJSON
		want string
	}{
		{JobJSON{Job: &store.Job{State: store.Succeeded, Attempts: 2}}, "ran: succeeded after 2 attempts"},
		{JobJSON{Job: &store.Job{State: store.Running, Attempts: 1}}, "running now (attempt 1)"},
		{JobJSON{Job: &store.Job{State: store.Pending}}, "queued: waiting for its turn"},
		{JobJSON{Job: &store.Job{State: store.Pending}, Held: "held: action paused; runs when resumed"}, "held: action paused; runs when resumed"},
		{JobJSON{Job: &store.Job{State: store.Failed, Attempts: 1, Reason: "exit status 1", NextAt: now.Add(90 * time.Second)}}, "failed (1 attempt): exit status 1; runs again in 1m"},
		{JobJSON{Job: &store.Job{State: store.Dead, Attempts: 3, Reason: "exit status 1; no retries left (retries = 2)"}}, "dead after 3 attempts: exit status 1; no retries left (retries = 2)"},
		{JobJSON{Job: &store.Job{State: store.Dead, Attempts: 1}}, "dead after 1 attempt: no retries left"},
		{JobJSON{Job: &store.Job{State: store.Skipped, Reason: `when is false: payload.ref is "refs/heads/dev"`}}, `skipped: when is false: payload.ref is "refs/heads/dev"`},
		{JobJSON{Job: &store.Job{State: store.Cancelled, Reason: "cancelled by a person"}}, "cancelled: cancelled by a person"},
	}
	for _, tc := range tests {
		if got := Verdict(tc.j); got != tc.want {
			t.Errorf("Verdict(%s) = %q; want %q", tc.j.State, got, tc.want)
		}
	}
}

func TestLatestJobs(t *testing.T) {
	j := func(id, action string) JobJSON { return JobJSON{Job: &store.Job{ID: id, Action: action}} }
	got := latestJobs([]JobJSON{j("1", "deploy"), j("2", "notify"), j("3", "deploy")})
	if len(got) != 2 || got[0].ID != "3" || got[1].ID != "2" {
		t.Errorf("latestJobs = %v; want deploy's job 3, then notify's job 2", got)
	}
}

// TestDashboard_LogoutEndsSession: after a logout, a copy of the session's
// cookie no longer opens anything (here the whole database, /api/backup).
func TestDashboard_LogoutEndsSession(t *testing.T) {
	e := newEnv(t, testToken, exec("site", "deploy", "", "true"))
	b := newBrowser(e)
	a := b.do("POST", "/login", url.Values{"token": {testToken}, "next": {"/"}})
	if a.code != 303 {
		t.Fatalf("login = %d; want 303", a.code)
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: a.hdr}).Cookies() {
		cookie = c
	}
	if cookie == nil {
		t.Fatal("login set no cookie")
	}
	page := b.do("GET", "/", nil)
	if a := b.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, page.body)}}); a.code != 303 {
		t.Fatalf("logout = %d; want 303", a.code)
	}
	req, _ := http.NewRequest("GET", e.ts.URL+"/api/backup", nil)
	req.AddCookie(cookie)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("GET /api/backup with the cookie of a session that logged out = %d; want 401", res.StatusCode)
	}
}

// The "Older events" link keeps every filter of the page, since too: the
// pages it leads to never show events the filter leaves out.
func TestDashboard_OlderKeepsFilters(t *testing.T) {
	e := newEnv(t, "")
	old := e.ingest("site", "push", `{}`)
	time.Sleep(20 * time.Millisecond)
	since := time.Now()
	time.Sleep(20 * time.Millisecond)
	b1 := e.ingest("site", "push", `{}`)
	b2 := e.ingest("site", "push", `{}`)
	b := newBrowser(e)
	older := regexp.MustCompile(`<a href="([^"]+)">Older events`)
	link := regexp.MustCompile(`href="/events/([0-9A-Z]{16})"`)
	path := "/?" + url.Values{"since": {since.UTC().Format(time.RFC3339Nano)}, "limit": {"1"}}.Encode()
	var seen []string
	for pages := 0; path != "" && pages < 10; pages++ {
		a := b.do("GET", path, nil)
		if a.code != 200 {
			t.Fatalf("GET %s = %d", path, a.code)
		}
		for _, m := range link.FindAllStringSubmatch(a.body, -1) {
			seen = append(seen, m[1])
		}
		path = ""
		if m := older.FindStringSubmatch(a.body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if want := []string{b2, b1}; !slices.Equal(seen, want) {
		t.Errorf("pages of /?since=…&limit=1 showed %v; want %v (not %s, from before since)", seen, want, old)
	}
}

// A method a dashboard path does not take is answered 405 with Allow, on
// the dashboard's error page, not taken by the catch-all for a page that
// does not exist; a path that is no page stays 404.
func TestDashboard_WrongMethod(t *testing.T) {
	e := newEnv(t, testToken, exec("site", "deploy", "", "true"))
	id := e.ingest("site", "push", `{}`)
	job := e.eventAs(id, testToken).Jobs[0].ID
	b := newBrowser(e)
	if a := b.do("POST", "/login", url.Values{"token": {testToken}, "next": {"/"}}); a.code != http.StatusSeeOther {
		t.Fatalf("login = %d; want 303", a.code)
	}
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"GET", "/events/" + id + "/replay", "POST"},
		{"GET", "/jobs/" + job + "/retry", "POST"},
		{"GET", "/jobs/" + job + "/cancel", "POST"},
		{"GET", "/actions/site/deploy/pause", "POST"},
		{"GET", "/actions/site/deploy/resume", "POST"},
		{"GET", "/logout", "POST"},
		{"PUT", "/login", "GET, HEAD, POST"},
		{"POST", "/", "GET, HEAD"},
		{"POST", "/events/" + id, "GET, HEAD"},
		{"POST", "/status", "GET, HEAD"},
	} {
		a := b.do(tc.method, tc.path, nil)
		if a.code != http.StatusMethodNotAllowed || a.hdr.Get("Allow") != tc.allow || !strings.Contains(a.body, "405 Method Not Allowed") {
			t.Errorf("%s %s = %d, Allow %q; want 405, Allow %q, on the error page:\n%s", tc.method, tc.path, a.code, a.hdr.Get("Allow"), tc.allow, a.body)
		}
	}
	for _, path := range []string{"/nothing", "/events/" + id + "/nothing"} {
		if a := b.do("GET", path, nil); a.code != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", path, a.code)
		}
	}
}

// An events page that comes back empty with a cursor (none of the events
// one listing looks at match its filter) says so and offers the older
// events, as the API's next does; without a cursor it says that no events
// match, and offers nothing.
func TestDashboard_EmptyPageOffersOlder(t *testing.T) {
	e := newEnv(t, "")
	st, err := e.srv.status()
	if err != nil {
		t.Fatal(err)
	}
	const older = "/?before=06H4Y3M9QM000000&hook=other"
	for _, tc := range []struct {
		name  string
		older string
		want  []string
		not   []string
	}{
		{name: "cursor", older: older,
			want: []string{"None of the most recent events match", `<a href="/?before=06H4Y3M9QM000000&amp;hook=other">Older events`},
			not:  []string{"No events match"}},
		{name: "end", want: []string{"No events match"}, not: []string{"Older events", "None of the most recent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			d := &eventsData{Filter: store.EventFilter{Hook: "other"}, States: EventStates, Status: st, Older: tc.older}
			e.srv.render(w, httptest.NewRequest("GET", "/?hook=other", nil), http.StatusOK, "events", &page{Title: "Events", Data: d})
			body := w.Body.String()
			body = body[strings.Index(body, "<main>"):]
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q:\n%s", s, body)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(body, s) {
					t.Errorf("page says %q:\n%s", s, body)
				}
			}
		})
	}
}

// fill stores n events of hook (no jobs, a tiny body) through the store,
// many writers at once so that they share commits.
func (e *env) fill(hook string, n int) {
	e.t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 2048 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := e.st.Ingest(context.Background(), &store.NewEvent{Hook: hook, Type: "push", Body: []byte(`{}`)}); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		e.t.Fatal(err)
	}
}

// One listing looks at a bounded number of events (200,000): when none of
// them match the filter, the API answers no events and a cursor, and the
// dashboard's page for the filter still leads on to the older event that
// matches ("Older events"), as the API's next does.
func TestDashboard_ScanBoundOffersOlder(t *testing.T) {
	if testing.Short() || raceOn {
		t.Skip("stores 200,001 events (5 s; 40 s under the race detector)")
	}
	e := newEnv(t, "")
	old := e.ingest("other", "push", `{}`)
	e.fill("site", 200_000)

	var list EventListJSON
	if code, body := e.call("GET", "/api/events?hook=other", "", &list); code != 200 {
		t.Fatalf("GET /api/events?hook=other = %d %s", code, body)
	}
	if len(list.Events) != 0 || list.Next == "" {
		t.Fatalf("GET /api/events?hook=other: %d events, next %q; want none and a cursor (is the scan bound still 200,000?)", len(list.Events), list.Next)
	}
	var more EventListJSON
	e.call("GET", "/api/events?hook=other&before="+list.Next, "", &more)
	if len(more.Events) != 1 || more.Events[0].ID != old {
		t.Fatalf("GET /api/events?hook=other&before=%s: %d events; want the event %s", list.Next, len(more.Events), old)
	}

	b := newBrowser(e)
	a := b.do("GET", "/?hook=other", nil)
	if a.code != http.StatusOK {
		t.Fatalf("GET /?hook=other = %d", a.code)
	}
	m := regexp.MustCompile(`<a href="([^"]+)">Older events`).FindStringSubmatch(a.body)
	if m == nil || !strings.Contains(a.body, "None of the most recent events match") {
		t.Fatalf("GET /?hook=other: no link to the older events (the API's next is %q); the page says:\n%s", list.Next, a.body[strings.Index(a.body, "<main>"):])
	}
	next := html.UnescapeString(m[1])
	if a := b.do("GET", next, nil); !strings.Contains(a.body, `href="/events/`+old+`"`) {
		t.Errorf("GET %s (Older events) does not show the event %s:\n%s", next, old, a.body[strings.Index(a.body, "<main>"):])
	}
}

// A body that is not UTF-8 text reaches the API exactly (base64), not with
// its bytes turned into U+FFFD, and the dashboard says what it shows.
func TestEvent_BinaryBody(t *testing.T) {
	e := newEnv(t, "")
	body := "PK\x03\x04\x00\x9b\xff\xfe binary"
	id := e.ingest("site", "push", body)
	var ev EventJSON
	if code, raw := e.call("GET", "/api/events/"+id, "", &ev); code != 200 {
		t.Fatalf("GET = %d %s", code, raw)
	}
	got, err := base64.StdEncoding.DecodeString(ev.BodyBase64)
	if err != nil || string(got) != body || ev.Body != "" {
		t.Errorf("body %q, body_base64 %q (%v); want the exact bytes in body_base64 alone", ev.Body, ev.BodyBase64, err)
	}
	// JSON with a string that is not UTF-8: parsed, its bytes would be
	// U+FFFD; it is shown exactly instead.
	jsonID := e.ingest("site", "push", "{\"after\":\"bin\xff\xfe\"}")
	ev = EventJSON{}
	e.call("GET", "/api/events/"+jsonID, "", &ev)
	if got, _ := base64.StdEncoding.DecodeString(ev.BodyBase64); string(got) != "{\"after\":\"bin\xff\xfe\"}" || ev.Payload != nil {
		t.Errorf("JSON not UTF-8: payload %v, body_base64 %q; want the exact bytes in body_base64 alone", ev.Payload, ev.BodyBase64)
	}
	text := e.ingest("site", "push", "plain text, é")
	ev = EventJSON{}
	e.call("GET", "/api/events/"+text, "", &ev)
	if ev.Body != "plain text, é" || ev.BodyBase64 != "" {
		t.Errorf("text body: body %q, body_base64 %q; want the text in body", ev.Body, ev.BodyBase64)
	}
	a := newBrowser(e).do("GET", "/events/"+id, nil)
	if a.code != 200 || !strings.Contains(a.body, "Not text") || !strings.Contains(a.body, base64.StdEncoding.EncodeToString([]byte(body))) {
		t.Errorf("event page = %d; want the body in base64, said so:\n%s", a.code, a.body)
	}
}

// TestDashboard_FailedJobHeld: the events list shows why a job waiting for
// a retry does not run: held (its action paused), beside the failure. It
// showed the failure alone, whose "retry 1 of 2 at T" then passed with
// nothing run.
func TestDashboard_FailedJobHeld(t *testing.T) {
	a := exec("site", "deploy", "", "exit 3")
	a.Retries = 2
	e := newEnv(t, "", a)
	id := e.ingest("site", "push", `{}`)
	e.waitState(id, store.Failed)
	if code, body := e.call("POST", "/api/actions/site/deploy/pause", "", nil); code != 200 {
		t.Fatalf("pause = %d %s", code, body)
	}
	_, page := e.call("GET", "/", "", nil)
	for _, want := range []string{"retry 1 of 2", "held: action paused"} {
		if !strings.Contains(page, want) {
			t.Errorf("the events page lacks %q:\n%s", want, page)
		}
	}
}

// TestRetry_FailedShowsRetriedByHand: a failed job retried by hand (held
// by a pause, so that it stays queued) shows that it was retried by hand
// in the API, the events list and the CLI's verdict, not the reason of
// its failure ("retry 1 of 2 at T": a time that no longer holds). Its
// attempt and failure counts stay: the retry that was due runs now.
func TestRetry_FailedShowsRetriedByHand(t *testing.T) {
	a := exec("site", "deploy", "", "exit 3")
	a.Retries = 2
	e := newEnv(t, "", a)
	id := e.ingest("site", "push", `{}`)
	failed := e.waitState(id, store.Failed).Jobs[0]
	if code, body := e.call("POST", "/api/actions/site/deploy/pause", "", nil); code != 200 {
		t.Fatalf("pause = %d %s", code, body)
	}
	var rj JobJSON
	if code, body := e.call("POST", "/api/jobs/"+failed.ID+"/retry", "", &rj); code != 200 {
		t.Fatalf("retry = %d %s", code, body)
	}
	var got JobJSON
	if code, body := e.call("GET", "/api/jobs/"+failed.ID, "", &got); code != 200 {
		t.Fatalf("GET job = %d %s", code, body)
	}
	for _, j := range []JobJSON{rj, got} {
		if j.State != store.Pending || j.Reason != store.ReasonRetried {
			t.Errorf("job after retry: %s, reason %q; want pending, %q", j.State, j.Reason, store.ReasonRetried)
		}
		if j.Attempts != failed.Attempts || j.Failures != failed.Failures {
			t.Errorf("job after retry: attempts %d, failures %d; want %d, %d", j.Attempts, j.Failures, failed.Attempts, failed.Failures)
		}
		if v := Verdict(j); strings.Contains(v, "retry 1 of") || !strings.Contains(v, store.ReasonRetried) {
			t.Errorf("Verdict after retry = %q; want it to say %q", v, store.ReasonRetried)
		}
	}
	for _, path := range []string{"/", "/events/" + id} {
		_, page := e.call("GET", path, "", nil)
		if strings.Contains(page, "retry 1 of 2") || !strings.Contains(page, store.ReasonRetried) {
			t.Errorf("%s after the retry shows the failure's reason, or not that it was retried by hand:\n%s", path, page)
		}
	}
}

// The event page shows a run's exit status, 0 included, and none for a
// run that has none (-1: its command killed by a signal, here stopped at
// a daemon's stop), whose error says what happened: "exit -1" read as a
// status the command gave.
func TestDashboard_RunWithoutExitStatus(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	res, err := e.st.Ingest(ctx, &store.NewEvent{Hook: "held", Type: "push", Received: time.Now(),
		Body: []byte(`{}`), Jobs: []store.NewJob{{Action: "gone", Concurrency: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := e.st.GetEvent(res.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	id := ev.JobIDs[0]
	for _, tc := range []struct {
		exit   int
		result string
		state  store.State
		err    string
	}{
		{0, store.RunSucceeded, store.Pending, ""},
		{-1, store.RunInterrupted, store.Pending, "webhookd stopped while it ran"},
	} {
		if _, err := e.st.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		exit, now := tc.exit, time.Now()
		if _, err := e.st.Finish(ctx, id, store.Outcome{State: tc.state, NextAt: now, Concurrency: 1,
			Run: store.Run{Started: now, Finished: now, Result: tc.result, ExitCode: &exit, Error: tc.err}}); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := e.servePage("/events/" + res.ID)
	page := w.Body.String()
	if strings.Contains(page, "exit -1") {
		t.Errorf("the page shows exit -1 for a run without an exit status")
	}
	if !strings.Contains(page, "· exit 0") || !strings.Contains(page, "webhookd stopped while it ran") {
		t.Errorf("the page lacks the first run's exit 0 or the second's error:\n%.3000s", page)
	}
}

// An event without a type (a provider that sends none, and no
// event_header) is listed with "-" in its Event cell, as the CLI lists
// it, not with an empty cell.
func TestDashboard_EventWithoutType(t *testing.T) {
	e := newEnv(t, "")
	if _, err := e.st.Ingest(context.Background(), &store.NewEvent{Hook: "plain", Received: time.Now(), Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	w, _ := e.servePage("/")
	page := w.Body.String()
	if !strings.Contains(page, `<td class="text"><span class="muted">-</span></td>`) {
		t.Errorf("the events page lacks a \"-\" Event cell for the event without a type:\n%.3000s", page)
	}
}
