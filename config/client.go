package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
)

// Client is what the commands that talk to a daemon (events, show, replay,
// send, ...) need from its config file. LoadClient reads it leniently: it
// does not validate the file (that is Load's and `webhookd check`'s job),
// ignores the keys it does not need, and resolves no secret until one is
// asked for, so a command works in a shell where the hooks' env: secrets
// are not set.
type Client struct {
	// File is the absolute path of the config file.
	File string
	// AdminListen is the admin listener: host:port, unix:/abs/path or off.
	AdminListen string
	// StorePath is the database file (absolute).
	StorePath string
	// ServerListen is the public listener's host:port.
	ServerListen string
	// TLS is true when the public listener serves HTTPS (tls_cert or
	// acme_domains).
	TLS bool
	// ACMEDomains are the public listener's names, when it gets
	// certificates automatically.
	ACMEDomains []string
	// TLSCert is the public listener's certificate file (absolute), when
	// it serves one of its own.
	TLSCert string
	Hooks   []*ClientHook

	adminToken string // the token's reference: env:NAME, file:PATH or the value
	dir        string
}

// ClientHook is a hook as the client commands see it.
type ClientHook struct {
	ID       string
	Path     string
	Provider string
	Events   []string
	Params   Params

	secrets []string // references
	dir     string
}

// clientFile is the part of the file LoadClient decodes.
type clientFile struct {
	Server struct {
		Listen      string  `toml:"listen"`
		TLSCert     string  `toml:"tls_cert"`
		ACMEDomains strList `toml:"acme_domains"`
	} `toml:"server"`
	Store struct {
		Path string `toml:"path"`
	} `toml:"store"`
	Admin struct {
		Listen string `toml:"listen"`
		Token  string `toml:"token"`
	} `toml:"admin"`
	Hook []struct {
		ID             string  `toml:"id"`
		Path           string  `toml:"path"`
		Provider       string  `toml:"provider"`
		Secret         string  `toml:"secret"`
		Secrets        strList `toml:"secrets"`
		Events         strList `toml:"events"`
		Header         string  `toml:"header"`
		Algorithm      string  `toml:"algorithm"`
		Encoding       string  `toml:"encoding"`
		Prefix         string  `toml:"prefix"`
		EventHeader    string  `toml:"event_header"`
		DeliveryHeader string  `toml:"delivery_header"`
		Username       string  `toml:"username"`
		PublicKey      string  `toml:"public_key"`
		PublicURL      string  `toml:"public_url"`
		Tolerance      string  `toml:"tolerance"`
		AllowSHA1      bool    `toml:"allow_sha1"`
	} `toml:"hook"`
}

// strList is a list of strings in the file, which Load also takes written
// as one string (events = "push").
type strList []string

func (l *strList) UnmarshalTOML(v any) error {
	out, err := stringList(v, func(i int, e any) string {
		return fmt.Sprintf("item %d must be a string, not %s", i, tomlType(e))
	})
	*l = out
	return err
}

// LoadClient reads the parts of the config file at path that the client
// commands need. Only a file that cannot be read or is not TOML (or has a
// value of the wrong type where it looks) is an error.
func LoadClient(path string) (*Client, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var f clientFile
	if _, err := toml.Decode(string(src), &f); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{File: abs, Line: pe.Position.Line, Msg: redactParse(pe.Message)}}
		}
		return nil, Errors{{File: abs, Msg: err.Error()}}
	}
	dir := filepath.Dir(abs)
	l := &loader{dir: dir}
	c := &Client{
		File:         abs,
		AdminListen:  or(f.Admin.Listen, DefaultAdminListen),
		StorePath:    l.abs(or(f.Store.Path, DefaultStorePath)),
		ServerListen: or(f.Server.Listen, DefaultListen),
		TLS:          f.Server.TLSCert != "" || len(f.Server.ACMEDomains) > 0,
		ACMEDomains:  f.Server.ACMEDomains,
		adminToken:   f.Admin.Token,
		dir:          dir,
	}
	if p, ok := strings.CutPrefix(c.AdminListen, "unix:"); ok {
		c.AdminListen = "unix:" + l.abs(p)
	}
	if f.Server.TLSCert != "" {
		c.TLSCert = l.abs(f.Server.TLSCert)
	}
	for _, h := range f.Hook {
		ch := &ClientHook{
			ID: h.ID, Path: or(h.Path, "/hooks/"+h.ID), Provider: h.Provider, Events: h.Events, dir: dir,
			Params: Params{
				Header: h.Header, Algorithm: h.Algorithm, Encoding: h.Encoding, Prefix: h.Prefix,
				EventHeader: h.EventHeader, DeliveryHeader: h.DeliveryHeader, Username: h.Username,
				PublicKey: h.PublicKey, PublicURL: h.PublicURL, AllowSHA1: h.AllowSHA1,
			},
		}
		if h.Tolerance != "" {
			d, err := ParseDuration(h.Tolerance)
			if err != nil {
				return nil, Errors{{File: abs, Msg: fmt.Sprintf("hook %q: tolerance: %v", h.ID, err)}}
			}
			ch.Params.Tolerance = d
		}
		if h.Secret != "" {
			ch.secrets = append(ch.secrets, h.Secret)
		}
		ch.secrets = append(ch.secrets, h.Secrets...)
		c.Hooks = append(c.Hooks, ch)
	}
	return c, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// AdminToken resolves the admin token: nil when the file sets none. Its
// error names the reference (env:NAME), never a value.
func (c *Client) AdminToken() (*Secret, error) {
	if c.adminToken == "" {
		return nil, nil
	}
	s, err := readClientSecret(c.adminToken, c.dir)
	if err != nil {
		return nil, fmt.Errorf("%s: [admin] token: %w", c.File, err)
	}
	return s, nil
}

// Hook returns the hook with id, or nil.
func (c *Client) Hook(id string) *ClientHook {
	for _, h := range c.Hooks {
		if h.ID == id {
			return h
		}
	}
	return nil
}

// Secrets resolves the hook's secrets (env:, file: or literal), in the
// order the file lists them.
func (h *ClientHook) Secrets() ([]*Secret, error) {
	out := make([]*Secret, 0, len(h.secrets))
	for _, ref := range h.secrets {
		s, err := readClientSecret(ref, h.dir)
		if err != nil {
			return nil, fmt.Errorf("hook %q: secret: %w", h.ID, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// readClientSecret is readSecret for a command run from a shell: a
// variable not set is one to set there, not in the daemon.
func readClientSecret(ref, dir string) (*Secret, error) {
	s, err := readSecret(ref, dir)
	var e *envNotSetError
	if errors.As(err, &e) {
		return nil, fmt.Errorf("environment variable %s is not set in this shell: set it to the daemon's value (from its systemd EnvironmentFile, say)", e.name)
	}
	return s, err
}
