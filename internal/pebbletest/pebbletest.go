// Package pebbletest runs Pebble, Let's Encrypt's ACME test server, on
// loopback for tests, with a DNS server (over TCP) that resolves every name
// to 127.0.0.1, so that webhookd's ACME wiring can get real certificates
// through real tls-alpn-01 and http-01 challenges without the internet.
//
// Pebble is built from the Go module proxy (github.com/letsencrypt/pebble)
// the first time and kept in the user's cache directory; WEBHOOKD_PEBBLE
// names a prebuilt binary instead. Where it cannot be built, tests skip
// and say why — except under CI (CI=true), where they fail.
package pebbletest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Version is the Pebble release the tests build.
const Version = "v2.10.1"

// Options say where Pebble's validation authority connects.
type Options struct {
	// TLSPort is where it checks tls-alpn-01 challenges (127.0.0.1).
	TLSPort int
	// HTTPPort is where it checks http-01 challenges (127.0.0.1).
	HTTPPort int
}

// Server is a running Pebble.
type Server struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// CAFile is a PEM file with the CA that signed Pebble's own HTTPS
	// certificate: an ACME client must trust it (SSL_CERT_FILE for the
	// binary, Client for in-process code).
	CAFile string
	// Client trusts Pebble's HTTPS certificate.
	Client *http.Client

	dir    string
	listen string
	mgmt   string
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the path of a pebble binary, building it on first use.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("WEBHOOKD_PEBBLE"); p != "" {
		return p
	}
	buildOnce.Do(func() { buildPath, buildErr = build() })
	if buildErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("pebble, the ACME test server, could not be built: %v", buildErr)
		}
		t.Skipf("skipping: pebble, the ACME test server, could not be built from the Go module proxy: %v", buildErr)
	}
	return buildPath
}

func build() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "webhookd-test", "pebble-"+Version)
	bin := filepath.Join(dir, "pebble")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// Test binaries of several packages may build it at once: each builds
	// into its own directory and renames the result into place.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(goBin, "install", "github.com/letsencrypt/pebble/v2/cmd/pebble@"+Version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install pebble@%s: %v\n%s", Version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "pebble"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// New prepares a Pebble: its addresses, its HTTPS identity and so its
// DirectoryURL and CAFile, which a daemon's config needs before Pebble can
// be started (Pebble needs the daemon's challenge ports).
func New(t testing.TB) *Server {
	t.Helper()
	Binary(t) // skip early when there is none
	dir := t.TempDir()
	caPEM, certPEM, keyPEM := selfCA(t)
	s := &Server{CAFile: filepath.Join(dir, "ca.pem"), dir: dir}
	for name, b := range map[string][]byte{"ca.pem": caPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	s.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	// Pebble takes its own addresses from its config file and does not
	// report the port it got: these two are picked free and closed.
	s.listen, s.mgmt = freePort(t), freePort(t)
	s.DirectoryURL = "https://" + s.listen + "/dir"
	return s
}

// Start is New, then Run.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(t)
	s.Run(t, opts)
	return s
}

// Run starts Pebble and its DNS server until the test ends, and waits
// until Pebble answers.
func (s *Server) Run(t testing.TB, opts Options) {
	t.Helper()
	bin := Binary(t)
	dir := s.dir
	dns := startDNS(t)
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  s.listen,
		"managementListenAddress":        s.mgmt,
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       opts.HTTPPort,
		"tlsPort":                        opts.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"keyAlgorithm":                   "ecdsa",
	}}
	cb, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgPath, cb, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgPath, "-dnsserver", dns)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	w := &syncWriter{b: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pebble: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("pebble's log:\n%s", w.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := s.Client.Get(s.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s: %v", s.DirectoryURL, err)
		}
		select {
		case err := <-exited:
			// Put it back for the cleanup, which logs Pebble's output.
			exited <- err
			t.Fatalf("pebble exited before it answered: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Roots returns the pool of Pebble's issuing root, to verify the
// certificates it issued.
func (s *Server) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := s.Client.Get("https://" + s.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebble root: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble root: no certificate in %q", b)
	}
	return pool
}

type syncWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// freePort returns a loopback address whose port was free a moment ago.
// It is picked at random below the kernel's ephemeral range, from which
// every ":0" listener and outgoing connection on the machine takes its
// port: a port from that range, once closed, could be handed to another
// process before Pebble binds it. Below the range, only a process that
// names the same port can take it.
func freePort(t testing.TB) string {
	t.Helper()
	low := ephemeralLow()
	for i := 0; low > 12000 && i < 100; i++ {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(10000+mrand.IntN(low-10000)))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux),
// or 0 where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// FreePort returns a loopback port that was free a moment ago, for the
// rare address that must be known before the server that binds it starts
// (Pebble's ports, which its config names).
func FreePort(t testing.TB) int {
	_, p, _ := net.SplitHostPort(freePort(t))
	n, _ := strconv.Atoi(p)
	return n
}

// selfCA makes a CA and, signed by it, a certificate for 127.0.0.1 and
// localhost: Pebble's own HTTPS identity.
func selfCA(t testing.TB) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebbletest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// startDNS serves DNS over TCP (which Pebble's validation authority uses
// with a custom resolver) on loopback: every A question gets 127.0.0.1,
// every other question an empty answer.
func startDNS(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serveDNS(conn)
			}()
		}
	}()
	return ln.Addr().String()
}

// serveDNS answers length-prefixed DNS messages on conn until it closes.
func serveDNS(conn net.Conn) {
	for {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		var n [2]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return
		}
		req := make([]byte, int(n[0])<<8|int(n[1]))
		if _, err := io.ReadFull(conn, req); err != nil {
			return
		}
		out, err := answerDNS(req)
		if err != nil {
			return
		}
		if _, err := conn.Write(append([]byte{byte(len(out) >> 8), byte(len(out))}, out...)); err != nil {
			return
		}
	}
}

func answerDNS(req []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if q.Type == dnsmessage.TypeA {
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60}
		if err := b.AResource(rh, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}); err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
