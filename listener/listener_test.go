package listener

import (
	"bytes"

	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

const ghSecret = "It's a Secret to Everybody"

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

type env struct {
	t     *testing.T
	st    *store.Store
	srv   *httptest.Server
	l     *Listener
	fail  atomic.Bool
	plans atomic.Int64
}

func newEnv(t *testing.T, hooks ...*Hook) *env {
	t.Helper()
	e := &env{t: t}
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{FailWrites: func() error {
		if e.fail.Load() {
			return errors.New("no space left on device")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	for _, h := range hooks {
		if h.Plan == nil {
			h.Plan = func(d *tmpl.Data) []store.NewJob {
				e.plans.Add(1)
				return []store.NewJob{{Action: "deploy", Concurrency: 1}}
			}
		}
	}
	e.l = New(Options{Store: st, Logger: testLogger(t)}, &Config{Hooks: hooks})
	e.srv = httptest.NewServer(e.l)
	t.Cleanup(func() {
		e.srv.Close()
		st.Close()
	})
	return e
}

func githubHook(t *testing.T) *Hook {
	p, err := NewProvider(ProviderConfig{Name: "github", Secrets: [][]byte{[]byte("old-secret"), []byte(ghSecret)}})
	if err != nil {
		t.Fatal(err)
	}
	return &Hook{ID: "site", Path: "/hooks/site", Provider: p, Events: map[string]bool{"push": true, "ping": true}, MaxBody: 1024}
}

func sign(body []byte) string {
	m := hmac.New(sha256.New, []byte(ghSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
}

func (e *env) post(method, path string, body []byte, hdr map[string]string) resp {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header}
	json.Unmarshal(b, &out.body)
	return out
}

func ghHeaders(body []byte, event, delivery string) map[string]string {
	return map[string]string{
		"Content-Type":        "application/json",
		"X-GitHub-Event":      event,
		"X-GitHub-Delivery":   delivery,
		"X-Hub-Signature-256": sign(body),
	}
}

func TestListener_Answers(t *testing.T) {
	e := newEnv(t, githubHook(t))
	push := []byte(`{"ref":"refs/heads/main","after":"abc"}`)
	big := bytes.Repeat([]byte("x"), 2000)
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		hdr    map[string]string
		status int
		check  func(r resp) error
	}{
		{name: "stored", path: "/hooks/site", body: push, hdr: ghHeaders(push, "push", "d-1"), status: 202,
			check: func(r resp) error {
				if r.body["jobs"] != float64(1) || !store.ValidID(fmt.Sprint(r.body["id"])) {
					return fmt.Errorf("body %v", r.body)
				}
				return nil
			}},
		{name: "duplicate", path: "/hooks/site", body: push, hdr: ghHeaders(push, "push", "d-1"), status: 200,
			check: func(r resp) error {
				if r.body["duplicate"] != true {
					return fmt.Errorf("body %v", r.body)
				}
				return nil
			}},
		{name: "ignored event", path: "/hooks/site", body: push, hdr: ghHeaders(push, "issues", "d-2"), status: 200,
			check: func(r resp) error {
				if r.body["ignored"] != "issues" {
					return fmt.Errorf("body %v", r.body)
				}
				return nil
			}},
		{name: "bad signature", path: "/hooks/site", body: push, hdr: map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + strings.Repeat("0", 64)}, status: 401},
		{name: "no signature", path: "/hooks/site", body: push, hdr: map[string]string{"X-GitHub-Event": "push"}, status: 401},
		{name: "tampered body", path: "/hooks/site", body: []byte(`{"ref":"refs/heads/evil"}`), hdr: ghHeaders(push, "push", "d-3"), status: 401},
		{name: "no such hook", path: "/hooks/nope", body: push, hdr: ghHeaders(push, "push", "d-4"), status: 404},
		{name: "GET", method: "GET", path: "/hooks/site", status: 405, check: func(r resp) error {
			if r.header.Get("Allow") != "POST" {
				return fmt.Errorf("Allow = %q", r.header.Get("Allow"))
			}
			return nil
		}},
		{name: "too large", path: "/hooks/site", body: big, hdr: ghHeaders(big, "push", "d-5"), status: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = "POST"
			}
			r := e.post(m, tc.path, tc.body, tc.hdr)
			if r.status != tc.status {
				t.Fatalf("%s %s = %d %v; want %d", m, tc.path, r.status, r.body, tc.status)
			}
			if tc.check != nil {
				if err := tc.check(r); err != nil {
					t.Error(err)
				}
			}
			if r.status == 401 {
				if msg := fmt.Sprint(r.body["error"]); strings.Contains(msg, sign(push)[7:]) || msg == "" {
					t.Errorf("401 body %q; want an error without the expected signature", msg)
				}
			}
		})
	}
	st, _ := e.st.Stats()
	if st.Events != 1 {
		t.Errorf("stored %d events; want only the first delivery", st.Events)
	}
	if got := len(e.l.Rejections()); got < 5 {
		t.Errorf("%d rejections recorded; want the 401s, 404, 405 and 413", got)
	}
	for _, r := range e.l.Rejections() {
		if strings.Contains(r.Reason, ghSecret) || strings.Contains(r.Reason, sign(push)[7:]) {
			t.Errorf("rejection shows a secret: %+v", r)
		}
	}
}

// TestListener_ChunkedTooLarge: a body without Content-Length is cut off
// at the limit too.
func TestListener_ChunkedTooLarge(t *testing.T) {
	e := newEnv(t, githubHook(t))
	big := bytes.Repeat([]byte("y"), 5000)
	req, _ := http.NewRequest("POST", e.srv.URL+"/hooks/site", io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	for k, v := range ghHeaders(big, "push", "c") {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 413 {
		t.Errorf("chunked oversize = %d; want 413", res.StatusCode)
	}
}

// TestListener_StoreFails: when the store cannot write, the answer is 503
// with Retry-After and nothing is acknowledged.
func TestListener_StoreFails(t *testing.T) {
	e := newEnv(t, githubHook(t))
	push := []byte(`{"ref":"x"}`)
	e.fail.Store(true)
	r := e.post("POST", "/hooks/site", push, ghHeaders(push, "push", "f-1"))
	if r.status != 503 || r.header.Get("Retry-After") == "" {
		t.Fatalf("on a failing store: %d Retry-After=%q; want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	e.fail.Store(false)
	r = e.post("POST", "/hooks/site", push, ghHeaders(push, "push", "f-1"))
	if r.status != 202 {
		t.Fatalf("after recovery: %d %v; want 202 (the failed attempt stored nothing)", r.status, r.body)
	}
}

// TestListener_GitHubForm: GitHub's form-encoded deliveries are verified
// over the raw body and give the same payload.
func TestListener_GitHubForm(t *testing.T) {
	h := githubHook(t)
	var got atomic.Value
	h.Plan = func(d *tmpl.Data) []store.NewJob {
		got.Store(d.Payload())
		return nil
	}
	e := newEnv(t, h)
	body := []byte("payload=" + url.QueryEscape(`{"ref":"refs/heads/main"}`))
	hdr := ghHeaders(body, "push", "form-1")
	hdr["Content-Type"] = "application/x-www-form-urlencoded"
	if r := e.post("POST", "/hooks/site", body, hdr); r.status != 202 {
		t.Fatalf("form delivery = %d %v", r.status, r.body)
	}
	p, _ := got.Load().(map[string]any)
	if p["ref"] != "refs/heads/main" {
		t.Errorf("payload = %v; want the form's JSON", got.Load())
	}
}

func TestListener_TokenRedacted(t *testing.T) {
	p, _ := NewProvider(ProviderConfig{Name: "token", Secrets: [][]byte{[]byte("tok-123")}, Header: "X-Gitlab-Token"})
	q, _ := NewProvider(ProviderConfig{Name: "token", Secrets: [][]byte{[]byte("tok-456")}})
	e := newEnv(t, &Hook{ID: "t", Path: "/hooks/t", Provider: p, MaxBody: 1 << 20}, &Hook{ID: "q", Path: "/hooks/q", Provider: q, MaxBody: 1 << 20})
	r := e.post("POST", "/hooks/t", []byte("{}"), map[string]string{"X-Gitlab-Token": "tok-123", "Authorization": "Basic abc"})
	if r.status != 202 {
		t.Fatalf("token = %d", r.status)
	}
	ev, err := e.st.GetEvent(fmt.Sprint(r.body["id"]), true)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Header.Get("X-Gitlab-Token") != "[redacted]" || ev.Header.Get("Authorization") != "[redacted]" {
		t.Errorf("stored headers = %v; want secrets redacted", ev.Header)
	}
	if r := e.post("POST", "/hooks/t", []byte("{}"), map[string]string{"X-Gitlab-Token": "tok-12"}); r.status != 401 {
		t.Errorf("wrong token = %d; want 401", r.status)
	}
	r = e.post("POST", "/hooks/q?token=tok-456&x=1", []byte("{}"), nil)
	if r.status != 202 {
		t.Fatalf("query token = %d", r.status)
	}
	ev, _ = e.st.GetEvent(fmt.Sprint(r.body["id"]), true)
	if strings.Contains(ev.Query, "tok-456") {
		t.Errorf("stored query %q holds the token", ev.Query)
	}
}

func TestListener_Panic(t *testing.T) {
	h := githubHook(t)
	h.Plan = func(*tmpl.Data) []store.NewJob { panic("boom") }
	e := newEnv(t, h)
	push := []byte(`{}`)
	if r := e.post("POST", "/hooks/site", push, ghHeaders(push, "push", "p")); r.status != 500 {
		t.Fatalf("panicking handler = %d; want 500", r.status)
	}
	h2 := githubHook(t)
	e.l.SetConfig(&Config{Hooks: []*Hook{h2}})
	h2.Plan = nil
	if r := e.post("POST", "/hooks/site", push, ghHeaders(push, "push", "p2")); r.status != 202 {
		t.Fatalf("after a panic = %d; want the daemon to go on", r.status)
	}
}

func TestListener_AllowIPsAndRate(t *testing.T) {
	h := githubHook(t)
	h.AllowIPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	e := newEnv(t, h)
	push := []byte(`{}`)
	if r := e.post("POST", "/hooks/site", push, ghHeaders(push, "push", "a")); r.status != 403 {
		t.Errorf("from 127.0.0.1 = %d; want 403", r.status)
	}
	// Behind a trusted proxy, X-Forwarded-For names the client.
	h2 := githubHook(t)
	h2.AllowIPs = h.AllowIPs
	e.l.SetConfig(&Config{Hooks: []*Hook{h2}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, RateLimit: 1})
	hdr := ghHeaders(push, "push", "b")
	hdr["X-Forwarded-For"] = "10.1.2.3"
	if r := e.post("POST", "/hooks/site", push, hdr); r.status != 202 {
		t.Errorf("via trusted proxy = %d; want 202", r.status)
	}
	hdr["X-GitHub-Delivery"] = "c"
	e.post("POST", "/hooks/site", push, hdr) // the burst of 2
	hdr["X-GitHub-Delivery"] = "d"
	r := e.post("POST", "/hooks/site", push, hdr)
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("over the rate = %d Retry-After=%q; want 429 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		remote, xff string
		trusted     []netip.Prefix
		want        string
	}{
		{"1.2.3.4:5", "9.9.9.9", nil, "1.2.3.4"},
		{"1.2.3.4:5", "9.9.9.9", trusted, "1.2.3.4"},
		{"10.0.0.1:5", "9.9.9.9", trusted, "9.9.9.9"},
		{"10.0.0.1:5", "6.6.6.6, 9.9.9.9, 10.0.0.2", trusted, "9.9.9.9"},
		{"10.0.0.1:5", "garbage", trusted, "10.0.0.1"},
		{"10.0.0.1:5", "", trusted, "10.0.0.1"},
		{"[::ffff:10.0.0.1]:5", "9.9.9.9", trusted, "9.9.9.9"},
		{"[fe80::1%eth0]:5", "", nil, "fe80::1"},
		{"[fe80::1%eth0]:5", "9.9.9.9", []netip.Prefix{netip.MustParsePrefix("fe80::/10")}, "9.9.9.9"},
		{"10.0.0.1:5", "fe80::2%eth1", trusted, "fe80::2"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientAddr(r, tc.trusted).String(); got != tc.want {
			t.Errorf("clientAddr(%s, XFF %q) = %s; want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// TestSignVerify: every provider signs as its sender does and verifies its
// own signature; one whose signature covers the body refuses it when the
// body changes (signConfig in providers_test.go gives each its keys).
func TestSignVerify(t *testing.T) {
	for _, name := range ProviderNames() {
		t.Run(name, func(t *testing.T) {
			p := mustProvider(t, signConfig(name, "k1"))
			if _, ok := p.(Signer); !ok {
				t.Fatalf("provider %s cannot sign", name)
			}
			r, _ := signed(t, p, name, testBody(name), testNow)
			if err := p.Verify(r); err != nil {
				t.Fatalf("Verify(signed) = %v", err)
			}
			if !bodySigned(name) {
				return
			}
			tampered := append([]byte(nil), r.Body...)
			tampered[len(tampered)/2] ^= 1
			r = &Request{Header: r.Header, Body: tampered, URL: r.URL, Now: r.Now}
			if err := p.Verify(r); err == nil {
				t.Errorf("Verify(tampered) = nil")
			}
		})
	}
}

var testNow = mustTime("2026-11-23T12:00:00Z")

// TestListener_IgnoredKeepsRefusals: ignored deliveries are listed beside
// the refusals, not in their place: a busy sender's event types that
// events leaves out (an organization's every issue and comment) do not
// push the one signature refusal out of the list.
func TestListener_IgnoredKeepsRefusals(t *testing.T) {
	e := newEnv(t, githubHook(t))
	body := []byte(`{}`)
	hdr := ghHeaders(body, "push", "r-bad")
	hdr["X-Hub-Signature-256"] = "sha256=" + strings.Repeat("0", 64)
	if r := e.post("POST", "/hooks/site", body, hdr); r.status != http.StatusUnauthorized {
		t.Fatalf("bad signature = %d; want 401", r.status)
	}
	for i := range 150 {
		if r := e.post("POST", "/hooks/site", body, ghHeaders(body, "issues", fmt.Sprint("r-", i))); r.status != http.StatusOK {
			t.Fatalf("ignored delivery = %d; want 200", r.status)
		}
	}
	var refused, ignored int
	list := e.l.Rejections()
	for i, r := range list {
		switch r.Check {
		case "mismatch":
			refused++
		case "ignored":
			ignored++
		}
		if i > 0 && r.Time.After(list[i-1].Time) {
			t.Errorf("rejections[%d] (%v) is newer than the one before it (%v): want newest first", i, r.Time, list[i-1].Time)
		}
	}
	if refused != 1 || ignored != 100 {
		t.Errorf("rejections: %d refused, %d ignored; want the refusal and the last 100 ignored", refused, ignored)
	}
}

// TestListener_StraysKeepHookRefusals: requests for paths that are no
// hook (the internet's scanners: /wp-login.php, /.env) are kept apart from
// the refusals of hooks, so that a burst of them does not push the one
// signature refusal of a real sender out of the list.
func TestListener_StraysKeepHookRefusals(t *testing.T) {
	e := newEnv(t, githubHook(t))
	body := []byte(`{}`)
	hdr := ghHeaders(body, "push", "r-bad")
	hdr["X-Hub-Signature-256"] = "sha256=" + strings.Repeat("0", 64)
	if r := e.post("POST", "/hooks/site", body, hdr); r.status != http.StatusUnauthorized {
		t.Fatalf("bad signature = %d; want 401", r.status)
	}
	for i := range 150 {
		if r := e.post("GET", fmt.Sprintf("/wp-login.php?%d", i), nil, nil); r.status != http.StatusNotFound {
			t.Fatalf("stray request = %d; want 404", r.status)
		}
	}
	var refused, strays int
	for _, r := range e.l.Rejections() {
		switch r.Check {
		case "mismatch":
			refused++
		case "route":
			strays++
		}
	}
	if refused != 1 || strays != 100 {
		t.Errorf("rejections: %d refused by the hook, %d for no hook; want the refusal and the last 100 strays", refused, strays)
	}
}
