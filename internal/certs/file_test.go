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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA issues certificates for tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "webhookd test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns PEM certificate and key for names, with serial.
func (ca *testCA) issue(t *testing.T, serial int64, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// writeAtomic replaces path as a renewal tool does: a new file renamed
// over the old one.
func writeAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// serveTLS serves a handler over TLS with f's certificates on loopback.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello over "+r.Proto)
	})}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// servedSerial connects and returns the serial number the server shows.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "hooks.example.test"})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestFile_ReloadsRenewedCertificate(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1, k1 := ca.issue(t, 1001, "hooks.example.test")
	writeAtomic(t, certPath, c1)
	writeAtomic(t, keyPath, k1)

	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	var logs logBuffer
	f, err := LoadFile(certPath, keyPath, FileOptions{CheckInterval: time.Minute, Now: now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, TLSConfig(f.GetCertificate))

	// A real HTTPS request, verified against the test CA.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool, ServerName: "hooks.example.test"}, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("GET over HTTPS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello over HTTP/2.0" {
		t.Errorf("body = %q; want hello over HTTP/2.0", body)
	}
	if got := servedSerial(t, addr, ca.pool); got != 1001 {
		t.Fatalf("serial = %d; want 1001", got)
	}

	// Renewed: the new pair is served once the interval has passed, with
	// no restart; before that, the files are not looked at.
	c2, k2 := ca.issue(t, 1002, "hooks.example.test")
	writeAtomic(t, certPath, c2)
	writeAtomic(t, keyPath, k2)
	if got := servedSerial(t, addr, ca.pool); got != 1001 {
		t.Errorf("serial within the check interval = %d; want the old 1001", got)
	}
	clock.Add(int64(time.Minute))
	if got := servedSerial(t, addr, ca.pool); got != 1002 {
		t.Errorf("serial after renewal = %d; want 1002", got)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("no reload logged: %s", logs.String())
	}

	// A renewal caught half-way (the new certificate with the old key):
	// the last good pair stays, and the failure is logged once.
	c3, k3 := ca.issue(t, 1003, "hooks.example.test")
	writeAtomic(t, certPath, c3)
	for range 3 {
		clock.Add(int64(time.Minute))
		if got := servedSerial(t, addr, ca.pool); got != 1002 {
			t.Errorf("serial with a mismatched pair = %d; want the last good 1002", got)
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Errorf("mismatched pair logged %d times; want once:\n%s", n, logs.String())
	}
	writeAtomic(t, keyPath, k3)
	clock.Add(int64(time.Minute))
	if got := servedSerial(t, addr, ca.pool); got != 1003 {
		t.Errorf("serial once the key arrived = %d; want 1003", got)
	}
}

func TestFile_FollowsSymlinkSwap(t *testing.T) {
	// certbot's layout: live/ holds symlinks into archive/, and a renewal
	// points them at new files.
	ca := newTestCA(t)
	dir := t.TempDir()
	for i, serial := range []int64{7, 8} {
		c, k := ca.issue(t, serial, "hooks.example.test")
		os.WriteFile(filepath.Join(dir, "cert"+string(rune('1'+i))+".pem"), c, 0o600)
		os.WriteFile(filepath.Join(dir, "key"+string(rune('1'+i))+".pem"), k, 0o600)
	}
	live := filepath.Join(dir, "live")
	os.Mkdir(live, 0o700)
	link := func(name, target string) {
		tmp := filepath.Join(live, name+".new")
		if err := os.Symlink(filepath.Join(dir, target), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(live, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("fullchain.pem", "cert1.pem")
	link("privkey.pem", "key1.pem")
	now := time.Now()
	f, err := LoadFile(filepath.Join(live, "fullchain.pem"), filepath.Join(live, "privkey.pem"), FileOptions{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Certificate().Leaf.SerialNumber.Int64(); got != 7 {
		t.Fatalf("serial = %d; want 7", got)
	}
	link("fullchain.pem", "cert2.pem")
	link("privkey.pem", "key2.pem")
	now = now.Add(DefaultCheckInterval)
	if _, err := f.GetCertificate(nil); err != nil {
		t.Fatal(err)
	}
	if got := f.Certificate().Leaf.SerialNumber.Int64(); got != 8 {
		t.Errorf("serial after the symlinks moved = %d; want 8", got)
	}
}

func TestLoadFile_Errors(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	c1, _ := ca.issue(t, 1, "a.test")
	_, k2 := ca.issue(t, 2, "a.test")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	cert, otherKey := write("c.pem", c1), write("k.pem", k2)
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"missing cert", filepath.Join(dir, "none.pem"), otherKey, "tls_cert"},
		{"missing key", cert, filepath.Join(dir, "none.pem"), "tls_key"},
		{"mismatched pair", cert, otherKey, "private key does not match"},
		{"not PEM", write("junk.pem", []byte("junk")), otherKey, "failed to find any PEM data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFile(tc.cert, tc.key, FileOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadFile = %v; want an error with %q", err, tc.want)
			}
		})
	}
}

