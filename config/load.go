package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/webhookd/webhookd/internal/redact"
	"github.com/webhookd/webhookd/internal/stdwh"
	"github.com/webhookd/webhookd/store"

	"github.com/webhookd/webhookd/tmpl"
)

// Defaults.
const (
	DefaultListen          = ":9000"
	DefaultAdminListen     = "127.0.0.1:9001"
	DefaultMaxBody         = 1 << 20
	DefaultShutdownTimeout = 30 * time.Second
	DefaultStorePath       = "webhookd.db"
	DefaultRetention       = 30 * 24 * time.Hour
	DefaultMinFree         = 64 << 20
	DefaultExecTimeout     = 10 * time.Minute
	DefaultHTTPTimeout     = 30 * time.Second
	DefaultBackoff         = 30 * time.Second
	DefaultHTTPRetries     = 5
)

var (
	reName   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	reEnv    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	reHeader = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// runEnv are the variables webhookd sets for every run of a command
// (README, Actions), after the action's env: one set there would be
// silently replaced.
var runEnv = map[string]bool{
	"WEBHOOKD_EVENT_ID": true, "WEBHOOKD_JOB_ID": true, "WEBHOOKD_HOOK": true, "WEBHOOKD_ACTION": true,
	"WEBHOOKD_EVENT": true, "WEBHOOKD_DELIVERY": true, "WEBHOOKD_ATTEMPT": true, "WEBHOOKD_PAYLOAD_FILE": true,
}

// providerSpec says what a provider needs from its hook.
type providerSpec struct {
	secret   bool     // it needs secret or secrets
	noSecret bool     // it must not have one
	params   []string // provider keys it accepts
	required []string // of those, the ones it needs
	noEvent  bool     // its deliveries carry no event type
	whsec    bool     // a "whsec_" secret is a Standard Webhooks key
}

var providerSpecs = map[string]providerSpec{
	"github":    {secret: true, params: []string{"allow_sha1"}},
	"gitlab":    {secret: true, params: []string{"tolerance"}, whsec: true},
	"gitea":     {secret: true},
	"bitbucket": {secret: true},
	"stripe":    {secret: true, params: []string{"tolerance"}},
	"slack":     {secret: true, params: []string{"tolerance"}},
	"shopify":   {secret: true},
	"standard":  {secret: true, params: []string{"tolerance"}, whsec: true},
	"linear":    {secret: true, params: []string{"tolerance"}},
	"paddle":    {secret: true, params: []string{"tolerance"}},
	"twilio":    {secret: true, params: []string{"public_url"}, required: []string{"public_url"}, noEvent: true},
	"zoom":      {secret: true, params: []string{"tolerance"}},
	"twitch":    {secret: true, params: []string{"tolerance"}},
	"discord":   {noSecret: true, params: []string{"public_key", "tolerance"}, required: []string{"public_key"}},
	"telegram":  {secret: true, noEvent: true},
	"sendgrid":  {noSecret: true, params: []string{"public_key", "tolerance"}, required: []string{"public_key"}, noEvent: true},
	"square":    {secret: true, params: []string{"public_url"}, required: []string{"public_url"}},
	"hmac":      {secret: true, params: []string{"header", "algorithm", "encoding", "prefix", "event_header", "delivery_header"}, required: []string{"header"}},
	"token":     {secret: true, params: []string{"header", "event_header", "delivery_header"}},
	"basic":     {secret: true, params: []string{"username", "event_header", "delivery_header"}, required: []string{"username"}},
	"none":      {noSecret: true, params: []string{"event_header", "delivery_header"}},
}

// allParams is every provider parameter key.
var allParams = []string{"header", "algorithm", "encoding", "prefix", "event_header", "delivery_header", "username", "public_key", "public_url", "tolerance", "allow_sha1"}

// Providers lists the provider names a hook may use.
func Providers() []string {
	out := make([]string, 0, len(providerSpecs))
	for name := range providerSpecs {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Load reads, validates and compiles the config file at path. Its error is
// an Errors listing every problem, each as FILE:LINE: message.
func Load(path string) (*Config, []string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(abs, src)
}

// Parse validates and compiles a config file's contents; file names it in
// errors and anchors its relative paths. It returns the config and the
// warnings to log (a hook that verifies nothing, say).
func Parse(file string, src []byte) (*Config, []string, error) {
	cfg, warnings, _, err := parse(file, src)
	return cfg, warnings, err
}

// parse is Parse that also returns the files the config reads (file:
// secrets), as far as it got: nil when the TOML itself does not parse.
func parse(file string, src []byte) (*Config, []string, []string, error) {
	var raw map[string]any
	if _, err := toml.NewDecoder(strings.NewReader(string(src))).Decode(&raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, nil, nil, Errors{{File: file, Line: pe.Position.Line, Msg: redactParse(pe.Message)}}
		}
		return nil, nil, nil, Errors{{File: file, Msg: err.Error()}}
	}
	d := &decoder{file: file, pos: scanPositions(string(src))}
	l := &loader{d: d, dir: filepath.Dir(file)}
	cfg := l.config(d.table("", "the file", raw))
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
		return nil, nil, l.files, d.errs
	}
	cfg.File = file
	return cfg, l.warnings, l.files, nil
}

// The TOML parser's errors quote the text of the file where a value does
// not parse: `found "hunter2" instead`, `got 'a' instead`, `Invalid integer
// "0123456789"`, `invalid datetime: "…"`, `98765… is out of range for
// int64`.
var (
	reFound  = regexp.MustCompile(`(found|got) ("[^"]*"|'[^']*')`)
	reQuoted = regexp.MustCompile(`"[^"]{4,}"|'[^']{4,}'`)
	reRange  = regexp.MustCompile(`^\S+ is out of range for`)
)

// redactParse drops that text from a parse error: the error goes to the
// log, /api/status, the dashboard and `check`, and the value may be a
// secret written without quotes (secret = hunter2). The line number says
// where. What stays quoted is short: the parser's own `'"""'`.
func redactParse(msg string) string {
	msg = reFound.ReplaceAllString(msg, "$1 text")
	msg = reQuoted.ReplaceAllString(msg, `"…"`)
	return reRange.ReplaceAllString(msg, "a number is out of range for")
}

type loader struct {
	d        *decoder
	dir      string
	warnings []string
	files    []string // file: secrets read, absolute
}

func (l *loader) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}

