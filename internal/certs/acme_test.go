package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/pebbletest"
)

const acmeName = "hooks.webhookd.test"

func port(t *testing.T, addr net.Addr) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr.String())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// handshake connects to addr for name and returns the verified leaf.
func handshake(t *testing.T, addr, name string, roots *x509.CertPool) (*x509.Certificate, error) {
	t.Helper()
	d := &net.Dialer{Timeout: 60 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// alpnSetup is a Pebble CA that validates by tls-alpn-01 only (http-01
// would go to a closed port) and an ACME for acmeName, with its cache and
// log, served on ln by srv.
type alpnSetup struct {
	ln    net.Listener
	ca    *pebbletest.Server
	a     *ACME
	cache string
	logs  *logBuffer
	srv   *http.Server
}

func newALPNSetup(t *testing.T) *alpnSetup {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ca := pebbletest.Start(t, pebbletest.Options{TLSPort: port(t, ln.Addr()), HTTPPort: pebbletest.FreePort(t)})
	cache := filepath.Join(t.TempDir(), "acme")
	logs := new(logBuffer)
	a, err := NewACME(ACMEOptions{
		Domains: []string{acmeName}, Email: "ops@webhookd.test", CacheDir: cache,
		DirectoryURL: ca.DirectoryURL, HTTPClient: ca.Client, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(tls.NewListener(ln, a.TLSConfig()))
	t.Cleanup(func() { srv.Close() })
	return &alpnSetup{ln: ln, ca: ca, a: a, cache: cache, logs: logs, srv: srv}
}

func TestACME_TLSALPN01(t *testing.T) {
	x := newALPNSetup(t)
	ln, ca, a, cache, logs, srv := x.ln, x.ca, x.a, x.cache, x.logs, x.srv

	roots := ca.Roots(t)
	leaf, err := handshake(t, ln.Addr().String(), acmeName, roots)
	if err != nil {
		t.Fatalf("handshake for %s (the certificate is obtained during it): %v", acmeName, err)
	}
	if leaf.Subject.CommonName != acmeName && (len(leaf.DNSNames) == 0 || leaf.DNSNames[0] != acmeName) {
		t.Errorf("certificate names = %q %q; want %s", leaf.Subject.CommonName, leaf.DNSNames, acmeName)
	}
	if !strings.Contains(logs.String(), "TLS certificate ready") {
		t.Errorf("no log line for the new certificate:\n%s", logs.String())
	}
	// Cached beside the database, private.
	fi, err := os.Stat(cache)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(cache, acmeName)); err != nil {
		t.Errorf("certificate not cached: %v", err)
	}

	// A name not in the list is refused without asking the CA.
	if _, err := handshake(t, ln.Addr().String(), "other.webhookd.test", nil); err == nil {
		t.Errorf("handshake for a name not in acme_domains succeeded")
	}
	// ... quietly: scanners send any name, and none is remembered.
	if strings.Contains(logs.String(), "no TLS certificate") || len(a.failed) != 0 {
		t.Errorf("a name not in acme_domains was logged as a failure (%d remembered):\n%s", len(a.failed), logs.String())
	}

	// After a restart, the cached certificate is served with no CA at all.
	srv.Close()
	b, err := NewACME(ACMEOptions{Domains: []string{acmeName}, CacheDir: cache, DirectoryURL: "https://127.0.0.1:1/dir"})
	if err != nil {
		t.Fatal(err)
	}
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv2 := &http.Server{Handler: srv.Handler}
	go srv2.Serve(tls.NewListener(ln2, b.TLSConfig()))
	t.Cleanup(func() { srv2.Close() })
	again, err := handshake(t, ln2.Addr().String(), acmeName, roots)
	if err != nil {
		t.Fatalf("handshake from the cache: %v", err)
	}
	if again.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Errorf("serial from the cache = %v; want %v", again.SerialNumber, leaf.SerialNumber)
	}
}

// Prefetch gets the certificate before any client asks, and the one real
// clients are then served (ECDSA), not a second one obtained during their
// handshake.
func TestACME_Prefetch(t *testing.T) {
	x := newALPNSetup(t)
	ln, ca, a, cache, logs := x.ln, x.ca, x.a, x.cache, x.logs

	a.Prefetch(t.Context())
	if _, err := os.Stat(filepath.Join(cache, acmeName)); err != nil {
		t.Fatalf("no certificate cached after Prefetch: %v\n%s", err, logs.String())
	}
	a.mu.Lock()
	fetched := a.serial[acmeName]
	a.mu.Unlock()
	if fetched == "" || !strings.Contains(logs.String(), "TLS certificate ready") {
		t.Fatalf("Prefetch logged no certificate ready (serial %q):\n%s", fetched, logs.String())
	}
	leaf, err := handshake(t, ln.Addr().String(), acmeName, ca.Roots(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := leaf.SerialNumber.String(); got != fetched {
		t.Errorf("a client was served certificate %s; want the prefetched %s (obtained again in its handshake)", got, fetched)
	}
}

// A Prefetch that cannot reach the CA says so as itself, not as a
// handshake, and leaves the next real handshake's failure to be logged.
func TestACME_PrefetchFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := "https://" + ln.Addr().String() + "/dir"
	ln.Close() // no CA there
	var logs logBuffer
	a, err := NewACME(ACMEOptions{Domains: []string{acmeName}, CacheDir: filepath.Join(t.TempDir(), "acme"),
		DirectoryURL: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.Prefetch(t.Context())
	if s := logs.String(); !strings.Contains(s, "no TLS certificate at start") || strings.Contains(s, "for the handshake") {
		t.Errorf("Prefetch's failure logged as:\n%s", s)
	}
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		if c, err := srv.Accept(); err == nil {
			tls.Server(c, a.TLSConfig()).Handshake()
			c.Close()
		}
	}()
	if c, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{ServerName: acmeName, InsecureSkipVerify: true}); err == nil {
		c.Close()
	}
	<-served
	if !strings.Contains(logs.String(), "no TLS certificate for the handshake") || !strings.Contains(logs.String(), "remote=127.0.0.1:") {
		t.Errorf("a sender's failed handshake after a failed Prefetch was not logged:\n%s", logs.String())
	}
}

func TestACME_HTTP01(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewACME(ACMEOptions{Domains: []string{acmeName}, CacheDir: filepath.Join(t.TempDir(), "acme")})
	if err != nil {
		t.Fatal(err)
	}
	hs := NewHTTPServer("127.0.0.1:0", a.HTTPHandler("8443"), nil)
	if err := hs.Open(); err != nil {
		t.Fatal(err)
	}
	go hs.Serve()
	t.Cleanup(func() { hs.Shutdown(t.Context()) })

	// tls-alpn-01 would go to a closed port: only http-01 on the
	// acme_http server can succeed.
	ca := pebbletest.Start(t, pebbletest.Options{TLSPort: pebbletest.FreePort(t), HTTPPort: port(t, hs.Addr())})
	a.m.Client.DirectoryURL, a.m.Client.HTTPClient = ca.DirectoryURL, ca.Client
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(tls.NewListener(ln, a.TLSConfig()))
	t.Cleanup(func() { srv.Close() })

	if _, err := handshake(t, ln.Addr().String(), acmeName, ca.Roots(t)); err != nil {
		t.Fatalf("handshake for %s with http-01 only: %v", acmeName, err)
	}

	// Anything else on the HTTP port is sent to https.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+hs.Addr().String()+"/hooks/site", nil)
	req.Host = acmeName
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := "https://" + acmeName + ":8443/hooks/site"; resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != want {
		t.Errorf("GET on the HTTP port = %d %q; want 302 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// A POST (a webhook sent to http://) is refused, not redirected.
	resp, err = c.Post("http://"+hs.Addr().String()+"/hooks/site", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST on the HTTP port = %d; want 400", resp.StatusCode)
	}
}

// TestACME_ClockBeforeCachedCertificate: started with a clock before the
// cached certificate's start (a Raspberry Pi before NTP set it), webhookd
// serves the cached certificate and does not ask the CA, where autocert
// would take it for invalid and order another at every handshake; once
// the clock passes its start, autocert has the name again.
func TestACME_ClockBeforeCachedCertificate(t *testing.T) {
	// No CA where the directory points: asking it fails the handshake.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := "https://" + ln.Addr().String() + "/dir"
	ln.Close()

	cache := filepath.Join(t.TempDir(), "acme")
	if err := os.MkdirAll(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(24 * time.Hour) // issued by a clock a day ahead of this one
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4242), Subject: pkix.Name{CommonName: acmeName}, DNSNames: []string{acmeName},
		NotBefore: start, NotAfter: start.Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// autocert's cache file: the key, then the chain.
	var file bytes.Buffer
	pem.Encode(&file, &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pem.Encode(&file, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(cache, acmeName), file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	var logs logBuffer
	a, err := NewACME(ACMEOptions{Domains: []string{acmeName}, CacheDir: cache, DirectoryURL: dir,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "the clock is before the start of the cached TLS certificate") {
		t.Errorf("no word of the clock at start:\n%s", logs.String())
	}
	a.Prefetch(t.Context())
	if strings.Contains(logs.String(), "no TLS certificate at start") {
		t.Errorf("Prefetch asked the CA for a name whose cached certificate is served:\n%s", logs.String())
	}
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			tls.Server(c, a.TLSConfig()).Handshake()
			c.Close()
		}
	}()
	serve := func() (*x509.Certificate, error) {
		c, err := tls.Dial("tcp", srv.Addr().String(), &tls.Config{ServerName: acmeName, InsecureSkipVerify: true})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0], nil
	}
	leaf, err := serve()
	if err != nil {
		t.Fatalf("handshake with the clock before the cached certificate's start: %v\n%s", err, logs.String())
	}
	if leaf.SerialNumber.Int64() != 4242 {
		t.Errorf("served certificate %v; want the cached one, 4242", leaf.SerialNumber)
	}
	// The clock is set: the name goes back to autocert, which serves
	// the certificate from its cache, valid now, and renews it in time.
	a.mu.Lock()
	a.now = func() time.Time { return start.Add(time.Second) }
	a.mu.Unlock()
	if a.earlyCert(acmeName) != nil {
		t.Errorf("the cached certificate is still served past its start by the clock; want autocert to have it")
	}
}
