package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

const testToken = "admin-token-for-tests-0123456789"

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each answer.
type browser struct {
	t   testing.TB
	e   *env
	c   *http.Client
	hdr http.Header // sent with every request
}

func newBrowser(e *env) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, e: e, hdr: http.Header{}, c: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type answer struct {
	code int
	hdr  http.Header
	body string
}

func (b *browser) do(method, path string, form url.Values) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.ts.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	for k, v := range b.hdr {
		req.Header[k] = v
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(out)}
}

var reCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, html string) string {
	t.Helper()
	m := reCSRF.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", html)
	}
	return m[1]
}

func TestAuth_Token(t *testing.T) {
	e := newEnv(t, testToken, exec("site", "deploy", "", "true"))
	id := e.ingest("site", "push", `{}`)

	// The API, /metrics: 401 without the token, or with a wrong one.
	for _, path := range []string{"/api/status", "/api/events", "/api/events/" + id, "/metrics"} {
		for _, tok := range []string{"", "wrong"} {
			code, body := e.call("GET", path, tok, nil)
			if code != 401 {
				t.Errorf("GET %s with token %q = %d %s; want 401", path, tok, code, body)
			}
		}
		if code, _ := e.call("GET", path, testToken, nil); code != 200 {
			t.Errorf("GET %s with the token = %d; want 200", path, code)
		}
	}
	// The scheme's name in any case (RFC 7235); nothing but it.
	for auth, want := range map[string]int{"bearer " + testToken: 200, "BEARER " + testToken: 200, "Basic " + testToken: 401, "Bearer" + testToken: 401, testToken: 401} {
		req, _ := http.NewRequest("GET", e.ts.URL+"/api/status", nil)
		req.Header.Set("Authorization", auth)
		res, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("Authorization: %s… = %d; want %d", auth[:7], res.StatusCode, want)
		}
	}
	if code, _ := e.call("POST", "/api/events/"+id+"/replay", "", nil); code != 401 {
		t.Errorf("POST replay without a token = %d; want 401", code)
	}
	if code, _ := e.call("GET", "/healthz", "", nil); code != 200 {
		t.Errorf("/healthz without a token = %d; want 200", code)
	}
	res, _ := http.Get(e.ts.URL + "/api/status")
	res.Body.Close()
	if res.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}

	// A browser is sent to the login page, and back after it.
	b := newBrowser(e)
	a := b.do("GET", "/events/"+id, nil)
	if a.code != 303 || a.hdr.Get("Location") != "/login?next="+url.QueryEscape("/events/"+id) {
		t.Fatalf("GET event page without a session = %d %s; want 303 to the login page", a.code, a.hdr.Get("Location"))
	}
	a = b.do("GET", a.hdr.Get("Location"), nil)
	if a.code != 200 || !strings.Contains(a.body, `name="token"`) || !strings.Contains(a.body, `value="/events/`+id+`"`) {
		t.Fatalf("login page = %d\n%s", a.code, a.body)
	}
	a = b.do("POST", "/login", url.Values{"token": {"wrong"}, "next": {"/events/" + id}})
	if a.code != 401 || !strings.Contains(a.body, "not the admin token") || len(a.hdr.Values("Set-Cookie")) != 0 {
		t.Errorf("login with a wrong token = %d, cookies %q", a.code, a.hdr.Values("Set-Cookie"))
	}
	a = b.do("POST", "/login", url.Values{"token": {testToken}, "next": {"https://evil.example/"}})
	if a.code != 303 || a.hdr.Get("Location") != "/" {
		t.Errorf("login with an outside next = %d to %q; want 303 to /", a.code, a.hdr.Get("Location"))
	}
	cookie := a.hdr.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, testToken) || strings.Contains(cookie, url.QueryEscape(testToken)) {
		t.Errorf("session cookie %q holds the token", cookie)
	}

	// Logged in: pages and API reads work; API writes need the bearer token.
	a = b.do("GET", "/events/"+id, nil)
	if a.code != 200 || !strings.Contains(a.body, "Log out") {
		t.Fatalf("event page with a session = %d", a.code)
	}
	csrf := csrfOf(t, a.body)
	if a2 := b.do("GET", "/api/events/"+id, nil); a2.code != 200 {
		t.Errorf("API read with a session = %d; want 200", a2.code)
	}
	if a2 := b.do("POST", "/api/events/"+id+"/replay", url.Values{"csrf": {csrf}}); a2.code != 401 {
		t.Errorf("API write with a session = %d; want 401 (bearer only)", a2.code)
	}
	// A dashboard form needs its CSRF token.
	if a2 := b.do("POST", "/events/"+id+"/replay", url.Values{}); a2.code != 403 {
		t.Errorf("replay form without CSRF token = %d; want 403", a2.code)
	}
	if a2 := b.do("POST", "/events/"+id+"/replay", url.Values{"csrf": {csrf + "x"}}); a2.code != 403 {
		t.Errorf("replay form with a wrong CSRF token = %d; want 403", a2.code)
	}
	if n := len(e.eventAs(id, testToken).Jobs); n != 1 {
		t.Fatalf("refused forms queued jobs: %d; want 1", n)
	}
	if a2 := b.do("POST", "/events/"+id+"/replay", url.Values{"csrf": {csrf}, "back": {"/events/" + id}}); a2.code != 303 || a2.hdr.Get("Location") != "/events/"+id+"?done=replay" {
		t.Errorf("replay form = %d to %q", a2.code, a2.hdr.Get("Location"))
	}
	if n := len(e.eventAs(id, testToken).Jobs); n != 2 {
		t.Errorf("after the replay form: %d jobs; want 2", n)
	}

	// A session expires.
	e.mu.Lock()
	e.clock = time.Now().Add(SessionTTL + time.Minute)
	e.mu.Unlock()
	if a2 := b.do("GET", "/", nil); a2.code != 303 {
		t.Errorf("GET / with an expired session = %d; want 303 to login", a2.code)
	}
	e.mu.Lock()
	e.clock = time.Time{}
	e.mu.Unlock()

	// Log out clears the cookie.
	if a2 := b.do("POST", "/logout", url.Values{"csrf": {csrf}}); a2.code != 303 || !strings.Contains(a2.hdr.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout = %d, cookie %q", a2.code, a2.hdr.Get("Set-Cookie"))
	}
	if a2 := b.do("GET", "/", nil); a2.code != 303 {
		t.Errorf("GET / after logout = %d; want 303", a2.code)
	}

	// A session from another token's daemon is not valid here.
	other := newAuth([]byte("another token"), "127.0.0.1:9001", time.Now)
	b.c.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: e.srv.auth.cookie, Value: other.newSession()}})
	if a2 := b.do("GET", "/", nil); a2.code != 303 {
		t.Errorf("GET / with another key's session = %d; want 303", a2.code)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestAuth_CrossSite(t *testing.T) {
	for _, token := range []string{"", testToken} {
		e := newEnv(t, token, exec("site", "deploy", "", "true"))
		id := e.ingest("site", "push", `{}`)
		b := newBrowser(e)
		if token != "" {
			b.do("POST", "/login", url.Values{"token": {token}})
		}
		page := b.do("GET", "/events/"+id, nil)
		csrf := csrfOf(t, page.body)
		forged := []struct {
			name string
			hdr  http.Header
		}{
			{"Sec-Fetch-Site cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
			{"Sec-Fetch-Site same-site", http.Header{"Sec-Fetch-Site": {"same-site"}}},
			{"Origin elsewhere", http.Header{"Origin": {"https://evil.example"}}},
		}
		for _, f := range forged {
			b.hdr = f.hdr
			// Even with a valid CSRF token (and, for the API, the bearer
			// token), a cross-origin browser POST is refused.
			if a := b.do("POST", "/events/"+id+"/replay", url.Values{"csrf": {csrf}}); a.code != 403 {
				t.Errorf("token %v, %s: form POST = %d; want 403", token != "", f.name, a.code)
			}
			b.hdr.Set("Authorization", "Bearer "+token)
			if a := b.do("POST", "/api/events/"+id+"/replay", nil); a.code != 403 {
				t.Errorf("token %v, %s: API POST = %d; want 403", token != "", f.name, a.code)
			}
		}
		if n := len(e.eventAs(id, token).Jobs); n != 1 {
			t.Errorf("token %v: forged requests queued jobs: %d; want 1", token != "", n)
		}
		// The same form from the dashboard's own origin works.
		b.hdr = http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.ts.URL}}
		if a := b.do("POST", "/events/"+id+"/replay", url.Values{"csrf": {csrf}}); a.code != 303 {
			t.Errorf("token %v: same-origin form POST = %d %s; want 303", token != "", a.code, a.body)
		}
	}
}