// secret reads a secret reference, noting the file of a file: secret (so
// that a reload watches it, even when it cannot be read yet).
func (l *loader) secret(ref string) (*Secret, error) {
	if p, ok := strings.CutPrefix(ref, "file:"); ok && p != "" {
		l.files = append(l.files, l.abs(p))
	}
	return readSecret(ref, l.dir)
}

func (l *loader) config(t *table) *Config {
	cfg := &Config{}
	cfg.Server = l.server(t.sub("server", "[server]"))
	cfg.Store = l.store(t.sub("store", "[store]"))
	cfg.Admin = l.admin(t.sub("admin", "[admin]"))
	cfg.Log = l.log(t.sub("log", "[log]"))
	l.sharedPorts(cfg)
	hooks := t.tables("hook", "[[hook]]")
	ids := map[string]int{}
	paths := map[string]string{}
	for _, ht := range hooks {
		h := l.hook(ht, cfg.Server.MaxBody)
		if h == nil {
			continue
		}
		if prev, dup := ids[h.ID]; dup {
			l.d.errf(ht.key("id"), "duplicate hook id %q (first at line %d)", h.ID, prev)
			continue
		}
		ids[h.ID] = h.Line
		if other, dup := paths[h.Path]; dup {
			l.d.errf(ht.key("path"), "hook %q: path %s is already hook %q's", h.ID, h.Path, other)
			continue
		}
		paths[h.Path] = h.ID
		cfg.Hooks = append(cfg.Hooks, h)
	}
	t.done()
	return cfg
}

