package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const good = `
[server]
listen = "127.0.0.1:0"
max_body = "2MiB"

[store]
path = "data/w.db"
retention = "7d"

[[hook]]
id = "site"
provider = "github"
secret = "s3cret"
events = ["push"]

  [[hook.action]]
  name = "deploy"
  when = 'event == "push" && payload.ref == "refs/heads/main"'
  run = ["./deploy.sh", "{{ .payload.after }}"]
  env = { REPO = "{{ .payload.repository.full_name }}" }
  concurrency = 1
  coalesce = true
  retries = 2
  backoff = "10s"

  [[hook.action]]
  name = "relay"
  url = "https://example.com/in"
  headers = { X-Token = "abc" }
  sign = { scheme = "standard", secret = "whsec_abcd" }
`

func TestParse_Good(t *testing.T) {
	cfg, warns, err := Parse("/etc/webhookd/webhookd.toml", []byte(good))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings = %v; want none", warns)
	}
	if cfg.Server.MaxBody != 2<<20 || cfg.Store.Retention != 7*24*time.Hour {
		t.Errorf("server/store = %+v %+v", cfg.Server, cfg.Store)
	}
	if cfg.Store.Path != "/etc/webhookd/data/w.db" {
		t.Errorf("store path = %q; want it beside the config", cfg.Store.Path)
	}
	h := cfg.Hook("site")
	if h == nil || h.Path != "/hooks/site" || h.Line != 10 || len(h.Secrets) != 1 {
		t.Fatalf("hook = %+v", h)
	}
	d := h.Action("deploy")
	if d == nil || d.Line != 16 || d.Dir != "/etc/webhookd" || d.Base != "/etc/webhookd" || len(d.Run) != 2 || d.Retries != 2 || !d.Coalesce || d.Timeout != DefaultExecTimeout {
		t.Fatalf("deploy = %+v", d)
	}
	r := h.Action("relay")
	if r == nil || !r.IsHTTP() || r.Method != "POST" || r.Retries != DefaultHTTPRetries || r.Timeout != DefaultHTTPTimeout || r.Sign == nil {
		t.Fatalf("relay = %+v", r)
	}
	if cfg.Admin.Listen != DefaultAdminListen || cfg.Server.ShutdownTimeout != DefaultShutdownTimeout {
		t.Errorf("defaults: admin %q, shutdown %v", cfg.Admin.Listen, cfg.Server.ShutdownTimeout)
	}
}

