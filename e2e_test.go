package main

// End-to-end tests: they build the binary once (TestMain), start it on a
// loopback port with a config in a temp dir, and drive it as a user does.
// The daemon's log is dumped when a test fails. The long tests that use
// only their own directory, ports and processes, measure no time and set
// nothing process-wide run in parallel (t.Parallel), after the others.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// binPath is the webhookd binary TestMain builds.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "webhookd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "webhookd")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build webhookd:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer is a log sink safe for the daemon's stderr copier and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running webhookd.
type proc struct {
	t      *testing.T
	dir    string
	config string
	cmd    *exec.Cmd
	log    *syncBuffer
	addr   string // public listener, host:port
	admin  string // admin listener, host:port
	exited chan struct{}
	err    error
}

var (
	reListen = regexp.MustCompile(`msg=listening addr=(\S+)`)
	reAdmin  = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
)

// writeConfig writes webhookd.toml into dir. %DIR% becomes dir.
func writeConfig(t *testing.T, dir, cfg string) string {
	t.Helper()
	p := filepath.Join(dir, "webhookd.toml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(cfg, "%DIR%", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startDaemon starts webhookd serve on the config in dir and waits until
// both listeners are up. The daemon is killed at the end of the test.
func startDaemon(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	return startDaemonCmd(t, dir, nil, env...)
}

// startDaemonCmd is startDaemon with setup, if not nil, called on the
// command before it starts.
func startDaemonCmd(t *testing.T, dir string, setup func(*exec.Cmd), env ...string) *proc {
	t.Helper()
	d := &proc{t: t, dir: dir, config: filepath.Join(dir, "webhookd.toml"), log: &syncBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(binPath, "serve", "-config", d.config)
	d.cmd.Env = append(append(os.Environ(), runDirsEnv(t, dir)...), env...)
	d.cmd.Dir = dir
	if setup != nil {
		setup(d.cmd)
	}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			d.log.Write([]byte(line + "\n"))
			if m := reListen.FindStringSubmatch(line); m != nil {
				d.addr = m[1]
			}
			if m := reAdmin.FindStringSubmatch(line); m != nil {
				d.admin = m[1]
			}
			if !signalled && d.addr != "" && d.admin != "" {
				signalled = true
				close(ready)
			}
		}
	}()
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("webhookd log (%s):\n%s", dir, d.log.String())
		}
	})
	select {
	case <-ready:
	case <-d.exited:
		t.Fatalf("webhookd exited at start: %v\n%s", d.err, d.log.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("webhookd did not start listening:\n%s", d.log.String())
	}
	return d
}

// runDirsEnv points a daemon's payload directories (its temp directory,
// and the runtime directory on a memory file system that it prefers) at
// directories of the test's own, which the test removes. A daemon ends
// with SIGKILL at the end of a test and cannot remove its own; left in the
// machine's /tmp and /dev/shm they would wait for some later start to
// sweep them. Every start on dir gets the same directories, so that a
// restart finds what the killed daemon left, as it would in /tmp and
// /dev/shm. A test's own TMPDIR or RUNTIME_DIRECTORY, given after these,
// wins.
func runDirsEnv(t *testing.T, dir string) []string {
	t.Helper()
	tmp := filepath.Join(dir, ".tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"TMPDIR=" + tmp}
	sum := sha256.Sum256([]byte(dir))
	shm := filepath.Join("/dev/shm", "webhookd-e2e-"+hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(shm, 0o700); err == nil {
		t.Cleanup(func() { os.RemoveAll(shm) })
		env = append(env, "RUNTIME_DIRECTORY="+shm)
	}
	return env
}

// kill stops the daemon with SIGKILL (if it still runs) and waits.
func (d *proc) kill() {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// stop sends SIGTERM and waits for the exit status.
func (d *proc) stop(timeout time.Duration) error {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return d.err
	case <-time.After(timeout):
		d.t.Fatalf("webhookd did not stop within %v", timeout)
		return nil
	}
}

func githubSign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// reply is an HTTP answer with its JSON body.
type reply struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// httpClient is the tests' client. It dials loopback addresses only: an
// address that is not one (a unix socket's "unix:/…" taken for a host)
// fails the test at once rather than become a DNS lookup off this machine.
var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: dialLoopback}}

func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("test client: %s is not a loopback address", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// postGitHub sends a GitHub delivery signed with secret.
func (d *proc) postGitHub(path, secret, event, delivery string, body []byte) reply {
	d.t.Helper()
	r, err := postGitHubTo(d.addr, path, secret, event, delivery, body)
	if err != nil {
		d.t.Fatal(err)
	}
	return r
}

func postGitHubTo(addr, path, secret, event, delivery string, body []byte) (reply, error) {
	req, _ := http.NewRequest("POST", "http://"+addr+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	if secret != "" {
		req.Header.Set("X-Hub-Signature-256", githubSign(secret, body))
	}
	return do(req)
}

func do(req *http.Request) (reply, error) {
	res, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := reply{Status: res.StatusCode, Header: res.Header, Raw: string(b)}
	json.Unmarshal(b, &r.Body)
	return r, nil
}

// apiEvent reads GET /api/events/{id} from the admin listener.
func (d *proc) apiEvent(id string) (int, map[string]any) {
	d.t.Helper()
	res, err := httpClient.Get("http://" + d.admin + "/api/events/" + id)
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}

// jobStates lists the states of an event's jobs, as the API shows them.
func jobStates(ev map[string]any) []string {
	var out []string
	jobs, _ := ev["jobs"].([]any)
	for _, j := range jobs {
		m, _ := j.(map[string]any)
		out = append(out, fmt.Sprint(m["state"]))
	}
	return out
}

// readPid reads the pid a script wrote to dir/name; 0 until it has.
func readPid(dir, name string) int {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// procAlive reports whether process pid is alive: a zombie, which only
// waits for its parent to reap it, is not.
func procAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...; comm may hold anything.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] != "Z"
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openStore opens the daemon's database read-only, after it has stopped.
func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path, store.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

var _ = context.Background

// The tests' client refuses what is not loopback before it dials or looks
// a name up; a loopback address it dials.
func TestHTTPClient_LoopbackOnly(t *testing.T) {
	for _, addr := range []string{"unix:80", "example.com:80", "10.0.0.1:80", "0.0.0.0:80"} {
		if c, err := dialLoopback(context.Background(), "tcp", addr); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			if c != nil {
				c.Close()
			}
			t.Errorf("dial %s: %v; want it refused as not loopback", addr, err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := dialLoopback(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial %s: %v", ln.Addr(), err)
	}
	c.Close()
}