func (l *loader) server(t *table) Server {
	if t == nil {
		t = l.d.table("server", "[server]", nil)
	}
	s := Server{
		Listen:          t.str("listen", DefaultListen),
		MaxBody:         t.size("max_body", DefaultMaxBody),
		ShutdownTimeout: t.duration("shutdown_timeout", DefaultShutdownTimeout),
		TLSCert:         l.abs(t.str("tls_cert", "")),
		TLSKey:          l.abs(t.str("tls_key", "")),
		ACMEDomains:     t.strs("acme_domains"),
		ACMEEmail:       t.str("acme_email", ""),
		ACMEHTTP:        t.str("acme_http", ""),
		ACMEDirectory:   t.str("acme_directory", ""),
		TrustedProxies:  t.prefixes("trusted_proxies"),
		RateLimit:       t.float("rate_limit", 0),
	}
	if msg := badListen(s.Listen, "host:port, such as \":9000\""); msg != "" {
		l.d.errf(t.key("listen"), "listen %q: %s", s.Listen, msg)
	}
	if s.MaxBody <= 0 {
		l.d.errf(t.key("max_body"), "max_body must be more than 0")
	}
	l.maxBodyFits(t, "", s.MaxBody)
	if (s.TLSCert == "") != (s.TLSKey == "") {
		l.d.errf(t.key("tls_cert"), "tls_cert and tls_key go together: set both or neither")
	}
	missing := false
	for _, k := range []struct{ key, path string }{{"tls_cert", s.TLSCert}, {"tls_key", s.TLSKey}} {
		if k.path == "" {
			continue
		}
		if _, err := os.Stat(k.path); err != nil {
			l.d.errf(t.key(k.key), "%s: %v", k.key, err)
			missing = true
		}
	}
	if s.TLSCert != "" && !missing {
		s.TLSLine = l.d.pos.line(t.key("tls_cert"))
	}
	if len(s.ACMEDomains) > 0 && s.TLSCert != "" {
		l.d.errf(t.key("acme_domains"), "acme_domains and tls_cert exclude each other: choose one")
	}
	if s.ACMEHTTP != "" {
		if msg := badListen(s.ACMEHTTP, "host:port, such as \":80\""); msg != "" {
			l.d.errf(t.key("acme_http"), "acme_http %q: %s", s.ACMEHTTP, msg)
		}
	}
	if s.ACMEDirectory != "" && !strings.HasPrefix(s.ACMEDirectory, "https://") {
		l.d.errf(t.key("acme_directory"), "acme_directory %q: want an https:// URL", s.ACMEDirectory)
	}
	if (s.ACMEHTTP != "" || s.ACMEEmail != "" || s.ACMEDirectory != "") && len(s.ACMEDomains) == 0 {
		l.d.errf(t.key("acme_domains"), "acme_email, acme_http and acme_directory need acme_domains")
	}
	if _, port, err := net.SplitHostPort(s.Listen); err == nil && len(s.ACMEDomains) > 0 && port != "443" && s.ACMEHTTP == "" {
		l.warnings = append(l.warnings, fmt.Sprintf("%s:%d: acme_domains with listen on port %s and no acme_http: the CA checks tls-alpn-01 on port 443 and http-01 on port 80, so unless a port forward brings 443 here, no certificate can be obtained; set acme_http = \":80\"", l.d.file, l.d.pos.line(t.key("acme_domains")), port))
	}
	switch {
	case s.RateLimit < 0:
		l.d.errf(t.key("rate_limit"), "rate_limit must not be negative")
	case s.RateLimit > 0 && s.RateLimit < 1.0/86400:
		// A bucket that takes centuries to fill is past what the
		// limiter's durations hold, and would stop limiting.
		l.d.errf(t.key("rate_limit"), "rate_limit %g is less than one request a day per client (it is requests per second): give at least %.3g, or leave it out for no limit", s.RateLimit, 1.0/86400)
	}
	for _, p := range s.TrustedProxies {
		if p.Bits() == 0 {
			// Every client is a trusted proxy: the leftmost address
			// of X-Forwarded-For, which the client writes, is taken.
			l.warnings = append(l.warnings, fmt.Sprintf("%s:%d: trusted_proxies %s holds every address: any client can name itself in X-Forwarded-For and pass allow_ips and rate_limit as any address; list only your proxies' addresses", l.d.file, l.d.pos.line(t.key("trusted_proxies")), p))
		}
	}
	t.done()
	return s
}

// maxBodyFits reports a max_body larger than the database can hold on
// this platform (store.MaxBody): a larger delivery would be refused as it
// came, with no way for its sender to get it through.
func (l *loader) maxBodyFits(t *table, prefix string, n int64) {
	if max := store.MaxBody(); n > max {
		where := ""
		if strconv.IntSize == 32 {
			where = "on this 32-bit platform "
		}
		l.d.errf(t.key("max_body"), "%smax_body is %d bytes; %sthe database holds a delivery of at most %d (%dMiB)", prefix, n, where, max, max>>20)
	}
}

func (l *loader) store(t *table) Store {
	if t == nil {
		t = l.d.table("store", "[store]", nil)
	}
	s := Store{
		Path:      l.abs(t.str("path", DefaultStorePath)),
		Retention: t.duration("retention", DefaultRetention),
		MaxSize:   t.size("max_size", 0),
		MinFree:   t.size("min_free", DefaultMinFree),
	}
	if max := store.MaxData(); max > 0 && s.MaxSize > max {
		l.d.errf(t.key("max_size"), "max_size is %d bytes; on this 32-bit platform the database holds at most %d (%dMiB) of data", s.MaxSize, max, max>>20)
	}
	if s.Path == "" {
		l.d.errf(t.key("path"), "path must not be empty")
	} else if fi, err := os.Stat(s.Path); err == nil && fi.IsDir() {
		// serve could not open it.
		l.d.errf(t.key("path"), "store path %s is a directory: name the database file in it, such as %s", s.Path, filepath.Join(s.Path, DefaultStorePath))
	}
	t.done()
	return s
}