// TestParse_Errors: every problem is reported with its line.
func TestParse_Errors(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		src  string
		want string // FILE:LINE: part of the message
	}{
		{"syntax", "[server\nlisten = 1", "c.toml:2: expected"},
		{"unquoted secret", hook("provider = \"github\"\nsecret = hunter2-super-secret"), `c.toml:4: expected value but found text instead`},
		{"secret then more", hook("provider = \"github\"\nsecret = 123abc"), `c.toml:4: expected a top-level item to end with a newline, comment, or EOF, but got text instead`},
		{"unknown top key", "\nfoo = 1", `c.toml:2: unknown key "foo"`},
		{"unknown server key", "[server]\nlisten = \":1\"\nlistne = \":2\"", `c.toml:3: unknown key "listne" in [server]`},
		{"bad duration", "[server]\n\nshutdown_timeout = \"30 secs\"", `c.toml:3: shutdown_timeout: bad duration`},
		{"bad size", "[server]\nmax_body = \"lots\"", `c.toml:2: max_body: bad size`},
		{"rate_limit below one a day", "[server]\nrate_limit = 1e-12", `c.toml:2: rate_limit 1e-12 is less than one request a day per client`},
		{"wrong type", "[server]\nmax_body = true", `c.toml:2: max_body must be a size`},
		{"admin beyond loopback", "[admin]\nlisten = \"0.0.0.0:9001\"", `c.toml:2: admin listen "0.0.0.0:9001" reaches beyond this machine`},
		{"unknown provider", hook("provider = \"gitbub\"\nsecret = \"x\""), `c.toml:3: hook "h": unknown provider "gitbub"`},
		{"missing secret", hook("provider = \"github\""), `c.toml:1: hook "h": provider github needs a secret`},
		{"env secret unset", hook("provider = \"github\"\nsecret = \"env:WEBHOOKD_TEST_UNSET_VAR\""), `c.toml:4: hook "h": secret 1: environment variable WEBHOOKD_TEST_UNSET_VAR is not set (a running webhookd has the environment it started with: restart it to pass a new one)`},
		{"file secret missing", hook("provider = \"github\"\nsecret = \"file:nope.txt\""), `c.toml:4: hook "h": secret 1: secret file:`},
		{"param for other provider", hook("provider = \"github\"\nsecret = \"x\"\npublic_key = \"ab\""), `c.toml:5: hook "h": public_key does not apply to provider github`},
		{"bad hook id", "[[hook]]\nid = \"a b\"\nprovider = \"none\"", `c.toml:2: hook id "a b"`},
		{"duplicate hook", hook("provider = \"none\"") + "\n" + hook("provider = \"none\""), `c.toml:5: duplicate hook id "h" (first at line 1)`},
		{"second hook's error line", hook("provider = \"none\"") + "\n[[hook]]\nid = \"g\"\nprovider = \"none\"\nbogus = 1", `c.toml:7: unknown key "bogus" in [[hook]]`},
		{"bad when", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nwhen = 'event =='"), `c.toml:7: hook "h" action "a": when:`},
		{"unknown when name", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nwhen = 'evnt == \"push\"'"), `c.toml:7: hook "h" action "a": when:`},
		{"bad template", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\", \"{{ .payload.after \"]"), `c.toml:6: hook "h" action "a": run[1]: template:`},
		{"misspelt template field", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\", \"{{ .paylod.after }}\"]"), `c.toml:6: hook "h" action "a": run[1]: template: 1: no field .paylod`},
		{"template function arity", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\", \"{{ trimPrefix .payload.ref }}\"]"), `c.toml:6: hook "h" action "a": run[1]: template: 1: wrong number of args for trimPrefix: want 2 got 1`},
		{"template field in env", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nenv = { REF = \"{{ .hedaers.x }}\" }"), `c.toml:7: hook "h" action "a": env.REF: template: 1: no field .hedaers`},
		{"run as string", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = \"deploy.sh\""), `c.toml:6: hook "h" action "a": run is an argv list`},
		{"neither run nor url", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\""), `c.toml:4: hook "h" action "a" needs run (a command) or url`},
		{"both run and url", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nurl = \"http://x\""), `c.toml:7: hook "h" action "a": set run (a command) or url`},
		{"duplicate action", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\n[[hook.action]]\nname = \"a\"\nrun = [\"y\"]"), `c.toml:8: hook "h": duplicate action name "a"`},
		{"path with dot-dot", "[[hook]]\nid = \"h\"\npath = \"/hooks/../x\"\nprovider = \"none\"", `c.toml:3: hook "h": path "/hooks/../x" has //, . or .. segments, which clients and proxies rewrite; write it as "/x"`},
		{"path with double slash", "[[hook]]\nid = \"h\"\npath = \"/hooks//x\"\nprovider = \"none\"", `c.toml:3: hook "h": path "/hooks//x" has //`},
		{"path of a double slash alone", "[[hook]]\nid = \"h\"\npath = \"//\"\nprovider = \"none\"", `c.toml:3: hook "h": path "//" has //`},
		{"backoff zero", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nbackoff = \"0s\""), `c.toml:7: hook "h" action "a": backoff must be more than 0`},
		{"concurrency range", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nconcurrency = 0"), `c.toml:7: concurrency must be from 1 to 1000`},
		{"http key on exec", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nmethod = \"PUT\""), `c.toml:7: hook "h" action "a": method is for HTTP actions`},
		{"bad env name", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nenv = { \"A-B\" = \"1\" }"), `c.toml:7: hook "h" action "a": "A-B" is not an environment variable name`},
		// The limits of [[hook.action]] in the README's table.
		{"action name too long", hook("provider = \"none\"\n[[hook.action]]\nname = \"" + strings.Repeat("a", 65) + "\"\nrun = [\"x\"]"), `c.toml:5: hook "h": action name "` + strings.Repeat("a", 65) + `": use letters, digits, - and _ (at most 64)`},
		{"action name with a dot", hook("provider = \"none\"\n[[hook.action]]\nname = \"de.ploy\"\nrun = [\"x\"]"), `c.toml:5: hook "h": action name "de.ploy": use letters, digits, - and _ (at most 64)`},
		{"concurrency over 1000", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nconcurrency = 1001"), `c.toml:7: concurrency must be from 1 to 1000, not 1001`},
		{"retries over 1000", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nretries = 1001"), `c.toml:7: retries must be from 0 to 1000, not 1001`},
		{"env webhookd sets", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nenv = { WEBHOOKD_ATTEMPT = \"1\" }"), `c.toml:7: hook "h" action "a": env WEBHOOKD_ATTEMPT is set by webhookd for every run; an action's env cannot change it`},
		{"hook as table", "[hook]\nid = \"x\"", `c.toml:1: hook must be written [[hook]]`},
		{"standard secret whsec cut short", hook("provider = \"standard\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS\"\nbogus = 1"), `c.toml:4: hook "h": secret 1: a "whsec_" secret is base64 after its prefix`},
		{"sign secret whsec cut short", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nurl = \"http://x\"\nsign = { secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS\" }"), `c.toml:7: hook "h" action "a": sign secret: a "whsec_" secret is base64 after its prefix`},
		{"hmac needs header", hook("provider = \"hmac\"\nsecret = \"x\""), `c.toml:1: hook "h": provider hmac needs header`},
		{"tls half", "[server]\ntls_cert = \"a.pem\"", `c.toml:2: tls_cert and tls_key go together`},
		{"key uses id", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nkey = \"k-{{ .id }}\""), `c.toml:7: hook "h" action "a": key cannot use .id`},
		{"sendgrid key not P-256", hook("provider = \"sendgrid\"\npublic_key = \"" + base64.StdEncoding.EncodeToString(der) + "\""), `c.toml:4: hook "h": public_key is not an ECDSA P-256 key`},
		{"url without scheme, cut", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nurl = \"hooks.slack.com/services/T0/B0/s3cretpath\""), `c.toml:6: hook "h" action "a": url "hooks.slack.com/…" must start with http:// or https://`},
		{"percent in path", hook("provider = \"none\"\npath = \"/hooks/a%20b\""), `c.toml:4: hook "h": path "/hooks/a%20b" must start with / and hold no ?, #, % or spaces`},
		{"url without scheme, no password", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nurl = \"deploy:hunter2pass@ci.example.com/hooks/x\""), `c.toml:6: hook "h" action "a": url "…@ci.example.com/…" must start`},
		{"NaN days", "[store]\nretention = \"NaNd\"", `c.toml:2: retention: bad duration`},
		{"listen port too big", "[server]\nlisten = \"127.0.0.1:99999\"", `c.toml:2: listen "127.0.0.1:99999": port 99999 is outside 0 to 65535`},
		{"admin port negative", "[admin]\nlisten = \"127.0.0.1:-1\"", `c.toml:2: listen "127.0.0.1:-1": port -1 is outside 0 to 65535`},
		{"admin socket too long", "[admin]\nlisten = \"unix:/run/" + strings.Repeat("a", 110) + ".sock\"", `c.toml:2: listen unix:/run/` + strings.Repeat("a", 110) + `.sock: a socket path is at most 107 bytes, this one 120`},
		{"acme_http port", "[server]\nacme_domains = [\"a.example\"]\nacme_http = \":http-ish\"", `c.toml:3: acme_http ":http-ish": port "http-ish" is neither a number from 0 to 65535 nor a service name`},
		{"admin port too big", "[admin]\nlisten = \"127.0.0.1:70000\"", `c.toml:2: listen "127.0.0.1:70000": port 70000 is outside 0 to 65535`},
		{"listen without port", "[server]\nlisten = \"127.0.0.1\"", `c.toml:2: listen "127.0.0.1": want host:port, such as ":9000"`},
		{"admin listen without port", "[admin]\nlisten = \"localhost\"", `c.toml:2: listen "localhost": want host:port, unix:/path or off`},
		{"byte order mark", "\ufeff[server]\nlisten = \":1\"\nmax_bdy = \"2MiB\"", `c.toml:3: unknown key "max_bdy" in [server]`},
		{"action as table", hook("provider = \"none\"\n[hook.action]\nname = \"a\"\nrun = [\"x\"]"), `c.toml:4: action must be written [[hook.action]] (an array of tables), not [hook.action]`},
		{"key uses $.id", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\nkey = '{{ with .payload }}{{ $.id }}{{ end }}'"), `c.toml:7: hook "h" action "a": key cannot use .id`},
		// A max_body of 0 would refuse every delivery with 413.
		{"server max_body zero", "[server]\nmax_body = \"0\"", `c.toml:2: max_body must be more than 0`},
		{"hook max_body zero", hook("provider = \"none\"\nmax_body = \"0\""), `c.toml:4: hook "h": max_body must be more than 0`},
		{"space in path", hook("provider = \"none\"\npath = \"/hooks/a b\""), `c.toml:4: hook "h": path "/hooks/a b" must start with / and hold no ?, #, % or spaces`},
		// 108 bytes: one past what a client can connect to.
		{"admin socket one byte too long", "[admin]\nlisten = \"unix:/" + strings.Repeat("a", 107) + "\"", `c.toml:2: listen unix:/` + strings.Repeat("a", 107) + `: a socket path is at most 107 bytes, this one 108`},
		{"required param blank", hook("provider = \"twilio\"\nsecret = \"x\"\npublic_url = \"  \""), `c.toml:5: hook "h": provider twilio needs public_url, and it is empty`},
		{"discord public_key short", hook("provider = \"discord\"\npublic_key = \"abcd\""), `c.toml:4: hook "h": public_key must be the application's public key: 64 hex characters`},
		{"empty command", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"\", \"x\"]"), `c.toml:6: hook "h" action "a": run's first element is the command and must not be empty`},
		{"timeout zero", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\"]\ntimeout = \"0s\""), `c.toml:7: hook "h" action "a": timeout must be more than 0`},
		// An empty list let every address deliver, as no allow_ips does:
		// a list a template left empty opened the hook to all.
		{"allow_ips empty", hook("provider = \"none\"\nallow_ips = []"), `c.toml:4: hook "h": allow_ips is empty`},
		// Matched whole: "*" (GitHub's and Stripe's word for every event)
		// matched no delivery, and every one was ignored.
		{"events wildcard", hook("provider = \"github\"\nsecret = \"x\"\nevents = [\"*\"]"), `c.toml:5: hook "h": events: "*" is matched as a whole event type`},
		{"events pattern", hook("provider = \"stripe\"\nsecret = \"x\"\nevents = [\"invoice.paid\", \"customer.*\"]"), `c.toml:5: hook "h": events: "customer.*" is matched as a whole event type`},
		{"sign scheme", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nurl = \"http://x\"\nsign = { scheme = \"svix\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }"), `hook "h" action "a": sign scheme "svix": want standard`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("c.toml", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse = nil error; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error =\n%v\nwant it to contain %q", err, tc.want)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T does not unwrap to *config.Error", err)
			}
		})
	}
}

