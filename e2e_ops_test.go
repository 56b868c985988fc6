package main

// End-to-end tests of running webhookd on a real machine: HTTPS from
// certificate files (renewed without a restart) and from an ACME CA
// (Pebble on loopback), min_free, backup while the daemon runs under
// load, compact, and the log lines.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/webhookd/webhookd/internal/pebbletest"
	"github.com/webhookd/webhookd/store"
)

const opsName = "hooks.webhookd.test"

// opsCA issues server certificates for opsName and 127.0.0.1.
type opsCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newOpsCA(t *testing.T) *opsCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &opsCA{cert: cert, key: key, pool: pool}
}

// install writes a new certificate with serial and its key as cert.pem and
// key.pem in dir, each replaced the way renewal tools do (rename).
func (ca *opsCA) install(t *testing.T, dir string, serial int64) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: opsName},
		DNSNames: []string{opsName}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	for name, b := range map[string][]byte{
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	} {
		tmp := filepath.Join(dir, name+".new")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// servedCert does a TLS handshake with addr for opsName, verified against
// roots, and returns the server's certificate.
func servedCert(addr string, roots *x509.CertPool) (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 60 * time.Second}, "tcp", addr, &tls.Config{ServerName: opsName, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// postHTTPS sends a signed GitHub push over HTTPS.
func postHTTPS(t *testing.T, addr string, roots *x509.CertPool, delivery string) reply {
	t.Helper()
	body := []byte(`{"ref":"refs/heads/main","after":"abc"}`)
	req, _ := http.NewRequest("POST", "https://"+addr+"/hooks/site", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", githubSign("s3cret", body))
	c := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: opsName, RootCAs: roots}, ForceAttemptHTTP2: true,
	}}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST over HTTPS: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := reply{Status: res.StatusCode, Header: res.Header, Raw: string(b)}
	json.Unmarshal(b, &r.Body)
	if res.ProtoMajor != 2 {
		t.Errorf("HTTPS answer over %s; want HTTP/2", res.Proto)
	}
	return r
}