func (l *loader) admin(t *table) Admin {
	if t == nil {
		t = l.d.table("admin", "[admin]", nil)
	}
	a := Admin{Listen: t.str("listen", DefaultAdminListen)}
	if ref := t.str("token", ""); ref != "" {
		sec, err := l.secret(ref)
		if err != nil {
			l.d.errf(t.key("token"), "token: %v", err)
		}
		a.Token = sec
	} else if v, ok := t.get("token"); ok && v == "" {
		l.d.errf(t.key("token"), "token is empty") // not a string: str said so
	}
	switch {
	case a.Listen == "off":
	case strings.HasPrefix(a.Listen, "unix:"):
		p := strings.TrimPrefix(a.Listen, "unix:")
		if p == "" {
			l.d.errf(t.key("listen"), "listen unix: needs a socket path")
		}
		a.Listen = "unix:" + l.abs(p)
		if n := len(a.Listen) - len("unix:"); n > 107 {
			// A client cannot connect to a longer one (sun_path).
			l.d.errf(t.key("listen"), "listen %s: a socket path is at most 107 bytes, this one %d", a.Listen, n)
		}
	default:
		host, _, _ := net.SplitHostPort(a.Listen)
		if msg := badListen(a.Listen, "host:port, unix:/path or off"); msg != "" {
			l.d.errf(t.key("listen"), "listen %q: %s", a.Listen, msg)
		} else if !IsLoopback(host) && a.Token == nil && !t.has("token") {
			l.d.errf(t.key("listen"), "admin listen %q reaches beyond this machine: set token (for example token = \"env:WEBHOOKD_ADMIN_TOKEN\")", a.Listen)
		}
	}
	t.done()
	return a
}

// sharedPorts reports listeners that cannot both be bound: serve would
// stop at the second with "address already in use".
func (l *loader) sharedPorts(cfg *Config) {
	type bound struct{ path, name, addr string }
	list := []bound{{"server.listen", "server listen", cfg.Server.Listen}}
	if cfg.Server.ACMEHTTP != "" {
		list = append(list, bound{"server.acme_http", "acme_http", cfg.Server.ACMEHTTP})
	}
	if a := cfg.Admin.Listen; a != "off" && !strings.HasPrefix(a, "unix:") {
		list = append(list, bound{"admin.listen", "admin listen", a})
	}
	for i, b := range list {
		for _, a := range list[:i] {
			if sameSocket(a.addr, b.addr) {
				// At the line the user wrote: one of the two may be
				// a default ([admin] listen), in the file nowhere.
				at := b.path
				if _, ok := l.d.pos.lines[at]; !ok {
					at = a.path
				}
				l.d.errf(at, "%s %q and %s %q use the same port: only one of them can listen there", b.name, b.addr, a.name, a.addr)
			}
		}
	}
}

// sameSocket reports whether listening on a and b (host:port) would
// collide: the same port, other than 0, on the same host, or one of them
// on every address ("", 0.0.0.0 and :: are all of them: Go listens on
// both IPv4 and IPv6 there).
func sameSocket(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return false // reported already
	}
	na, err1 := net.LookupPort("tcp", pa)
	nb, err2 := net.LookupPort("tcp", pb)
	if err1 != nil || err2 != nil || na == 0 || na != nb {
		return false
	}
	every := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return every(ha) || every(hb) || strings.EqualFold(ha, hb)
}

// IsLoopback reports whether host (a name or an address, no port) is this
// machine only.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

func (l *loader) log(t *table) Log {
	if t == nil {
		t = l.d.table("log", "[log]", nil)
	}
	lg := Log{Format: t.str("format", "text"), Level: t.str("level", "info")}
	if lg.Format != "text" && lg.Format != "json" {
		l.d.errf(t.key("format"), "log format %q: want text or json", lg.Format)
	}
	switch lg.Level {
	case "debug", "info", "warn", "error":
	default:
		l.d.errf(t.key("level"), "log level %q: want debug, info, warn or error", lg.Level)
	}
	t.done()
	return lg
}

