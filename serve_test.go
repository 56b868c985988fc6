package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// freeAddr is a loopback address no one listens on (a moment ago).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServe_FailedStartClosesItsListeners: a start that fails after it
// bound its listeners — the admin listener's port taken, or the scheduler
// unable to start — closes every one it bound, acme_http's too, and
// leaves no server goroutine behind. The acme_http listener stayed open:
// in this process, its port stayed taken after serve returned.
func TestServe_FailedStartClosesItsListeners(t *testing.T) {
	// serve would set the process's garbage collector otherwise.
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "off")
	for _, tc := range []struct {
		name string
		// setup returns the admin listen address and what the error says.
		setup func(t *testing.T, dir string) (admin, want string)
	}{
		{"admin port taken", func(t *testing.T, dir string) (string, string) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { taken.Close() })
			return taken.Addr().String(), "address already in use"
		}},
		{"scheduler fails", func(t *testing.T, dir string) (string, string) {
			// Its payload directory goes in $TMPDIR: a file is no place.
			notDir := filepath.Join(dir, "not-a-dir")
			if err := os.WriteFile(notDir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("TMPDIR", notDir)
			return freeAddr(t), "payload files"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			admin, want := tc.setup(t, dir)
			public, acme := freeAddr(t), freeAddr(t)
			cfg := `[server]
listen = "` + public + `"
acme_domains = ["hooks.webhookd.test"]
acme_http = "` + acme + `"
acme_directory = "https://127.0.0.1:9/directory"  # never asked: the start fails first
[store]
path = "webhookd.db"
[admin]
listen = "` + admin + `"
`
			p := writeConfig(t, dir, cfg)
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, []string{"serve", "-config", p}, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("serve: %v; want it to fail saying %q\n%s", err, want, stderr.String())
			}
			for name, addr := range map[string]string{"acme_http": acme, "listen": public} {
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("after the failed start, %s's address %s is still taken: %v", name, addr, err)
					continue
				}
				l.Close()
			}
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			for _, fn := range []string{"certs.(*HTTPServer).Serve", "listener.(*Listener).Serve", "admin.(*Server).Serve"} {
				if strings.Contains(stacks, fn) {
					t.Errorf("after the failed start, a goroutine is in %s", fn)
				}
			}
		})
	}
}
