package main

// A real full disk: the database lives on a small tmpfs that the test
// fills. Needs root (to mount); skipped with the reason otherwise.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// diskConfig keeps the database on the small file system; min_free = 0
// turns off the early low-space refusal, so that what is tested is the
// write itself failing with ENOSPC.
const diskConfig = `
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "10s"
[store]
path = "data/webhookd.db"
min_free = 0
[admin]
listen = "127.0.0.1:0"
[log]
level = "info"

[[hook]]
id = "site"
provider = "github"
secret = "env:E2E_GITHUB_SECRET"
events = ["push"]

  [[hook.action]]
  name = "deploy"
  when = 'payload.ref == "refs/heads/main"'
  run = ["./deploy.sh", "{{ .payload.after }}"]
  concurrency = 2
`

// mountSmall mounts a tmpfs of size bytes at dir, or skips the test.
func mountSmall(t *testing.T, dir string, size int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk needs a small file system: mounting a tmpfs needs root")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0750", size)); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): not allowed here", err)
	}
	t.Cleanup(func() {
		// A killed daemon's file can stay open a moment after it is
		// reaped (see TestE2E_RestartWaitsForALingeringLock).
		var err error
		for i := 0; i < 40; i++ {
			if err = syscall.Unmount(dir, 0); !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fill writes a file until the file system is full, and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 16<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return p
			}
			t.Fatal(err)
		}
	}
}

// TestE2E_DiskFull: with the disk full, deliveries get 503 with
// Retry-After and nothing is acknowledged that is not on disk; when space
// returns, the same daemon stores again without a restart; a kill while
// full corrupts nothing; and every acknowledged event is there at the end
// and its action ran.
func TestE2E_DiskFull(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mountSmall(t, data, 4<<20)
	writeConfig(t, dir, diskConfig)
	writeScript(t, dir, "deploy.sh", `echo "$WEBHOOKD_EVENT_ID" >> started.log
case "$1" in slow*) sleep 1 ;; esac
echo "$WEBHOOKD_EVENT_ID" >> ran.log
`)
	d := startDaemon(t, dir, spineEnv...)

	acked := map[string]string{} // event id → delivery
	var refused []string
	n := 0
	pad := strings.Repeat("x", 8<<10)
	after := "c"
	send := func(d *proc) reply {
		n++
		delivery := fmt.Sprintf("full-%d", n)
		body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":"%s%d","pad":%q}`, after, n, pad))
		r := d.postGitHub("/hooks/site", spineSecret, "push", delivery, body)
		switch r.Status {
		case 202:
			acked[fmt.Sprint(r.Body["id"])] = delivery
		case 503:
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %s", r.Raw)
			}
			refused = append(refused, delivery)
		default:
			t.Fatalf("delivery %s = %d %s; want 202 or 503", delivery, r.Status, r.Raw)
		}
		return r
	}
	for i := 0; i < 5; i++ {
		if r := send(d); r.Status != 202 {
			t.Fatalf("before the disk is full: %d %s", r.Status, r.Raw)
		}
	}

	// A run that ends while the disk is full: recording it fails until
	// space returns.
	after = "slow"
	slow := send(d)
	after = "c"
	slowID := fmt.Sprint(slow.Body["id"])
	has := func(name, id string) bool {
		for _, l := range readLines(t, filepath.Join(dir, name)) {
			if l == id {
				return true
			}
		}
		return false
	}
	waitFor(t, 10*time.Second, "the slow run to start", func() bool { return has("started.log", slowID) })

	filler := fill(t, data)
	// The file may still have free pages inside it: send until the
	// writes fail, then some more.
	for i := 0; i < 400 && len(refused) < 10; i++ {
		send(d)
	}
	if len(refused) < 10 {
		t.Fatalf("%d deliveries stored on a full disk and none refused", len(acked))
	}
	t.Logf("disk full: %d acknowledged so far, %d refused with 503", len(acked), len(refused))
	if !strings.Contains(d.log.String(), "no space left on device") {
		t.Errorf("the log does not name the cause (no space left on device)")
	}
	// The slow run ends while the disk is full. Recording it may fail
	// and be retried, or land in pages free inside the file; either way
	// it is recorded once space returns (below).
	waitFor(t, 10*time.Second, "the slow run to end", func() bool { return has("ran.log", slowID) })

	// Space returns: the same daemon stores again.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if r := send(d); r.Status != 202 {
		t.Fatalf("after space returned: %d %s; want 202 without a restart", r.Status, r.Raw)
	}
	for id := range acked {
		if status, _ := d.apiEvent(id); status != 200 {
			t.Errorf("acknowledged event %s: GET = %d", id, status)
		}
	}
	waitJobState(t, d, slowID, "succeeded", 10*time.Second)

	// Full again, and killed while full: nothing acknowledged is lost, and
	// the file is consistent.
	filler = fill(t, data)
	for i := 0; i < 400 && send(d).Status != 503; i++ {
	}
	d.kill()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	// Restarted at once: the daemon waits out the lock its killed
	// predecessor may leave for a moment.
	d = startDaemon(t, dir, spineEnv...)
	for _, delivery := range refused {
		// A refused delivery wrote nothing: sent again, it is new.
		n++
		body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":"again%d"}`, n))
		r := d.postGitHub("/hooks/site", spineSecret, "push", delivery, body)
		if r.Status != 202 {
			t.Errorf("refused delivery %s sent again = %d %s; want 202", delivery, r.Status, r.Raw)
			continue
		}
		acked[fmt.Sprint(r.Body["id"])] = delivery
	}
	waitFor(t, 60*time.Second, "every acknowledged event's action", func() bool {
		ran := map[string]bool{}
		for _, id := range readLines(t, filepath.Join(dir, "ran.log")) {
			ran[id] = true
		}
		for id := range acked {
			if !ran[id] {
				return false
			}
		}
		return true
	})
	if err := d.stop(15 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	st := openStore(t, filepath.Join(data, "webhookd.db"))
	if err := st.Check(); err != nil {
		t.Fatalf("consistency check after a full disk: %v", err)
	}
	for id, delivery := range acked {
		ev, err := st.GetEvent(id, true)
		if err != nil || ev.Delivery != delivery {
			t.Errorf("acknowledged event %s (%s): %v", id, delivery, err)
			continue
		}
		if js, err := st.Jobs(ev); err != nil || len(js) != 1 || js[0].State != "succeeded" {
			t.Errorf("acknowledged event %s: jobs %v, %v; want one succeeded", id, js, err)
		}
	}
	stats, _ := st.Stats()
	t.Logf("%d events acknowledged, %d stored, %d refused then stored", len(acked), stats.Events, len(refused))
}
