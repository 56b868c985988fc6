package config

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"time"

	"github.com/webhookd/webhookd/tmpl"
)

// Config is a loaded, validated config file.
type Config struct {
	// File is the absolute path of the file it was loaded from.
	File   string
	Server Server
	Store  Store
	Admin  Admin
	Log    Log
	Hooks  []*Hook
}

// Server is the public listener.
type Server struct {
	Listen          string
	MaxBody         int64
	ShutdownTimeout time.Duration
	TLSCert         string // absolute path, or ""
	TLSKey          string
	TLSLine         int // tls_cert's line, for CheckTLSPair's error
	ACMEDomains     []string
	ACMEEmail       string
	ACMEHTTP        string // address for ACME's HTTP-01 challenge, or ""
	ACMEDirectory   string // the ACME CA's directory URL; "" is Let's Encrypt
	TrustedProxies  []netip.Prefix
	RateLimit       float64 // requests per second per client; 0 is no limit
}

// Store is the database.
type Store struct {
	Path      string // absolute
	Retention time.Duration
	MaxSize   int64 // 0 is no limit
	// MinFree is the free disk space below which ingest answers 503.
	MinFree int64
}

// Admin is the admin listener.
type Admin struct {
	Listen string // host:port, or unix:/path
	Token  *Secret
}

// Log configures logging.
type Log struct {
	Format string // text or json
	Level  string // debug, info, warn or error
}

// Hook is one endpoint.
type Hook struct {
	Line     int
	ID       string
	Path     string // the URL path it is served at
	Provider string
	Secrets  []*Secret
	// Events lists the event types to accept; empty accepts all.
	Events   []string
	AllowIPs []netip.Prefix
	MaxBody  int64
	// Params are the provider's parameters (header, algorithm, ...).
	Params Params
	// Actions run for each stored event, in this order.
	Actions []*Action
}

// Params are provider parameters, used by the providers that name them.
type Params struct {
	Header         string        // hmac, token: the header carrying the signature or token
	Algorithm      string        // hmac: sha1, sha256 or sha512
	Encoding       string        // hmac: hex or base64
	Prefix         string        // hmac: a prefix before the signature, e.g. "sha256="
	EventHeader    string        // hmac, token, basic, none: where the event type is
	DeliveryHeader string        // hmac, token, basic, none: where the delivery id is
	Username       string        // basic
	PublicKey      string        // discord: hex Ed25519 public key
	PublicURL      string        // twilio: the URL as the sender sees it
	Tolerance      time.Duration // replay window, where the provider has one; 0 is its default
	AllowSHA1      bool          // github: also accept the legacy X-Hub-Signature
}

// Action is something to do for each event of a hook.
type Action struct {
	Line int
	Name string
	When *tmpl.Expr     // nil: always
	Key  *tmpl.Template // nil: one queue

	// Exec actions.
	Run []*tmpl.Template
	Dir string // absolute
	// Base is the config file's directory: a relative command path
	// (run[0] with a slash) is resolved against it, not against Dir.
	Base string
	Env  []EnvVar

	// HTTP actions.
	URL     *tmpl.Template
	Method  string
	Headers []Header
	Body    *tmpl.Template // nil: the body as received
	Sign    *Sign

	Timeout     time.Duration
	Concurrency int
	Coalesce    bool
	Retries     int
	Backoff     time.Duration
}

// IsHTTP reports whether the action is an HTTP request (rather than a command).
func (a *Action) IsHTTP() bool { return a.URL != nil }

// EnvVar is an environment variable of an exec action.
type EnvVar struct {
	Name  string
	Value *tmpl.Template
}

// Header is a header of an HTTP action.
type Header struct {
	Name  string
	Value *tmpl.Template
}

// Sign is how an HTTP action signs what it sends.
type Sign struct {
	Scheme string // standard
	Secret *Secret
}

// Hook returns the hook with id, or nil.
func (c *Config) Hook(id string) *Hook {
	for _, h := range c.Hooks {
		if h.ID == id {
			return h
		}
	}
	return nil
}

// Action returns the hook's action called name, or nil.
func (h *Hook) Action(name string) *Action {
	for _, a := range h.Actions {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// CheckTLSPair loads tls_cert and tls_key as serve does at start, and
// returns an error at tls_cert's line if they do not make a pair. check
// calls it; Load does not: a reload while certbot is halfway through
// renewing the files would be refused for it, and the files are reloaded
// by themselves anyway.
func (c *Config) CheckTLSPair() error {
	if c.Server.TLSCert == "" || c.Server.TLSKey == "" {
		return nil
	}
	if _, err := tls.LoadX509KeyPair(c.Server.TLSCert, c.Server.TLSKey); err != nil {
		return Errors{{File: c.File, Line: c.Server.TLSLine, Msg: fmt.Sprintf("tls_cert and tls_key: %v", err)}}
	}
	return nil
}
