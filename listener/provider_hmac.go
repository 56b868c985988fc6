package listener

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// hmacProvider is the generic HMAC check: header holds prefix + the HMAC of
// the raw body with algorithm (sha1, sha256, sha512), in encoding (hex, of
// either case, or base64, standard or URL-safe, padded or not).
type hmacProvider struct {
	secrets        [][]byte
	header         string
	hash           func() hash.Hash
	size           int
	encoding       string
	prefix         string
	eventHeader    string
	deliveryHeader string
}

func newHMAC(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("hmac needs a secret")
	}
	if c.Header == "" {
		return nil, fmt.Errorf("hmac needs header")
	}
	h, err := hasher(c.Algorithm)
	if err != nil {
		return nil, err
	}
	enc := c.Encoding
	if enc == "" {
		enc = "hex"
	}
	if enc != "hex" && enc != "base64" {
		return nil, fmt.Errorf("unknown encoding %q", enc)
	}
	return &hmacProvider{secrets: c.Secrets, header: c.Header, hash: h, size: h().Size(), encoding: enc, prefix: c.Prefix,
		eventHeader: c.EventHeader, deliveryHeader: c.DeliveryHeader}, nil
}

func (p *hmacProvider) Verify(r *Request) error {
	v, err := sigHeader(r.Header, p.header)
	if err != nil {
		return err
	}
	enc, ok := strings.CutPrefix(v, p.prefix)
	if !ok {
		return fmt.Errorf("%w: %s does not start with %q", ErrMalformed, p.header, p.prefix)
	}
	got, err := p.decode(enc)
	if err != nil {
		return fmt.Errorf("%w: %s is not %s", ErrMalformed, p.header, p.encoding)
	}
	if len(got) != p.size {
		return fmt.Errorf("%w: %s is %d bytes; want %d", ErrMalformed, p.header, len(got), p.size)
	}
	if matchAny([][]byte{got}, p.secrets, func(key []byte) []byte { return mac(p.hash, key, r.Body) }) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrBadSignature, p.header)
}

// base64s are the spellings of base64 senders use: standard or URL
// alphabet, padded or not.
var base64s = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}

// decode reads hex of either case, or base64 in any of its four
// spellings, each only in its canonical form.
func (p *hmacProvider) decode(s string) ([]byte, error) {
	if p.encoding == "base64" {
		for _, e := range base64s {
			if b, err := e.Strict().DecodeString(s); err == nil && e.EncodeToString(b) == s {
				return b, nil
			}
		}
		return nil, fmt.Errorf("not base64")
	}
	return hex.DecodeString(s)
}

func (p *hmacProvider) encode(b []byte) string {
	if p.encoding == "base64" {
		return base64.StdEncoding.EncodeToString(b)
	}
	return hex.EncodeToString(b)
}

func (p *hmacProvider) Event(r *Request) string    { return headerOr(r, p.eventHeader) }
func (p *hmacProvider) Delivery(r *Request) string { return headerOr(r, p.deliveryHeader) }

func (p *hmacProvider) Sign(s *Signing) error {
	s.Header.Set(p.header, p.prefix+p.encode(mac(p.hash, p.secrets[0], s.Body)))
	setOptional(s, p.eventHeader, p.deliveryHeader)
	return nil
}
