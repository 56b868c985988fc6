package actions

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/store"
)

// startProc starts a shell script with the payload file payload in its
// environment, in a process group or a session of its own as attr says,
// waits until it prints "ready", and kills it and its group (by its pid)
// when the test ends.
func startProc(t *testing.T, script, payload string, attr *syscall.SysProcAttr) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "WEBHOOKD_PAYLOAD_FILE="+payload)
	cmd.SysProcAttr = attr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		if attr != nil && (attr.Setpgid || attr.Setsid) {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("%q printed %q, %v; want ready", script, line, err)
	}
	return pid
}

// payloadFile makes the payload file of a dead daemon's run of job, as
// a run under way has one, and returns its path.
func payloadFile(t *testing.T, dir, job string) string {
	t.Helper()
	p := filepath.Join(dir, payloadPrefix+job+"-1.x")
	if err := os.WriteFile(p, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOrphanRuns: the runs of a dead daemon are the sessions its run
// directories' group records name, a session whose payload file has no
// record yet (the daemon died just after the start), and a group inside
// a session whose payload file is in those directories (a group a
// command made; TestOrphanRuns_OlderDaemonsService for an older
// webhookd's, whose commands led a group, not a session). A
// service a run started with setsid, though it names the run's payload
// file, a process in someone else's group, and a run of another
// directory are not.
func TestOrphanRuns(t *testing.T) {
	dead, other := deadRunDir(t), deadRunDir(t)
	payload := func(dir, job string) string { return payloadFile(t, dir, job) }
	inDead := payload(dead, "A")
	run := startProc(t, "sleep 300 & echo ready; wait", inDead, &syscall.SysProcAttr{Setsid: true})
	if err := writeGroupRecord(inDead, run); err != nil {
		t.Fatal(err)
	}
	startProc(t, "echo ready; exec sleep 300", inDead, &syscall.SysProcAttr{Setsid: true})
	unrecorded := startProc(t, "echo ready; exec sleep 300", payload(dead, "B"), &syscall.SysProcAttr{Setsid: true})
	older := startProc(t, "sleep 300 & echo ready; wait", payload(dead, "C"), &syscall.SysProcAttr{Setpgid: true})
	startProc(t, "echo ready; exec sleep 300", payload(other, "D"), &syscall.SysProcAttr{Setsid: true})
	startProc(t, "echo ready; exec sleep 300", inDead, nil)

	// The sleep the run's shell started shares its group and its
	// environment but does not lead the group: it is found as the run's
	// group, not on its own.
	got := orphanRuns([]string{dead})
	slices.Sort(got)
	want := []int{run, unrecorded, older}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("orphanRuns = %v; want the recorded run %d, the unrecorded one %d and the older webhookd's %d", got, run, unrecorded, older)
	}
	if !groupAlive(run) {
		t.Fatal("the run's group is not alive before it is stopped")
	}
	stopGroups(got, 5*time.Second)
	for _, g := range want {
		if groupAlive(g) {
			t.Errorf("group %d is alive after stopGroups", g)
		}
	}
}

// TestStopGroups_Kill: a group that ignores SIGTERM gets SIGKILL after
// the grace.
func TestStopGroups_Kill(t *testing.T) {
	pid := startProc(t, `trap "" TERM; sleep 300 & echo ready; wait`, "", &syscall.SysProcAttr{Setpgid: true})
	start := time.Now()
	stopGroups([]int{pid}, 300*time.Millisecond)
	if groupAlive(pid) {
		t.Fatalf("the group is alive after stopGroups")
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("stopGroups took %s; a group that ignores SIGTERM should have had its grace, 300ms", took)
	}
}

// TestScheduler_StopsOrphansBeforeDispatch: a scheduler that starts where
// a killed one left a run that ignores SIGTERM returns from Start at once
// (the daemon's listener does not wait), and runs nothing until that run
// is gone, after the kill grace.
func TestScheduler_StopsOrphansBeforeDispatch(t *testing.T) {
	dir := t.TempDir()
	dead, err := makeRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	orphan := startProc(t, `trap "" TERM; sleep 300 & echo ready; wait`, payloadFile(t, dead.path, "A"), &syscall.SysProcAttr{Setpgid: true})
	dead.lock.Close() // its daemon is gone

	st, err := store.Open(filepath.Join(dir, "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check := script(t, dir, "check.sh", fmt.Sprintf(`state=$(cut -d' ' -f3 /proc/%d/stat 2>/dev/null)
if [ -n "$state" ] && [ "$state" != Z ]; then echo "the orphan is alive ($state)"; exit 1; fi
`, orphan))
	cfg := NewConfig([]*Action{execAction("h", "deploy", check)})
	h := &harness{t: t, st: st, cfg: cfg, dir: dir}
	ev := h.ingest("h", `{}`)

	const grace = 2 * time.Second
	h.s = New(Options{Store: st, Logger: testLogger(t), KillGrace: grace, TempDir: dir}, cfg)
	began := time.Now()
	if err := h.s.Start(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took >= grace {
		t.Errorf("Start took %s; it should not wait for the kill grace (%s)", took, grace)
	}
	defer h.s.Close()
	j := h.waitState(ev, store.Succeeded, store.Failed, store.Dead)
	if j.State != store.Succeeded {
		runs, _ := st.Runs(j.ID)
		t.Fatalf("job %s; its run: %+v; want it run once the orphan was gone", j.State, runs)
	}
	if groupAlive(orphan) {
		t.Errorf("the orphan's group is alive")
	}
	if took := time.Since(began); took < grace {
		t.Errorf("the job ran %s after Start; the orphan, which ignores SIGTERM, had %s of grace first", took, grace)
	}
}

// TestExec_ZombieDoesNotHoldGrace: a daemon that is PID 1 in a container,
// or a subreaper, inherits the orphans of a run's group and does not reap
// them. At a timeout, a group whose every process died of SIGTERM, leaving
// only zombies, ends the run at once, not after the whole grace.
func TestExec_ZombieDoesNotHoldGrace(t *testing.T) {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Skipf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	t.Cleanup(func() { syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0) })
	dir := t.TempDir()
	leader := script(t, dir, "leader.sh", "sleep 30 &\nsleep 30\n")
	a := execAction("h", "deploy", leader)
	a.Timeout = 300 * time.Millisecond
	st, err := store.Open(filepath.Join(dir, "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig([]*Action{a})
	s := New(Options{Store: st, Logger: testLogger(t), KillGrace: 5 * time.Second, TempDir: dir}, cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); st.Close() })
	h := &harness{t: t, st: st, s: s, cfg: cfg, dir: dir}
	j := h.waitState(h.ingest("h", `{}`), store.Dead)
	runs, _ := st.Runs(j.ID)
	if d := runs[0].Finished.Sub(runs[0].Started); d > 2*time.Second {
		t.Errorf("the run took %s (timeout 300ms, grace 5s): its group's zombies held the grace", d)
	}
}

// TestOrphanRuns_CommandGone: a dead daemon's run whose command has died
// (of SIGPIPE, writing to the output its daemon no longer reads) while
// what it started goes on in its group: the group is still the run's and
// is found, or the job's next run would overlap it. So for a command
// that led a group (a webhookd before 2026-12-07) and one that leads a
// session, with its record.
func TestOrphanRuns_CommandGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		attr *syscall.SysProcAttr
	}{
		{"group", &syscall.SysProcAttr{Setpgid: true}},
		{"session", &syscall.SysProcAttr{Setsid: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dead := t.TempDir()
			payload := payloadFile(t, dead, "A")
			run := startProc(t, "sleep 300 & echo ready; exit 0", payload, tc.attr)
			if tc.attr.Setsid {
				if err := writeGroupRecord(payload, run); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for st := readStat(run); st.ok && st.state != 'Z'; st = readStat(run) {
				if time.Now().After(deadline) {
					t.Fatal("the run's command did not exit")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !groupAlive(run) {
				t.Fatal("the run's group is gone; this test needs its sleep alive")
			}
			got := orphanRuns([]string{dead})
			if !slices.Equal(got, []int{run}) {
				t.Fatalf("orphanRuns = %v; want the run's group %d, whose command has exited but whose sleep runs on", got, run)
			}
			stopGroups(got, 5*time.Second)
			if groupAlive(run) {
				t.Errorf("the run's sleep is alive after stopGroups")
			}
		})
	}
}

// TestOrphanRuns_EndedRunsService: a run that started a service with
// setsid and ended removed its payload file and its group record; the
// service goes on, naming that payload file. When the daemon is killed
// later, its next start must leave the service alone, as it leaves the
// service of a run still under way: no record and no payload file is a
// run that has ended, not one whose command has just started.
func TestOrphanRuns_EndedRunsService(t *testing.T) {
	dead := deadRunDir(t)
	ended := filepath.Join(dead, payloadPrefix+"A-1.x") // removed, with its record
	svc := startProc(t, "echo ready; exec sleep 300", ended, &syscall.SysProcAttr{Setsid: true})
	// The same in the window between a command's start and its record:
	// the payload file is there, the record is not yet; that command is
	// the run's.
	starting := payloadFile(t, dead, "B")
	run := startProc(t, "echo ready; exec sleep 300", starting, &syscall.SysProcAttr{Setsid: true})
	if got := orphanRuns([]string{dead}); !slices.Equal(got, []int{run}) {
		t.Fatalf("orphanRuns = %v; want only the just-started run %d, not the service %d of a run that ended", got, run, svc)
	}
}

// deadRunDir makes a run directory as a scheduler of this version does,
// and lets go of its lock, as its daemon's death does.
func deadRunDir(t *testing.T) string {
	t.Helper()
	d, err := makeRunDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d.lock.Close()
	return d.path
}

// subgroup starts, in the session of a process that startProc started,
// `timeout 300 sleep 300`, which puts itself in a process group of its
// own inside that session (as timeout(1) does), and returns that group.
func subgroup(t *testing.T, payload string, attr *syscall.SysProcAttr) (leader, group int) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pid")
	leader = startProc(t, "timeout 300 sleep 300 & echo $! > "+pidFile+"; echo ready; wait", payload, attr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(pidFile)
		if n, err := fmt.Sscan(string(b), &group); n == 1 && err == nil {
			if st := readStat(group); st.ok && st.pgrp == group && st.session == leader {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeout(1) did not make a group of its own in session %d", leader)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() { syscall.Kill(-group, syscall.SIGKILL) })
	return leader, group
}

// TestOrphanRuns_SessionsGroups: a run's session is the run's, with every
// group in it (timeout(1) makes one); a service the run started with
// setsid is not, nor any group in the service's session, though they all
// name the run's payload file.
func TestOrphanRuns_SessionsGroups(t *testing.T) {
	dead := deadRunDir(t)
	payload := payloadFile(t, dead, "A")
	run, runSub := subgroup(t, payload, &syscall.SysProcAttr{Setsid: true})
	if err := writeGroupRecord(payload, run); err != nil {
		t.Fatal(err)
	}
	svc, svcSub := subgroup(t, payload, &syscall.SysProcAttr{Setsid: true})
	got := orphanRuns([]string{dead})
	slices.Sort(got)
	want := []int{run, runSub}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("orphanRuns = %v; want the run's session's groups %v, not the service %d or its group %d", got, want, svc, svcSub)
	}
}

// TestOrphanRuns_OlderDaemonsService: a webhookd before 2026-12-07 made
// its commands lead a group, not a session, and no group record; a
// session that names the payload file of a run in its directory is a
// service the run started with setsid, left alone as that webhookd left
// it, while the run's group is stopped.
func TestOrphanRuns_OlderDaemonsService(t *testing.T) {
	dead := t.TempDir() // as that webhookd made it: a lock file, nothing else
	if err := os.WriteFile(filepath.Join(dead, runDirLock), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	payload := payloadFile(t, dead, "A")
	run := startProc(t, "sleep 300 & echo ready; wait", payload, &syscall.SysProcAttr{Setpgid: true})
	svc := startProc(t, "echo ready; exec sleep 300", payload, &syscall.SysProcAttr{Setsid: true})
	if got := orphanRuns([]string{dead}); !slices.Equal(got, []int{run}) {
		t.Fatalf("orphanRuns = %v; want the older webhookd's run %d, not the service %d it started with setsid", got, run, svc)
	}
}

// TestOrphanRuns_MidExec: a process in the middle of an execve shows an
// empty environment in /proc for a moment (up to milliseconds; 15–20% of
// reads right after a shell's `exec` here). A run whose only process was
// exec'ing (its last step, `exec make`) as the next start looked was not
// found, and ran beside its job's next run. Here the run's process execs
// itself over and over, and is looked for twenty times.
func TestOrphanRuns_MidExec(t *testing.T) {
	dead := deadRunDir(t)
	reexec := filepath.Join(t.TempDir(), "reexec.sh")
	if err := os.WriteFile(reexec, []byte("#!/bin/sh\nexec \"$0\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	payload := payloadFile(t, dead, "J")
	run := startProc(t, "echo ready; exec "+reexec, payload, &syscall.SysProcAttr{Setsid: true})
	if err := writeGroupRecord(payload, run); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if got := orphanRuns([]string{dead}); !slices.Equal(got, []int{run}) {
			t.Fatalf("look %d: orphanRuns = %v; want the run %d, which execs over and over", i, got, run)
		}
	}
}

// TestOrphanRuns_EmptyEnvironments: an environment that reads empty is
// read again for up to envSettle (a process mid-exec shows one for a
// moment), and each process whose environment is really empty (env -i;
// PID 1 of some containers) cost all of it, one after the other: a start
// after a crash on a machine with twenty of them waited two seconds and
// more before it dispatched anything. They are read again together, in
// one envSettle.
func TestOrphanRuns_EmptyEnvironments(t *testing.T) {
	dead := deadRunDir(t)
	payload := payloadFile(t, dead, "J")
	run := startProc(t, "echo ready; exec sleep 600", payload, &syscall.SysProcAttr{Setsid: true})
	if err := writeGroupRecord(payload, run); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for range n {
		cmd := exec.Command("sleep", "600")
		cmd.Env = []string{}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not this process's group, which is not looked at
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	start := time.Now()
	got := orphanRuns([]string{dead})
	took := time.Since(start)
	if !slices.Equal(got, []int{run}) {
		t.Fatalf("orphanRuns = %v; want the run %d", got, run)
	}
	if took >= n*envSettle/2 {
		t.Errorf("orphanRuns took %v beside %d processes with empty environments; want about %v, not %v each", took, n, envSettle, envSettle)
	}
}

// BenchmarkSessionGroups is one look through /proc for the groups of a
// run's session: what the end of a run costs when something may be left
// of it (and each look while it is stopped).
func BenchmarkSessionGroups(b *testing.B) {
	n := len(pids())
	for b.Loop() {
		sessionGroups(1 << 30)
	}
	b.ReportMetric(float64(n), "procs")
}
