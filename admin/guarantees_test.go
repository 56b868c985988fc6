package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAuth_SessionCookieSecureBehindTLS: the session cookie is Secure
// when the dashboard is reached over HTTPS, also through a proxy that
// terminates TLS and says so (X-Forwarded-Proto: https), so the browser
// never sends it over plain HTTP; over plain HTTP it cannot be.
func TestAuth_SessionCookieSecureBehindTLS(t *testing.T) {
	e := newEnv(t, testToken)
	for proto, want := range map[string]bool{"": false, "http": false, "https": true} {
		b := newBrowser(e)
		if proto != "" {
			b.hdr.Set("X-Forwarded-Proto", proto)
		}
		a := b.do("POST", "/login", url.Values{"token": {testToken}, "next": {"/"}})
		if a.code != 303 {
			t.Fatalf("X-Forwarded-Proto %q: login = %d", proto, a.code)
		}
		var c *http.Cookie
		for _, k := range (&http.Response{Header: a.hdr}).Cookies() {
			if k.Name == e.srv.auth.cookie {
				c = k
			}
		}
		if c == nil || c.Value == "" {
			t.Fatalf("X-Forwarded-Proto %q: no session cookie in %q", proto, a.hdr.Values("Set-Cookie"))
		}
		if c.Secure != want {
			t.Errorf("X-Forwarded-Proto %q: cookie Secure = %v; want %v", proto, c.Secure, want)
		}
	}
}

// TestAuth_SessionReads: a logged-in browser reads anywhere with GET and
// HEAD (GET takes HEAD), /login sends it on to where it was going rather
// than asking for the token again, and /healthz answers itself, without
// a login, never the login page.
func TestAuth_SessionReads(t *testing.T) {
	e := newEnv(t, testToken)
	b := newBrowser(e)
	if a := b.do("GET", "/healthz", nil); a.code != 200 || !strings.Contains(a.body, `"ok"`) {
		t.Errorf("GET /healthz without a session = %d %q; want 200 ok", a.code, a.body)
	}
	if a := b.do("POST", "/login", url.Values{"token": {testToken}, "next": {"/"}}); a.code != 303 {
		t.Fatalf("login = %d", a.code)
	}
	for _, m := range []string{"GET", "HEAD"} {
		if a := b.do(m, "/api/status", nil); a.code != 200 {
			t.Errorf("%s /api/status with a session = %d; want 200", m, a.code)
		}
	}
	if a := b.do("GET", "/login?next="+url.QueryEscape("/status"), nil); a.code != 303 || a.hdr.Get("Location") != "/status" {
		t.Errorf("GET /login with a session = %d to %q; want 303 to /status", a.code, a.hdr.Get("Location"))
	}
}

// TestOpen_BeyondLoopbackWithToken: with a token, an address beyond
// loopback is not refused for want of one. 192.0.2.1 (TEST-NET-1) is no
// address of this machine, so the bind fails, for that reason alone.
func TestOpen_BeyondLoopbackWithToken(t *testing.T) {
	e := newEnv(t, "")
	s := New(Options{Addr: "192.0.2.1:0", Token: []byte(testToken), Store: e.st, Scheduler: e.sched})
	err := s.Open()
	if err == nil {
		s.Shutdown(t.Context())
		return
	}
	if strings.Contains(err.Error(), "token") {
		t.Errorf("Open beyond loopback with a token = %v; want no refusal for a token", err)
	}
}

// TestAPI_ParamsThatMakeNoSense: a duration ago that is negative (a time
// to come) and a job cursor that is no job id are 400, not a page that
// quietly means something else.
func TestAPI_ParamsThatMakeNoSense(t *testing.T) {
	e := newEnv(t, "")
	for _, path := range []string{"/api/events?since=-1h", "/api/events?until=-24h", "/api/jobs?state=failed&after=nope"} {
		if code, body := e.call("GET", path, "", nil); code != 400 || !strings.Contains(body, `"error"`) {
			t.Errorf("GET %s = %d %s; want 400 with an error", path, code, body)
		}
	}
}

// TestAPI_EventsUntilPages: until and the before cursor together: each
// page starts at the cursor (the older of the two bounds), so paging
// through with until set walks on instead of repeating the first page.
func TestAPI_EventsUntilPages(t *testing.T) {
	e := newEnv(t, "")
	var ids []string
	for range 5 {
		ids = append(ids, e.ingest("site", "push", `{}`))
	}
	until := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	var all []string
	for cursor, pages := "", 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("more than 5 pages of 2; ids so far %v", all)
		}
		q := "/api/events?limit=2&until=" + until
		if cursor != "" {
			q += "&before=" + cursor
		}
		var list EventListJSON
		if code, body := e.call("GET", q, "", &list); code != 200 {
			t.Fatalf("GET %s = %d %s", q, code, body)
		}
		for _, ev := range list.Events {
			all = append(all, ev.ID)
		}
		if list.Next == "" {
			break
		}
		cursor = list.Next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if strings.Join(all, " ") != strings.Join(want, " ") {
		t.Errorf("paged ids with until = %v; want %v", all, want)
	}
}

// TestAPI_StatusOldestAgeAfterClockStep: with the clock stepped back
// behind a queued job's time, its age is 0, never negative.
func TestAPI_StatusOldestAgeAfterClockStep(t *testing.T) {
	e := newEnv(t, "", exec("site", "deploy", "", "true"))
	if err := e.sched.SetPaused(context.Background(), "site", "deploy", true); err != nil {
		t.Fatal(err)
	}
	e.ingest("site", "push", `{}`)
	e.mu.Lock()
	e.clock = time.Now().Add(-time.Hour)
	e.mu.Unlock()
	code, body := e.call("GET", "/api/status", "", nil)
	if code != 200 {
		t.Fatalf("status = %d %s", code, body)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st["oldest_queued_job"] == nil || st["oldest_queued_age_seconds"] != float64(0) {
		t.Errorf("oldest_queued_job %v, age %v; want the queued job, age 0", st["oldest_queued_job"], st["oldest_queued_age_seconds"])
	}
}
