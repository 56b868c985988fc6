package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmeDefaults reads the default column of the README's tables of
// config keys: for each table under a "### `[…]`" heading that has one,
// and Disk's table of "`[store]` key"s, section → key → each default as
// written ("`\"1MiB\"`", "none", …).
func readmeDefaults(t *testing.T) map[string]map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	section := ""
	reHead := regexp.MustCompile("^### `(\\[\\[?[a-z.]+\\]\\]?)`")
	reRow := regexp.MustCompile("^\\| `([a-z_]+)` \\| ([^|]*) \\|")
	for _, line := range strings.Split(string(b), "\n") {
		if m := reHead.FindStringSubmatch(line); m != nil {
			section = m[1]
			continue
		}
		if strings.HasPrefix(line, "## ") {
			section = ""
		}
		if strings.HasPrefix(line, "| `[store]` key |") {
			section = "[store]"
		}
		if m := reRow.FindStringSubmatch(line); m != nil && section != "" {
			if out[section] == nil {
				out[section] = map[string][]string{}
			}
			out[section][m[1]] = append(out[section][m[1]], strings.TrimSpace(m[2]))
		}
	}
	return out
}

// TestReadme_Defaults: the defaults the README's config reference states
// are the ones a file without those keys gets. An action's timeout and
// retries are written "`10m` for commands, `30s` for requests".
func TestReadme_Defaults(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "webhookd.toml")
	cfg, _, err := Parse(file, []byte(`
[[hook]]
id = "site"
provider = "github"
secret = "s"
  [[hook.action]]
  name = "cmd"
  run = ["true"]
  [[hook.action]]
  name = "req"
  url = "https://example.com/"
[[hook]]
id = "mac"
provider = "hmac"
header = "X-Sig"
secret = "s"
`))
	if err != nil {
		t.Fatal(err)
	}
	cmd, req := cfg.Hooks[0].Actions[0], cfg.Hooks[0].Actions[1]
	// Each key's value in the parsed config: one for a command action
	// and, where they differ, one for an HTTP action.
	got := map[string]map[string][]any{
		"[server]": {
			"listen":           {cfg.Server.Listen},
			"max_body":         {cfg.Server.MaxBody},
			"shutdown_timeout": {cfg.Server.ShutdownTimeout},
			"trusted_proxies":  {len(cfg.Server.TrustedProxies)},
			"rate_limit":       {cfg.Server.RateLimit},
			"acme_domains":     {len(cfg.Server.ACMEDomains)},
			"acme_email":       {cfg.Server.ACMEEmail},
			"acme_http":        {cfg.Server.ACMEHTTP},
		},
		"[store]": {
			"path":      {strings.TrimPrefix(cfg.Store.Path, dir+string(filepath.Separator))},
			"retention": {cfg.Store.Retention},
			"max_size":  {cfg.Store.MaxSize},
			"min_free":  {cfg.Store.MinFree},
		},
		"[admin]": {
			"listen": {cfg.Admin.Listen},
			"token":  {cfg.Admin.Token == nil},
		},
		"[[hook.action]]": {
			"timeout":     {cmd.Timeout, req.Timeout},
			"concurrency": {cmd.Concurrency, req.Concurrency},
			"coalesce":    {cmd.Coalesce, req.Coalesce},
			"retries":     {cmd.Retries, req.Retries},
			"backoff":     {cmd.Backoff, req.Backoff},
		},
	}
	doc := readmeDefaults(t)
	for section, keys := range got {
		for key, vals := range keys {
			cells := doc[section][key]
			if len(cells) == 0 {
				t.Errorf("README: %s has no row for %s", section, key)
			}
			for _, cell := range cells {
				written := regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(cell, -1)
				for i, v := range vals {
					want := "none"
					switch {
					case len(written) == len(vals):
						want = written[i][1]
					case len(written) > 0:
						want = written[0][1]
					}
					if !sameDefault(v, want) {
						t.Errorf("README: %s %s defaults to %s; the code's default is %v", section, key, cell, v)
					}
				}
			}
		}
	}

	// Defaults the README states in its text.
	if cfg.Log.Format != "text" || cfg.Log.Level != "info" {
		t.Errorf("[log] defaults = %q, %q; the README says text, info", cfg.Log.Format, cfg.Log.Level)
	}
	if cfg.Hooks[0].Path != "/hooks/site" {
		t.Errorf("hook path = %q; the README says /hooks/ID", cfg.Hooks[0].Path)
	}
	if cmd.Dir != dir || cmd.When != nil || cmd.Key != nil || req.Method != "POST" || req.Body != nil {
		t.Errorf("action defaults: dir %q (want the config's %q), when %v, key %v, method %q, body %v", cmd.Dir, dir, cmd.When, cmd.Key, req.Method, req.Body)
	}
	if p := cfg.Hooks[1].Params; p.Algorithm != "sha256" || p.Encoding != "hex" {
		t.Errorf("hmac defaults = %s, %s; the README says sha256, hex", p.Algorithm, p.Encoding)
	}
}

// sameDefault reports whether v, a parsed config value, is what the
// README writes as want: "none" (the zero value, an empty list, no
// token), a size, a duration, a number or text.
func sameDefault(v any, want string) bool {
	want = strings.Trim(want, `"`)
	if want == "none" {
		switch v := v.(type) {
		case string:
			return v == ""
		case int:
			return v == 0
		case int64:
			return v == 0
		case float64:
			return v == 0
		case bool:
			return v // token == nil
		}
		return false
	}
	switch v := v.(type) {
	case string:
		return v == want
	case int64:
		n, err := ParseSize(want)
		return err == nil && n == v
	case time.Duration:
		d, err := ParseDuration(want)
		return err == nil && d == v
	case int:
		return strconv.Itoa(v) == want
	case bool:
		return strconv.FormatBool(v) == want
	}
	return false
}