func (l *loader) hook(t *table, maxBody int64) *Hook {
	h := &Hook{Line: l.d.pos.line(t.path), ID: t.str("id", "")}
	switch {
	case h.ID == "":
		l.d.errf(t.path, "[[hook]] needs an id")
	case !reName.MatchString(h.ID):
		l.d.errf(t.key("id"), "hook id %q: use letters, digits, - and _ (at most 64)", h.ID)
	}
	name := fmt.Sprintf("hook %q", h.ID)
	h.Path = t.str("path", "/hooks/"+h.ID)
	if !strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, "?#% ") {
		// No %: requests are matched on their decoded path, so a path
		// written encoded could never be reached as written.
		l.d.errf(t.key("path"), "%s: path %q must start with / and hold no ?, #, %% or spaces", name, h.Path)
	} else if clean := path.Clean(h.Path); h.Path != "/" && (clean != strings.TrimSuffix(h.Path, "/") || strings.Contains(h.Path, "//")) {
		// Clients and proxies resolve . and .. and merge slashes before
		// they send: such a path could never be reached as written.
		l.d.errf(t.key("path"), "%s: path %q has //, . or .. segments, which clients and proxies rewrite; write it as %q", name, h.Path, clean)
	}
	h.Provider = t.str("provider", "")
	spec, known := providerSpecs[h.Provider]
	switch {
	case h.Provider == "":
		l.d.errf(t.path, "%s needs a provider (one of %s)", name, strings.Join(Providers(), ", "))
	case !known:
		l.d.errf(t.key("provider"), "%s: unknown provider %q (want one of %s)", name, h.Provider, strings.Join(Providers(), ", "))
	}
	var refs []string
	if t.has("secret") && t.has("secrets") {
		l.d.errf(t.key("secrets"), "%s: use secret or secrets, not both", name)
	}
	// A secret that is not a string is reported by str or strs, once:
	// not also as empty or missing.
	typeErrs := len(l.d.errs)
	s := t.str("secret", "")
	if _, ok := t.m["secret"].(string); ok {
		refs = append(refs, s)
	}
	refs = append(refs, t.strs("secrets")...)
	badType := len(l.d.errs) > typeErrs
	for i, ref := range refs {
		key := "secret"
		if t.has("secrets") {
			key = "secrets"
		}
		sec, err := l.secret(ref)
		if err != nil {
			l.d.errf(t.key(key), "%s: secret %d: %v", name, i+1, err)
			continue
		}
		if spec.whsec {
			// Found here, at its line and with the other errors, rather
			// than when the listener's hook is made.
			if _, err := stdwh.Key(sec.Value()); err != nil {
				l.d.errf(t.key(key), "%s: secret %d: %v", name, i+1, err)
				continue
			}
		}
		if h.Provider == "telegram" {
			if msg := badTelegramToken(sec.Value()); msg != "" {
				l.d.errf(t.key(key), "%s: secret %d: %s", name, i+1, msg)
				continue
			}
		}
		h.Secrets = append(h.Secrets, sec)
	}
	if known {
		switch {
		case spec.secret && len(refs) == 0 && !badType:
			l.d.errf(t.path, "%s: provider %s needs a secret (secret = \"env:NAME\", \"file:PATH\" or the value)", name, h.Provider)
		case spec.noSecret && len(refs) > 0:
			what := "verifies nothing"
			if h.Provider == "discord" || h.Provider == "sendgrid" {
				what = "verifies with public_key"
			}
			l.d.errf(t.key("secret"), "%s: provider %s %s: remove secret", name, h.Provider, what)
		}
		if h.Provider == "none" {
			l.warnings = append(l.warnings, fmt.Sprintf("%s:%d: hook %q uses provider none: anyone who can reach %s can trigger its actions", l.d.file, h.Line, h.ID, h.Path))
		}
	}
	h.Events = t.strs("events")
	for _, e := range h.Events {
		if strings.Contains(e, "*") {
			// GitHub's and Stripe's word for every event; no sender
			// names an event type so, and events are matched whole.
			l.d.errf(t.key("events"), `%s: events: %q is matched as a whole event type, not as a pattern, and no delivery is of that type; leave events out to accept every type, or list each one, or choose with when (event startsWith "customer.")`, name, e)
			break
		}
	}
	if len(h.Events) > 0 && known {
		// Every delivery's event type would be "", in no list: all
		// answered 200 "ignored", none stored.
		switch {
		case spec.noEvent:
			l.d.errf(t.key("events"), "%s: events: provider %s gives no event type, so every delivery would be ignored; remove events (choose with when instead)", name, h.Provider)
		case slices.Contains(spec.params, "event_header") && (!t.has("event_header") || t.m["event_header"] == ""):
			// Not written, or written empty: no header is read.
			l.d.errf(t.key("events"), "%s: events: provider %s has an event type only from event_header; set it, or every delivery would be ignored", name, h.Provider)
		}
	}
	h.AllowIPs = t.prefixes("allow_ips")
	if list, ok := t.m["allow_ips"].([]any); ok && len(list) == 0 {
		// Taken as no allow_ips at all: every address may deliver. A
		// list a template or a variable left empty would open the hook.
		l.d.errf(t.key("allow_ips"), "%s: allow_ips is empty, which would let every address deliver; list the addresses to allow, or remove allow_ips", name)
	}
	h.MaxBody = t.size("max_body", maxBody)
	if h.MaxBody <= 0 {
		l.d.errf(t.key("max_body"), "%s: max_body must be more than 0", name)
	}
	if t.has("max_body") { // else [server]'s, reported there
		l.maxBodyFits(t, name+": ", h.MaxBody)
	}
	h.Params = l.params(t, name, h.Provider, spec, known)
	names := map[string]bool{}
	for _, at := range t.tables("action", "[[hook.action]]") {
		a := l.action(at, name)
		if a == nil {
			continue
		}
		if names[a.Name] {
			l.d.errf(at.key("name"), "%s: duplicate action name %q", name, a.Name)
			continue
		}
		names[a.Name] = true
		h.Actions = append(h.Actions, a)
	}
	t.done()
	if h.ID == "" || !reName.MatchString(h.ID) {
		return nil
	}
	return h
}

