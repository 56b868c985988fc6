package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// lockWaitMsg is the line serve logs once when another process holds the
// database file's lock.
const lockWaitMsg = "waiting for the database file's lock"

// holdStore creates the spine's database and opens it read-only in this
// process, as an offline `webhookd backup` (or events, show) does: it
// holds the file's lock until release is called, or the test ends.
func holdStore(t *testing.T, dir string) (db string, release func()) {
	t.Helper()
	db = filepath.Join(dir, "data", "webhookd.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o750); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := store.Open(db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	release = func() {
		select {
		case <-done:
		default:
			close(done)
			ro.Close()
		}
	}
	t.Cleanup(release)
	return db, release
}

// startServe starts `webhookd serve` on the config in dir without waiting
// for it to listen. Its log goes to the returned proc's log; it is killed
// (by its pid) at the end of the test if it still runs.
func startServe(t *testing.T, dir string, env ...string) *proc {
	t.Helper()
	d := &proc{t: t, dir: dir, config: filepath.Join(dir, "webhookd.toml"), log: &syncBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(binPath, "serve", "-config", d.config)
	d.cmd.Env = append(append(os.Environ(), runDirsEnv(t, dir)...), env...)
	d.cmd.Dir = dir
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.log.Write([]byte(sc.Text() + "\n"))
		}
	}()
	go func() {
		<-copied // Wait closes the pipe: read it all first
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("webhookd log (%s):\n%s", dir, d.log.String())
		}
	})
	return d
}

// TestE2E_ServeWaitsForAnOfflineCommand: a daemon started (by systemd,
// say) while an offline command holds the database file — a `webhookd
// backup` run with no daemon, a compact — waits for it, saying so once,
// naming the file and what holds it, and starts once it is let go. It
// gave up after 1s: "another process holds it (is webhookd already
// running?)", and systemd counted a failed start.
func TestE2E_ServeWaitsForAnOfflineCommand(t *testing.T) {
	dir := setupSpine(t)
	db, release := holdStore(t, dir)
	const held = 2500 * time.Millisecond // well past the 1s it waited
	time.AfterFunc(held, release)
	start := time.Now()
	d := startDaemon(t, dir, spineEnv...)
	if took := time.Since(start); took < held {
		t.Errorf("the daemon was listening after %v, while the lock was held for %v", took, held)
	}
	log := d.log.String()
	if n := strings.Count(log, lockWaitMsg); n != 1 {
		t.Errorf("the log says %q %d times; want once:\n%s", lockWaitMsg, n, log)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, lockWaitMsg) {
			for _, want := range []string{db, "another webhookd process", "a running daemon", "backup", "compact"} {
				if !strings.Contains(line, want) {
					t.Errorf("the waiting line does not say %q: %s", want, line)
				}
			}
		}
	}
	if r := d.postGitHub("/hooks/site", spineSecret, "push", "lock-wait-1", pushBody("refs/heads/main", "w1")); r.Status != 202 {
		t.Fatalf("after waiting for the lock: %d %s", r.Status, r.Raw)
	}
}

// TestE2E_ServeStopsWhileWaitingForTheLock: a daemon waiting for the lock
// stops at once on SIGTERM (systemctl stop, Ctrl-C), with status 0, not
// once its wait is over; it never listened.
func TestE2E_ServeStopsWhileWaitingForTheLock(t *testing.T) {
	dir := setupSpine(t)
	holdStore(t, dir)
	d := startServe(t, dir, spineEnv...)
	waitFor(t, 5*time.Second, "the daemon to say it waits for the lock", func() bool {
		return strings.Contains(d.log.String(), lockWaitMsg)
	})
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(3 * time.Second):
		t.Fatal("the daemon waiting for the lock did not stop within 3s of SIGTERM")
	}
	if code := exitStatus(d.err); code != 0 {
		t.Errorf("stopped while waiting for the lock: exit %d; want 0", code)
	}
	if strings.Contains(d.log.String(), "msg=listening") {
		t.Errorf("the daemon listened while another process held its database")
	}
}
