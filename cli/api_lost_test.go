package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// lostAnswerServer is an admin API that takes each request whole and
// then loses its answer: it tells got, then, as how says, cuts the
// connection ("cut"), or begins an answer of 200 and cuts it ("cut
// after status"), or waits, answering nothing, until the client goes.
func lostAnswerServer(t *testing.T, how string) (addr string, got <-chan string) {
	t.Helper()
	ch := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- r.Method + " " + r.URL.Path
		rc := http.NewResponseController(w)
		switch how {
		case "cut after status":
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			if r.URL.Path == "/api/replay" {
				io.WriteString(w, `{"total": 3}`+"\n"+`{"event": {"id": "06H4WK95M0000000", "jobs": 1}}`+"\n"+`{"ev`)
			} else {
				io.WriteString(w, `{"id": "06H4`)
			}
			rc.Flush()
			fallthrough
		case "cut":
			if c, _, err := rc.Hijack(); err == nil {
				c.Close()
			}
		default:
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), ch
}

// runInterrupted runs a command and cancels its context (Ctrl-C, or a
// hangup: main turns both into that) once the server got its request.
func runInterrupted(t *testing.T, got <-chan string, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var o, e bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &o, Stderr: &e, Getenv: func(string) string { return "" }, Version: "webhookd test"}
	done := make(chan error, 1)
	go func() { done <- Find(name).Run(ctx, env, args) }()
	select {
	case <-got:
		cancel()
	case err := <-done:
		t.Fatalf("webhookd %s %q ended before its request came: %v", name, args, err)
	case <-time.After(5 * time.Second):
		t.Fatalf("webhookd %s %q sent no request", name, args)
	}
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("webhookd %s %q still waited 5s after it was interrupted", name, args)
	}
	return o.String(), e.String(), err
}

// TestAdminClient_AnswerLost: a change asked for whose answer was not
// read — Ctrl-C or a hangup while the command waited, or the connection
// cut before the answer came — may have been made all the same: the
// daemon got the request. Only a timeout said so ("may still be made:
// look before asking again"); an interrupted or cut-off replay, retry,
// cancel, pause or resume ended with a bare "context canceled" or "EOF",
// inviting the user to run it again. A command that asks for no change
// (a GET, a dry run) says nothing of the kind.
func TestAdminClient_AnswerLost(t *testing.T) {
	shortBounds(t, bounds{connect: 5 * time.Second, answer: 10 * time.Second, slowAnswer: 10 * time.Second})
	const id = "06H4WK95M0000000"
	cmds := [][]string{
		{"events"},
		{"show", id},
		{"replay", id},
		{"replay", "-hook", "site"},
		{"replay", "-hook", "site", "-dry-run"},
		{"retry", id},
		{"cancel", id},
		{"pause", "site/deploy"},
		{"resume", "site/deploy"},
	}
	for _, how := range []string{"cut", "cut after status", "interrupted"} {
		t.Run(how, func(t *testing.T) {
			addr, got := lostAnswerServer(t, how)
			_, cfg := adminConfig(t, addr)
			for _, tc := range cmds {
				args := append(append([]string{}, tc[1:]...), "-config", cfg)
				var stdout, stderr string
				var err error
				if how != "interrupted" {
					stdout, stderr, err, _ = runBounded(t, 5*time.Second, tc[0], args...)
					<-got
				} else {
					stdout, stderr, err = runInterrupted(t, got, tc[0], args...)
				}
				if err == nil {
					t.Errorf("%q, its answer %s: no error; stdout %q", tc, how, stdout)
					continue
				}
				changes := tc[0] != "events" && tc[0] != "show" && !slices.Contains(tc, "-dry-run")
				if said := strings.Contains(err.Error(), "look (webhookd show, events)"); said != changes {
					t.Errorf("%q, its answer %s: error %q; saying to look before asking again: %v, want %v", tc, how, err, said, changes)
				}
				// A status of 200 came: the change was made (a bulk
				// replay's, in part: its answer is a stream).
				want := "may still be made"
				if bulk := slices.Contains(tc, "-hook"); how == "cut after status" && !bulk {
					want = "so the change was made"
				}
				if changes && !strings.Contains(err.Error(), want) {
					t.Errorf("%q, its answer %s: error %q; want it to say %q", tc, how, err, want)
				}
				t.Logf("%q: %v", tc, err)
				if strings.Contains(err.Error(), "http://") {
					t.Errorf("%q, its answer %s: %q names a URL the user never wrote", tc, how, err)
				}
				if strings.Contains(stderr, "directly") {
					t.Errorf("%q, its answer %s: read the database instead: %q", tc, how, stderr)
				}
			}
		})
	}
}

// TestAdminClient_NotReachedSaysNoChange: a request that never reached a
// daemon (none listens) asked for nothing that could be made: it is not
// told to look before asking again.
func TestAdminClient_NotReachedSaysNoChange(t *testing.T) {
	dir := t.TempDir()
	_, cfg := adminConfig(t, "unix:"+filepath.Join(dir, "none.sock"))
	for _, tc := range [][]string{{"retry", "06H4WK95M0000000"}, {"pause", "site/deploy"}} {
		_, _, err, _ := runBounded(t, 5*time.Second, tc[0], append(tc[1:], "-config", cfg)...)
		if err == nil || !strings.Contains(err.Error(), "need the running daemon") || strings.Contains(err.Error(), "may still be made") {
			t.Errorf("%q with no daemon: %v; want that it needs the daemon, and nothing of a change that may be made", tc, err)
		}
	}
}

