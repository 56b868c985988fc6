package actions

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
	"github.com/webhookd/webhookd/tmpl"
)

// ingestFull stores an event of hook with its type, delivery id, content
// type and body, and the jobs the config plans for it.
func (h *harness) ingestFull(hook, typ, delivery, contentType, body string) string {
	h.t.Helper()
	d := &tmpl.Data{Hook: hook, Event: typ, Delivery: delivery, ContentType: contentType, Body: []byte(body), Headers: map[string]string{}, Query: map[string]string{}}
	res, err := h.st.Ingest(context.Background(), &store.NewEvent{
		Hook: hook, Type: typ, Delivery: delivery, ContentType: contentType, Body: []byte(body), Jobs: h.cfg.Plan(hook, d),
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.ID
}

// outputVars reads NAME=value lines from a run's output.
func outputVars(out []byte) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestExec_RunVariables: each run's command gets every WEBHOOKD_ variable
// the README lists, with its value: the event's id, the job's id, the
// hook, the action, the event type, the delivery id, and the attempt,
// 1 for the first run and 2 for its retry.
func TestExec_RunVariables(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "vars.sh", `env | grep '^WEBHOOKD_'
[ "$WEBHOOKD_ATTEMPT" -ge 2 ]
`)
	a := execAction("site", "deploy", sh)
	a.Retries = 1
	a.Backoff = time.Millisecond
	h := newHarness(t, a)
	ev := h.ingestFull("site", "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "application/json", `{}`)
	j := h.waitState(ev, store.Succeeded, store.Dead)
	if j.State != store.Succeeded {
		t.Fatalf("job is %s (%s); want succeeded at its retry", j.State, j.Reason)
	}
	runs, err := h.st.Runs(j.ID)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs = %d, %v; want 2", len(runs), err)
	}
	for i, r := range runs {
		got := outputVars(r.Output)
		want := map[string]string{
			"WEBHOOKD_EVENT_ID": ev,
			"WEBHOOKD_JOB_ID":   j.ID,
			"WEBHOOKD_HOOK":     "site",
			"WEBHOOKD_ACTION":   "deploy",
			"WEBHOOKD_EVENT":    "push",
			"WEBHOOKD_DELIVERY": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
			"WEBHOOKD_ATTEMPT":  strconv.Itoa(i + 1),
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("run %d: %s=%q; want %q", i+1, k, got[k], v)
			}
		}
		if got["WEBHOOKD_PAYLOAD_FILE"] == "" {
			t.Errorf("run %d: no WEBHOOKD_PAYLOAD_FILE:\n%s", i+1, r.Output)
		}
	}
}

// TestExec_CommandFromDaemonsPATH: a command named without a / is looked
// up in webhookd's own PATH, not in a PATH the action's env sets (which
// the command does get).
func TestExec_CommandFromDaemonsPATH(t *testing.T) {
	daemons, actions := t.TempDir(), t.TempDir()
	script(t, daemons, "webhookd-test-tool", `echo "daemon's tool, PATH=$PATH"`+"\n")
	script(t, actions, "webhookd-test-tool", `echo "action's tool"`+"\n")
	t.Setenv("PATH", daemons+string(os.PathListSeparator)+os.Getenv("PATH"))
	a := execAction("h", "a", "webhookd-test-tool")
	a.Env = []EnvVar{{Name: "PATH", Value: mustTmpl(actions + ":/usr/bin:/bin")}}
	h := newHarness(t, a)
	j := h.waitState(h.ingest("h", `{}`), store.Succeeded, store.Dead)
	runs, _ := h.st.Runs(j.ID)
	if j.State != store.Succeeded || len(runs) != 1 {
		t.Fatalf("job %s (%s) after %d runs; want succeeded", j.State, j.Reason, len(runs))
	}
	if out := strings.TrimSpace(string(runs[0].Output)); out != "daemon's tool, PATH="+actions+":/usr/bin:/bin" {
		t.Errorf("output %q; want the tool in webhookd's PATH run, with the action's PATH in its environment", out)
	}
}

