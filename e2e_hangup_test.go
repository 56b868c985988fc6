package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestE2E_BackupHangupLeavesNoPartial: `webhookd backup FILE` run over
// ssh whose connection drops gets SIGHUP. It used to die of it, leaving
// FILE.partial-* (as large as the copy had got) for nobody to remove; a
// hangup now stops it as Ctrl-C does: exit 1, nothing left.
func TestE2E_BackupHangupLeavesNoPartial(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "[store]\npath = \"webhookd.db\"\n")
	// An admin API whose backup sends its first bytes, then waits: the
	// copy is under way when the hangup comes.
	sent := make(chan struct{})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/backup" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(64<<20))
		w.WriteHeader(http.StatusOK)
		w.Write(bytes.Repeat([]byte{0}, 1<<20))
		w.(http.Flusher).Flush()
		close(sent)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	out := filepath.Join(dir, "copy.db")
	cmd := exec.Command(binPath, "backup", "-config", filepath.Join(dir, "webhookd.toml"), "-admin", strings.TrimPrefix(srv.URL, "http://"), out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case <-sent:
	case err := <-exited:
		t.Fatalf("backup exited before the copy began: %v\n%s", err, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("the backup did not ask for the copy")
	}
	partial := func() []string {
		m, _ := filepath.Glob(out + ".partial-*")
		return m
	}
	// The first MiB is in the partial file before the hangup.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := partial(); len(m) == 1 {
			if fi, err := os.Stat(m[0]); err == nil && fi.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no partial copy with bytes in it: %v", partial())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	var err error
	select {
	case err = <-exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("backup did not stop within 15 s of SIGHUP\n%s", stderr.String())
	}
	ee, ok := err.(*exec.ExitError)
	if !ok || !ee.Exited() || ee.ExitCode() != 1 {
		t.Errorf("backup after SIGHUP: %v; want exit status 1 (stopped, as by Ctrl-C), not death by the signal\n%s", err, stderr.String())
	}
	if m := partial(); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after an interrupted backup: %v", out, err)
	}
}

// TestE2E_BackupUnderNohupOutlivesHangup: a command started with SIGHUP
// ignored (`nohup webhookd backup FILE &`, so that it outlives the ssh
// session) went on ignoring it until cli commands began to stop on a
// hangup: os/signal's Notify of SIGHUP undoes an inherited SIG_IGN, so
// the backup nohup was to keep going was stopped by the very hangup
// nohup is for. A SIGHUP ignored from the start stays ignored; so does a
// SIGINT (a script's background job, `webhookd backup FILE &`, which the
// shell starts with SIGINT ignored so that Ctrl-C stops only the script):
// main's Notify of it undid that too.
func TestE2E_BackupUnderNohupOutlivesHangup(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID/status")
	}
	for _, tc := range []struct {
		name string
		sig  syscall.Signal
	}{{"HUP", syscall.SIGHUP}, {"INT", syscall.SIGINT}} {
		t.Run(tc.name, func(t *testing.T) { backupWithSignalIgnored(t, tc.name, tc.sig) })
	}
}

// backupWithSignalIgnored runs a backup started with sig ignored (trap ""
// name), sends it sig halfway through the copy, and wants the copy whole.
func backupWithSignalIgnored(t *testing.T, name string, sig syscall.Signal) {
	dir := t.TempDir()
	writeConfig(t, dir, "[store]\npath = \"webhookd.db\"\n")
	// A database to copy, and an admin API whose backup sends half of it,
	// then waits to be released for the rest.
	src := filepath.Join(t.TempDir(), "src.db")
	st, err := store.Open(src, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	size := len(db)
	sent := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/backup" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.WriteHeader(http.StatusOK)
		w.Write(db[:size/2])
		w.(http.Flusher).Flush()
		close(sent)
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		w.Write(db[size/2:])
	}))
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }); srv.Close() })
	out := filepath.Join(dir, "copy.db")
	// What nohup does for SIGHUP: ignored, then exec.
	cmd := exec.Command("/bin/sh", "-c", `trap "" `+name+`; exec "$0" "$@"`, binPath, "backup", "-config", filepath.Join(dir, "webhookd.toml"), "-admin", strings.TrimPrefix(srv.URL, "http://"), out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case <-sent:
	case err := <-exited:
		t.Fatalf("backup exited before the copy began: %v\n%s", err, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("the backup did not ask for the copy")
	}
	// The command asked for the copy, so its signals are as they stay.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			if mask&(1<<(sig-1)) == 0 {
				t.Errorf("SigIgn %s: SIG%s, ignored when the command started, is no longer ignored", strings.TrimSpace(v), name)
			}
		}
	}
	cmd.Process.Signal(sig)
	releaseOnce.Do(func() { close(release) })
	select {
	case err = <-exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("backup did not end within 15 s of the rest of the copy\n%s", stderr.String())
	}
	if err != nil {
		t.Errorf("backup started with SIG%s ignored, after SIG%s: %v; want it to go on and succeed\n%s", name, name, err, stderr.String())
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != int64(size) {
		t.Errorf("the copy after an ignored SIG%s: %v, %v; want %d bytes", name, fi, err, size)
	}
}

// TestE2E_HangupDuringRetrySaysLook: `webhookd retry JOB` whose ssh
// session drops while the daemon has the request but has not answered
// ended with "context canceled", as if nothing had been asked: the retry
// may be made all the same. It says so, as a timeout does, and exits 1.
func TestE2E_HangupDuringRetrySaysLook(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "[store]\npath = \"webhookd.db\"\n")
	got := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		<-r.Context().Done() // a slow daemon: no answer yet
	}))
	t.Cleanup(srv.Close)
	cmd := exec.Command(binPath, "retry", "-config", filepath.Join(dir, "webhookd.toml"), "-admin", strings.TrimPrefix(srv.URL, "http://"), "06H4WK95M0000000")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case <-got:
	case err := <-exited:
		t.Fatalf("retry exited before its request came: %v\n%s", err, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("retry sent no request")
	}
	cmd.Process.Signal(syscall.SIGHUP)
	var err error
	select {
	case err = <-exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("retry did not stop within 15 s of SIGHUP\n%s", stderr.String())
	}
	if ee, ok := err.(*exec.ExitError); !ok || !ee.Exited() || ee.ExitCode() != 1 {
		t.Errorf("retry after SIGHUP: %v; want exit status 1\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "may still be made") {
		t.Errorf("retry interrupted after its request reached the daemon says %q; want that the change may still be made", stderr.String())
	}
}