func TestE2E_HTTPSFromFiles(t *testing.T) {
	t.Parallel() // its own directory, ports and processes; it measures no time
	dir := t.TempDir()
	ca := newOpsCA(t)
	ca.install(t, dir, 1)
	writeConfig(t, dir, `
[server]
listen = "127.0.0.1:0"
tls_cert = "cert.pem"
tls_key = "key.pem"
[store]
path = "data/w.db"
[admin]
listen = "127.0.0.1:0"
[[hook]]
id = "site"
provider = "github"
secret = "s3cret"
`)
	d := startDaemon(t, dir)
	if !strings.Contains(d.log.String(), "tls=files") {
		t.Errorf("the listening line does not say tls=files:\n%s", d.log.String())
	}
	r := postHTTPS(t, d.addr, ca.pool, "d1")
	if r.Status != http.StatusAccepted {
		t.Fatalf("signed POST over HTTPS = %d %s; want 202", r.Status, r.Raw)
	}
	if c, err := servedCert(d.addr, ca.pool); err != nil || c.SerialNumber.Int64() != 1 {
		t.Fatalf("served certificate = %v, %v; want serial 1", c, err)
	}
	// TLS 1.2 and 1.3 are served, nothing older; HTTP/1.1 as well as
	// HTTP/2 (postHTTPS asked for HTTP/2 above).
	for _, tc := range []struct {
		name     string
		min, max uint16
		ok       bool
	}{
		{"TLS 1.2", tls.VersionTLS12, tls.VersionTLS12, true},
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, true},
		{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, false},
	} {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 60 * time.Second}, "tcp", d.addr, &tls.Config{ServerName: opsName, RootCAs: ca.pool, MinVersion: tc.min, MaxVersion: tc.max})
		if err == nil {
			conn.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("a handshake offering only %s: %v; want it to succeed: %v", tc.name, err, tc.ok)
		}
	}
	h1 := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: opsName, RootCAs: ca.pool, NextProtos: []string{"http/1.1"}},
	}}
	if res, err := h1.Get("https://" + d.addr + "/hooks/site"); err != nil {
		t.Errorf("GET over HTTP/1.1: %v", err)
	} else {
		res.Body.Close()
		if res.ProtoMajor != 1 || res.ProtoMinor != 1 {
			t.Errorf("answer to an HTTP/1.1 client over %s; want HTTP/1.1", res.Proto)
		}
	}
	// Plain HTTP to the HTTPS port is refused.
	if res, err := http.Post("http://"+d.addr+"/hooks/site", "application/json", strings.NewReader("{}")); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP to the HTTPS port = %d; want 400", res.StatusCode)
		}
	}

	// A renewal replaces both files: the new certificate is served without
	// a restart (the files are looked at, at most once a second, when a
	// handshake comes).
	ca.install(t, dir, 2)
	waitFor(t, 15*time.Second, "the renewed certificate to be served", func() bool {
		c, err := servedCert(d.addr, ca.pool)
		return err == nil && c.SerialNumber.Int64() == 2
	})
	waitFor(t, 5*time.Second, "the reload's log line", func() bool {
		return strings.Contains(d.log.String(), `msg="TLS certificate reloaded"`)
	})
	if r := postHTTPS(t, d.addr, ca.pool, "d2"); r.Status != http.StatusAccepted {
		t.Errorf("POST after the renewal = %d %s", r.Status, r.Raw)
	}
	if err := d.stop(30 * time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

func TestE2E_HTTPSFromFilesBadPairFailsStart(t *testing.T) {
	dir := t.TempDir()
	ca := newOpsCA(t)
	ca.install(t, dir, 1)
	key, _ := os.ReadFile(filepath.Join(dir, "key.pem"))
	ca.install(t, dir, 2)
	os.WriteFile(filepath.Join(dir, "key.pem"), key, 0o600) // the old key: a mismatched pair
	cfg := writeConfig(t, dir, "[server]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n[store]\npath = \"w.db\"\n")
	out, err := exec.Command(binPath, "serve", "-config", cfg).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "private key does not match") {
		t.Errorf("serve with a mismatched pair: %v\n%s\nwant exit 1 naming the mismatch", err, out)
	}
	// A missing file is an error at the start too, naming the file.
	if err := os.Remove(filepath.Join(dir, "key.pem")); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(binPath, "serve", "-config", cfg).CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "key.pem") {
		t.Errorf("serve with no key file: %v\n%s\nwant exit 1 naming key.pem", err, out)
	}
}

var reACMEHTTP = regexp.MustCompile(`msg="acme http-01 listening" addr=(\S+)`)

// TestE2E_ACME gets a certificate from Pebble, an ACME CA, on loopback:
// the daemon asks for it as it starts, before any client does, its http-01
// server answers the challenge (tls-alpn-01 would go to a closed port),
// and the certificate is cached beside the database. TestACME_TLSALPN01 in
// internal/certs covers tls-alpn-01 and a certificate got in a handshake.
func TestE2E_ACME(t *testing.T) {
	// Pebble runs first, so the http-01 port is chosen beforehand.
	httpPort := pebbletest.FreePort(t)
	ca := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: pebbletest.FreePort(t)})
	dir := t.TempDir()
	writeConfig(t, dir, `
[server]
listen = "127.0.0.1:0"
acme_domains = ["`+opsName+`"]
acme_email = "ops@webhookd.test"
acme_directory = "`+ca.DirectoryURL+`"
acme_http = "127.0.0.1:`+strconv.Itoa(httpPort)+`"
[store]
path = "data/w.db"
[admin]
listen = "127.0.0.1:0"
[[hook]]
id = "site"
provider = "github"
secret = "s3cret"
`)
	// The daemon trusts Pebble's HTTPS certificate as Go programs do:
	// through SSL_CERT_FILE.
	d := startDaemon(t, dir, "SSL_CERT_FILE="+ca.CAFile)
	m := reACMEHTTP.FindStringSubmatch(d.log.String())
	if m == nil {
		t.Fatalf("no acme http-01 listening line:\n%s", d.log.String())
	}
	roots := ca.Roots(t)

	// No client has connected: the certificate is got at start.
	waitFor(t, 30*time.Second, "the certificate, got as the daemon starts", func() bool {
		return strings.Contains(d.log.String(), `msg="TLS certificate ready"`)
	})
	if _, err := os.Stat(filepath.Join(dir, "data", "acme", opsName)); err != nil {
		t.Errorf("certificate not cached beside the database: %v", err)
	}
	c, err := servedCert(d.addr, roots)
	if err != nil {
		t.Fatalf("handshake for %s: %v", opsName, err)
	}
	if len(c.DNSNames) != 1 || c.DNSNames[0] != opsName {
		t.Errorf("certificate names = %q; want [%s]", c.DNSNames, opsName)
	}
	if n := strings.Count(d.log.String(), `msg="TLS certificate ready"`); n != 1 {
		t.Errorf("%d certificates got; want the one got at start served:\n%s", n, d.log.String())
	}
	if r := postHTTPS(t, d.addr, roots, "a1"); r.Status != http.StatusAccepted {
		t.Errorf("signed POST over HTTPS = %d %s; want 202", r.Status, r.Raw)
	}
	// The HTTP port sends browsers to https; a POST is refused.
	res, err := http.Post("http://"+m[1]+"/hooks/site", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("POST to acme_http = %d; want 400", res.StatusCode)
	}
}

