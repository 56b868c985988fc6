package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadClient(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tok"), []byte("s3cret-file\n"), 0o600)
	p := filepath.Join(dir, "webhookd.toml")
	src := `
[server]
listen = ":9100"
[store]
path = "data/w.db"
[admin]
listen = "unix:run/admin.sock"
token = "file:tok"
[log]
level = "loud"        # invalid for Load, irrelevant here

[[hook]]
id = "site"
provider = "github"
secret = "env:WEBHOOKD_TEST_UNSET_SECRET"
  [[hook.action]]
  name = "deploy"
  run = ["x"]

[[hook]]
id = "other"
path = "/o"
provider = "hmac"
header = "X-Sig"
secrets = ["one", "two"]
tolerance = "2m"
`
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadClient(p)
	if err != nil {
		t.Fatalf("LoadClient: %v", err)
	}
	if c.AdminListen != "unix:"+filepath.Join(dir, "run/admin.sock") {
		t.Errorf("AdminListen = %q", c.AdminListen)
	}
	if c.StorePath != filepath.Join(dir, "data/w.db") {
		t.Errorf("StorePath = %q", c.StorePath)
	}
	if c.ServerListen != ":9100" || c.TLS {
		t.Errorf("ServerListen, TLS = %q, %v", c.ServerListen, c.TLS)
	}
	tok, err := c.AdminToken()
	if err != nil || string(tok.Value()) != "s3cret-file" {
		t.Errorf("AdminToken = %v, %v", tok, err)
	}
	site := c.Hook("site")
	if site == nil || site.Path != "/hooks/site" || site.Provider != "github" {
		t.Fatalf("Hook(site) = %+v", site)
	}
	// The unset env: secret fails only when asked for, naming the variable.
	os.Unsetenv("WEBHOOKD_TEST_UNSET_SECRET")
	if _, err := site.Secrets(); err == nil || !strings.Contains(err.Error(), "WEBHOOKD_TEST_UNSET_SECRET") {
		t.Errorf("site.Secrets() error = %v; want one naming the variable", err)
	}
	other := c.Hook("other")
	secs, err := other.Secrets()
	if err != nil || len(secs) != 2 || string(secs[1].Value()) != "two" {
		t.Errorf("other.Secrets() = %v, %v", secs, err)
	}
	if other.Path != "/o" || other.Params.Header != "X-Sig" || other.Params.Tolerance.Minutes() != 2 {
		t.Errorf("other = %+v", other)
	}
	if c.Hook("nope") != nil {
		t.Error("Hook(nope) is not nil")
	}
}

func TestLoadClient_Defaults(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.toml")
	os.WriteFile(p, []byte("[[hook]]\nid = \"a\"\n"), 0o600)
	c, err := LoadClient(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminListen != DefaultAdminListen || c.ServerListen != DefaultListen || filepath.Base(c.StorePath) != DefaultStorePath {
		t.Errorf("defaults: %q %q %q", c.AdminListen, c.ServerListen, c.StorePath)
	}
	if tok, err := c.AdminToken(); tok != nil || err != nil {
		t.Errorf("AdminToken = %v, %v; want none", tok, err)
	}
}

func TestLoadClient_Errors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadClient(filepath.Join(dir, "missing.toml")); err == nil {
		t.Error("missing file: no error")
	}
	p := filepath.Join(dir, "bad.toml")
	os.WriteFile(p, []byte("[admin]\nlisten = \n"), 0o600)
	_, err := LoadClient(p)
	if err == nil || !strings.Contains(err.Error(), p+":2:") {
		t.Errorf("bad TOML: error = %v; want FILE:LINE", err)
	}
}

// A file Load takes, LoadClient takes: a list of one written as a string
// (events = "push") too.
func TestLoadClient_ListAsString(t *testing.T) {
	p := filepath.Join(t.TempDir(), "w.toml")
	src := "[server]\nlisten = \":443\"\nacme_domains = \"hooks.example.com\"\n[[hook]]\nid = \"site\"\nprovider = \"github\"\nsecrets = \"s3cret\"\nevents = \"push\"\n"
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(p); err != nil {
		t.Fatalf("Load: %v", err)
	}
	c, err := LoadClient(p)
	if err != nil {
		t.Fatalf("LoadClient of a file Load takes: %v", err)
	}
	if !slices.Equal(c.ACMEDomains, []string{"hooks.example.com"}) || !slices.Equal(c.Hooks[0].Events, []string{"push"}) || len(c.Hooks[0].secrets) != 1 {
		t.Errorf("client = %+v, hook %+v", c, c.Hooks[0])
	}
	// A list of something else is still an error, with its line.
	if err := os.WriteFile(p, []byte("[[hook]]\nid = \"site\"\nevents = [1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadClient(p); err == nil || !strings.Contains(err.Error(), "must be a string") {
		t.Errorf("events = [1]: %v; want an error", err)
	}
}
