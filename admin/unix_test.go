package admin

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestListenUnix: a stale socket at the path (its process gone) is
// replaced; a live one (another process listening there, another webhookd
// on the same path) is left alone and named in the error; a path longer
// than a client can connect to is refused rather than bound.
func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "admin.sock")

	other, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	if ln, err := listenUnix(p); err == nil || !strings.Contains(err.Error(), "another process is listening there") {
		if ln != nil {
			ln.Close()
		}
		t.Errorf("listenUnix over a live socket = %v; want it refused", err)
	}
	if c, err := net.Dial("unix", p); err != nil {
		t.Errorf("the other process's socket after the refusal: %v", err)
	} else {
		c.Close()
	}
	other.(*net.UnixListener).SetUnlinkOnClose(false)
	other.Close() // stale now: the file stays, nothing listens

	ln, err := listenUnix(p)
	if err != nil {
		t.Fatalf("listenUnix over a stale socket: %v", err)
	}
	ln.Close()

	long := filepath.Join(dir, strings.Repeat("a", 120)+".sock")
	if ln, err := listenUnix(long); err == nil || !strings.Contains(err.Error(), "at most 107 bytes") {
		if ln != nil {
			ln.Close()
		}
		t.Errorf("listenUnix at a %d-byte path = %v; want it refused", len(long), err)
	}
	if _, err := os.Lstat(long); err == nil {
		t.Errorf("a socket was left at the %d-byte path", len(long))
	}
}

// TestUnixSocket_AnyHost: on a unix socket without a token, file
// permissions decide who may connect, and no web page can reach a socket
// by DNS rebinding: a request is answered whatever host it names (curl
// --unix-socket PATH http://webhookd/...), not refused with 421.
func TestUnixSocket_AnyHost(t *testing.T) {
	e := newEnv(t, "")
	p := filepath.Join(t.TempDir(), "admin.sock")
	s := New(Options{Addr: "unix:" + p, Store: e.st, Scheduler: e.sched})
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", p)
	}}}
	for _, host := range []string{"localhost", "webhookd", "admin.example"} {
		res, err := c.Get("http://" + host + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET http://%s/api/status over the socket = %d; want 200", host, res.StatusCode)
		}
	}
}