func TestE2E_MinFree(t *testing.T) {
	dir := t.TempDir()
	cfg := `
[server]
listen = "127.0.0.1:0"
[store]
path = "w.db"
min_free = "%MIN%"
[admin]
listen = "127.0.0.1:0"
[[hook]]
id = "site"
provider = "github"
secret = "s3cret"
`
	// More free space than any disk has: every delivery is refused.
	writeConfig(t, dir, strings.ReplaceAll(cfg, "%MIN%", "1000000000GiB"))
	d := startDaemon(t, dir)
	r := d.postGitHub("/hooks/site", "s3cret", "push", "m1", []byte(`{}`))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "10" {
		t.Fatalf("POST with the disk below min_free = %d (Retry-After %q) %s; want 503 with Retry-After 10", r.Status, r.Header.Get("Retry-After"), r.Raw)
	}
	// More refused deliveries, over more than a second (a look at the
	// disk each): the log says it once, not once per delivery or look.
	for i := range 3 {
		time.Sleep(600 * time.Millisecond)
		if r := d.postGitHub("/hooks/site", "s3cret", "push", fmt.Sprint("m-more-", i), []byte(`{}`)); r.Status != http.StatusServiceUnavailable {
			t.Fatalf("POST %d with the disk below min_free = %d %s; want 503", i, r.Status, r.Raw)
		}
	}
	// The request's line comes after its answer.
	waitFor(t, 5*time.Second, "a log line that says why", func() bool {
		return strings.Count(d.log.String(), `reason="store: free disk space below min_free`) == 4
	})
	const lowMsg, roomMsg = `msg="free disk space below min_free`, `msg="free disk space above min_free again`
	if n := strings.Count(d.log.String(), lowMsg); n != 1 {
		t.Errorf("the log says %s %d times; want once", lowMsg, n)
	}
	// A reload with a sane min_free lets deliveries in again.
	writeConfig(t, dir, strings.ReplaceAll(cfg, "%MIN%", "1MiB"))
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 15*time.Second, "deliveries accepted after the reload", func() bool {
		r := d.postGitHub("/hooks/site", "s3cret", "push", "m1", []byte(`{}`))
		return r.Status == http.StatusAccepted
	})
	if n := strings.Count(d.log.String(), roomMsg); n != 1 {
		t.Errorf("the log says %s %d times after there is room; want once", roomMsg, n)
	}
}

