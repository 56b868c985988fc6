package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal and returns its master and its slave.
// Both are closed when the test ends.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock the pseudo-terminal: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("number of the pseudo-terminal: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pseudo-terminal's slave: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestE2E_CommandHasNoTerminal: webhookd run in a terminal (the README's
// first command) starts its commands without it, as under systemd. A
// command that asks the terminal (git's password prompt, ssh's "trust
// this host?") fails at once, saying why, instead of being stopped
// (SIGTTIN: it read the terminal from a background process group) until
// its timeout.
func TestE2E_CommandHasNoTerminal(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, schedConfig(`
  [[hook.action]]
  name = "deploy"
  run = ["./ask.sh"]
  timeout = "60s"
`))
	writeScript(t, dir, "ask.sh", `if read answer < /dev/tty; then echo "read $answer" >> asked.log; else echo "no terminal" >> asked.log; fi
`)
	_, slave := openPTY(t)
	d := startDaemonCmd(t, dir, func(c *exec.Cmd) {
		// The daemon leads a session whose controlling terminal is the
		// pseudo-terminal, as a shell's foreground job has one.
		c.Stdin = slave
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	})
	if r := d.postGitHub("/hooks/site", spineSecret, "push", "tty-1", pushBody("refs/heads/main", "a")); r.Status != 202 {
		t.Fatalf("push = %d %s", r.Status, r.Raw)
	}
	log := filepath.Join(dir, "asked.log")
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(log)
		if got := strings.TrimSpace(string(b)); got != "" {
			if got != "no terminal" {
				t.Fatalf("asked.log = %q; want \"no terminal\": the command read the daemon's terminal", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the command that asks the terminal did not end within 10 s: it was stopped (SIGTTIN), waiting for its 60 s timeout")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
