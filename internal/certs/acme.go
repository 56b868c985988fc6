package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACMEOptions configure ACME.
type ACMEOptions struct {
	// Domains are the names certificates are obtained for; a handshake
	// for any other name is refused before the CA is asked.
	Domains []string
	// Email is given to the CA for expiry notices; optional.
	Email string
	// CacheDir keeps the account key and the certificates (created 0700).
	CacheDir string
	// DirectoryURL is the CA's ACME directory; "" is Let's Encrypt.
	DirectoryURL string
	// HTTPClient talks to the CA; nil is a default client.
	HTTPClient *http.Client
	// Logger receives a line per certificate obtained and per failure.
	Logger *slog.Logger
}

// ACME obtains and renews certificates from an ACME CA.
type ACME struct {
	m       *autocert.Manager
	log     *slog.Logger
	domains map[string]bool
	mu      sync.Mutex
	serial  map[string]string    // name → serial of the certificate last served
	failed  map[string]time.Time // name → when a failure was last logged
	// early holds, by name, a cached certificate that the clock says is
	// not valid yet (see loadEarly); served as it is until the clock
	// passes its start.
	early map[string]*tls.Certificate
	now   func() time.Time
}

// NewACME prepares certificates for opts.Domains; it creates the cache
// directory but asks the CA nothing until Prefetch or the first handshake.
func NewACME(opts ACMEOptions) (*ACME, error) {
	if len(opts.Domains) == 0 {
		return nil, errors.New("acme: no domains")
	}
	if opts.CacheDir == "" {
		return nil, errors.New("acme: no cache directory")
	}
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("acme cache: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	client := &acme.Client{DirectoryURL: opts.DirectoryURL, HTTPClient: opts.HTTPClient, UserAgent: "webhookd"}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(opts.CacheDir),
		HostPolicy: autocert.HostWhitelist(opts.Domains...),
		Email:      opts.Email,
		Client:     client,
	}
	domains := map[string]bool{}
	for _, d := range opts.Domains {
		domains[strings.ToLower(d)] = true
	}
	a := &ACME{m: m, log: opts.Logger, domains: domains, serial: map[string]string{}, failed: map[string]time.Time{},
		early: map[string]*tls.Certificate{}, now: time.Now}
	a.loadEarly(opts.CacheDir)
	return a, nil
}