func (e *env) eventAs(id, token string) *EventJSON {
	e.t.Helper()
	var ev EventJSON
	if code, body := e.call("GET", "/api/events/"+id, token, &ev); code != 200 {
		e.t.Fatalf("GET event %s = %d %s", id, code, body)
	}
	return &ev
}

func TestAuth_NoTokenHostCheck(t *testing.T) {
	e := newEnv(t, "")
	for host, want := range map[string]int{
		"localhost":            200,
		"127.0.0.1:9001":       200,
		"[::1]:9001":           200,
		"[::1]":                200, // a browser's Host for http://[::1]/, without a port
		"admin.localhost:9001": 200,
		"evil.example":         421,
		"evil.example:9001":    421,
		"192.0.2.1:9001":       421,
	} {
		req, _ := http.NewRequest("GET", e.ts.URL+"/api/status", nil)
		req.Host = host
		res, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("Host %s: %d; want %d", host, res.StatusCode, want)
		}
	}
	// Without a token the dashboard hands out a session for its forms.
	b := newBrowser(e)
	a := b.do("GET", "/", nil)
	if a.code != 200 || !strings.Contains(a.hdr.Get("Set-Cookie"), "HttpOnly") {
		t.Errorf("GET / = %d, cookie %q", a.code, a.hdr.Get("Set-Cookie"))
	}
	if a := b.do("GET", "/login", nil); a.code != 303 {
		t.Errorf("GET /login without a token configured = %d; want 303", a.code)
	}
}