// runCLI runs the binary with args and returns stdout, stderr and the
// exit status.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// checkCopy opens a backup, runs bbolt's check and returns the store.
func checkCopy(t *testing.T, path string) *store.Store {
	t.Helper()
	if err := store.CheckFile(path); err != nil {
		t.Fatalf("backup %s fails bbolt's check: %v", path, err)
	}
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestE2E_BackupUnderLoadAndCompact(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, `
[server]
listen = "127.0.0.1:0"
[store]
path = "data/w.db"
[admin]
listen = "127.0.0.1:0"
token = "adm1n"
[[hook]]
id = "site"
provider = "github"
secret = "s3cret"
  [[hook.action]]
  name = "noop"
  run = ["true"]
`)
	d := startDaemon(t, dir)

	// Load: 4 senders, 100 deliveries each, 4 KiB bodies; every ack is
	// recorded with the time it arrived.
	type ack struct {
		id string
		at time.Time
	}
	var mu sync.Mutex
	var acks []ack
	var wg sync.WaitGroup
	body := []byte(`{"ref":"refs/heads/main","pad":"` + strings.Repeat("x", 4096) + `"}`)
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				r, err := postGitHubTo(d.addr, "/hooks/site", "s3cret", "push", fmt.Sprintf("s%d-%d", s, i), body)
				if err != nil || r.Status != http.StatusAccepted {
					t.Errorf("delivery %d/%d: %v %d %s", s, i, err, r.Status, r.Raw)
					return
				}
				mu.Lock()
				acks = append(acks, ack{r.Body["id"].(string), time.Now()})
				mu.Unlock()
			}
		}()
	}
	acked := func() int { mu.Lock(); defer mu.Unlock(); return len(acks) }
	waitFor(t, 30*time.Second, "100 acknowledged deliveries", func() bool { return acked() >= 100 })

	// A backup while the senders go on.
	copy1 := filepath.Join(dir, "copy1.db")
	if n := acked(); n == 400 {
		t.Errorf("the load was over before the backup began")
	}
	started := time.Now()
	// The config's admin address is port 0: -admin says where it is.
	out, errOut, code := runCLI(t, "backup", "-config", cfgPath, "-admin", d.admin, copy1)
	if code != 0 || !strings.Contains(out, "from the running daemon") {
		t.Fatalf("backup while running: exit %d\n%s%s", code, out, errOut)
	}
	wg.Wait()
	st := checkCopy(t, copy1)
	mu.Lock()
	all := append([]ack(nil), acks...)
	mu.Unlock()
	before := 0
	for _, a := range all {
		if a.at.Before(started) {
			before++
			if _, err := st.GetEvent(a.id, true); err != nil {
				t.Errorf("event %s, acknowledged before the backup began, not in the copy: %v", a.id, err)
			}
		}
	}
	if before < 100 {
		t.Errorf("only %d acks before the backup; want at least 100", before)
	}

	// A copy onto the database itself, by another spelling of its path
	// or a link to it, is refused, and the database left as it was.
	db := filepath.Join(dir, "data", "w.db")
	link := filepath.Join(dir, "link.db")
	if err := os.Symlink(db, link); err != nil {
		t.Fatal(err)
	}
	dbInfo, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{filepath.Join(dir, "data", "..", "data", "w.db"), link} {
		out, errOut, code := runCLI(t, "backup", "-config", cfgPath, "-admin", d.admin, target)
		if code != 1 || !strings.Contains(errOut, "is the database itself") {
			t.Errorf("backup onto the database as %s: exit %d\n%s%s\nwant exit 1 and 'is the database itself'", target, code, out, errOut)
		}
	}
	if after, err := os.Stat(db); err != nil || !os.SameFile(dbInfo, after) {
		t.Fatalf("the database file was replaced by a backup onto it: %v", err)
	}

	// After the load, a second copy holds every acknowledged event.
	copy2 := filepath.Join(dir, "copy2.db")
	out, errOut, code = runCLI(t, "backup", "-config", cfgPath, "-admin", d.admin, "-json", copy2)
	var bj struct {
		File  string
		Bytes int64
		From  string
	}
	if err := json.Unmarshal([]byte(out), &bj); code != 0 || err != nil || bj.From != "daemon" || bj.File != copy2 || bj.Bytes == 0 {
		t.Fatalf("second backup -json: exit %d, %+v, %v\n%s%s", code, bj, err, out, errOut)
	}
	if fi, err := os.Stat(copy2); err != nil || fi.Size() != bj.Bytes {
		t.Errorf("copy is %v bytes (%v); the command said %d", fi.Size(), err, bj.Bytes)
	}
	st2 := checkCopy(t, copy2)
	for _, a := range all {
		if _, err := st2.GetEvent(a.id, false); err != nil {
			t.Errorf("event %s not in the second copy: %v", a.id, err)
		}
	}
	if len(all) != 400 {
		t.Errorf("%d deliveries acknowledged; want 400", len(all))
	}

	// Let the queue drain, so that retention can delete the events below.
	waitFor(t, 60*time.Second, "every job to run", func() bool {
		req, _ := http.NewRequest("GET", "http://"+d.admin+"/api/status", nil)
		req.Header.Set("Authorization", "Bearer adm1n")
		r, err := do(req)
		if err != nil || r.Status != 200 {
			return false
		}
		jobs, _ := r.Body["jobs"].(map[string]any)
		return jobs["succeeded"] == 400.0
	})

	// compact refuses while the daemon holds the file.
	if out, errOut, code := runCLI(t, "compact", "-config", cfgPath); code != 1 || !strings.Contains(errOut, "stop webhookd first") {
		t.Errorf("compact while running: exit %d\n%s%s\nwant exit 1 and 'stop webhookd first'", code, out, errOut)
	}
	if err := d.stop(30 * time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// With no daemon, backup reads the file; the copy is a new file of
	// mode 0600 whatever lies beside it (a crashed backup's leftover of
	// another mode, or a file someone put there).
	copy3 := filepath.Join(dir, "copy3.db")
	if err := os.WriteFile(copy3+".partial", []byte("planted"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, "backup", "-config", cfgPath, "-admin", d.admin, copy3)
	if code != 0 || !strings.Contains(out, "from the file") {
		t.Fatalf("backup with no daemon: exit %d\n%s%s", code, out, errOut)
	}
	checkCopy(t, copy3)
	if fi, err := os.Stat(copy3); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup copy: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	// Compact offline: smaller (the events were pruned), checked, and the
	// daemon starts on it with what was kept.
	var kept, gone []string
	func() {
		st, err := store.Open(db, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		n, err := st.Prune(context.Background(), all[300].at)
		if err != nil || n < 100 {
			t.Fatalf("Prune = %d, %v; want at least 100 events gone", n, err)
		}
		for _, a := range all {
			if _, err := st.GetEvent(a.id, false); err == nil {
				kept = append(kept, a.id)
			} else {
				gone = append(gone, a.id)
			}
		}
	}()
	fi, _ := os.Stat(db)
	sizeBefore := fi.Size()
	out, errOut, code = runCLI(t, "compact", "-config", cfgPath)
	if code != 0 || !strings.Contains(out, "compacted") {
		t.Fatalf("compact: exit %d\n%s%s", code, out, errOut)
	}
	fi, _ = os.Stat(db)
	if fi.Size() >= sizeBefore {
		t.Errorf("compact: %d -> %d bytes; want smaller", sizeBefore, fi.Size())
	}
	d = startDaemon(t, dir)
	for _, id := range kept {
		if code, _ := d.apiEventToken(id, "adm1n"); code != http.StatusOK {
			t.Errorf("kept event %s after compact: %d", id, code)
		}
	}
	if code, _ := d.apiEventToken(gone[0], "adm1n"); code != http.StatusNotFound {
		t.Errorf("pruned event %s after compact: %d; want 404", gone[0], code)
	}
}

func (d *proc) apiEventToken(id, token string) (int, map[string]any) {
	d.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.admin+"/api/events/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := httpClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}

// TestE2E_LogLines checks the JSON log: every line is JSON; each request
// has one line, with the event id when it stored an event (or was a
// duplicate of one); each run has one line with its event id.
func TestE2E_LogLines(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
[server]
listen = "127.0.0.1:0"
[store]
path = "w.db"
[admin]
listen = "off"
[log]
format = "json"
level = "info"
[[hook]]
id = "site"
provider = "github"
secret = "s3cret"
events = ["push"]
  [[hook.action]]
  name = "ok"
  run = ["true"]
`)
	cmd := exec.Command(binPath, "serve", "-config", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	var raw syncBuffer
	var mu sync.Mutex
	addr := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			raw.Write(append(sc.Bytes(), '\n'))
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("log line is not JSON: %q", sc.Text())
				continue
			}
			mu.Lock()
			lines = append(lines, m)
			mu.Unlock()
			if m["msg"] == "listening" {
				addr <- m["addr"].(string)
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("log:\n%s", raw.String())
		}
	})
	var a string
	select {
	case a = <-addr:
	case <-time.After(15 * time.Second):
		t.Fatalf("no listening line:\n%s", raw.String())
	}
	post := func(event, delivery string) reply {
		r, err := postGitHubTo(a, "/hooks/site", "s3cret", event, delivery, []byte(`{"ref":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := post("push", "L1")
	dup := post("push", "L1")
	ignored := post("issues", "L2")
	bad, _ := postGitHubTo(a, "/hooks/site", "wrong", "push", "L3", []byte(`{}`))
	if first.Status != 202 || dup.Status != 200 || ignored.Status != 200 || bad.Status != 401 {
		t.Fatalf("answers = %d %d %d %d; want 202 200 200 401", first.Status, dup.Status, ignored.Status, bad.Status)
	}
	id := first.Body["id"].(string)
	count := func(match func(map[string]any) bool) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, l := range lines {
			if match(l) {
				n++
			}
		}
		return n
	}
	waitFor(t, 15*time.Second, "the run's log line", func() bool {
		return count(func(l map[string]any) bool { return l["msg"] == "run" }) == 1
	})
	cmd.Process.Signal(syscall.SIGTERM)
	<-done

	requests := count(func(l map[string]any) bool {
		msg, _ := l["msg"].(string)
		return strings.HasPrefix(msg, "request")
	})
	if requests != 4 {
		t.Errorf("%d request lines for 4 requests; want one each", requests)
	}
	for _, tc := range []struct {
		what  string
		match func(map[string]any) bool
	}{
		{"the stored event's request line, with its id", func(l map[string]any) bool {
			return l["msg"] == "request" && l["status"] == 202.0 && l["event_id"] == id && l["level"] == "INFO"
		}},
		{"the duplicate's request line, with the first event's id", func(l map[string]any) bool {
			return l["msg"] == "request" && l["status"] == 200.0 && l["event_id"] == id && l["duplicate"] == true
		}},
		{"the ignored delivery's request line", func(l map[string]any) bool {
			return l["msg"] == "request" && l["status"] == 200.0 && l["event_id"] == nil
		}},
		{"the refused request's line, with the check", func(l map[string]any) bool {
			return l["msg"] == "request refused" && l["status"] == 401.0 && l["check"] != nil && l["level"] == "WARN"
		}},
		{"the run's line, with the event id", func(l map[string]any) bool {
			return l["msg"] == "run" && l["event_id"] == id && l["action"] == "ok" && l["result"] != nil
		}},
	} {
		if n := count(tc.match); n != 1 {
			t.Errorf("%d lines for %s; want 1", n, tc.what)
		}
	}
	if n := count(func(l map[string]any) bool { return l["level"] == "DEBUG" }); n != 0 {
		t.Errorf("%d debug lines at level info", n)
	}
	if strings.Contains(raw.String(), "s3cret") {
		t.Errorf("the secret is in the log")
	}
}

var _ = context.Background

// TestE2E_SendHTTPSPublicName: with tls_cert and tls_key from a CA for
// the machine's public name, or its public IP address only (as certbot and
// Let's Encrypt make them: neither names localhost), `webhookd send HOOK`
// reaches the daemon: it asks for the certificate's name at the
// listener's own address.
func TestE2E_SendHTTPSPublicName(t *testing.T) {
	public := net.ParseIP("192.0.2.10")
	for name, san := range map[string]func(*x509.Certificate){
		"dns": func(c *x509.Certificate) { c.DNSNames = []string{opsName} },
		"ip":  func(c *x509.Certificate) { c.IPAddresses = []net.IP{public} },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ca := newOpsCA(t)
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
				KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			}
			san(tmpl)
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
			if err != nil {
				t.Fatal(err)
			}
			kder, _ := x509.MarshalECPrivateKey(key)
			caFile := filepath.Join(dir, "ca.pem")
			for name, b := range map[string][]byte{
				"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
				"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
				"ca.pem":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}),
			} {
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// The CA is trusted, as a public CA is on a real machine.
			if out, err := sendOverTLS(t, dir, "", "cert.pem", "key.pem", "SSL_CERT_FILE="+caFile); err != nil || !strings.Contains(out, "202 Accepted") {
				t.Errorf("webhookd send to a daemon serving a CA-issued certificate (%s) from tls_cert: %v\n%s\nwant 202 Accepted", name, err, out)
			}
		})
	}
}

