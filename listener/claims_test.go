package listener

// Tests of claims in the README's "The public listener's answers" and
// "Reloading" that no other test held.

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// gatedBody is a request body whose first Read says so on started and
// then waits for release: the handler is under way (it has its config
// snapshot) and waits for the rest of the body.
type gatedBody struct {
	io.ReadCloser
	started chan struct{}
	release chan struct{}
	once    bool
}

func (b *gatedBody) Read(p []byte) (int, error) {
	if !b.once {
		b.once = true
		close(b.started)
		<-b.release
	}
	return b.ReadCloser.Read(p)
}

// TestListener_InFlightKeepsItsConfig: README, Reloading: "A request being
// handled finishes with the config it started with." A delivery whose body
// is still coming in when a reload removes its hook is stored, with the
// jobs its hook planned, and answered 202; the next delivery is 404.
func TestListener_InFlightKeepsItsConfig(t *testing.T) {
	old := githubHook(t)
	var planned atomic.Int32
	old.Plan = func(*tmpl.Data) []store.NewJob {
		planned.Add(1)
		return []store.NewJob{{Action: "deploy", Concurrency: 1}}
	}
	e := newEnv(t, old)
	started, release := make(chan struct{}), make(chan struct{})
	// The listener, with the body of each request gated.
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &gatedBody{ReadCloser: r.Body, started: started, release: release}
		e.l.ServeHTTP(w, r)
	})
	push := []byte(`{"ref":"refs/heads/main"}`)
	answered := make(chan resp, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL+"/hooks/site", bytes.NewReader(push))
		for k, v := range ghHeaders(push, "push", "inflight-1") {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- resp{}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		r := resp{status: res.StatusCode}
		jsonDecode(bytes.NewReader(b), &r.body)
		answered <- r
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler never read the body")
	}
	// The reload: hook "site" is gone.
	e.l.SetConfig(&Config{})
	close(release)
	var r resp
	select {
	case r = <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	if r.status != http.StatusAccepted || r.body["jobs"] != float64(1) {
		t.Fatalf("delivery under way at the reload = %d %v; want 202 with the 1 job its hook planned", r.status, r.body)
	}
	if n := planned.Load(); n != 1 {
		t.Errorf("the old hook planned %d times; want once", n)
	}
	if _, err := e.st.GetEvent(r.body["id"].(string), false); err != nil {
		t.Errorf("the acknowledged event is not stored: %v", err)
	}
	// Requests that start after the reload see it (the gate is open).
	if r := e.post("POST", "/hooks/site", push, ghHeaders(push, "push", "inflight-2")); r.status != http.StatusNotFound {
		t.Errorf("delivery after the reload = %d; want 404 (the hook is removed)", r.status)
	}
}

// TestListener_PanicLogged: README: "A panic in a handler is a 500 and a
// log line". The line says what panicked and where.
func TestListener_PanicLogged(t *testing.T) {
	h := githubHook(t)
	h.Plan = func(*tmpl.Data) []store.NewJob { panic("boom in plan") }
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var log syncBuffer
	l := New(Options{Store: st, Logger: slog.New(slog.NewTextHandler(&log, nil))}, &Config{Hooks: []*Hook{h}})
	push := []byte(`{}`)
	req := httptest.NewRequest("POST", "/hooks/site", bytes.NewReader(push))
	for k, v := range ghHeaders(push, "push", "panic-1") {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	l.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("panicking handler = %d; want 500", rec.Code)
	}
	if log.count(`level=ERROR msg="panic in handler" panic="boom in plan" path=/hooks/site`) != 1 {
		t.Errorf("log = %q; want one error line naming the panic and the path", log.buf.String())
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Errorf("answer %q shows the panic; want it in the log only", rec.Body.String())
	}
}

// TestListener_SlowClientLimits: README: "Slow clients are cut off (10 s
// for the headers, 60 s for the body)". The daemon leaves these options at
// zero; their defaults are the README's numbers.
func TestListener_SlowClientLimits(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l := New(Options{Addr: "127.0.0.1:0", Store: st}, nil)
	if err := l.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if got := l.srv.ReadHeaderTimeout; got != 10*time.Second {
		t.Errorf("ReadHeaderTimeout = %v; want 10s", got)
	}
	if got := l.srv.ReadTimeout; got != 60*time.Second {
		t.Errorf("ReadTimeout = %v; want 60s", got)
	}
}
