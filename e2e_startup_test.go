package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2E_StoreNotWritableSaysWhatToDo: a database directory the daemon's
// user cannot write (or a read-only file system: the systemd unit's
// /etc/webhookd, where a relative store.path lands) stops the start with
// one message that names the file once and says what to change. Runs the
// daemon as nobody, so it needs root.
func TestE2E_StoreNotWritableSaysWhatToDo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run the daemon as another user")
	}
	dir := t.TempDir()
	// nobody may read the config and the binary, not write the directory.
	for _, d := range []string{dir, filepath.Dir(dir), filepath.Dir(binPath)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := writeConfig(t, dir, "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"off\"\n")
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(binPath, "serve", "-config", p)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	timer := time.AfterFunc(5*time.Second, func() { c.Process.Kill() }) // a daemon that started
	out, err := c.CombinedOutput()
	timer.Stop()
	db := filepath.Join(dir, "webhookd.db")
	msg := string(out)
	if code := exitStatus(err); code != 1 {
		t.Fatalf("serve on a directory it cannot write: exit %d; want 1\n%s", code, msg)
	}
	if n := strings.Count(msg, db); n != 1 {
		t.Errorf("the message names %s %d times; want once:\n%s", db, n, msg)
	}
	for _, want := range []string{"permission denied", "[store] path", "/var/lib/webhookd"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message does not say %q:\n%s", want, msg)
		}
	}
}
