package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCertPair writes a self-signed certificate and its key as
// name.pem and name.key in dir.
func writeCertPair(t *testing.T, dir, name string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	for file, blk := range map[string]*pem.Block{name + ".pem": {Type: "CERTIFICATE", Bytes: der}, name + ".key": {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestE2E_TLSPairMismatch: a tls_cert and tls_key that are not a pair
// stop serve with the same FILE:LINE: message that check gives, as every
// config error at start does.
func TestE2E_TLSPairMismatch(t *testing.T) {
	dir := t.TempDir()
	writeCertPair(t, dir, "a")
	writeCertPair(t, dir, "b")
	p := writeConfig(t, dir, "[server]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"a.pem\"\ntls_key = \"b.key\"\n[admin]\nlisten = \"off\"\n")
	want := p + ":3: tls_cert and tls_key: "
	for _, cmd := range []string{"check", "serve"} {
		c := exec.Command(binPath, cmd, "-config", p)
		timer := time.AfterFunc(5*time.Second, func() { c.Process.Kill() }) // a daemon that started
		out, err := c.CombinedOutput()
		timer.Stop()
		if code := exitStatus(err); code != 1 || !strings.HasPrefix(string(out), want) {
			t.Errorf("webhookd %s: exit %d\n%s\nwant 1 and %q from the first character", cmd, code, out, want)
		}
	}
}
