package actions

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// readPid waits for a command to write a pid to file, and kills that pid
// when the test ends.
func readPid(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		if strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 {
				t.Fatalf("%s holds %q; want a pid", file, b)
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing wrote a pid to %s", file)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alive reports whether pid is a process that has not died (a zombie
// has).
func alive(pid int) bool {
	st := readStat(pid)
	return st.ok && st.state != 'Z'
}

// waitGone waits for pid to die; the run that left it has been recorded.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d, group %d, session %d) outlived its run", what, pid, readStat(pid).pgrp, readStat(pid).session)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bashScript is script for bash, whose `set -m` gives a job a group of
// its own without a terminal (dash's does not).
func bashScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!"+bash+"\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExec_TimeoutKillsSessionGroups: at the timeout, what the command put
// in a process group of its own (a `set -m` job, timeout(1)) goes with the
// command: they are in its session. A service it started with setsid, in
// a session of its own, does not.
func TestExec_TimeoutKillsSessionGroups(t *testing.T) {
	for _, tc := range []struct{ name, start string }{
		{"set -m job", "set -m\nsleep 300 &\n"},
		{"timeout", "timeout 300 sleep 301 &\n"},
		{"output redirected", "set -m\nsleep 300 > /dev/null 2>&1 &\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile, svcFile := filepath.Join(dir, "job.pid"), filepath.Join(dir, "svc.pid")
			svc := script(t, dir, "svc.sh", "echo $$ > "+svcFile+"\nexec sleep 300\n")
			sh := bashScript(t, dir, "hang.sh", "setsid "+svc+" > /dev/null 2>&1 &\n"+tc.start+"echo $! > "+pidFile+"\nsleep 300\n")
			a := execAction("h", "hang", sh)
			a.Timeout = time.Second
			h := newHarness(t, a) // KillGrace: 1s
			ev := h.ingest("h", `{}`)
			pid, svcPid := readPid(t, pidFile), readPid(t, svcFile)
			j := h.waitState(ev, store.Dead)
			if !strings.Contains(j.Reason, "timed out after 1s") {
				t.Errorf("reason = %q", j.Reason)
			}
			if !alive(svcPid) {
				t.Errorf("the service started with setsid (pid %d) died with the run", svcPid)
			}
			waitGone(t, pid, "the job in a group of its own")
		})
	}
}

// TestExec_GraceForTheSession: at the timeout, a process in a group of its
// own in the command's session gets SIGTERM too, and the grace to finish
// its clean-up.
func TestExec_GraceForTheSession(t *testing.T) {
	dir := t.TempDir()
	marker, pidFile := filepath.Join(dir, "cleaned-up"), filepath.Join(dir, "child.pid")
	child := script(t, dir, "child.sh", "trap 'sleep 0.3; echo done > "+marker+"; exit 0' TERM\nwhile :; do sleep 0.05; done\n")
	leader := bashScript(t, dir, "leader.sh", "set -m\n"+child+" &\necho $! > "+pidFile+"\nwait\n")
	a := execAction("h", "deploy", leader)
	a.Timeout = time.Second
	h := newHarness(t, a) // KillGrace: 1s
	ev := h.ingest("h", `{}`)
	pid := readPid(t, pidFile)
	h.waitState(ev, store.Dead)
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the child in a group of its own did not get SIGTERM and finish its clean-up (0.3s) within the 1s grace: %v", err)
	}
	waitGone(t, pid, "the child in a group of its own")
}

// TestExec_LeftoverInOwnGroupKilled: what a command that exits leaves
// running in a process group of its own, in its session, is killed as
// what it leaves in its own group is; a service started with setsid is
// not.
func TestExec_LeftoverInOwnGroupKilled(t *testing.T) {
	for _, tc := range []struct{ name, start string }{
		{"set -m job", "set -m\nsleep 300 &\n"},
		{"timeout", "timeout 300 sleep 301 &\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile, svcFile := filepath.Join(dir, "job.pid"), filepath.Join(dir, "svc.pid")
			svc := script(t, dir, "svc.sh", "echo $$ > "+svcFile+"\nexec sleep 300\n")
			// The deploy ends once its job leads a group of its own
			// (timeout(1) makes it after its start) and the service is
			// in a session of its own.
			sh := bashScript(t, dir, "bg.sh", "setsid "+svc+" > /dev/null 2>&1 &\n"+tc.start+"job=$!\n"+
				"while [ \"$(cut -d' ' -f5 /proc/$job/stat)\" != $job ] || [ ! -s "+svcFile+" ]; do sleep 0.02; done\n"+
				"echo $job > "+pidFile+"\necho done\n")
			h := newHarness(t, execAction("h", "bg", sh))
			ev := h.ingest("h", `{}`)
			pid, svcPid := readPid(t, pidFile), readPid(t, svcFile)
			j := h.waitState(ev, store.Succeeded)
			if runs, _ := h.st.Runs(j.ID); len(runs) != 1 || !strings.Contains(string(runs[0].Output), "done") {
				t.Errorf("runs = %+v; want one, with the script's output", runs)
			}
			waitGone(t, pid, "the job left in a group of its own")
			if !alive(svcPid) {
				t.Errorf("the service started with setsid (pid %d) died with the run", svcPid)
			}
		})
	}
}