func (l *loader) params(t *table, name, provider string, spec providerSpec, known bool) Params {
	allowed := map[string]bool{}
	for _, p := range spec.params {
		allowed[p] = true
	}
	for _, p := range allParams {
		if t.has(p) && known && !allowed[p] {
			l.d.errf(t.key(p), "%s: %s does not apply to provider %s", name, p, provider)
		}
	}
	for _, p := range spec.required {
		if !t.has(p) {
			l.d.errf(t.path, "%s: provider %s needs %s", name, provider, p)
		} else if v, ok := t.m[p].(string); ok && strings.TrimSpace(v) == "" {
			l.d.errf(t.key(p), "%s: provider %s needs %s, and it is empty", name, provider, p)
		}
	}
	p := Params{
		Header:         t.str("header", ""),
		Algorithm:      t.str("algorithm", "sha256"),
		Encoding:       t.str("encoding", "hex"),
		Prefix:         t.str("prefix", ""),
		EventHeader:    t.str("event_header", ""),
		DeliveryHeader: t.str("delivery_header", ""),
		Username:       t.str("username", ""),
		PublicKey:      t.str("public_key", ""),
		PublicURL:      t.str("public_url", ""),
		Tolerance:      t.duration("tolerance", 0),
		AllowSHA1:      t.bool("allow_sha1", false),
	}
	switch p.Algorithm {
	case "sha1", "sha256", "sha512":
	default:
		l.d.errf(t.key("algorithm"), "%s: algorithm %q: want sha1, sha256 or sha512", name, p.Algorithm)
	}
	switch p.Encoding {
	case "hex", "base64":
	default:
		l.d.errf(t.key("encoding"), "%s: encoding %q: want hex or base64", name, p.Encoding)
	}
	for _, k := range []struct{ key, v string }{{"header", p.Header}, {"event_header", p.EventHeader}, {"delivery_header", p.DeliveryHeader}} {
		if k.v != "" && !reHeader.MatchString(k.v) {
			l.d.errf(t.key(k.key), "%s: %s %q is not a header name", name, k.key, k.v)
		}
	}
	if p.PublicURL != "" && !strings.HasPrefix(p.PublicURL, "https://") && !strings.HasPrefix(p.PublicURL, "http://") {
		l.d.errf(t.key("public_url"), "%s: public_url %q must be an http:// or https:// URL", name, p.PublicURL)
	}
	if msg := checkPublicKey(provider, p.PublicKey); p.PublicKey != "" && msg != "" {
		l.d.errf(t.key("public_key"), "%s: public_key %s", name, msg)
	}
	return p
}

// badListen says what is wrong with addr as a host:port to listen on, or
// returns "": want (what to give) when it is no host:port, else what is
// wrong with its port.
func badListen(addr, want string) string {
	_, port, err := net.SplitHostPort(addr)
	switch {
	case err != nil:
		return "want " + want
	case validPort(port):
		return ""
	}
	if digits := strings.TrimPrefix(port, "-"); digits != "" && strings.Trim(digits, "0123456789") == "" {
		return fmt.Sprintf("port %s is outside 0 to 65535", port)
	}
	return fmt.Sprintf("port %q is neither a number from 0 to 65535 nor a service name", port)
}