func hook(rest string) string { return "[[hook]]\nid = \"h\"\n" + rest }

func TestParse_AllErrorsAtOnce(t *testing.T) {
	src := "[server]\nlisten = 5\nbogus = 1\n[store]\nretention = \"x\"\n"
	_, _, err := Parse("c.toml", []byte(src))
	var es Errors
	if !errors.As(err, &es) || len(es) != 3 {
		t.Fatalf("Parse = %v; want 3 errors", err)
	}
	for i, line := range []int{2, 3, 5} {
		if es[i].Line != line {
			t.Errorf("error %d at line %d; want %d (%v)", i, es[i].Line, line, es[i])
		}
	}
}

func TestParse_NoneWarns(t *testing.T) {
	_, warns, err := Parse("c.toml", []byte(hook("provider = \"none\"")))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "provider none") {
		t.Errorf("warnings = %q; want one about provider none", warns)
	}
}

// TestParse_TemplateBranchWarns: a template mistake in a part some runs
// skip loads (the template renders for the other events, as before the
// check) and is a warning at its line; the same mistake where every run
// gets to it is an error (TestParse_Errors).
func TestParse_TemplateBranchWarns(t *testing.T) {
	src := hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nrun = [\"x\", \"{{ if .payload.ref }}{{ .payload.ref }}{{ else }}{{ .refname }}{{ end }}\"]")
	_, warns, err := Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := `c.toml:6: hook "h" action "a": run[1]: template: 1: no field .refname`
	if !slices.ContainsFunc(warns, func(w string) bool { return strings.HasPrefix(w, want) }) {
		t.Errorf("warnings = %q; want one starting %q", warns, want)
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gh.secret"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WEBHOOKD_TEST_SECRET", "from-env")
	src := hook(`provider = "github"
secrets = ["env:WEBHOOKD_TEST_SECRET", "file:gh.secret", "literal-one"]`)
	cfg, _, err := Parse(filepath.Join(dir, "c.toml"), []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range cfg.Hooks[0].Secrets {
		got = append(got, string(s.Value()))
		for _, shown := range []string{s.String(), s.GoString(), s.LogValue().String()} {
			if strings.Contains(shown, string(s.Value())) {
				t.Errorf("secret shows its value: %q", shown)
			}
		}
		if b, _ := s.MarshalJSON(); strings.Contains(string(b), string(s.Value())) {
			t.Errorf("secret JSON shows its value: %s", b)
		}
	}
	if strings.Join(got, ",") != "from-env,from-file,literal-one" {
		t.Errorf("secrets = %q", got)
	}
}

func TestParseSizeAndDuration(t *testing.T) {
	sizes := map[string]int64{"1MiB": 1 << 20, "512KiB": 512 << 10, "10MB": 10e6, "100": 100, "1.5KiB": 1536, "2G": 2 << 30}
	for s, want := range sizes {
		if got, err := ParseSize(s); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "x", "-1", "1XB", "1e400"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) = nil error", s)
		}
	}
	durs := map[string]time.Duration{"30s": 30 * time.Second, "720h": 720 * time.Hour, "30d": 720 * time.Hour, "1h30m": 90 * time.Minute}
	for s, want := range durs {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "30", "-1s", "1 week"} {
		if _, err := ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) = nil error", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(good)
	f.Add(hook("provider = \"none\""))
	f.Add("[server]\nlisten = 5")
	f.Fuzz(func(t *testing.T, src string) {
		cfg, _, err := Parse("f.toml", []byte(src))
		if err == nil && cfg == nil {
			t.Fatal("Parse returned neither a config nor an error")
		}
	})
}

