package listener

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// github verifies X-Hub-Signature-256: "sha256=" and the lower-case hex
// HMAC-SHA256 of the raw body. With allow_sha1 it also accepts the legacy
// X-Hub-Signature (HMAC-SHA1) when the SHA-256 header is absent.
//
// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
type github struct {
	secrets   [][]byte
	allowSHA1 bool
}

func newGitHub(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("github needs a secret")
	}
	return &github{secrets: c.Secrets, allowSHA1: c.AllowSHA1}, nil
}

func (g *github) Verify(r *Request) error {
	if len(r.Header.Values("X-Hub-Signature-256")) == 0 && g.allowSHA1 && len(r.Header.Values("X-Hub-Signature")) > 0 {
		return verifyPrefixedHex(r, "X-Hub-Signature", "sha1=", sha1.Size, g.secrets, func(key []byte) []byte { return mac(sha1.New, key, r.Body) })
	}
	return verifyPrefixedHex(r, "X-Hub-Signature-256", "sha256=", sha256.Size, g.secrets, func(key []byte) []byte { return mac(sha256.New, key, r.Body) })
}

// verifyPrefixedHex checks a header of the form prefix + lower-case hex
// of size bytes against sum(key) for each key.
func verifyPrefixedHex(r *Request, header, prefix string, size int, keys [][]byte, sum func(key []byte) []byte) error {
	v, err := sigHeader(r.Header, header)
	if err != nil {
		return err
	}
	enc, ok := strings.CutPrefix(v, prefix)
	if !ok {
		return fmt.Errorf("%w: %s does not start with %q", ErrMalformed, header, prefix)
	}
	sig, err := decodeHexSig(header, enc, size)
	if err != nil {
		return err
	}
	if matchAny([][]byte{sig}, keys, sum) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrBadSignature, header)
}

func (g *github) Event(r *Request) string    { return r.Header.Get("X-GitHub-Event") }
func (g *github) Delivery(r *Request) string { return r.Header.Get("X-GitHub-Delivery") }

func (g *github) Sign(s *Signing) error {
	s.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac(sha256.New, g.secrets[0], s.Body)))
	s.Header.Set("X-GitHub-Event", s.Event)
	s.Header.Set("X-GitHub-Delivery", s.Delivery)
	s.Header.Set("X-GitHub-Hook-ID", "0")
	if s.Header.Get("Content-Type") == "" {
		s.Header.Set("Content-Type", "application/json")
	}
	s.Header.Set("User-Agent", "GitHub-Hookshot/webhookd-send")
	return nil
}