// badTelegramToken says why Telegram's setWebhook would refuse secret as
// its secret_token (1 to 256 characters, each a letter, a digit, _ or -),
// or returns "". It never quotes the secret.
func badTelegramToken(secret []byte) string {
	const rule = "Telegram takes a secret_token of 1 to 256 characters, each a letter, a digit, _ or -"
	if len(secret) > 256 {
		return fmt.Sprintf("%s; this one has %d", rule, len(secret))
	}
	for i, c := range secret {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Sprintf("%s; this one has another at byte %d", rule, i+1)
		}
	}
	return ""
}

// validPort reports whether a listener can bind port: 0 to 65535, or a
// service name such as "http".
func validPort(port string) bool {
	_, err := net.LookupPort("tcp", port)
	return err == nil
}

// checkPublicKey says what is wrong with a provider's public_key, or "".
func checkPublicKey(provider, key string) string {
	switch provider {
	case "discord":
		if b, err := hex.DecodeString(key); err != nil || len(b) != 32 {
			return "must be the application's public key: 64 hex characters"
		}
	case "sendgrid":
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(key))
		if blk, _ := pem.Decode([]byte(key)); blk != nil {
			der, err = blk.Bytes, nil
		}
		if err != nil {
			return "must be the verification key SendGrid shows (base64)"
		}
		if k, err := x509.ParsePKIXPublicKey(der); err != nil {
			return "is not a public key"
		} else if ek, ok := k.(*ecdsa.PublicKey); !ok || ek.Curve != elliptic.P256() {
			return "is not an ECDSA P-256 key"
		}
	}
	return ""
}

