package listener

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// FuzzServeHTTP feeds the whole request handler (route, method, limits,
// body, verification, plan, store, answer) arbitrary requests over a real
// store. mode chooses whether the request is then signed correctly for the
// hook it names (so that the fuzzer also gets past verification):
// 0 leaves it as it is, 1 signs as GitHub, 2 sets the token, 3 signs as
// the hmac hook.
//
// Invariants: no panic (the handler turns one into a 500, so 500 is a
// failure too); only the statuses the contract lists; a JSON answer; 2xx
// only for a correctly signed request; a 202's event is on disk with the
// body as sent; no answer shows a secret.
func FuzzServeHTTP(f *testing.F) {
	st, err := store.Open(filepath.Join(f.TempDir(), "fuzz.db"), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	when, err := tmpl.Compile(`event == "push" && payload.ref == "refs/heads/main" && len(payload.commits) < 100`)
	if err != nil {
		f.Fatal(err)
	}
	key := tmpl.MustParse("key", "{{ .payload.repository.full_name }}/{{ .headers.x }}")
	plan := func(d *tmpl.Data) []store.NewJob {
		nj := store.NewJob{Action: "deploy", Concurrency: 1}
		ok, err := when.Eval(d)
		switch {
		case err != nil:
			nj.Skip = err.Error()
		case !ok:
			nj.Skip = when.Explain(d)
		default:
			k, err := key.Execute(d)
			if err != nil {
				nj.Fail = "key: " + err.Error()
			}
			nj.Key = k
		}
		return []store.NewJob{nj}
	}
	gh, _ := NewProvider(ProviderConfig{Name: "github", Secrets: [][]byte{[]byte(ghSecret)}})
	tok, _ := NewProvider(ProviderConfig{Name: "token", Secrets: [][]byte{[]byte(hxTokenSecret)}, Header: "X-Token", DeliveryHeader: "X-Delivery"})
	hm, _ := NewProvider(ProviderConfig{Name: "hmac", Secrets: [][]byte{[]byte(hxHMACSecret)}, Header: "X-Sig",
		Algorithm: "sha512", Encoding: "base64", Prefix: "v1=", EventHeader: "X-Event"})
	l := New(Options{Store: st}, &Config{Hooks: []*Hook{
		{ID: "site", Path: "/hooks/site", Provider: gh, Events: map[string]bool{"push": true, "ping": true}, MaxBody: 8 << 10, Plan: plan},
		{ID: "tok", Path: "/hooks/tok", Provider: tok, MaxBody: 8 << 10, Plan: plan},
		{ID: "hm", Path: "/hooks/hm", Provider: hm, MaxBody: 8 << 10, Plan: plan},
	}})

	push := []byte(`{"ref":"refs/heads/main","after":"c0ffee","repository":{"full_name":"o/r"},"commits":[]}`)
	f.Add("POST", "/hooks/site", "Content-Type: application/json\nX-GitHub-Event: push\nX-GitHub-Delivery: d1\n", push, byte(1))
	f.Add("POST", "/hooks/site", "X-GitHub-Event: push\nX-Hub-Signature-256: sha256=00\n", push, byte(0))
	f.Add("POST", "/hooks/site?x=1", "Content-Type: application/x-www-form-urlencoded\nX-GitHub-Event: push\n", []byte("payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D"), byte(1))
	f.Add("GET", "/hooks/site", "", []byte(nil), byte(1))
	f.Add("POST", "/hooks/tok", "X-Delivery: t1\nX: a/b\n", []byte(`{"ref":"refs/heads/main","repository":{"full_name":"\xff"}}`), byte(2))
	f.Add("POST", "/hooks/hm", "X-Event: push\n", []byte(`[[[[[[1e999]]]]]]`), byte(3))
	f.Add("POST", "/hooks/nope", "", push, byte(1))
	f.Add("POST", "/hooks/site", "X-GitHub-Event: push\n", bytes.Repeat([]byte("a"), 9<<10), byte(1))
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte, mode byte) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			u = &url.URL{Path: target}
		}
		r := &http.Request{
			Method: method, URL: u, RequestURI: target, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)),
			RemoteAddr: "192.0.2.1:4321", Host: "hooks.example",
		}
		for _, line := range strings.Split(header, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
				r.Header.Add(k, strings.TrimSpace(v))
			}
		}
		signed := false
		switch {
		case mode == 1 && u.Path == "/hooks/site":
			r.Header.Set("X-Hub-Signature-256", sign(body))
			signed = true
		case mode == 2 && u.Path == "/hooks/tok":
			r.Header.Set("X-Token", hxTokenSecret)
			signed = true
		case mode == 3 && u.Path == "/hooks/hm":
			r.Header.Set("X-Sig", hmSig(body))
			signed = true
		}
		w := httptest.NewRecorder()
		doneServe := make(chan struct{})
		go func() { l.ServeHTTP(w, r); close(doneServe) }()
		select {
		case <-doneServe:
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("HUNG %q %q %q: %s", method, target, header, buf)
		}

		switch w.Code {
		case 200, 202, 401, 403, 404, 405, 413:
		default:
			t.Fatalf("%s %q = %d %s; want a status the contract lists (a 500 is a recovered panic)", method, target, w.Code, w.Body)
		}
		if w.Code/100 == 2 && !signed {
			t.Fatalf("%s %q unsigned = %d %s; want a refusal", method, target, w.Code, w.Body)
		}
		var ans map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &ans); err != nil {
			t.Fatalf("answer %q is not JSON: %v", w.Body, err)
		}
		for _, secret := range []string{ghSecret, hxTokenSecret, hxHMACSecret} {
			if strings.Contains(w.Body.String(), secret) {
				t.Fatalf("answer %q shows a secret", w.Body)
			}
		}
		if w.Code == 202 {
			id, _ := ans["id"].(string)
			ev, err := st.GetEvent(id, true)
			if err != nil {
				t.Fatalf("202 %s: the event is not on disk: %v", id, err)
			}
			if !bytes.Equal(ev.Body, body) {
				t.Fatalf("202 %s: stored body %q; want %q", id, ev.Body, body)
			}
			if ev.Header.Get("X-Token") != "" && ev.Header.Get("X-Token") != "[redacted]" {
				t.Fatalf("202 %s: the token is stored: %v", id, ev.Header)
			}
		}
	})
}