func TestOpen_BeyondLoopbackNeedsToken(t *testing.T) {
	e := newEnv(t, "")
	s := New(Options{Addr: "0.0.0.0:0", Store: e.st, Scheduler: e.sched})
	if err := s.Open(); err == nil {
		s.Shutdown(t.Context())
		t.Fatal("Open on 0.0.0.0 without a token: no error")
	}
	s = New(Options{Addr: "127.0.0.1:0", Store: e.st, Scheduler: e.sched})
	if err := s.Open(); err != nil {
		t.Fatalf("Open on loopback: %v", err)
	}
	s.Shutdown(t.Context())
}

func TestSession(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := newAuth([]byte("tok"), "127.0.0.1:9001", func() time.Time { return now })
	v := a.newSession()
	if !a.validSession(v) {
		t.Fatal("a new session is not valid")
	}
	if a.newSession() == v {
		t.Error("two sessions are the same")
	}
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	for _, bad := range []string{"", "x", v + "x", flip(v, 20), flip(v, len(v)-3), strings.Replace(v, ".", ".A", 1)} {
		if a.validSession(bad) {
			t.Errorf("validSession(%q) = true", bad)
		}
	}
	if !a.checkCSRF(v, a.csrfToken(v)) || a.checkCSRF(v, a.csrfToken(a.newSession())) || a.checkCSRF("", a.csrfToken("")) {
		t.Error("CSRF tokens are not bound to their session")
	}
	// Logging out ends the session for whoever holds a copy of the cookie,
	// and no other one.
	other := a.newSession()
	a.endSession(v)
	if a.validSession(v) || !a.validSession(other) {
		t.Errorf("after the logout of one session: it is valid %v, another %v; want false, true", a.validSession(v), a.validSession(other))
	}
	now = now.Add(SessionTTL)
	if a.validSession(other) {
		t.Error("a session is valid past its TTL")
	}
	// Nor by another spelling of the same bytes: the unused low bits of
	// the last base64 character.
	fresh := a.newSession()
	a.endSession(fresh)
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alpha, fresh[len(fresh)-1])
	for bits := range 4 {
		if w := fresh[:len(fresh)-1] + string(alpha[i&^3|bits]); w != fresh && a.validSession(w) {
			t.Errorf("the logged-out session, spelt %q, is valid", w)
		}
	}
	now = now.Add(SessionTTL)
	a.endSession(a.newSession()) // forgets the ended sessions that expired
	if len(a.ended) != 1 {
		t.Errorf("%d ended sessions remembered; want only the one not yet expired", len(a.ended))
	}
	for _, p := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "evil", "", "/ok\r\nX: y",
		"/\t/evil.example/", "/\n/evil.example/", "/\r/evil.example", "/ /evil.example", "/x\\..\\\\evil", "/\x00/evil", "/\x7f", "/\u00a0/evil"} {
		if got := localPath(p); got != "/" {
			t.Errorf("localPath(%q) = %q; want /", p, got)
		}
	}
	if got := localPath("/events/X?y=1"); got != "/events/X?y=1" {
		t.Errorf("localPath kept path = %q", got)
	}
}

