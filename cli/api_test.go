package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// shortBounds makes the admin client's bounds short for one test.
func shortBounds(t *testing.T, b bounds) {
	t.Helper()
	old := defaultBounds
	defaultBounds = b
	t.Cleanup(func() { defaultBounds = old })
}

// adminConfig writes a config whose admin listener is addr, and whose
// database is a real store with one event (so that a command that fell
// back to reading the file would find something to print).
func adminConfig(t *testing.T, addr string) (dir, cfg string) {
	t.Helper()
	dir, cfg = offlineConfig(t)
	text := "[store]\npath = \"webhookd.db\"\n[admin]\nlisten = \"" + addr + "\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

// runBounded runs a command as runCmd does, but gives up on it after
// limit: a command that hangs fails the test instead of the whole run.
// Its context ends with the test, so that a hung command's goroutine ends.
func runBounded(t *testing.T, limit time.Duration, name string, args ...string) (stdout, stderr string, err error, took time.Duration) {
	t.Helper()
	c := Find(name)
	if c == nil {
		t.Fatalf("no command %q", name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var o, e bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &o, Stderr: &e, Getenv: func(string) string { return "" }, Version: "webhookd test"}
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Run(ctx, env, args) }()
	select {
	case err = <-done:
	case <-time.After(limit):
		cancel()
		<-done
		t.Fatalf("webhookd %s %q still waited after %v", name, args, limit)
	}
	return o.String(), e.String(), err, time.Since(start)
}

// silentListener accepts connections on loopback and never answers, as a
// stuck daemon or another program on the admin port does. It reads what
// comes, so that a request is never held up by full buffers.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestAdminClient_NoAnswer: a program on the admin port that accepts the
// connection and never answers (a stuck daemon, or not webhookd at all)
// made every command that talks to the daemon wait until Ctrl-C. Each
// gives up after its bound, saying the admin API at that address did not
// answer within it; none takes the silence for "no daemon runs" and reads
// the database file instead.
func TestAdminClient_NoAnswer(t *testing.T) {
	shortBounds(t, bounds{connect: 5 * time.Second, answer: 300 * time.Millisecond, slowAnswer: 700 * time.Millisecond})
	addr := silentListener(t)
	dir, cfg := adminConfig(t, addr)
	const id = "06H4WK95M0000000"
	for _, tc := range []struct {
		args   []string
		within time.Duration
	}{
		{[]string{"events"}, 300 * time.Millisecond},
		{[]string{"show", id}, 300 * time.Millisecond},
		{[]string{"replay", id}, 300 * time.Millisecond},
		{[]string{"replay", "-hook", "site"}, 300 * time.Millisecond},
		{[]string{"replay", "-hook", "site", "-dry-run"}, 300 * time.Millisecond},
		{[]string{"retry", id}, 300 * time.Millisecond},
		{[]string{"cancel", id}, 700 * time.Millisecond},
		{[]string{"pause", "site/deploy"}, 300 * time.Millisecond},
		{[]string{"resume", "site/deploy"}, 300 * time.Millisecond},
		{[]string{"backup", filepath.Join(dir, "copy.db")}, 300 * time.Millisecond},
	} {
		args := append(append([]string{}, tc.args[1:]...), "-config", cfg)
		stdout, stderr, err, took := runBounded(t, 5*time.Second, tc.args[0], args...)
		want := fmt.Sprintf("the admin API at %s did not answer within %v", addr, tc.within)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q against a listener that never answers: %v\nwant an error saying %q", tc.args, err, want)
			continue
		}
		if took < tc.within {
			t.Errorf("%q gave up after %v, before its bound %v", tc.args, took, tc.within)
		}
		// A change asked for (a POST) may be made after the command gave
		// up on its answer: the user is told to look before asking again.
		// A dry run changes nothing, whatever its method.
		changes := tc.args[0] != "events" && tc.args[0] != "show" && tc.args[0] != "backup" && !slices.Contains(tc.args, "-dry-run")
		if said := strings.Contains(err.Error(), "may still be made"); said != changes {
			t.Errorf("%q: error %q; saying the change may still be made: %v, want %v", tc.args, err, said, changes)
		}
		if strings.Contains(stderr, "directly") || strings.Contains(err.Error(), "reading the") || stdout != "" {
			t.Errorf("%q took a daemon that does not answer for none: stdout %q, stderr %q, err %v", tc.args, stdout, stderr, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "copy.db*")); len(m) != 0 {
		t.Errorf("the backup that got no answer left %v", m)
	}
}

// TestAdminClient_ConnectBound: an admin address that takes no
// connection at all (a full accept queue here; a host that drops packets,
// through -admin) is given up on after the connect bound, saying so.
func TestAdminClient_ConnectBound(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("fills a listen queue of length 0, as Linux keeps it")
	}
	shortBounds(t, bounds{connect: 300 * time.Millisecond, answer: 5 * time.Second, slowAnswer: 5 * time.Second})
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepted from
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue: once full, a connection is never completed.
	full := false
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				full = true
				break
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	if !full {
		t.Skip("this kernel completes connections past a listen queue of 0")
	}
	_, cfg := adminConfig(t, addr)
	_, _, err, took := runBounded(t, 5*time.Second, "events", "-config", cfg)
	want := fmt.Sprintf("the admin API at %s did not accept a connection within 300ms", addr)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("events against an address that takes no connection: %v\nwant an error saying %q", err, want)
	}
	if took < 300*time.Millisecond {
		t.Errorf("gave up after %v, before the connect bound", took)
	}
}