// loadEarly keeps the cached certificates whose start is after the clock:
// a machine without a clock that runs while it is off (a Raspberry Pi)
// starts with an old time until NTP sets it. autocert would take such a
// certificate for invalid and ask the CA for another at every handshake,
// each new one not valid yet either, until the clock is set, which spends
// the CA's few certificates a week for the same names. Senders, whose
// clocks are right, accept it.
func (a *ACME) loadEarly(cacheDir string) {
	now := a.now()
	for name := range a.domains {
		// autocert's cache file for a name's ECDSA certificate: its
		// private key, then the chain, in PEM.
		data, err := os.ReadFile(filepath.Join(cacheDir, name))
		if err != nil {
			continue
		}
		cert, err := tls.X509KeyPair(data, data)
		if err != nil || cert.Leaf == nil || !now.Before(cert.Leaf.NotBefore) || !now.Before(cert.Leaf.NotAfter) ||
			cert.Leaf.VerifyHostname(name) != nil {
			continue // autocert judges it as it would
		}
		a.early[name] = &cert
		a.log.Warn("the clock is before the start of the cached TLS certificate: it is served as cached, and the CA is not asked for another, until the clock is set (NTP)",
			"server_name", name, "now", now.UTC().Format(time.RFC3339), "not_before", cert.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
}

// earlyCert returns name's certificate kept by loadEarly while the clock
// is still before its start, or nil.
func (a *ACME) earlyCert(name string) *tls.Certificate {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.early[name]
	if c == nil {
		return nil
	}
	if !a.now().Before(c.Leaf.NotBefore) {
		// The clock is set: autocert takes the name over (its cache
		// holds this certificate, now valid, and renews it in time).
		delete(a.early, name)
		return nil
	}
	return c
}

// TLSConfig is the listener's TLS config: certificates from the CA, and
// the tls-alpn-01 challenge answered on the same port.
func (a *ACME) TLSConfig() *tls.Config {
	c := a.m.TLSConfig()
	c.GetCertificate = a.getCertificate
	c.MinVersion = tls.VersionTLS12
	return c
}

// Prefetch gets a certificate for each domain that has none in the cache
// yet, as a handshake would, so that the first delivery does not wait for
// the CA (a sender that times out first would lose it). Call it once the
// listener that answers the CA's challenge is bound. It returns when every
// domain is done or ctx ends; a failure is logged and the next handshake
// for that name tries again.
func (a *ACME) Prefetch(ctx context.Context) {
	var wg sync.WaitGroup
	for name := range a.domains {
		if a.earlyCert(name) != nil {
			continue // served as cached (loadEarly)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A client that offers ECDSA, as every current one does:
			// autocert keeps an RSA certificate apart, for clients
			// that cannot use ECDSA, and gets it when one asks.
			cert, err := a.m.GetCertificate(&tls.ClientHelloInfo{
				ServerName:        name,
				CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
				SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
				SupportedCurves:   []tls.CurveID{tls.X25519, tls.CurveP256},
				SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
			})
			if err != nil {
				// Not a handshake's failure: that one is still logged
				// when it comes.
				a.log.Warn("no TLS certificate at start; the first handshake for the name asks the CA again", "server_name", name, "err", err)
				return
			}
			a.ready(name, cert)
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// HTTPHandler answers the CA's http-01 challenges and redirects every other
// GET or HEAD to https on httpsPort (the public listener's port; "443" or
// "" leaves it out of the URL). Other methods get 400: a webhook sender
// that was given an http:// URL must be told, not silently redirected.
func (a *ACME) HTTPHandler(httpsPort string) http.Handler {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use https", http.StatusBadRequest)
			return
		}
		host := hostOnly(r.Host)
		if httpsPort != "" && httpsPort != "443" {
			host = net.JoinHostPort(host, httpsPort)
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusFound)
	})
	h := a.m.HTTPHandler(redirect)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The CA asks for the name alone; a port (a test's, or a
		// forwarded one) must not fail the host policy.
		r.Host = hostOnly(r.Host)
		h.ServeHTTP(w, r)
	})
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// getCertificate logs what autocert does not: a certificate obtained or
// renewed, and a failure to get one (at most once a minute per name).
func (a *ACME) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	probe := len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acme.ALPNProto
	if !probe && a.domains[name] {
		if c := a.earlyCert(name); c != nil {
			return c, nil
		}
	}
	cert, err := a.m.GetCertificate(hello)
	if err != nil {
		if probe {
			return nil, err // the CA's tls-alpn-01 check: autocert answers it
		}
		if !a.domains[name] {
			// A scanner, or a client using the address: not ours to log
			// loudly, and not to be remembered (names are unbounded).
			a.log.Debug("TLS handshake for a name not in acme_domains", "server_name", hello.ServerName, "remote", remote(hello))
			return nil, err
		}
		a.mu.Lock()
		last, known := a.failed[name]
		now := time.Now()
		if !known || now.Sub(last) > time.Minute {
			a.failed[name] = now
			a.mu.Unlock()
			a.log.Warn("no TLS certificate for the handshake", "server_name", hello.ServerName, "remote", remote(hello), "err", err)
		} else {
			a.mu.Unlock()
		}
		return nil, err
	}
	if !probe {
		a.ready(name, cert)
	}
	return cert, nil
}

// ready logs a certificate for name the first time it is served.
func (a *ACME) ready(name string, cert *tls.Certificate) {
	if cert.Leaf == nil {
		return
	}
	serial := cert.Leaf.SerialNumber.String()
	a.mu.Lock()
	changed := a.serial[name] != serial
	a.serial[name] = serial
	delete(a.failed, name)
	a.mu.Unlock()
	if changed {
		a.log.Info("TLS certificate ready", "server_name", name, "issuer", cert.Leaf.Issuer.CommonName,
			"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}

func remote(hello *tls.ClientHelloInfo) string {
	if hello.Conn == nil {
		return ""
	}
	return hello.Conn.RemoteAddr().String()
}

// TLSConfig is the listener's TLS config for certificates from
// getCertificate (a File's, say).
func TLSConfig(getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		GetCertificate: getCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// HTTPServer serves a handler (ACME's http-01 challenges) on a plain HTTP
// address such as ":80". Open binds, Serve serves, Shutdown stops.
type HTTPServer struct {
	addr    string
	handler http.Handler
	log     *slog.Logger
	ln      net.Listener
	srv     *http.Server
}

// NewHTTPServer makes an HTTPServer; Open binds it.
func NewHTTPServer(addr string, h http.Handler, log *slog.Logger) *HTTPServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &HTTPServer{addr: addr, handler: h, log: log}
}

// Open binds the address.
func (s *HTTPServer) Open() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("acme_http listen %s: %w", s.addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return nil
}

// Addr returns the bound address.
func (s *HTTPServer) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown; it returns nil after a shutdown.
func (s *HTTPServer) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops the server at once, its connections too; before Serve, it
// closes the bound address. A server never opened has nothing to close.
func (s *HTTPServer) Close() error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.ln.Close() // the server closes it only once Serve has begun
	return err
}

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	s.ln.Close() // the server closes it only once Serve has begun
	return err
}
