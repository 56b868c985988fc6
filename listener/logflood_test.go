package listener

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// lockedBuffer is a log destination handlers write to concurrently.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestListener_RefusalLogBounded: a flood of refused requests (a scanner
// trying long paths) writes a bounded log, not a line of the client's
// choosing per request; the lines left out are counted on the next line
// logged, and every refusal is still counted for the metrics. (A rate
// limit's 429s are logged once a spell: TestListener_RateLimitLogsOnce.)
func TestListener_RefusalLogBounded(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: testNow}
	var logged lockedBuffer
	var observed atomic.Int64
	l := New(Options{
		Store: st, Now: clk.Now,
		Logger:    slog.New(slog.NewTextHandler(&logged, nil)),
		OnRequest: func(RequestInfo) { observed.Add(1) },
	}, &Config{Hooks: []*Hook{githubHook(t)}})
	srv := httptest.NewServer(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	path := "/" + strings.Repeat("a", 16<<10)
	const n = 500
	for i := range n {
		res, err := http.Post(srv.URL+path+fmt.Sprint(i), "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := 404; res.StatusCode != want {
			t.Fatalf("request %d = %d; want %d", i, res.StatusCode, want)
		}
	}
	lines := strings.Count(logged.String(), "\n")
	if lines > 50 {
		t.Errorf("%d requests refused in an instant wrote %d log lines; want a bounded few", n, lines)
	}
	if size := len(logged.String()); size > 50<<10 {
		t.Errorf("%d refused requests with 16 KiB paths wrote %d bytes of log; want each line's path cut", n, size)
	}
	if got := observed.Load(); got != n {
		t.Errorf("OnRequest saw %d of %d requests; want every one counted", got, n)
	}
	// Later, a refusal is logged again, with how many were not.
	clk.Add(10 * time.Second)
	before := logged.String()
	res, err := http.Post(srv.URL+"/nothing-here", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	last := strings.TrimPrefix(logged.String(), before)
	if want := fmt.Sprintf("not_logged=%d", n-lines); !strings.Contains(last, "/nothing-here") || !strings.Contains(last, want) {
		t.Errorf("the next refusal's line = %q; want it logged, with %s", last, want)
	}
}

// TestListener_UnsignedProbeLogBounded: Slack's ssl_check is answered
// without a signature, so anyone can send a flood of them; their log lines
// are limited as refusals' are.
func TestListener_UnsignedProbeLogBounded(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: testNow}
	var logged lockedBuffer
	sp := mustProvider(t, signConfig("slack", "k1"))
	l := New(Options{Store: st, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logged, nil))},
		&Config{Hooks: []*Hook{{ID: "s", Path: "/hooks/s", Provider: sp, MaxBody: 1 << 20}}})
	srv := httptest.NewServer(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	const n = 200
	for range n {
		res, err := http.Post(srv.URL+"/hooks/s", "application/x-www-form-urlencoded", strings.NewReader("ssl_check=1"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("ssl_check = %d; want 200", res.StatusCode)
		}
	}
	if lines := strings.Count(logged.String(), "\n"); lines > 50 {
		t.Errorf("%d unsigned ssl_checks in an instant wrote %d log lines; want a bounded few", n, lines)
	}
}

// TestListener_RefusalLogPerHook: a flood on paths that are no hook does
// not use up the log of a hook's own refusals, so a sender's wrong secret
// is still in the log while a scanner is.
func TestListener_RefusalLogPerHook(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: testNow}
	var logged lockedBuffer
	l := New(Options{Store: st, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logged, nil))},
		&Config{Hooks: []*Hook{githubHook(t)}})
	srv := httptest.NewServer(l)
	t.Cleanup(func() {
		srv.Close()
		st.Close()
	})
	for i := range 100 {
		res, err := http.Post(srv.URL+fmt.Sprint("/wp-login", i), "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/site", strings.NewReader(`{}`))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong signature = %d; want 401", res.StatusCode)
	}
	if !strings.Contains(logged.String(), "hook=site") {
		t.Errorf("a hook's refusal after a flood of 100 requests for no hook was not logged:\n%s", logged.String())
	}
}