// TestE2E_SendHTTPSSelfSigned: with a self-signed tls_cert (one no system
// root trusts), `webhookd send HOOK` still reaches the daemon: sending to
// the config's own listener, it trusts the certificate the config names.
// Until 2026-12-07 it failed with "certificate signed by unknown
// authority".
func TestE2E_SendHTTPSSelfSigned(t *testing.T) {
	dir := t.TempDir()
	writeCertPair(t, dir, "self")
	// No root of this machine's trusts the certificate.
	out, err := sendOverTLS(t, dir, "127.0.0.1", "self.pem", "self.key", "SSL_CERT_FILE="+filepath.Join(dir, "none.pem"), "SSL_CERT_DIR="+t.TempDir())
	if err != nil || !strings.Contains(out, "202 Accepted") {
		t.Errorf("webhookd send to a daemon serving a self-signed tls_cert: %v\n%s\nwant 202 Accepted", err, out)
	}
}

// sendOverTLS starts a daemon in dir whose listener, on host and a free
// port (send reads the port from [server] listen), serves the
// certificate cert with key, and runs `webhookd send site` to it with
// env added to the environment; it returns send's output.
func sendOverTLS(t *testing.T, dir, host, cert, key string, env ...string) (string, error) {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	writeConfig(t, dir, `
[server]
listen = "`+host+`:`+port+`"
tls_cert = "`+cert+`"
tls_key = "`+key+`"
[store]
path = "w.db"
[admin]
listen = "127.0.0.1:0"
[[hook]]
id = "site"
provider = "github"
secret = "s3cret"
`)
	startDaemon(t, dir)
	cmd := exec.Command(binPath, "send", "-config", filepath.Join(dir, "webhookd.toml"), "site", `{"ref":"refs/heads/main"}`)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestE2E_BackupSaysWhereNoDaemonAnswered: after an [admin] listen change
// saved in the file (it keeps its running value until a restart),
// `webhookd backup` finds no daemon at the file's new address and cannot
// read the file the daemon holds: its error says both, with the address it
// asked, not only that another process holds the file.
func TestE2E_BackupSaysWhereNoDaemonAnswered(t *testing.T) {
	dir := t.TempDir()
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	a1, a2 := free(), free()
	cfg := func(admin string) string {
		return strings.Replace(hooksConfig("", "", "site"), "[admin]\nlisten = \"127.0.0.1:0\"", "[admin]\nlisten = \""+admin+"\"", 1)
	}
	writeConfig(t, dir, cfg(a1))
	d := startDaemon(t, dir, reloadEnv...)
	if out, errOut, code := runCLI(t, "backup", "-config", d.config, filepath.Join(dir, "one.db")); code != 0 {
		t.Fatalf("backup before the change: %d %s%s", code, out, errOut)
	}
	saveRename(t, d.config, cfg(a2))
	waitFor(t, 5*time.Second, "restart_needed", func() bool { return fmt.Sprint(d.apiStatus()["restart_needed"]) == "[admin.listen]" })
	_, errOut, code := runCLI(t, "backup", "-config", d.config, filepath.Join(dir, "two.db"))
	if code == 0 {
		t.Fatal("backup succeeded")
	}
	if !strings.Contains(errOut, a2) {
		t.Errorf("backup with no daemon at the config's admin address %s, while one runs: %q; want it to say it found no daemon at %s", a2, strings.TrimSpace(errOut), a2)
	}
}
