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
	t.Parallel() // its own directory, ports and processes; it measures no time
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

// TestE2E_MinFreeAfterRetention: the database itself filled a small disk
// to min_free, then retention deleted its events. The file keeps its size,
// so the disk's free space stays below min_free; deliveries are taken
// again into the pages retention freed (they used to get 503 until someone
// compacted the file), the disk's free space does not fall for them, and
// once those pages are used up they get 503 again.
func TestE2E_MinFreeAfterRetention(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mountSmall(t, data, 96<<20)
	const cfg = `
[server]
listen = "127.0.0.1:0"
[store]
path = "data/webhookd.db"
min_free = "16MiB"
retention = "%RETENTION%"
[admin]
listen = "127.0.0.1:0"

[[hook]]
id = "site"
provider = "github"
secret = "env:E2E_GITHUB_SECRET"
events = ["push"]
`
	writeConfig(t, dir, strings.ReplaceAll(cfg, "%RETENTION%", "720h"))
	free := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(data, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * st.Bsize
	}
	pad := strings.Repeat("x", 256<<10)
	n := 0
	// untilRefused sends deliveries of 256 KiB until one gets 503, and
	// returns how many were stored.
	untilRefused := func(d *proc) int {
		for stored := 0; stored < 1000; stored++ {
			n++
			body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","pad":%q}`, pad))
			r := d.postGitHub("/hooks/site", spineSecret, "push", fmt.Sprint("d", n), body)
			switch r.Status {
			case 202:
			case 503:
				return stored
			default:
				t.Fatalf("delivery %d = %d %s; want 202 or 503", n, r.Status, r.Raw)
			}
		}
		t.Fatalf("1000 deliveries of 256 KiB stored on a disk of 96 MiB")
		return 0
	}
	d := startDaemon(t, dir, spineEnv...)
	first := untilRefused(d)
	full := free()
	t.Logf("%d deliveries stored before the disk reached min_free; %d bytes free", first, full)
	if err := d.stop(15 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	// Retention deletes them all at the next start.
	time.Sleep(1100 * time.Millisecond)
	writeConfig(t, dir, strings.ReplaceAll(cfg, "%RETENTION%", "1s"))
	d = startDaemon(t, dir, spineEnv...)
	waitFor(t, 10*time.Second, "retention at start", func() bool {
		return strings.Contains(d.log.String(), "pruned old events")
	})
	if got := free(); got > full+1<<20 {
		t.Fatalf("%d bytes free after retention, %d before; the test wants the file to keep its size", got, full)
	}
	// The disk is looked at once a second: a sender's retry a few
	// seconds on is stored.
	second := 0
	for deadline := time.Now().Add(5 * time.Second); second == 0 && time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		second = untilRefused(d)
	}
	t.Logf("%d deliveries stored after retention; %d bytes free", second, free())
	if second == 0 {
		t.Fatalf("deliveries got 503 for 5 s after retention freed %d of them inside the database file; want them stored there", first)
	}
	if second < first/4 {
		t.Errorf("%d deliveries stored in the room %d of them freed; want more", second, first)
	}
	if got := free(); got < full-2<<20 {
		t.Errorf("%d bytes free after storing into the freed pages, %d before: the file took more of the disk", got, full)
	}
}
