package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2E_AdminSocketNotYours: a command run by a user the admin socket
// does not let in (mode 0660, another's group: the systemd unit's made-up
// user) said only "dial unix …: connect: permission denied", after a Go
// URL. It says the socket is not open to this user, whose it is, and to
// run the command as that user or one of its group.
func TestE2E_AdminSocketNotYours(t *testing.T) {
	run := func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Getuid() == 0 {
		// Root passes every permission: the command runs as nobody.
		sp, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("as root, needs setpriv to run the command as another user")
		}
		run = func(args ...string) *exec.Cmd {
			return exec.Command(sp, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups"}, args...)...)
		}
	}
	// A directory all may enter, with the binary and the config in it.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // the test's own two
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "webhookd")
	copyFile(t, binPath, bin, 0o755)
	sock := filepath.Join(dir, "admin.sock")
	cfg := writeConfig(t, dir, "[store]\npath = \"webhookd.db\"\n[admin]\nlisten = \"unix:"+sock+"\"\n")
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	mode := os.FileMode(0o660)
	if os.Getuid() != 0 {
		mode = 0 // not even its owner
	}
	if err := os.Chmod(sock, mode); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"events"}, {"retry", "06H4WK95M0000000"}} {
		cmd := run(append([]string{bin}, append(args, "-config", cfg)...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("%q with a socket not open to its user: %v; want exit status 1\n%s", args, err, stderr.String())
		}
		msg := stderr.String()
		for _, want := range []string{"the admin socket " + sock + " is not open to this user", "run the command as that user or a member of that group"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q with a socket not open to its user says %q; want %q", args, msg, want)
			}
		}
		if strings.Contains(msg, "http://") || strings.Contains(msg, "reading the database") {
			t.Errorf("%q says %q: a URL the user never wrote, or a file it cannot read", args, msg)
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
