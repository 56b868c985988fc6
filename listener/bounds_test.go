package listener

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// Each kept refusal is bounded in size, as the list is in count: a method
// of 60,000 bytes (any token is a method, up to the header limit) is
// neither echoed in the 405 nor kept whole.
func TestRejections_EntryBounded(t *testing.T) {
	s := startHostileServer(t)
	var a hxAnswer
	// The server gives a request's head hxHeaderTimeout (300ms) to come:
	// on a loaded machine 60 KB of it may take longer, and the connection
	// is closed unanswered (status 0). That bound is not what is tested
	// here: try again.
	for try := 0; try < 3 && a.Status == 0; try++ {
		var err error
		if a, err = s.exchange(sendAll(hxReq(strings.Repeat("X", 60000), "/hooks/site", nil, nil))); err != nil {
			t.Fatal(err)
		}
	}
	if a.Status != 405 || len(a.Body) > 1024 {
		t.Errorf("405 answer: %d, %d bytes; want 405 without the method whole", a.Status, len(a.Body))
	}
	rs := s.l.Rejections()
	if len(rs) == 0 {
		t.Fatal("no rejection kept")
	}
	for _, r := range rs {
		if n := len(r.Path) + len(r.Reason) + len(r.Check) + len(r.Hook) + len(r.Remote); n > 1024 {
			t.Errorf("one rejection holds %d bytes (reason %d)", n, len(r.Reason))
		}
	}
}

// Serve and Shutdown run in different goroutines (main.go): Serve returns
// nil after a shutdown, whichever comes first (and -race finds nothing).
func TestListener_ShutdownBeforeServe(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 50 {
		l := New(Options{Addr: "127.0.0.1:0", Store: st}, &Config{Hooks: []*Hook{githubHook(t)}})
		if err := l.Open(); err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- l.Serve() }()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := l.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		cancel()
		if err := <-served; err != nil {
			t.Fatalf("round %d: Serve after Shutdown = %v; want nil", i, err)
		}
	}
}