// TestAdminClient_StreamOutlastsAnswerBound: the answer bound is for the
// answer to begin, and the idle bound for each wait for more of it. A
// backup whose bytes go on coming for far longer than either is not cut
// off: the copy is whole and passes its check.
func TestAdminClient_StreamOutlastsAnswerBound(t *testing.T) {
	shortBounds(t, bounds{connect: 5 * time.Second, answer: 200 * time.Millisecond, slowAnswer: 200 * time.Millisecond, idle: 500 * time.Millisecond})
	// A real database, as GET /api/backup sends it.
	src, err := store.Open(filepath.Join(t.TempDir(), "src.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := src.Ingest(context.Background(), &store.NewEvent{Hook: "site", Type: "push", Delivery: "d-" + strconv.Itoa(i), Received: time.Now(), Body: bytes.Repeat([]byte("x"), 4<<10)}); err != nil {
			t.Fatal(err)
		}
	}
	var db bytes.Buffer
	if _, err := src.BackupStream(&db, nil); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	const chunks = 10
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/backup" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(db.Len()))
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		rc.Flush()
		b := db.Bytes()
		step := (len(b) + chunks - 1) / chunks
		for len(b) > 0 {
			time.Sleep(100 * time.Millisecond) // 1s in all: 5 answer bounds
			n := min(step, len(b))
			w.Write(b[:n])
			rc.Flush()
			b = b[n:]
		}
	}))
	t.Cleanup(srv.Close)
	dir, cfg := adminConfig(t, srv.Listener.Addr().String())
	out := filepath.Join(dir, "copy.db")
	stdout, stderr, err, took := runBounded(t, 10*time.Second, "backup", "-config", cfg, out)
	if err != nil {
		t.Fatalf("backup streamed for %v: %v\n%s", took, err, stderr)
	}
	if took < time.Second {
		t.Errorf("the backup took %v; the server sends it over 1s", took)
	}
	if !strings.Contains(stdout, "from the running daemon") {
		t.Errorf("backup says %q; want it from the daemon", stdout)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != int64(db.Len()) {
		t.Fatalf("the copy: %v, %v; want %d bytes", fi, err, db.Len())
	}
	if err := store.CheckFile(out); err != nil {
		t.Errorf("the copy: %v", err)
	}
}