func TestFile_ClockStepsBack(t *testing.T) {
	ca, certPath, keyPath := servedPair(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	f, err := LoadFile(certPath, keyPath, FileOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(-2 * time.Hour)) // the clock was 2 h ahead; NTP steps it back
	c2, k2 := ca.issue(t, 2, "hooks.example.test")
	writeAtomic(t, certPath, c2)
	writeAtomic(t, keyPath, k2)
	for range 60 { // handshakes over the next minute
		clock.Add(int64(time.Second))
		f.GetCertificate(nil)
	}
	if got := f.Certificate().Leaf.SerialNumber.Int64(); got != 2 {
		t.Errorf("a minute after the renewal, serial = %d; want 2 (files not looked at since the clock stepped back)", got)
	}
}

// A certificate file that disappears after start (deleted, a dangling
// symlink) is a pair that cannot be loaded: doc.go says it is logged.
func TestFile_MissingFileLogged(t *testing.T) {
	_, certPath, keyPath := servedPair(t)
	var logs logBuffer
	f, err := LoadFile(certPath, keyPath, FileOptions{CheckInterval: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(certPath)
	time.Sleep(time.Millisecond)
	f.GetCertificate(nil)
	if got := f.Certificate().Leaf.SerialNumber.Int64(); got != 1 {
		t.Fatalf("serial = %d; want the last good 1", got)
	}
	if !strings.Contains(logs.String(), "do not load") {
		t.Errorf("cert file gone, nothing logged: %q", logs.String())
	}
}

// TestFile_MissingTwiceLogged: a file gone, back as it was, and gone again
// is logged both times.
func TestFile_MissingTwiceLogged(t *testing.T) {
	_, certPath, keyPath := servedPair(t)
	var logs logBuffer
	f, err := LoadFile(certPath, keyPath, FileOptions{CheckInterval: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	bak := certPath + ".bak"
	for i, want := range []int{1, 1, 2} {
		src, dst := certPath, bak
		if i == 1 {
			src, dst = bak, certPath
		}
		if err := os.Rename(src, dst); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		f.GetCertificate(nil)
		if got := strings.Count(logs.String(), "do not load"); got != want {
			t.Fatalf("step %d: %d failures logged; want %d", i, got, want)
		}
	}
}

// servedPair writes a pair of serial 1 for hooks.example.test into a temp
// dir, as cert.pem and key.pem.
func servedPair(t *testing.T) (ca *testCA, certPath, keyPath string) {
	t.Helper()
	ca = newTestCA(t)
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1, k1 := ca.issue(t, 1, "hooks.example.test")
	writeAtomic(t, certPath, c1)
	writeAtomic(t, keyPath, k1)
	return ca, certPath, keyPath
}