// TestParse_SecretNotInSyntaxErrors: a secret written without quotes, or
// with the wrong ones, does not appear in the error the file gives, which
// goes to the log, /api/status, the dashboard and `check`; neither for the
// daemon nor for the commands that read the config.
func TestParse_SecretNotInSyntaxErrors(t *testing.T) {
	dir := t.TempDir()
	for _, secret := range []string{"hunter2-super-secret", "0987654321987654321", "98765432109876543210987654321",
		"0x1234567890abcdefABCDEF1234", "0123456789abcdef0123456789abcd", "2026-13-45T99:00:00Z", "1e999999", "123abc"} {
		src := "[[hook]]\nid = \"h\"\nprovider = \"github\"\nsecret = " + secret + "\n"
		path := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := Parse(path, []byte(src))
		_, cerr := LoadClient(path)
		for _, e := range []error{err, cerr} {
			if e == nil || !strings.Contains(e.Error(), "c.toml:4") {
				t.Errorf("secret = %s: error %v; want one at line 4", secret, e)
				continue
			}
			msg := e.Error()[strings.Index(e.Error(), "c.toml:4"):]
			for i := 0; i+4 <= len(secret); i++ {
				if strings.Contains(msg, secret[i:i+4]) {
					t.Errorf("secret = %s: the error shows part of it: %v", secret, e)
					break
				}
			}
		}
	}
}

