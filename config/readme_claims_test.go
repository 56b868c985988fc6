package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tests for claims of the README's "## Configuration" and "## Providers"
// that no other test held. Each loads a real file with Load.

// loadFile writes src to a webhookd.toml in a new directory and loads it.
func loadFile(t *testing.T, src string) (*Config, []string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "webhookd.toml")
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(file)
}

// TestLoad_SizeUnits: "Sizes are bytes or 512KiB, 1MiB, 1GiB (also KB,
// MB, GB)."
func TestLoad_SizeUnits(t *testing.T) {
	tests := []struct {
		written string
		want    int64
	}{
		{"1000", 1000},
		{"512KiB", 512 << 10},
		{"1MiB", 1 << 20},
		{"1GiB", 1 << 30},
		{"512KB", 512e3},
		{"2MB", 2e6},
		{"1GB", 1e9},
	}
	for _, tc := range tests {
		t.Run(tc.written, func(t *testing.T) {
			cfg, _, err := loadFile(t, "[store]\nmax_size = \""+tc.written+"\"\nmin_free = \""+tc.written+"\"\n")
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Store.MaxSize != tc.want || cfg.Store.MinFree != tc.want {
				t.Errorf("max_size, min_free %q = %d, %d; want %d", tc.written, cfg.Store.MaxSize, cfg.Store.MinFree, tc.want)
			}
		})
	}
}

// TestLoad_Durations: "Durations are Go durations (90s, 10m, 720h) or
// days (30d)", and retention "0s" keeps events (no pruning by age).
func TestLoad_Durations(t *testing.T) {
	for written, want := range map[string]time.Duration{"90s": 90 * time.Second, "10m": 10 * time.Minute, "720h": 720 * time.Hour, "30d": 30 * 24 * time.Hour, "0s": 0} {
		cfg, _, err := loadFile(t, "[store]\nretention = \""+written+"\"\n")
		if err != nil {
			t.Fatalf("retention %q: %v", written, err)
		}
		if cfg.Store.Retention != want {
			t.Errorf("retention %q = %v; want %v", written, cfg.Store.Retention, want)
		}
	}
}

// TestLoad_ToleranceOnlyWhereSigned: "a provider that signs no timestamp
// takes no tolerance"; one that does takes it as its window.
func TestLoad_ToleranceOnlyWhereSigned(t *testing.T) {
	for _, p := range []string{
		"provider = \"github\"\nsecret = \"x\"",
		"provider = \"shopify\"\nsecret = \"x\"",
		"provider = \"bitbucket\"\nsecret = \"x\"",
		"provider = \"telegram\"\nsecret = \"x\"",
		"provider = \"hmac\"\nsecret = \"x\"\nheader = \"X-Sig\"",
	} {
		_, _, err := loadFile(t, hook(p+"\ntolerance = \"10m\""))
		if err == nil || !strings.Contains(err.Error(), "tolerance does not apply to provider") {
			t.Errorf("%s with tolerance: Load = %v; want tolerance does not apply", p, err)
		}
	}
	for _, p := range []string{"stripe", "slack", "standard", "linear", "paddle", "zoom", "twitch"} {
		secret := "x"
		if p == "standard" {
			secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		}
		cfg, _, err := loadFile(t, hook("provider = \""+p+"\"\nsecret = \""+secret+"\"\ntolerance = \"10m\""))
		if err != nil {
			t.Errorf("%s with tolerance: Load = %v", p, err)
			continue
		}
		if got := cfg.Hooks[0].Params.Tolerance; got != 10*time.Minute {
			t.Errorf("%s tolerance = %v; want 10m", p, got)
		}
	}
}

// TestLoad_HookIDAtMost64: a hook id is letters, digits, - and _, at
// most 64 of them.
func TestLoad_HookIDAtMost64(t *testing.T) {
	id := "A-z_0" + strings.Repeat("h", 59)
	cfg, _, err := loadFile(t, "[[hook]]\nid = \""+id+"\"\nprovider = \"none\"\n")
	if err != nil {
		t.Fatalf("64-character id: %v", err)
	}
	if cfg.Hooks[0].Path != "/hooks/"+id {
		t.Errorf("path = %q; want /hooks/%s", cfg.Hooks[0].Path, id)
	}
	for _, bad := range []string{id + "h", "a.b", "a/b"} {
		_, _, err := loadFile(t, "[[hook]]\nid = \""+bad+"\"\nprovider = \"none\"\n")
		if err == nil || !strings.Contains(err.Error(), "hook id") {
			t.Errorf("id %q: Load = %v; want a hook id error", bad, err)
		}
	}
	if _, _, err := loadFile(t, "[[hook]]\nid = \"\"\nprovider = \"none\"\n"); err == nil || !strings.Contains(err.Error(), "needs an id") {
		t.Errorf("empty id: Load = %v; want needs an id", err)
	}
}

