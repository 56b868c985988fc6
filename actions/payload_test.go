package actions

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWritePayload: a payload file holds the body and is read from its
// start; a small body goes to the memory directory, a large one — or any
// body when the memory directory cannot take it — to the disk directory.
func TestWritePayload(t *testing.T) {
	mem, disk := t.TempDir(), t.TempDir()
	small := []byte(`{"ref":"refs/heads/main"}`)
	large := bytes.Repeat([]byte("x"), memPayloadMax+1)
	cases := []struct {
		name    string
		mem     string
		body    []byte
		wantDir string
	}{
		{"small, memory directory", mem, small, mem},
		{"large", mem, large, disk},
		{"no memory directory", "", small, disk},
		{"memory directory unusable", filepath.Join(mem, "gone"), small, disk},
	}
	for _, c := range cases {
		f, err := writePayload(c.mem, disk, "06H4X0000000000J", 1, c.body)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		os.Remove(f.Name())
		if err != nil || !bytes.Equal(got, c.body) {
			t.Errorf("%s: read back %d bytes, %v; want the body's %d", c.name, len(got), err, len(c.body))
		}
		if dir := filepath.Dir(f.Name()); dir != c.wantDir {
			t.Errorf("%s: written in %s; want %s", c.name, dir, c.wantDir)
		}
	}
}

// TestMemoryDir: systemd's runtime directory comes first (the first of a
// colon-separated list), when it is on tmpfs.
func TestMemoryDir(t *testing.T) {
	if !isMemoryFS("/dev/shm") {
		t.Skip("no tmpfs at /dev/shm on this machine to stand for a runtime directory")
	}
	rt, err := os.MkdirTemp("/dev/shm", "webhookd-test-")
	if err != nil {
		t.Skipf("cannot make a directory in /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	t.Setenv("RUNTIME_DIRECTORY", rt+":/elsewhere")
	t.Setenv("XDG_RUNTIME_DIR", "")
	if got := memoryDir(); got != rt {
		t.Errorf("memoryDir() = %q; want the runtime directory %q", got, rt)
	}
	// Not a memory file system: the next candidate.
	disk := t.TempDir()
	if isMemoryFS(disk) {
		t.Skipf("%s is on tmpfs too: cannot stand for a disk", disk)
	}
	t.Setenv("RUNTIME_DIRECTORY", disk)
	if got := memoryDir(); got == disk || !strings.HasPrefix(got, "/") {
		t.Errorf("memoryDir() with a runtime directory on disk = %q; want another, on tmpfs", got)
	}
}