// TestParse_TLSPair: a tls_cert and tls_key that do not load as a pair (a
// key of another certificate, a file that is not PEM) are an error for
// check (CheckTLSPair), at tls_cert's line, as serve would fail at start; a
// good pair is not. Loading the file, as a reload does, does not fail on
// them: certbot may be halfway through a renewal.
func TestParse_TLSPair(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range []string{"a", "b"} {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		write(name+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		write(name+".key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	}
	write("junk.crt", []byte("not a certificate\n"))
	for _, tc := range []struct {
		cert, key string
		ok        bool
	}{{"a.crt", "a.key", true}, {"a.crt", "b.key", false}, {"junk.crt", "a.key", false}} {
		src := "[server]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"" + tc.cert + "\"\ntls_key = \"" + tc.key + "\"\n"
		cfg, _, err := Parse(filepath.Join(dir, "c.toml"), []byte(src))
		if err != nil {
			t.Errorf("%s and %s: Parse = %v; want ok (a reload must not fail on a pair being renewed)", tc.cert, tc.key, err)
			continue
		}
		err = cfg.CheckTLSPair()
		if tc.ok && err != nil {
			t.Errorf("%s and %s: %v; want ok", tc.cert, tc.key, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "c.toml:3: tls_cert and tls_key:")) {
			t.Errorf("%s and %s: %v; want an error at line 3", tc.cert, tc.key, err)
		}
	}
}

// TestParsePrefix: an address or a CIDR written IPv4-mapped is the IPv4
// one, as client addresses are compared unmapped.
func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/8": "10.0.0.0/8", "10.1.2.3": "10.1.2.3/32", "::ffff:10.1.2.3": "10.1.2.3/32",
		"::ffff:10.0.0.0/104": "10.0.0.0/8", "::ffff:192.0.2.5/128": "192.0.2.5/32", "fe80::/10": "fe80::/10",
	} {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
}

// TestParse_TokenNotAString: a token that is not a string is one error,
// not also "token is empty".
func TestParse_TokenNotAString(t *testing.T) {
	_, _, err := Parse("c.toml", []byte("[admin]\ntoken = 123\n"))
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 || !strings.Contains(es[0].Msg, "must be a string") {
		t.Errorf("token = 123: %v; want one error, that it must be a string", err)
	}
}

// TestParse_EventsWithoutEventType: events on a hook whose provider gives
// no event type (telegram, twilio, sendgrid; hmac, token, basic and none
// without event_header) would answer every delivery 200 "ignored" and
// store none: an error at the events line, not a hook that drops all.
func TestParse_EventsWithoutEventType(t *testing.T) {
	bad := []struct{ name, src string }{
		{"telegram", "provider = \"telegram\"\nsecret = \"x\"\nevents = [\"message\"]"},
		{"twilio", "provider = \"twilio\"\nsecret = \"x\"\npublic_url = \"https://h.example/hooks/h\"\nevents = [\"sms\"]"},
		{"token without event_header", "provider = \"token\"\nsecret = \"x\"\nevents = [\"push\"]"},
		{"none without event_header", "provider = \"none\"\nevents = [\"push\"]"},
		{"hmac without event_header", "provider = \"hmac\"\nsecret = \"x\"\nheader = \"X-Sig\"\nevents = [\"push\"]"},
		{"token with event_header empty", "provider = \"token\"\nsecret = \"x\"\nevent_header = \"\"\nevents = [\"push\"]"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			src := hook(tc.src)
			_, _, err := Parse("c.toml", []byte(src))
			line := strings.Count(src[:strings.Index(src, "events")], "\n") + 1
			want := fmt.Sprintf(`c.toml:%d: hook "h": events:`, line)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Parse = %v; want an error containing %q", err, want)
			}
		})
	}
	good := []string{
		"provider = \"token\"\nsecret = \"x\"\nevent_header = \"X-Event\"\nevents = [\"push\"]",
		"provider = \"telegram\"\nsecret = \"x\"\nevents = []",
		"provider = \"github\"\nsecret = \"x\"\nevents = [\"push\"]",
	}
	for _, src := range good {
		if _, _, err := Parse("c.toml", []byte(hook(src))); err != nil {
			t.Errorf("Parse(%q) = %v; want no error", src, err)
		}
	}
}

