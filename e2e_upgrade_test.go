package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// TestE2E_UpgradeSchema1: today's webhookd starts on a database the first
// build wrote and was killed on (store/testdata/README.md says how): it
// upgrades the file, runs what was pending and what the kill cut off,
// answers a redelivery of an old delivery id as a duplicate, retries a
// dead job, and a backup of the file and the file compacted pass bbolt's
// check.
func TestE2E_UpgradeSchema1(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("store", "testdata", "schema1-0519b85.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "webhookd.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"
[store]
path = "webhookd.db"
retention = "0s" # the fixture's events grow old: kept whatever the date
[admin]
listen = "127.0.0.1:0"
[log]
level = "debug"
[[hook]]
id = "gh"
provider = "github"
secret = "s3cret"
events = ["push"]
`
	for _, a := range []struct{ name, kind, extra string }{
		{"ok", "ok", ""}, {"flaky", "fail", `retries = 3` + "\n" + `backoff = "1h"`}, {"die", "dead", "retries = 0"},
		{"slow", "slow", ""}, {"co", "co", "concurrency = 1\ncoalesce = true"}, {"held", "held", ""},
	} {
		cfg += "[[hook.action]]\nname = \"" + a.name + "\"\nwhen = 'payload.kind == \"" + a.kind + "\"'\nrun = [\"./act.sh\", \"" + a.name + "\"]\n" + a.extra + "\n"
	}
	config := writeConfig(t, dir, cfg)
	writeScript(t, dir, "act.sh", `echo "$1 $WEBHOOKD_DELIVERY $WEBHOOKD_ATTEMPT" >> runs.log`)

	d := startDaemon(t, dir)
	if !strings.Contains(d.log.String(), "upgraded the database's schema") {
		t.Errorf("the log does not say the file was upgraded")
	}
	// The kill cut off slow's run and co's first; co's third waited behind
	// it, and d-dup's ok had not started.
	want := []string{"slow d-slow 2", "co d-co1 2", "co d-co3 1", "ok d-dup 1"}
	var runs []string
	waitFor(t, 10*time.Second, "the interrupted and pending jobs to run", func() bool {
		runs = readRunLines(t, filepath.Join(dir, "runs.log"))
		return len(runs) >= len(want)
	})
	time.Sleep(300 * time.Millisecond) // nothing else runs
	// But d-fail's retry, due an hour after the fixture was written (with
	// jitter): from then on it runs too, as its second attempt, once.
	runs = slices.DeleteFunc(readRunLines(t, filepath.Join(dir, "runs.log")), func(r string) bool {
		if strings.HasPrefix(r, "flaky ") {
			if r != "flaky d-fail 2" {
				t.Errorf("flaky ran as %q; want only d-fail's retry, its attempt 2", r)
			}
			return true
		}
		return false
	})
	slices.Sort(runs)
	slices.Sort(want)
	if !slices.Equal(runs, want) {
		t.Errorf("runs after the upgrade = %q; want %q (and d-fail's retry once it is due)", runs, want)
	}

	res, err := http.Get("http://" + d.admin + "/api/events?limit=50")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Events []store.Event }
	json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	ids := map[string]string{}
	for _, ev := range list.Events {
		ids[ev.Delivery] = ev.ID
	}
	if len(list.Events) != 11 {
		t.Fatalf("%d events listed; want the 11 of the file", len(list.Events))
	}
	for _, dl := range []string{"d-dup", "d-co2", strings.Repeat("L", 300)} {
		r := d.postGitHub("/hooks/gh", "s3cret", "push", dl, []byte(`{"kind":"ok"}`))
		if r.Status != http.StatusOK || r.Body["duplicate"] != true {
			t.Errorf("redelivery of %.10q = %d %s; want 200 duplicate", dl, r.Status, r.Raw)
		} else if id := ids[dl]; id != "" && r.Body["id"] != id {
			t.Errorf("redelivery of %.10q = %s; want the id %s", dl, r.Raw, id)
		}
	}

	// The dead job runs again, and its event shows both runs.
	dead := eventJobs(d, ids["d-dead"])
	var deadID string
	for _, j := range dead {
		if j["action"] == "die" {
			deadID, _ = j["id"].(string)
		}
	}
	if out, errs, code := runCLI(t, "retry", "-config", config, "-admin", d.admin, deadID); code != 0 {
		t.Fatalf("retry %s = %d: %s%s", deadID, code, out, errs)
	}
	waitFor(t, 10*time.Second, "the retried job to run", func() bool {
		return slices.Contains(readRunLines(t, filepath.Join(dir, "runs.log")), "die d-dead 2")
	})
	var show string
	waitFor(t, 10*time.Second, "show to list both runs", func() bool {
		show, _, _ = runCLI(t, "show", "-config", config, "-admin", d.admin, ids["d-dead"])
		return strings.Contains(show, "run 1: failed") && strings.Contains(show, "run 2: succeeded")
	})

	copyPath := filepath.Join(dir, "copy.db")
	if out, errs, code := runCLI(t, "backup", "-config", config, "-admin", d.admin, copyPath); code != 0 || !strings.Contains(out+errs, "consistency check passed") {
		t.Errorf("backup = %d: %s%s; want a copy that passes the check", code, out, errs)
	}
	if err := d.stop(10 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if out, errs, code := runCLI(t, "compact", "-config", config); code != 0 {
		t.Fatalf("compact = %d: %s%s", code, out, errs)
	}
	if err := store.CheckFile(filepath.Join(dir, "webhookd.db")); err != nil {
		t.Errorf("consistency check of the upgraded file, compacted: %v", err)
	}
}

// readRunLines reads the lines of a run log.
func readRunLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return slices.DeleteFunc(strings.Split(string(b), "\n"), func(s string) bool { return s == "" })
}