// TestLoad_AllowIPsSingleAddresses: allow_ips takes CIDRs or single
// addresses.
func TestLoad_AllowIPsSingleAddresses(t *testing.T) {
	cfg, _, err := loadFile(t, hook("provider = \"none\"\nallow_ips = [\"192.0.2.7\", \"2001:db8::1\", \"140.82.112.0/20\"]"))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("140.82.112.0/20")}
	got := cfg.Hooks[0].AllowIPs
	if len(got) != len(want) {
		t.Fatalf("allow_ips = %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("allow_ips[%d] = %v; want %v", i, got[i], want[i])
		}
	}
	if _, _, err := loadFile(t, hook("provider = \"none\"\nallow_ips = [\"192.0.2.300\"]")); err == nil {
		t.Errorf("allow_ips 192.0.2.300: Load = nil error; want one")
	}
}

// TestLoad_LogValues: [log] format is text or json, level debug, info,
// warn or error; anything else is an error with its line.
func TestLoad_LogValues(t *testing.T) {
	for _, f := range []string{"text", "json"} {
		for _, l := range []string{"debug", "info", "warn", "error"} {
			cfg, _, err := loadFile(t, "[log]\nformat = \""+f+"\"\nlevel = \""+l+"\"\n")
			if err != nil || cfg.Log.Format != f || cfg.Log.Level != l {
				t.Errorf("[log] %s %s: %v, %+v", f, l, err, cfg)
			}
		}
	}
	if _, _, err := loadFile(t, "[log]\nformat = \"logfmt\"\n"); err == nil || !strings.Contains(err.Error(), `webhookd.toml:2: log format "logfmt": want text or json`) {
		t.Errorf("format logfmt: Load = %v", err)
	}
	if _, _, err := loadFile(t, "[log]\nlevel = \"verbose\"\n"); err == nil || !strings.Contains(err.Error(), `webhookd.toml:2: log level "verbose": want debug, info, warn or error`) {
		t.Errorf("level verbose: Load = %v", err)
	}
}

// TestLoad_AdminOffAndUnixNeedNoToken: [admin] listen "off" and a unix
// socket need no token; beyond loopback one is required.
func TestLoad_AdminOffAndUnixNeedNoToken(t *testing.T) {
	for _, l := range []string{"off", "unix:/run/webhookd/admin.sock", "127.0.0.1:9101", "[::1]:9101"} {
		cfg, _, err := loadFile(t, "[admin]\nlisten = \""+l+"\"\n")
		if err != nil || cfg.Admin.Listen != l {
			t.Errorf("admin listen %q without token: %v", l, err)
		}
	}
	if _, _, err := loadFile(t, "[admin]\nlisten = \"192.0.2.1:9101\"\n"); err == nil || !strings.Contains(err.Error(), "reaches beyond this machine") {
		t.Errorf("admin listen beyond loopback without token: Load = %v; want an error", err)
	}
	if _, _, err := loadFile(t, "[admin]\nlisten = \"192.0.2.1:9101\"\ntoken = \"t0ken\"\n"); err != nil {
		t.Errorf("admin listen beyond loopback with a token: Load = %v", err)
	}
}

// TestLoad_TelegramSecretToken: Telegram's setWebhook takes a
// secret_token of 1 to 256 characters, each a letter, a digit, _ or -
// (README). A secret it would refuse is a load error, not a webhook that
// setWebhook refuses later; the error never quotes the secret.
func TestLoad_TelegramSecretToken(t *testing.T) {
	long := strings.Repeat("a", 257)
	for _, bad := range []string{"two words", "tok:en+/=", "caf\u00e9", long} {
		_, _, err := loadFile(t, "[[hook]]\nid = \"bot\"\nprovider = \"telegram\"\nsecret = \""+bad+"\"\n")
		if err == nil || !strings.Contains(err.Error(), "secret 1: Telegram takes a secret_token of 1 to 256 characters") {
			t.Errorf("telegram secret %.20q: %v; want it refused, saying what Telegram takes", bad, err)
			continue
		}
		if strings.Contains(err.Error(), bad) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
	for _, good := range []string{"A-b_9", strings.Repeat("Z", 256)} {
		if _, _, err := loadFile(t, "[[hook]]\nid = \"bot\"\nprovider = \"telegram\"\nsecret = \""+good+"\"\n"); err != nil {
			t.Errorf("telegram secret %.20q: %v; want it taken", good, err)
		}
	}
}

// TestParse_TemplateMistakeInABranchWarns: README ([[hook.action]],
// Templates): a mistake in a part only some runs take is a warning with
// its line, not an error; the same mistake where every run takes it is an
// error with its line.
func TestParse_TemplateMistakeInABranchWarns(t *testing.T) {
	src := hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\", '{{ if eq .event \"release\" }}{{ .paylod.tag }}{{ end }}']")
	_, warns, err := Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse = %v; want it loaded with a warning", err)
	}
	want := `c.toml:6: hook "h" action "a": run[1]: template: 1: no field .paylod`
	found := false
	for _, w := range warns {
		found = found || strings.HasPrefix(w, want) && strings.Contains(w, "some runs skip")
	}
	if !found {
		t.Errorf("warnings = %q; want one starting %q that says some runs skip it", warns, want)
	}
	src = hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\", '{{ .paylod.tag }}']")
	if _, _, err := Parse("c.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse of the mistake outside a branch = %v; want an error %q", err, want)
	}
}
