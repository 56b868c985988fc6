package main

import (
	"encoding/json"
	"io"
	"net/http"
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

// TestE2E_MonitoringSeesRefusedDeliveries: while the store refuses new
// events (the disk below min_free), a monitor sees it without a delivery
// having to fail first: /healthz answers 503, and /api/status says why.
// Both say so again once deliveries are accepted.
func TestE2E_MonitoringSeesRefusedDeliveries(t *testing.T) {
	dir := t.TempDir()
	cfg := "[server]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \"w.db\"\nmin_free = \"%MIN%\"\n[admin]\nlisten = \"127.0.0.1:0\"\n"
	// More free space than any disk has: every delivery is refused.
	writeConfig(t, dir, strings.ReplaceAll(cfg, "%MIN%", "1000000000GiB"))
	d := startDaemon(t, dir)
	hz := admDo(t, d, "GET", "/healthz", "", nil)
	hzBody, _ := io.ReadAll(hz.Body)
	hz.Body.Close()
	var hzJSON struct{ Status string }
	if json.Unmarshal(hzBody, &hzJSON); hz.StatusCode != http.StatusServiceUnavailable || hzJSON.Status != "refusing deliveries" {
		t.Errorf("/healthz with the disk below min_free = %d %s; want 503 {\"status\": \"refusing deliveries\"}", hz.StatusCode, hzBody)
	}
	var st struct {
		Refusing string `json:"refusing"`
	}
	admGet(t, d, "", "/api/status", &st)
	if !strings.Contains(st.Refusing, "min_free") {
		t.Errorf("/api/status refusing = %q with the disk below min_free; want why", st.Refusing)
	}
	res := admDo(t, d, "GET", "/", "", nil)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), "New deliveries are refused") {
		t.Errorf("the dashboard does not say that deliveries are refused:\n%s", page)
	}
	writeConfig(t, dir, strings.ReplaceAll(cfg, "%MIN%", "1MiB"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, "/healthz 200 after the reload", func() bool {
		return admGet(t, d, "", "/healthz", nil) == http.StatusOK
	})
	st.Refusing = ""
	admGet(t, d, "", "/api/status", &st)
	if st.Refusing != "" {
		t.Errorf("/api/status refusing = %q with room on the disk; want none", st.Refusing)
	}
}
