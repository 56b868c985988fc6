package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/webhookd/webhookd/admin"
)

// openPTY opens a pseudo-terminal and returns its master and its slave.
// Both are closed when the test ends.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
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

// TestShow_LargeEventOnTerminal: show of an event of tens of MiB wrote
// all of it to the terminal, which scrolled for minutes with the event's
// head long gone. On a terminal it prints the first 64 KiB of the payload,
// then how much more there is and how to see it; to a pipe, all of it.
func TestShow_LargeEventOnTerminal(t *testing.T) {
	id, _, answer := largeEventAnswer(t, 4<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	t.Cleanup(srv.Close)
	_, cfg := adminConfig(t, srv.Listener.Addr().String())
	master, slave := openPTY(t)
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(&screen, master) // ends (EIO) once the slave is closed
	}()
	env := &Env{Stdin: strings.NewReader(""), Stdout: slave, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	err := Find("show").Run(context.Background(), env, []string{id, "-config", cfg})
	slave.Close()
	<-read
	if err != nil {
		t.Fatalf("show on a terminal: %v", err)
	}
	out := screen.String()
	if len(out) > 2*showLimit {
		t.Errorf("show of a 4 MiB event wrote %d bytes to the terminal; want about %d", len(out), showLimit)
	}
	for _, want := range []string{"event     " + id, "\"items\": [", " shown: webhookd show " + id + " | less shows all of it, -json has it exactly"} {
		if !strings.Contains(out, want) {
			t.Errorf("show on a terminal lacks %q:\n%.500s\n…\n%s", want, out, out[max(0, len(out)-500):])
		}
	}
	// To a pipe, all of it.
	stdout, _, err := runCmd(t, "show", id, "-config", cfg)
	if err != nil || len(stdout) < 4<<20 || strings.Contains(stdout, "| less") {
		t.Errorf("show to a pipe: %d bytes, %v; want all of it", len(stdout), err)
	}
}

// A body of one long line is cut at the start of a character, so that
// what is shown is still UTF-8.
func TestPrintEvent_LimitCutsWholeCharacters(t *testing.T) {
	ev := &admin.EventJSON{ID: "06H4WK95M0000000", Hook: "site", Body: "x" + strings.Repeat("é", 100)}
	var out bytes.Buffer
	printEvent(&safeWriter{w: &out}, ev, 50)
	if !utf8.Valid(out.Bytes()) || strings.Contains(out.String(), `\x`) {
		t.Errorf("cut mid-character:\n%q", out.String())
	}
	if !strings.Contains(out.String(), "  x"+strings.Repeat("é", 24)+"\n  … 49 B of 201 B shown") {
		t.Errorf("printEvent with a limit of 50:\n%s", out.String())
	}
}