// TestExec_OwnSession: a command leads a session of its own, and so a
// process group of its own, with no controlling terminal (tty_nr 0).
func TestExec_OwnSession(t *testing.T) {
	dir := t.TempDir()
	// /proc/self/stat of the shell: pid (comm) state ppid pgrp session tty_nr ...
	sh := script(t, dir, "ids.sh", `read -r stat < /proc/$$/stat
set -- ${stat##*)}
echo "pid=$$ pgrp=$3 session=$4 tty=$5"
`)
	h := newHarness(t, execAction("h", "a", sh))
	j := h.waitState(h.ingest("h", `{}`), store.Succeeded, store.Dead)
	runs, _ := h.st.Runs(j.ID)
	if j.State != store.Succeeded || len(runs) != 1 {
		t.Fatalf("job %s (%s); want succeeded", j.State, j.Reason)
	}
	var pid, pgrp, session, tty int
	f := strings.Fields(string(runs[0].Output))
	for _, kv := range f {
		k, v, _ := strings.Cut(kv, "=")
		n, _ := strconv.Atoi(v)
		switch k {
		case "pid":
			pid = n
		case "pgrp":
			pgrp = n
		case "session":
			session = n
		case "tty":
			tty = n
		}
	}
	if pid <= 0 || pgrp != pid || session != pid || tty != 0 || len(f) != 4 {
		t.Errorf("the command %q; want it to lead its session and its group, with no terminal", runs[0].Output)
	}
	if self := os.Getpid(); pgrp == self || session == self {
		t.Errorf("the command is in webhookd's own group or session (%d)", self)
	}
}

// TestExec_PayloadFileRemoved: the payload file is in a webhookd-runs-*
// directory of the scheduler's own and holds the raw body; it is removed
// after the run (with the run's group record beside it), whether the run
// succeeded or failed.
func TestExec_PayloadFileRemoved(t *testing.T) {
	dir := t.TempDir()
	sh := script(t, dir, "p.sh", `echo "$WEBHOOKD_PAYLOAD_FILE"
cmp -s "$WEBHOOKD_PAYLOAD_FILE" - || echo "differs from stdin"
[ "$1" = ok ]
`)
	h := newHarness(t, execAction("h", "a", sh, "{{ .payload.r }}"))
	for _, r := range []string{"ok", "fail"} {
		body := `{"r":"` + r + `","x":"raw  body"}`
		j := h.waitState(h.ingest("h", body), store.Succeeded, store.Dead)
		runs, _ := h.st.Runs(j.ID)
		if len(runs) != 1 {
			t.Fatalf("%s: %d runs", r, len(runs))
		}
		out := strings.TrimSpace(string(runs[0].Output))
		if strings.Contains(out, "differs") {
			t.Errorf("%s: the payload file is not the body on stdin: %q", r, out)
		}
		path := out
		rundir := filepath.Dir(path)
		if !strings.HasPrefix(filepath.Base(rundir), runDirPrefix) || (rundir != h.s.runDir && rundir != h.s.memDir) {
			t.Errorf("%s: payload file %q; want it in the scheduler's own %s* directory (%s or %s)", r, path, runDirPrefix, h.s.runDir, h.s.memDir)
		}
		for _, p := range []string{path, groupRecord(path)} {
			// Removed as the run is recorded; a moment later at most.
			var err error
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if _, err = os.Lstat(p); os.IsNotExist(err) || time.Now().After(deadline) {
					break
				}
			}
			if !os.IsNotExist(err) {
				t.Errorf("%s: %s after the run: %v; want it removed", r, p, err)
			}
		}
	}
}

// TestNew_Defaults: the daemon sets neither MaxRuns nor KillGrace
// (main.go), so these defaults are the README's: 32 runs at once
// (TestScheduler_AtMost32Runs runs them), and SIGKILL 10 s after a
// timeout's SIGTERM (the tests use a shorter grace, not to wait 10 s).
func TestNew_Defaults(t *testing.T) {
	s := New(Options{}, nil)
	if s.opts.MaxRuns != 32 || s.opts.KillGrace != 10*time.Second {
		t.Errorf("New(Options{}): MaxRuns %d, KillGrace %v; want 32 and 10s", s.opts.MaxRuns, s.opts.KillGrace)
	}
}
