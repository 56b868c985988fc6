package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestE2E_DatabaseFileReplaced: README, Backups: a database file replaced
// while webhookd runs (a restore done without stopping it) is noticed:
// new deliveries get 503 with Retry-After (senders retry), the log says to
// save what the process holds with `webhookd backup FILE` and restart, and
// that backup gets the events the process held, not the file put there.
func TestE2E_DatabaseFileReplaced(t *testing.T) {
	dir := setupSpine(t)
	d := startDaemon(t, dir, spineEnv...)
	if r := d.postGitHub("/hooks/site", spineSecret, "push", "gone-1", pushBody("refs/heads/dev", "g1")); r.Status != 202 {
		t.Fatalf("first delivery: %d %s", r.Status, r.Raw)
	}

	// Put another database at the path, by a rename as a restore would.
	db := filepath.Join(dir, "data", "webhookd.db")
	other := filepath.Join(dir, "data", "restored.db")
	st, err := store.Open(other, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, db); err != nil {
		t.Fatal(err)
	}

	var last reply
	n := 0
	waitFor(t, 15*time.Second, "a delivery refused after the file was replaced", func() bool {
		n++
		last = d.postGitHub("/hooks/site", spineSecret, "push", fmt.Sprint("gone-after-", n), pushBody("refs/heads/dev", "g2"))
		if last.Status != 202 && last.Status != 503 {
			t.Fatalf("delivery after the file was replaced: %d %s; want 202 or 503", last.Status, last.Raw)
		}
		return last.Status == 503
	})
	if ra := last.Header.Get("Retry-After"); ra != "10" {
		t.Errorf("503 with Retry-After %q; want 10", ra)
	}
	// The store's line (the request lines that follow quote it as their
	// reason, without the file).
	isStoreLine := func(line string) bool {
		return strings.Contains(line, "level=ERROR") && strings.Contains(line, `msg="the database file is no longer at its path`)
	}
	waitFor(t, 5*time.Second, "the store's log line", func() bool {
		return slices.ContainsFunc(strings.Split(d.log.String(), "\n"), isStoreLine)
	})
	log := d.log.String()
	found := false
	for _, line := range strings.Split(log, "\n") {
		if isStoreLine(line) {
			found = true
			for _, want := range []string{"webhookd backup FILE", "restart", db} {
				if !strings.Contains(line, want) {
					t.Errorf("the log line does not say %q: %s", want, line)
				}
			}
		}
	}
	if !found {
		t.Errorf("the log does not say the database file is gone:\n%s", log)
	}

	// The backup the log asks for gets the daemon's data.
	copyPath := filepath.Join(dir, "saved.db")
	out, errOut, code := runCLI(t, "backup", "-config", d.config, "-admin", d.admin, copyPath)
	if code != 0 {
		t.Fatalf("backup: exit %d %s%s", code, out, errOut)
	}
	t.Logf("backup: %s%s", out, errOut)
	evs, _, err := openStore(t, copyPath).ListEvents(store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatalf("the backup holds no event; want the ones the daemon stored before the file was replaced")
	}
	have := false
	for _, ev := range evs {
		if ev.Delivery == "gone-1" {
			have = true
		}
	}
	if !have {
		t.Errorf("the backup's events %+v lack delivery gone-1", evs)
	}
}
