package main

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/config"
)

// readUnit reads contrib/systemd/webhookd.service into key → values, in
// the order they come (a key may be given more than once).
func readUnit(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("contrib", "systemd", "webhookd.service"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unit := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("webhookd.service: %q is not key=value", line)
			}
			unit[section+k] = append(unit[section+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return unit
}

// TestSystemdUnit: the unit file is what the README's "Running as a
// service" says it is: the command it runs, reload and stop, restart after
// a failure (a start that gave up waiting for the lock, exit status 1, is
// started again 2 s later), the made-up user and its state directory, the
// one capability and the hardening.
func TestSystemdUnit(t *testing.T) {
	unit := readUnit(t)
	for _, tc := range []struct{ key, want string }{
		{"[Service]ExecStart", "/usr/local/bin/webhookd serve -config /etc/webhookd/webhookd.toml"},
		{"[Service]ExecReload", "/bin/kill -HUP $MAINPID"},
		{"[Service]Restart", "on-failure"},
		{"[Service]RestartSec", "2s"},
		{"[Service]DynamicUser", "yes"},
		{"[Service]StateDirectory", "webhookd"},
		{"[Service]StateDirectoryMode", "0700"},
		{"[Service]UMask", "0077"},
		{"[Service]EnvironmentFile", "-/etc/webhookd/env"},
		{"[Service]AmbientCapabilities", "CAP_NET_BIND_SERVICE"},
		{"[Service]CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"},
		{"[Service]NoNewPrivileges", "yes"},
		{"[Service]ProtectSystem", "strict"},
		{"[Service]ProtectHome", "yes"},
		{"[Service]PrivateTmp", "yes"},
		{"[Service]PrivateDevices", "yes"},
		{"[Service]ProtectKernelTunables", "yes"},
		{"[Service]ProtectKernelModules", "yes"},
		{"[Service]ProtectKernelLogs", "yes"},
		{"[Service]ProtectControlGroups", "yes"},
		{"[Service]RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"[Service]SystemCallFilter", "@system-service"},
		{"[Service]KillMode", "mixed"},
	} {
		if got := unit[tc.key]; !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s = %q; want %q", tc.key, got, tc.want)
		}
	}
	if got := strings.Fields(strings.Join(unit["[Unit]After"], " ")); !slices.Contains(got, "time-sync.target") {
		t.Errorf("[Unit]After = %q; want it to name time-sync.target (a Pi's clock)", got)
	}
	// A write outside the state directory needs a drop-in: nothing is
	// writable but /var/lib/webhookd.
	if got := unit["[Service]ReadWritePaths"]; got != nil {
		t.Errorf("ReadWritePaths = %q; the README says only /var/lib/webhookd is writable", got)
	}

	// The stop: shutdown_timeout for the runs, then SIGTERM and the
	// scheduler's kill grace for their clean-up, within TimeoutStopSec.
	stop := unit["[Service]TimeoutStopSec"]
	if len(stop) != 1 {
		t.Fatalf("TimeoutStopSec = %q; want one value", stop)
	}
	d, err := time.ParseDuration(stop[0])
	if err != nil {
		t.Fatalf("TimeoutStopSec = %q: %v", stop[0], err)
	}
	if d != 45*time.Second {
		t.Errorf("TimeoutStopSec = %v; the README says 45 s", d)
	}
	if d < config.DefaultShutdownTimeout+15*time.Second {
		t.Errorf("TimeoutStopSec = %v; want at least 15 s above the default shutdown_timeout (%v)", d, config.DefaultShutdownTimeout)
	}
}
