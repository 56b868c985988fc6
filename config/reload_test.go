package config

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// reloadConfig is a config with one hook whose secret is a file.
func reloadConfig(hook, extra string) string {
	return fmt.Sprintf(`[server]
listen = "127.0.0.1:0"
[store]
path = "w.db"
%s
[[hook]]
id = %q
provider = "github"
secret = "file:secrets/gh"
`, extra, hook)
}

// rig is a Reloader running on files in a temp dir.
type rig struct {
	t       *testing.T
	dir     string
	path    string
	r       *Reloader
	applied chan *Config
	results chan bool
	log     *logBuffer
}

func startRig(t *testing.T, cfg string, change func(dir string)) *rig {
	t.Helper()
	dir := t.TempDir()
	g := &rig{t: t, dir: dir, path: filepath.Join(dir, "webhookd.toml"), applied: make(chan *Config, 100), results: make(chan bool, 100), log: &logBuffer{t: t}}
	mustMkdir(t, filepath.Join(dir, "secrets"))
	mustWrite(t, filepath.Join(dir, "secrets", "gh"), "s1\n")
	mustWrite(t, g.path, cfg)
	g.r = NewReloader(g.path)
	if _, _, err := g.r.Load(); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.r.Run(ctx, ReloadOptions{
			Apply:   func(c *Config) error { g.applied <- c; return nil },
			Observe: func(ok bool) { g.results <- ok },
			Logger:  slog.New(slog.NewTextHandler(g.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return g
}

// save replaces the config file the way an editor does.
func (g *rig) save(cfg string) {
	g.t.Helper()
	tmp := g.path + ".tmp"
	mustWrite(g.t, tmp, cfg)
	if err := os.Rename(tmp, g.path); err != nil {
		g.t.Fatal(err)
	}
}

func (g *rig) wantApplied(hook string) *Config {
	g.t.Helper()
	select {
	case c := <-g.applied:
		if c.Hook(hook) == nil {
			g.t.Fatalf("applied a config without hook %q", hook)
		}
		if ok := <-g.results; !ok {
			g.t.Fatal("applied, but observed as failed")
		}
		return c
	case <-time.After(5 * time.Second):
		g.t.Fatalf("no config with hook %q applied\n%s", hook, g.log)
		return nil
	}
}

func (g *rig) wantFailed() {
	g.t.Helper()
	select {
	case ok := <-g.results:
		if ok {
			g.t.Fatal("reload observed as ok; want failed")
		}
	case c := <-g.applied:
		g.t.Fatalf("applied %v; want the reload to fail", c.Hooks)
	case <-time.After(5 * time.Second):
		g.t.Fatalf("no failed reload\n%s", g.log)
	}
}

// wantNothing checks that no reload happens for a while.
func (g *rig) wantNothing(d time.Duration) {
	g.t.Helper()
	select {
	case ok := <-g.results:
		g.t.Fatalf("a reload (ok=%v) with nothing changed", ok)
	case <-time.After(d):
	}
}

// TestReloader: changes apply; a broken file is reported (its error logged
// once per distinct content) and keeps the running config; fixing it
// applies the fix; a forced reload reloads; a secret file's change and a
// newly named secret file are picked up.
func TestReloader(t *testing.T) {
	g := startRig(t, reloadConfig("a", ""), nil)
	if g.r.Config().Hook("a") == nil {
		t.Fatal("Config() after Load lacks hook a")
	}
	g.wantNothing(200 * time.Millisecond)

	g.save(reloadConfig("b", ""))
	g.wantApplied("b")
	if s := g.r.Status(); s.Result != "ok" || s.Error != "" || s.Time.IsZero() || len(s.RestartNeeded) != 0 {
		t.Errorf("status after a good reload = %+v", s)
	}
	if g.r.Config().Hook("b") == nil {
		t.Error("Config() lacks the reloaded hook")
	}

	broken := strings.Replace(reloadConfig("b", ""), `provider = "github"`, `provider = "gitbub"`, 1)
	g.save(broken)
	g.wantFailed()
	wantErr := g.path + ":8: hook"
	if s := g.r.Status(); s.Result != "error" || !strings.Contains(s.Error, wantErr) {
		t.Errorf("status after a broken save = %+v; want error %q", s, wantErr)
	}
	if g.r.Config().Hook("b") == nil {
		t.Error("a broken file replaced the running config")
	}
	// The same broken content again: no reload, no second log line.
	mustWrite(t, g.path, broken)
	g.wantNothing(200 * time.Millisecond)
	g.r.Reload("SIGHUP")
	g.wantFailed()
	if n := strings.Count(g.log.String(), wantErr); n != 1 {
		t.Errorf("the error was logged %d times; want once:\n%s", n, g.log)
	}
	// Another broken content is logged too.
	g.save(broken + "\n# still broken\n")
	g.wantFailed()
	if n := strings.Count(g.log.String(), wantErr); n != 2 {
		t.Errorf("a second broken content: the error was logged %d times in all; want 2:\n%s", n, g.log)
	}

	g.save(reloadConfig("c", ""))
	g.wantApplied("c")
	if s := g.r.Status(); s.Result != "ok" || s.Error != "" {
		t.Errorf("status after the fix = %+v", s)
	}

	// SIGHUP with nothing changed reloads all the same.
	g.r.Reload("SIGHUP")
	g.wantApplied("c")
	if !strings.Contains(g.log.String(), "trigger=SIGHUP") {
		t.Errorf("no SIGHUP reload logged:\n%s", g.log)
	}

	// A file: secret changes.
	mustWrite(t, filepath.Join(g.dir, "secrets", "gh"), "s2\n")
	c := g.wantApplied("c")
	if v := string(c.Hook("c").Secrets[0].Value()); v != "s2" {
		t.Errorf("secret after its file changed = %q; want s2", v)
	}
	if strings.Contains(g.log.String(), "s2") {
		t.Errorf("the secret is in the log:\n%s", g.log)
	}

	// A secret file that does not exist yet: an error, until it does.
	g.save(strings.Replace(reloadConfig("d", ""), "secrets/gh", "secrets/new", 1))
	g.wantFailed()
	mustWrite(t, filepath.Join(g.dir, "secrets", "new"), "s3")
	c = g.wantApplied("d")
	if v := string(c.Hook("d").Secrets[0].Value()); v != "s3" {
		t.Errorf("new secret = %q; want s3", v)
	}
	// The old secret file is no longer watched.
	mustWrite(t, filepath.Join(g.dir, "secrets", "gh"), "s4")
	g.wantNothing(200 * time.Millisecond)
}

// TestReloader_Empty: an empty file (a save caught half-way) is not
// applied: it would remove every hook.
func TestReloader_Empty(t *testing.T) {
	g := startRig(t, reloadConfig("a", ""), nil)
	if err := os.Truncate(g.path, 0); err != nil {
		t.Fatal(err)
	}
	g.wantFailed()
	if s := g.r.Status(); !strings.Contains(s.Error, "empty") {
		t.Errorf("status = %+v; want the file reported empty", s)
	}
	if g.r.Config().Hook("a") == nil {
		t.Error("the empty file was applied")
	}
	mustWrite(t, g.path, reloadConfig("b", ""))
	g.wantApplied("b")
}

// TestReloader_Blank: a file of blank lines alone is taken for a save in
// progress, like an empty one, not applied as a config with no hooks.
func TestReloader_Blank(t *testing.T) {
	g := startRig(t, reloadConfig("a", ""), nil)
	mustWrite(t, g.path, "\n  \n\t\n")
	g.wantFailed()
	if s := g.r.Status(); !strings.Contains(s.Error, "empty") {
		t.Errorf("status = %+v; want the file reported empty", s)
	}
	if g.r.Config().Hook("a") == nil {
		t.Error("a file of blank lines was applied")
	}
}

// TestReloader_BrokenAgainLogged: an error is logged once per broken
// content while the file stays broken, but once a good file applied, the
// same broken content saved again is a new failure, logged as an error
// again rather than as "still invalid".
func TestReloader_BrokenAgainLogged(t *testing.T) {
	g := startRig(t, reloadConfig("a", ""), nil)
	broken := strings.Replace(reloadConfig("a", ""), `provider = "github"`, `provider = "gitbub"`, 1)
	failed := func() int { return strings.Count(g.log.String(), "config reload failed") }
	g.save(broken)
	g.wantFailed()
	if n := failed(); n != 1 {
		t.Fatalf("after the first broken save: %d error lines; want 1\n%s", n, g.log)
	}
	g.save(reloadConfig("b", ""))
	g.wantApplied("b")
	g.save(broken)
	g.wantFailed()
	if n := failed(); n != 2 {
		t.Errorf("the same broken content after a good reload: %d error lines in all; want 2\n%s", n, g.log)
	}
}

// TestReloader_ChangedBeforeRun: a change between Load and Run (before
// the watch began) is applied when Run starts.
func TestReloader_ChangedBeforeRun(t *testing.T) {
	g := startRig(t, reloadConfig("a", ""), func(dir string) {
		mustWrite(t, filepath.Join(dir, "webhookd.toml"), reloadConfig("b", ""))
	})
	g.wantApplied("b")
}

// TestReloader_SaveUnderWayAtRun: a save under way as Run starts (its
// first part written, the rest 20 ms on) is read once it is done, not in
// part: the part, a config with no hook at all, was applied.
func TestReloader_SaveUnderWayAtRun(t *testing.T) {
	full := reloadConfig("b", "")
	cut := strings.Index(full, "[[hook]]")
	var wg sync.WaitGroup
	g := startRig(t, reloadConfig("a", ""), func(dir string) {
		path := filepath.Join(dir, "webhookd.toml")
		mustWrite(t, path, full[:cut])
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(20 * time.Millisecond)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			f.WriteString(full[cut:])
		}()
	})
	wg.Wait()
	g.wantApplied("b")
	g.wantNothing(300 * time.Millisecond)
}

// TestReloader_RestartNeeded: settings that only a restart applies are
// reported while the file and the running values differ; the rest of
// the file applies.
func TestReloader_RestartNeeded(t *testing.T) {
	g := startRig(t, reloadConfig("a", ""), nil)
	moved := strings.Replace(reloadConfig("b", ""), `path = "w.db"`, `path = "elsewhere.db"`, 1)
	moved = strings.Replace(moved, `listen = "127.0.0.1:0"`, `listen = "127.0.0.1:9999"`, 1)
	g.save(moved)
	g.wantApplied("b")
	if got, want := g.r.Status().RestartNeeded, []string{"server.listen", "store.path"}; !slices.Equal(got, want) {
		t.Errorf("RestartNeeded = %v; want %v", got, want)
	}
	if !strings.Contains(g.log.String(), "restart needed") || !strings.Contains(g.log.String(), "server.listen, store.path") {
		t.Errorf("restart not logged:\n%s", g.log)
	}
	g.save(reloadConfig("c", ""))
	g.wantApplied("c")
	if got := g.r.Status().RestartNeeded; len(got) != 0 {
		t.Errorf("RestartNeeded after reverting = %v; want none", got)
	}
}

// TestReloader_ApplyError: a config that Apply rejects is reported like
// an invalid file.
func TestReloader_ApplyError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "webhookd.toml")
	mustMkdir(t, filepath.Join(dir, "secrets"))
	mustWrite(t, filepath.Join(dir, "secrets", "gh"), "s1")
	mustWrite(t, path, reloadConfig("a", ""))
	r := NewReloader(path)
	if _, _, err := r.Load(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan bool, 10)
	go r.Run(ctx, ReloadOptions{
		Apply:   func(c *Config) error { return &Error{File: c.File, Line: 5, Msg: "no such provider"} },
		Observe: func(ok bool) { results <- ok },
	})
	r.Reload("SIGHUP")
	select {
	case ok := <-results:
		if ok {
			t.Fatal("a rejected config counted as ok")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no reload")
	}
	if s := r.Status(); s.Error != path+":5: no such provider" {
		t.Errorf("status = %+v", s)
	}
}

func TestRestartNeeded(t *testing.T) {
	base, _, err := Parse("/etc/w/webhookd.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(s string) string
		want []string
	}{
		{"hooks and limits apply live", func(s string) string {
			return strings.NewReplacer(`max_body = "2MiB"`, `max_body = "4MiB"`, `retention = "7d"`, `retention = "1d"`, `id = "site"`, `id = "web"`).Replace(s)
		}, nil},
		{"listen", func(s string) string { return strings.Replace(s, `listen = "127.0.0.1:0"`, `listen = ":9000"`, 1) }, []string{"server.listen"}},
		{"store path", func(s string) string { return strings.Replace(s, `path = "data/w.db"`, `path = "w.db"`, 1) }, []string{"store.path"}},
		{"admin and log", func(s string) string {
			return s + "\n[admin]\nlisten = \"127.0.0.1:9100\"\ntoken = \"t\"\n[log]\nformat = \"json\"\nlevel = \"debug\"\n"
		}, []string{"admin.listen", "admin.token", "log.format"}}, // log.level applies live
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, _, err := Parse("/etc/w/webhookd.toml", []byte(tc.edit(good)))
			if err != nil {
				t.Fatal(err)
			}
			if got := RestartNeeded(base, next); !slices.Equal(got, tc.want) {
				t.Errorf("RestartNeeded = %v; want %v", got, tc.want)
			}
		})
	}
}