// TestParse_SecretWrongType: a secret that is not a string is one error,
// saying so, not also a claim that the secret is empty or missing.
func TestParse_SecretWrongType(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"hook secret", hook("provider = \"github\"\nsecret = 12345"), `c.toml:4: secret must be a string, not an integer`},
		{"hook secrets", hook("provider = \"github\"\nsecrets = [12345]"), `c.toml:4: secrets[0] must be a string, not an integer`},
		{"sign secret", hook("provider = \"none\"\n[[hook.action]]\nname = \"a\"\nurl = \"https://x.example\"\nsign = { secret = 12345 }"), `c.toml:7: secret must be a string, not an integer`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("c.toml", []byte(tc.src))
			var es Errors
			if !errors.As(err, &es) || len(es) != 1 || es[0].Error() != tc.want {
				t.Errorf("Parse = %v; want the one error %q", err, tc.want)
			}
		})
	}
}

// TestParse_EnvSecretEmpty: a variable that is set but empty is reported
// as empty, not as unset (which sends the user looking for a missing one).
func TestParse_EnvSecretEmpty(t *testing.T) {
	t.Setenv("WEBHOOKD_TEST_EMPTY_SECRET", "")
	_, _, err := Parse("c.toml", []byte(hook("provider = \"github\"\nsecret = \"env:WEBHOOKD_TEST_EMPTY_SECRET\"")))
	want := `c.toml:4: hook "h": secret 1: environment variable WEBHOOKD_TEST_EMPTY_SECRET is empty`
	if err == nil || err.Error() != want {
		t.Errorf("Parse = %v; want %q", err, want)
	}
}

// TestParse_ListenersShareAPort: listeners that cannot both be bound
// (the same port, on the same address or one of them on all of them)
// are a config error, as serve would fail to start on them; check
// passes only a file serve starts on.
func TestParse_ListenersShareAPort(t *testing.T) {
	bad := []struct{ name, src, want string }{
		{"admin on the server's address", "[server]\nlisten = \"127.0.0.1:9000\"\n[admin]\nlisten = \"127.0.0.1:9000\"", `c.toml:4: admin listen "127.0.0.1:9000" and server listen "127.0.0.1:9000" use the same port`},
		{"admin under the server's wildcard", "[server]\nlisten = \":9001\"", `admin listen "127.0.0.1:9001" and server listen ":9001" use the same port`},
		{"server under the admin's wildcard", "[server]\nlisten = \"127.0.0.1:8000\"\n[admin]\nlisten = \"0.0.0.0:8000\"\ntoken = \"t\"", `c.toml:4: admin listen "0.0.0.0:8000" and server listen "127.0.0.1:8000" use the same port`},
		{"acme_http on the server's port", "[server]\nlisten = \":443\"\nacme_domains = [\"a.example\"]\nacme_http = \"[::]:443\"", `c.toml:4: acme_http "[::]:443" and server listen ":443" use the same port`},
		{"service name", "[server]\nlisten = \":http\"\nacme_domains = [\"a.example\"]\nacme_http = \":80\"", `acme_http ":80" and server listen ":http" use the same port`},
		{"admin under the server's IPv6 wildcard", "[server]\nlisten = \"[::]:9001\"", `admin listen "127.0.0.1:9001" and server listen "[::]:9001" use the same port`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("c.toml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v; want an error containing %q", err, tc.want)
			}
		})
	}
	good := []string{
		"[server]\nlisten = \"127.0.0.1:9000\"\n[admin]\nlisten = \"127.0.0.2:9000\"",
		"[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"",
		"[server]\nlisten = \":9001\"\n[admin]\nlisten = \"unix:/run/w.sock\"",
		"[server]\nlisten = \":9001\"\n[admin]\nlisten = \"off\"",
		"[server]\nlisten = \":443\"\nacme_domains = [\"a.example\"]\nacme_http = \":80\"",
	}
	for _, src := range good {
		if _, _, err := Parse("c.toml", []byte(src)); err != nil {
			t.Errorf("Parse(%q) = %v; want no error", src, err)
		}
	}
}