func (l *loader) action(t *table, hookName string) *Action {
	a := &Action{Line: l.d.pos.line(t.path), Name: t.str("name", "")}
	switch {
	case a.Name == "":
		l.d.errf(t.path, "%s: [[hook.action]] needs a name", hookName)
		a.Name = "?"
	case !reName.MatchString(a.Name):
		l.d.errf(t.key("name"), "%s: action name %q: use letters, digits, - and _ (at most 64)", hookName, a.Name)
	}
	name := fmt.Sprintf("%s action %q", hookName, a.Name)
	tplWith := func(parse func(name, text string) (*tmpl.Template, error), label, text string) *tmpl.Template {
		// The position is the key's: run[1] is on the line of run.
		key, _, _ := strings.Cut(label, "[")
		tp, err := parse(label, text)
		if err != nil {
			l.d.errf(t.key(key), "%s: %s: %v", name, label, err)
			return nil
		}
		for _, w := range tp.Warnings() {
			l.warnings = append(l.warnings, fmt.Sprintf("%s:%d: %s: %s: %s", l.d.file, l.d.pos.line(t.key(key)), name, label, w))
		}
		return tp
	}
	tpl := func(label, text string) *tmpl.Template { return tplWith(tmpl.Parse, label, text) }
	tplURL := func(label, text string) *tmpl.Template { return tplWith(tmpl.ParseURL, label, text) }
	if w := t.str("when", ""); w != "" {
		e, err := tmpl.Compile(w)
		if err != nil {
			l.d.errf(t.key("when"), "%s: %v", name, err)
		}
		a.When = e
	}
	if k := t.str("key", ""); k != "" {
		a.Key = tpl("key", k)
		if a.Key.UsesField("id") {
			l.d.errf(t.key("key"), "%s: key cannot use .id: the key is rendered before the event has an id", name)
		}
	}
	run := t.strs("run")
	url := t.str("url", "")
	isHTTP := url != ""
	switch {
	case len(run) > 0 && isHTTP:
		l.d.errf(t.key("url"), "%s: set run (a command) or url (an HTTP request), not both", name)
	case len(run) == 0 && !isHTTP:
		if t.has("run") {
			l.d.errf(t.key("run"), "%s: run must name a command", name)
		} else {
			l.d.errf(t.path, "%s needs run (a command) or url (an HTTP request)", name)
		}
	}
	if _, ok := t.m["run"].(string); ok {
		l.d.errf(t.key("run"), `%s: run is an argv list, not a shell line: run = ["/path/to/script", "arg"]`, name)
	}
	for i, r := range run {
		if tp := tpl(fmt.Sprintf("run[%d]", i), r); tp != nil {
			a.Run = append(a.Run, tp)
		}
	}
	if len(run) > 0 && run[0] == "" {
		l.d.errf(t.key("run"), "%s: run's first element is the command and must not be empty", name)
	}
	dir := t.str("dir", "")
	a.Dir, a.Base = l.dir, l.dir
	if dir != "" {
		a.Dir = l.abs(dir)
	}
	for _, kv := range t.stringMap("env") {
		if !reEnv.MatchString(kv[0]) {
			l.d.errf(t.key("env")+"."+kv[0], "%s: %q is not an environment variable name", name, kv[0])
			continue
		}
		if runEnv[kv[0]] {
			l.d.errf(t.key("env")+"."+kv[0], "%s: env %s is set by webhookd for every run; an action's env cannot change it", name, kv[0])
			continue
		}
		if tp := tpl("env."+kv[0], kv[1]); tp != nil {
			a.Env = append(a.Env, EnvVar{Name: kv[0], Value: tp})
		}
	}
	if isHTTP {
		a.URL = tplURL("url", url)
		if a.URL != nil && a.URL.IsPlain() && !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			l.d.errf(t.key("url"), "%s: url %q must start with http:// or https://", name, redact.URL(url))
		}
	}
	a.Method = strings.ToUpper(t.str("method", "POST"))
	if !reHeader.MatchString(a.Method) {
		l.d.errf(t.key("method"), "%s: method %q is not an HTTP method", name, a.Method)
	}
	for _, kv := range t.stringMap("headers") {
		if !reHeader.MatchString(kv[0]) {
			l.d.errf(t.key("headers")+"."+kv[0], "%s: %q is not a header name", name, kv[0])
			continue
		}
		if tp := tpl("headers."+kv[0], kv[1]); tp != nil {
			a.Headers = append(a.Headers, Header{Name: kv[0], Value: tp})
		}
	}
	if t.has("body") {
		a.Body = tpl("body", t.str("body", ""))
	}
	if st := t.sub("sign", "sign"); st != nil {
		a.Sign = &Sign{Scheme: st.str("scheme", "standard")}
		if a.Sign.Scheme != "standard" {
			l.d.errf(st.key("scheme"), "%s: sign scheme %q: want standard", name, a.Sign.Scheme)
		}
		ref := st.str("secret", "")
		if _, isStr := st.m["secret"].(string); st.has("secret") && !isStr {
			// Not a string: str said so.
		} else if ref == "" {
			l.d.errf(st.path, "%s: sign needs a secret", name)
		} else if sec, err := l.secret(ref); err != nil {
			l.d.errf(st.key("secret"), "%s: sign secret: %v", name, err)
		} else if _, err := stdwh.Key(sec.Value()); err != nil {
			l.d.errf(st.key("secret"), "%s: sign secret: %v", name, err)
		} else {
			a.Sign.Secret = sec
		}
		st.done()
	}
	// Keys that belong to the other kind of action.
	execOnly, httpOnly := []string{"run", "dir", "env"}, []string{"url", "method", "headers", "body", "sign"}
	if isHTTP {
		for _, k := range execOnly {
			if t.has(k) && k != "run" {
				l.d.errf(t.key(k), "%s: %s is for command actions, and this one has a url", name, k)
			}
		}
	} else if len(run) > 0 {
		for _, k := range httpOnly {
			if t.has(k) {
				l.d.errf(t.key(k), "%s: %s is for HTTP actions (with url), and this one runs a command", name, k)
			}
		}
	}
	defTimeout, defRetries := DefaultExecTimeout, 0
	if isHTTP {
		defTimeout, defRetries = DefaultHTTPTimeout, DefaultHTTPRetries
	}
	a.Timeout = t.duration("timeout", defTimeout)
	if a.Timeout <= 0 {
		l.d.errf(t.key("timeout"), "%s: timeout must be more than 0", name)
	}
	a.Concurrency = t.int("concurrency", 1, 1, 1000)
	a.Coalesce = t.bool("coalesce", false)
	a.Retries = t.int("retries", defRetries, 0, 1000)
	a.Backoff = t.duration("backoff", DefaultBackoff)
	if a.Backoff <= 0 {
		// It was taken as a second; a retry at once would spin on a
		// script that fails at once.
		l.d.errf(t.key("backoff"), "%s: backoff must be more than 0 (such as \"1s\"; retries = 0 runs an action once)", name)
	} else if t.has("backoff") && a.Retries == 0 {
		// A command's retries default to 0: the backoff written is
		// never waited, and a failed run is dead at once.
		l.warnings = append(l.warnings, fmt.Sprintf("%s:%d: %s: backoff without retries: a failed run is not tried again (retries = 0, the default for commands); set retries", l.d.file, l.d.pos.line(t.key("backoff")), name))
	}
	t.done()
	return a
}
