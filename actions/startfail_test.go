package actions

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/webhookd/webhookd/store"
)

// TestExec_ScriptThatCannotStart: a script the kernel refuses to start
// fails with an error that says why, not "no such file or directory" for
// a file that is there: one saved with Windows line endings (its #! line
// names "/bin/sh\r"), one whose interpreter is not installed, one without
// a #! line, one without the exec bit.
func TestExec_ScriptThatCannotStart(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
		mode       os.FileMode
	}{
		{"crlf", "#!/bin/sh\r\necho deployed\r\n", []string{"CRLF", "/bin/sh"}, 0},
		{"missing interpreter", "#!/usr/bin/no-such-interpreter -x\necho deployed\n", []string{"interpreter /usr/bin/no-such-interpreter", "not found"}, 0},
		{"without a shebang", "echo deployed\n", []string{"no #! line"}, 0},
		{"not executable", "#!/bin/sh\necho deployed\n", []string{"not executable", "chmod +x"}, 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "deploy.sh")
			if tc.mode == 0 {
				tc.mode = 0o755
			}
			if err := os.WriteFile(p, []byte(tc.body), tc.mode); err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, execAction("h", "deploy", p))
			j := h.waitState(h.ingest("h", `{}`), store.Dead, store.Succeeded)
			for _, w := range tc.want {
				if j.State != store.Dead || !strings.Contains(j.Reason, w) {
					t.Errorf("job %s: %q; want it dead with a reason that says %q", j.State, j.Reason, w)
				}
			}
		})
	}
}

// TestExec_ScriptBehindADirectoryNotEntered: a script on a path through a
// directory that the user webhookd runs as may not enter fails saying
// so, not with the kernel's bare "permission denied" (webhookd cannot
// look at the file to tell more). Root enters every directory, so as root
// the test runs itself again as nobody.
func TestExec_ScriptBehindADirectoryNotEntered(t *testing.T) {
	if os.Geteuid() == 0 {
		runAsNobody(t)
		return
	}
	locked := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	sh := script(t, locked, "deploy.sh", "echo deployed\n")
	if err := os.Chmod(locked, 0o600); err != nil { // no x: not to be entered
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	h := newHarness(t, execAction("h", "deploy", sh))
	j := h.waitState(h.ingest("h", `{}`), store.Dead, store.Succeeded)
	if want := "may not enter a directory on the path to " + sh; j.State != store.Dead || !strings.Contains(j.Reason, want) {
		t.Errorf("job %s: %q; want it dead with a reason that says %q", j.State, j.Reason, want)
	}
}

// runAsNobody runs the calling test again in a copy of the test binary,
// as nobody (uid and gid 65534), with a temp directory of its own, and
// fails the test with that run's output if that run did not pass. The
// caller must be root.
func runAsNobody(t *testing.T) {
	t.Helper()
	bins, tmp := t.TempDir(), t.TempDir()
	// nobody may run the copy, and write its temp directory.
	for _, d := range []string{bins, filepath.Dir(bins), filepath.Dir(tmp)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(bins, filepath.Base(os.Args[0]))
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Dir = tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Errorf("run as nobody: %v\n%s", err, out)
	}
}