// TestParse_StorePathIsADirectory: a store path naming a directory (the
// database's directory rather than its file) is a config error with its
// line, which check reports, rather than a start that fails on it.
func TestParse_StorePathIsADirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, _, err := Parse(filepath.Join(dir, "c.toml"), []byte("[store]\n\npath = \"data\""))
	want := filepath.Join(dir, "c.toml") + `:3: store path ` + filepath.Join(dir, "data") + ` is a directory`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse = %v; want an error containing %q", err, want)
	}
	if _, _, err := Parse(filepath.Join(dir, "c.toml"), []byte("[store]\npath = \"data/w.db\"")); err != nil {
		t.Errorf("a file in it: %v", err)
	}
}

// TestParse_RequiredParamEmpty: a required provider key written empty is
// an error at its line from Parse, with the file's other errors, not one
// found only later at the [[hook]] line when the provider is built.
func TestParse_RequiredParamEmpty(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"hmac header", hook("provider = \"hmac\"\nsecret = \"x\"\nheader = \"\""), `c.toml:5: hook "h": provider hmac needs header`},
		{"twilio public_url", hook("provider = \"twilio\"\nsecret = \"x\"\npublic_url = \"\""), `c.toml:5: hook "h": provider twilio needs public_url`},
		{"basic username", hook("provider = \"basic\"\nsecret = \"x\"\nusername = \"\""), `c.toml:5: hook "h": provider basic needs username`},
		{"discord public_key", hook("provider = \"discord\"\npublic_key = \"\""), `c.toml:4: hook "h": provider discord needs public_key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("c.toml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestSecrets_TrailingNewline: a trailing newline is no part of a secret,
// from a file (echo s3cret > file) or a variable (a Kubernetes secret made
// from such a file, passed as an environment variable), so that both
// verify what the sender signs with.
func TestSecrets_TrailingNewline(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s"), []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WEBHOOKD_TEST_NL_SECRET", "from-env\n")
	cfg, _, err := Parse(filepath.Join(dir, "c.toml"), []byte(hook("provider = \"github\"\nsecrets = [\"file:s\", \"env:WEBHOOKD_TEST_NL_SECRET\"]")))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"from-file", "from-env"} {
		if got := string(cfg.Hooks[0].Secrets[i].Value()); got != want {
			t.Errorf("secret %d = %q; want %q", i+1, got, want)
		}
	}
	t.Setenv("WEBHOOKD_TEST_NL_SECRET", "\n")
	if _, _, err := Parse(filepath.Join(dir, "c.toml"), []byte(hook("provider = \"github\"\nsecret = \"env:WEBHOOKD_TEST_NL_SECRET\""))); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("a variable holding only a newline: %v; want it reported empty", err)
	}
}

// TestParse_SharedPortDefaultAdmin: a listen on the default admin port
// (the [admin] listen not written) is reported at the line the user
// wrote, server's listen, not without a line.
func TestParse_SharedPortDefaultAdmin(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"no [admin]", "[server]\nlisten = \":9001\"\n", `c.toml:2: admin listen "127.0.0.1:9001" and server listen ":9001" use the same port`},
		{"[admin] without listen", "[server]\nlisten = \":9001\"\n[admin]\ntoken = \"t\"\n", `c.toml:2: admin listen "127.0.0.1:9001" and server listen ":9001" use the same port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("c.toml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestParse_HookPathsThatStay: the path check refuses what clients
// rewrite, not a path served as written: the root, a trailing slash.
func TestParse_HookPathsThatStay(t *testing.T) {
	for _, p := range []string{"/", "/github/", "/hooks/a.b", "/hooks/..x"} {
		if _, _, err := Parse("c.toml", []byte("[[hook]]\nid = \"h\"\npath = \""+p+"\"\nprovider = \"none\"")); err != nil {
			t.Errorf("path %q: %v; want no error", p, err)
		}
	}
}

// TestParse_AcceptedAtTheLimits: what the checks above must still let
// through: an admin listener on localhost (by name or as [::1]) needs no
// token, a socket path of 107 bytes is one a client can connect to, and
// a public_url may be http:// (a proxy's inner address).
func TestParse_AcceptedAtTheLimits(t *testing.T) {
	for _, src := range []string{
		"[admin]\nlisten = \"localhost:9001\"",
		"[admin]\nlisten = \"[::1]:9001\"",
		"[admin]\nlisten = \"unix:/" + strings.Repeat("a", 106) + "\"",
		hook("provider = \"twilio\"\nsecret = \"x\"\npublic_url = \"http://hooks.example/in\""),
	} {
		if _, _, err := Parse("c.toml", []byte(src)); err != nil {
			t.Errorf("Parse(%q) = %v; want no error", src, err)
		}
	}
}

// TestSecrets_EmptyFile: a file: secret that holds nothing (or only a
// line ending) is an error, not an empty key that anyone can sign with.
func TestSecrets_EmptyFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty": "", "newline": "\n", "crlf": "\r\n"} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "s"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := Parse(filepath.Join(dir, "c.toml"), []byte(hook("provider = \"github\"\nsecret = \"file:s\"")))
			if err == nil || !strings.Contains(err.Error(), "c.toml:4: hook \"h\": secret 1: secret file "+filepath.Join(dir, "s")+" is empty") {
				t.Errorf("Parse with a secret file holding %q = %v; want it reported empty", content, err)
			}
		})
	}
}