// stallingServer is an admin API that begins each answer — its status,
// headers and a part of its body — and then sends nothing more until the
// client goes: a stuck daemon, or another program on the port.
func stallingServer(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(status)
		switch {
		case r.URL.Path == "/api/replay":
			io.WriteString(w, `{"total": 3}`+"\n")
		case r.URL.Path == "/api/backup":
			w.Write(make([]byte, 4096))
		default:
			io.WriteString(w, `{"id": "06H4`)
		}
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestAdminClient_AnswerStalls: the answer bound is for an answer to
// begin; nothing bounded what came after, so a daemon (or whatever
// answers on the port) that sent its headers and then stalled held a
// command until Ctrl-C. Each gives up once nothing came for the idle
// bound, saying so, and a change asked for says to look before asking
// again. An error's answer that stalls is given up on too.
func TestAdminClient_AnswerStalls(t *testing.T) {
	shortBounds(t, bounds{connect: 5 * time.Second, answer: 5 * time.Second, slowAnswer: 5 * time.Second, idle: 300 * time.Millisecond})
	const id = "06H4WK95M0000000"
	for _, status := range []int{http.StatusOK, http.StatusInternalServerError} {
		addr := stallingServer(t, status)
		dir, cfg := adminConfig(t, addr)
		for _, tc := range [][]string{
			{"events"},
			{"show", id},
			{"replay", id},
			{"replay", "-hook", "site"},
			{"replay", "-hook", "site", "-dry-run"},
			{"retry", id},
			{"cancel", id},
			{"pause", "site/deploy"},
			{"backup", filepath.Join(dir, "copy.db")},
		} {
			if status != http.StatusOK && tc[0] != "events" && tc[0] != "retry" {
				continue // an error's answer is read alike for every command
			}
			args := append(append([]string{}, tc[1:]...), "-config", cfg)
			_, _, err, took := runBounded(t, 4*time.Second, tc[0], args...)
			want := fmt.Sprintf("the admin API at %s began to answer, then sent nothing for 300ms", addr)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%q, its answer (%d) stalled: %v\nwant an error saying %q", tc, status, err, want)
				continue
			}
			if took < 300*time.Millisecond {
				t.Errorf("%q gave up after %v, before its idle bound", tc, took)
			}
			changes := tc[0] != "events" && tc[0] != "show" && tc[0] != "backup" && !slices.Contains(tc, "-dry-run") && status == http.StatusOK
			if said := strings.Contains(err.Error(), "look (webhookd show, events)"); said != changes {
				t.Errorf("%q, its answer (%d) stalled: %q; saying to look: %v, want %v", tc, status, err, said, changes)
			}
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "copy.db*")); len(m) != 0 {
			t.Errorf("the backup that stalled left %v", m)
		}
	}
}

// TestAdminFlag_Malformed: -admin with a port no address has (a typo)
// was tried, and failed as a daemon might (exit 1, "dial tcp: address
// 99999: invalid port", after a URL); it is a command line that makes no
// sense (exit 2), as -admin without a port is.
func TestAdminFlag_Malformed(t *testing.T) {
	_, cfg := offlineConfig(t)
	for _, addr := range []string{"localhost:99999", "127.0.0.1:http", "127.0.0.1:-1", "nonsense"} {
		_, _, err := runCmd(t, "events", "-config", cfg, "-admin", addr)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "want host:port or unix:/path") {
			t.Errorf("events -admin %s: %v; want a usage error", addr, err)
		}
	}
}

// TestAdminConfig_PortChosenAtStart: a config whose [admin] listen lets
// the daemon choose its port (127.0.0.1:0) names no address a command can
// reach; events reads the database itself, as with no daemon running,
// and a change asked for says to give -admin. (Port 0 given to -admin is
// a usage error: TestAdminFlag_Malformed.)
func TestAdminConfig_PortChosenAtStart(t *testing.T) {
	dir, _ := offlineConfig(t)
	cfg := filepath.Join(dir, "zero.toml")
	if err := os.WriteFile(cfg, []byte("[store]\npath = \"webhookd.db\"\n[admin]\nlisten = \"127.0.0.1:0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := runCmd(t, "events", "-config", cfg)
	if err != nil || !strings.Contains(stdout, "site") {
		t.Fatalf("events with [admin] listen on port 0: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	_, _, err = runCmd(t, "pause", "-config", cfg, "site/deploy")
	if err == nil || !strings.Contains(err.Error(), "-admin") {
		t.Errorf("pause with [admin] listen on port 0: %v; want it to say to give -admin", err)
	}
}

// TestAdminConfig_ServiceNamePort: a config whose [admin] listen names its
// port by service (127.0.0.1:http), which check accepts and the daemon
// binds as port 80, made every command a usage error (exit 2) since
// 9b5f514, "admin address: want host:port" for a config that is fine, and
// events and show did not read the database; the name is looked up, as
// the daemon does. (-admin still wants a number: TestAdminFlag_Malformed.)
func TestAdminConfig_ServiceNamePort(t *testing.T) {
	dir, _ := offlineConfig(t)
	cfg := filepath.Join(dir, "named.toml")
	if err := os.WriteFile(cfg, []byte("[store]\npath = \"webhookd.db\"\n[admin]\nlisten = \"127.0.0.1:http\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runCmd(t, "events", "-config", cfg)
	var ue *UsageError
	if errors.As(err, &ue) || strings.Contains(stderr+fmt.Sprint(err), "want host:port") {
		t.Fatalf("events with [admin] listen 127.0.0.1:http: %v\nstderr: %s", err, stderr)
	}
	// Port 80 on this machine answers or not; either way the address
	// tried is the daemon's.
	if err == nil && !strings.Contains(stderr, "127.0.0.1:http") {
		t.Errorf("events read the database without naming the address it tried:\n%s", stderr)
	}
}
