package actions

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
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

// TestOrphanRuns: the runs of a dead daemon are the group leaders whose
// payload file is in its directories; a session leader (a command a run
// started with setsid), a process in someone else's group, and a run of
// another directory are not.
func TestOrphanRuns(t *testing.T) {
	dead, other := t.TempDir(), t.TempDir()
	inDead := filepath.Join(dead, "webhookd-payload-1")
	run := startProc(t, "sleep 300 & echo ready; wait", inDead, &syscall.SysProcAttr{Setpgid: true})
	startProc(t, "echo ready; exec sleep 300", inDead, &syscall.SysProcAttr{Setsid: true})
	startProc(t, "echo ready; exec sleep 300", filepath.Join(other, "webhookd-payload-2"), &syscall.SysProcAttr{Setpgid: true})
	startProc(t, "echo ready; exec sleep 300", inDead, nil)

	// The sleep the run's shell started shares its group and its
	// environment but does not lead the group: it is found as the run's
	// group, not on its own.
	got := orphanRuns([]string{dead})
	if !slices.Equal(got, []int{run}) {
		t.Fatalf("orphanRuns = %v; want the run's group only, %d", got, run)
	}
	if !groupAlive(run) {
		t.Fatal("the run's group is not alive before it is stopped")
	}
	stopGroups(got, 5*time.Second)
	if groupAlive(run) {
		t.Errorf("the run's group (the shell and its sleep) is alive after stopGroups")
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