// TestParse_TrustedProxiesEveryAddressWarns: trusted_proxies that hold
// every address believe any client's X-Forwarded-For, so that a client
// names itself an address allow_ips lets in: a warning at its line.
func TestParse_TrustedProxiesEveryAddressWarns(t *testing.T) {
	for _, p := range []string{"0.0.0.0/0", "::/0"} {
		_, warns, err := Parse("c.toml", []byte("[server]\nlisten = \":1\"\ntrusted_proxies = [\"127.0.0.1\", \""+p+"\"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		want := `c.toml:3: trusted_proxies ` + p + ` holds every address`
		if !slices.ContainsFunc(warns, func(w string) bool { return strings.HasPrefix(w, want) }) {
			t.Errorf("trusted_proxies with %s: warnings = %q; want one starting %q", p, warns, want)
		}
	}
	if _, warns, err := Parse("c.toml", []byte("[server]\nlisten = \":1\"\ntrusted_proxies = [\"127.0.0.1\", \"::1\", \"10.0.0.0/8\"]\n")); err != nil || len(warns) != 0 {
		t.Errorf("trusted_proxies of a proxy's addresses: %v, warnings %q; want none", err, warns)
	}
}

// TestParse_BackoffWithoutRetriesWarns: backoff on an action that is never
// retried (a command's retries default to 0) changes nothing: a warning at
// its line, so that nobody counts on retries that do not come.
func TestParse_BackoffWithoutRetriesWarns(t *testing.T) {
	tests := []struct {
		name, action string
		warn         bool
	}{
		{"command, retries unset", "run = [\"x\"]\nbackoff = \"1m\"", true},
		{"command, retries 0", "run = [\"x\"]\nretries = 0\nbackoff = \"1m\"", true},
		{"command with retries", "run = [\"x\"]\nretries = 2\nbackoff = \"1m\"", false},
		{"request, retries by default", "url = \"https://example.com/\"\nbackoff = \"1m\"", false},
		{"no backoff", "run = [\"x\"]", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, warns, err := Parse("c.toml", []byte(hook("provider = \"github\"\nsecret = \"x\"\n[[hook.action]]\nname = \"a\"\n"+tc.action)))
			if err != nil {
				t.Fatal(err)
			}
			got := slices.ContainsFunc(warns, func(w string) bool { return strings.Contains(w, "backoff without retries") })
			if got != tc.warn {
				t.Errorf("warnings = %q; want a backoff warning: %v", warns, tc.warn)
			}
			if got && !slices.ContainsFunc(warns, func(w string) bool { return strings.HasPrefix(w, "c.toml:") }) {
				t.Errorf("warnings = %q; want FILE:LINE", warns)
			}
		})
	}
}

// TestParse_ActionLimits: the largest values the README's [[hook.action]]
// table allows load: a name of 64 characters, concurrency and retries of
// 1000.
func TestParse_ActionLimits(t *testing.T) {
	name := strings.Repeat("a", 64)
	cfg, _, err := Parse("c.toml", []byte(hook("provider = \"none\"\n[[hook.action]]\nname = \""+name+"\"\nrun = [\"x\"]\nconcurrency = 1000\nretries = 1000")))
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Hook("h").Action(name); a == nil || a.Concurrency != 1000 || a.Retries != 1000 {
		t.Errorf("action = %+v; want %q with concurrency and retries 1000", a, name)
	}
}
