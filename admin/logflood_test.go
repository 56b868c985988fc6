package admin

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
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

// TestLogin_RefusalLogBounded: guessing the admin token at the login form
// (which anyone who reaches the listener may post to) writes a bounded
// log, not a line per guess; the next line logged says how many were not.
func TestLogin_RefusalLogBounded(t *testing.T) {
	e := newEnv(t, testToken)
	var logged lockedBuffer
	e.srv.log = slog.New(slog.NewTextHandler(&logged, nil))
	e.mu.Lock()
	e.clock = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.mu.Unlock()
	const n = 200
	for i := range n {
		res, err := http.PostForm(e.ts.URL+"/login", url.Values{"token": {fmt.Sprint("guess", i)}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("login with a wrong token = %d; want 401", res.StatusCode)
		}
	}
	lines := strings.Count(logged.String(), "login refused")
	if lines > 50 {
		t.Errorf("%d wrong tokens in an instant wrote %d log lines; want a bounded few", n, lines)
	}
	if lines == 0 {
		t.Fatalf("no login refusal logged at all")
	}
	e.mu.Lock()
	e.clock = e.clock.Add(10 * time.Second)
	e.mu.Unlock()
	before := logged.String()
	res, err := http.PostForm(e.ts.URL+"/login", url.Values{"token": {"another guess"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	last := strings.TrimPrefix(logged.String(), before)
	if want := fmt.Sprintf("not_logged=%d", n-lines); !strings.Contains(last, "login refused") || !strings.Contains(last, want) {
		t.Errorf("the next refusal's line = %q; want it logged, with %s", last, want)
	}
}