// logBuffer collects log output and passes it on to the test log.
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("log: %s", bytes.TrimRight(p, "\n"))
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(&logBuffer{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestRestartNeeded_TLS: README, Reloading: the TLS settings (tls_cert,
// tls_key, acme_domains, acme_email, acme_http, acme_directory) take a
// restart; the limits that apply on reload (max_body, trusted_proxies,
// rate_limit, shutdown_timeout, min_free, log.level, retention,
// max_size) do not count as needing one.
func TestRestartNeeded_TLS(t *testing.T) {
	base, _, err := Parse("/etc/w/webhookd.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		want string
		edit func(c *Config)
	}{
		{"server.tls_cert", func(c *Config) { c.Server.TLSCert = "/etc/w/cert.pem" }},
		{"server.tls_key", func(c *Config) { c.Server.TLSKey = "/etc/w/key.pem" }},
		{"server.acme_domains", func(c *Config) { c.Server.ACMEDomains = []string{"hooks.example.com"} }},
		{"server.acme_email", func(c *Config) { c.Server.ACMEEmail = "ops@example.com" }},
		{"server.acme_http", func(c *Config) { c.Server.ACMEHTTP = ":80" }},
		{"server.acme_directory", func(c *Config) { c.Server.ACMEDirectory = "https://acme.example/dir" }},
		{"", func(c *Config) {
			c.Server.MaxBody *= 2
			c.Server.TrustedProxies = nil
			c.Server.RateLimit += 5
			c.Server.ShutdownTimeout += time.Second
			c.Store.MinFree += 1 << 20
			c.Store.Retention += time.Hour
			c.Store.MaxSize += 1 << 20
			c.Log.Level = "debug"
		}},
	} {
		next := *base
		tc.edit(&next)
		got := strings.Join(RestartNeeded(base, &next), ",")
		if got != tc.want {
			t.Errorf("RestartNeeded after a change of %q = %q; want %q", tc.want, got, tc.want)
		}
	}
}
