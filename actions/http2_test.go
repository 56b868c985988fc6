package actions

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestHTTP_StatusDecidesRetry: a 2xx answer succeeds; 408, 429 and 5xx
// are retried; a 3xx and any other 4xx fail at once (README, Actions).
// One action per status, each with one retry: a retried status is sent
// twice and ends dead, a refused one once.
func TestHTTP_StatusDecidesRetry(t *testing.T) {
	var mu sync.Mutex
	calls := map[int]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		mu.Lock()
		calls[code]++
		mu.Unlock()
		if code >= 300 && code < 400 {
			// Back to this server, to an answer of 200: followed, the
			// redirect would end in success.
			w.Header().Set("Location", "http://"+r.Host+"/200")
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	type want struct {
		state store.State
		calls int
	}
	wants := map[int]want{
		200: {store.Succeeded, 1}, 204: {store.Succeeded, 1}, 299: {store.Succeeded, 1},
		300: {store.Dead, 1}, 301: {store.Dead, 1}, 399: {store.Dead, 1},
		400: {store.Dead, 1}, 404: {store.Dead, 1}, 407: {store.Dead, 1}, 409: {store.Dead, 1}, 499: {store.Dead, 1},
		408: {store.Dead, 2}, 429: {store.Dead, 2}, 500: {store.Dead, 2}, 501: {store.Dead, 2}, 503: {store.Dead, 2}, 599: {store.Dead, 2},
	}
	var acts []*Action
	for code := range wants {
		acts = append(acts, &Action{Hook: "h", Name: fmt.Sprint("s", code), URL: mustTmpl(fmt.Sprintf("%s/%d", srv.URL, code)),
			Method: "POST", Timeout: 5 * time.Second, Concurrency: 1, Retries: 1, Backoff: 10 * time.Millisecond})
	}
	h := newHarness(t, acts...)
	ev := h.ingest("h", `{}`)
	deadline := time.Now().Add(30 * time.Second)
	var js []*store.Job
	for {
		js = h.jobs(ev)
		done := 0
		for _, j := range js {
			if j.State == store.Succeeded || j.State == store.Dead {
				done++
			}
		}
		if done == len(wants) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs finished within 30s", done, len(wants))
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, j := range js {
		code, _ := strconv.Atoi(strings.TrimPrefix(j.Action, "s"))
		w := wants[code]
		if j.State != w.state || calls[code] != w.calls {
			t.Errorf("HTTP %d: job %s (%s) after %d requests; want %s after %d", code, j.State, j.Reason, calls[code], w.state, w.calls)
		}
	}
}

// TestHTTP_SignedAsStandardWebhooks: a signed request carries webhook-id
// (msg_DATABASE_JOB), a current webhook-timestamp, and a webhook-signature
// that a Standard Webhooks receiver computes the same way: v1, and the
// base64 HMAC-SHA256 of "id.timestamp.body" under the key, over the body
// as sent (here one the action renders).
func TestHTTP_SignedAsStandardWebhooks(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	type request struct{ id, ts, sig, body string }
	got := make(chan request, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- request{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), string(b)}
	}))
	defer srv.Close()
	a := &Action{Hook: "h", Name: "relay", URL: mustTmpl(srv.URL + "/in"), Method: "POST", Timeout: 5 * time.Second,
		Concurrency: 1, Backoff: time.Second, SignKey: key, Body: mustTmpl(`{"after":"{{ .payload.after }}"}`)}
	h := newHarness(t, a)
	ev := h.ingest("h", `{"after":"abc123"}`)
	j := h.waitState(ev, store.Succeeded)
	r := <-got
	if r.body != `{"after":"abc123"}` {
		t.Fatalf("body %q; want the rendered body", r.body)
	}
	if want := "msg_" + h.st.Instance() + "_" + j.ID; r.id != want {
		t.Errorf("webhook-id %q; want %q", r.id, want)
	}
	ts, err := strconv.ParseInt(r.ts, 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q: %v", r.ts, err)
	}
	// Receivers refuse a timestamp more than 5 minutes off.
	if d := time.Since(time.Unix(ts, 0)); d < -time.Minute || d > time.Minute {
		t.Errorf("webhook-timestamp %d is %v from now; want the time of sending", ts, d)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(r.id + "." + r.ts + "." + r.body))
	if want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); r.sig != want {
		t.Errorf("webhook-signature %q; want %q", r.sig, want)
	}
}

// TestHTTP_BodyContentType: the body as received goes with its content
// type; a body of the action's is application/json when it renders valid
// JSON and text/plain otherwise, unless headers set a Content-Type.
func TestHTTP_BodyContentType(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = r.Header.Get("Content-Type")
		mu.Unlock()
	}))
	defer srv.Close()
	act := func(name, body string, headers ...EnvVar) *Action {
		a := &Action{Hook: "h", Name: name, URL: mustTmpl(srv.URL + "/" + name), Method: "POST", Timeout: 5 * time.Second,
			Concurrency: 1, Backoff: time.Second, Headers: headers}
		if body != "" {
			a.Body = mustTmpl(body)
		}
		return a
	}
	h := newHarness(t,
		act("asis", ""),
		act("json", `{"ref":"{{ .payload.ref }}"}`),
		act("text", `ref {{ .payload.ref }}`),
		act("set", `{"ref":"{{ .payload.ref }}"}`, EnvVar{Name: "Content-Type", Value: mustTmpl("application/vnd.ci+json")}),
	)
	ev := h.ingest("h", `{"ref":"main"}`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		for _, j := range h.jobs(ev) {
			if j.State == store.Succeeded {
				n++
			}
		}
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 jobs succeeded within 20s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for path, want := range map[string]string{"/asis": "application/json", "/json": "application/json", "/text": "text/plain; charset=utf-8", "/set": "application/vnd.ci+json"} {
		if got[path] != want {
			t.Errorf("%s: Content-Type %q; want %q", path, got[path], want)
		}
	}
}