// A logged-out session stays ended when the daemon restarts (with the same
// token): a restart ends every session, as its key is the process's own.
func TestSession_EndsAtRestart(t *testing.T) {
	e1 := newEnv(t, testToken)
	b := newBrowser(e1)
	if a := b.do("POST", "/login", url.Values{"token": {testToken}, "next": {"/"}}); a.code != 303 {
		t.Fatalf("login = %d", a.code)
	}
	var session string
	for _, c := range b.c.Jar.Cookies(mustURL(e1.ts.URL)) {
		if c.Name == e1.srv.auth.cookie {
			session = c.Value
		}
	}
	page := b.do("GET", "/", nil)
	if page.code != 200 || session == "" {
		t.Fatalf("GET / logged in = %d (session %q)", page.code, session)
	}
	if a := b.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, page.body)}}); a.code != 303 {
		t.Fatalf("logout = %d", a.code)
	}
	e2 := newEnv(t, testToken) // the daemon restarts, same token
	if e2.srv.auth.cookie != e1.srv.auth.cookie {
		t.Errorf("cookie name %q after a restart; want %q, so a new login replaces the old cookie", e2.srv.auth.cookie, e1.srv.auth.cookie)
	}
	req, _ := http.NewRequest("GET", e2.ts.URL+"/api/status", nil)
	req.AddCookie(&http.Cookie{Name: e2.srv.auth.cookie, Value: session})
	res, err := e2.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Errorf("the logged-out session's cookie after a restart: GET /api/status = %d; want 401", res.StatusCode)
	}
}

// Two daemons on one host with the same token keep their own sessions:
// browsers send a host's cookies to every port, so the cookies are named
// after the address too, and each daemon's sessions are its own. The same
// daemon restarted names its cookie the same, so a new login replaces it.
func TestSession_TwoDaemonsOneToken(t *testing.T) {
	a := newAuth([]byte("tok"), "127.0.0.1:9001", time.Now)
	b := newAuth([]byte("tok"), "127.0.0.1:9011", time.Now)
	again := newAuth([]byte("tok"), "127.0.0.1:9001", time.Now)
	if a.cookie == b.cookie {
		t.Errorf("two daemons, one token: cookie %q for both; want one each", a.cookie)
	}
	if again.cookie != a.cookie {
		t.Errorf("cookie %q after a restart; want %q", again.cookie, a.cookie)
	}
	if v := a.newSession(); !a.validSession(v) || b.validSession(v) || again.validSession(v) {
		t.Errorf("a session valid where it was made only: got a %v, b %v, restarted %v", a.validSession(v), b.validSession(v), again.validSession(v))
	}
}

// TestAuth_EndedSessionsBounded: logouts are remembered only with a token
// (without one, the next page gives any client a new session, and
// remembering would let any client grow the daemon's memory), and then no
// more than maxEnded of them, the latest logout always among them.
func TestAuth_EndedSessionsBounded(t *testing.T) {
	open := newAuth(nil, "127.0.0.1:9001", time.Now)
	for range 100 {
		open.endSession(open.newSession())
	}
	if len(open.ended) != 0 {
		t.Errorf("without a token: %d logouts remembered; want none", len(open.ended))
	}
	a := newAuth([]byte(testToken), "127.0.0.1:9001", time.Now)
	var last string
	for range maxEnded + 50 {
		last = a.newSession()
		a.endSession(last)
	}
	if len(a.ended) != maxEnded {
		t.Errorf("with a token: %d logouts remembered after %d; want %d", len(a.ended), maxEnded+50, maxEnded)
	}
	if a.validSession(last) {
		t.Error("the latest session logged out is still valid")
	}
}

// A 401 says what was wrong with the request: no token, a token of
// another scheme, or a wrong one. A wrong token was told "a bearer token
// is required", which sent the user looking for a header they had sent.
// Neither answer holds the token, given or expected.
func TestAuth_UnauthorizedSaysWhy(t *testing.T) {
	e := newEnv(t, testToken, exec("site", "deploy", "", "true"))
	for _, tc := range []struct {
		name, auth, want string
	}{
		{"none", "", "a bearer token is required"},
		{"wrong", "Bearer wrong-token-given", "not the admin token"},
		{"scheme", "Basic d3Jvbmc=", "not a bearer token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.ts.URL+"/api/status", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			var got struct{ Error string }
			if err := json.Unmarshal(b, &got); err != nil || res.StatusCode != 401 || !strings.Contains(got.Error, tc.want) {
				t.Errorf("GET /api/status, Authorization %q = %d %s; want 401 saying %q", tc.auth, res.StatusCode, b, tc.want)
			}
			if strings.Contains(string(b), testToken) || strings.Contains(string(b), "wrong-token-given") {
				t.Errorf("the answer holds a token: %s", b)
			}
			if res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}
