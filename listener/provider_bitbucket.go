package listener

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// bitbucket verifies Bitbucket's X-Hub-Signature: "sha256=" and the hex
// HMAC-SHA256 of the raw body (Bitbucket Cloud, and Bitbucket Data Center
// which uses the same header).
//
// https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks
type bitbucket struct {
	secrets [][]byte
}

func newBitbucket(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("bitbucket needs a secret")
	}
	return &bitbucket{secrets: c.Secrets}, nil
}

func (b *bitbucket) Verify(r *Request) error {
	return verifyPrefixedHex(r, "X-Hub-Signature", "sha256=", sha256.Size, b.secrets, func(key []byte) []byte { return mac(sha256.New, key, r.Body) })
}

func (b *bitbucket) Event(r *Request) string { return r.Header.Get("X-Event-Key") }

// Delivery is X-Request-UUID (Bitbucket Cloud), else X-Request-Id
// (Bitbucket Data Center).
func (b *bitbucket) Delivery(r *Request) string {
	return firstValue(r.Header, "X-Request-UUID", "X-Request-Id")
}

func (b *bitbucket) Sign(s *Signing) error {
	s.Header.Set("X-Hub-Signature", "sha256="+hex.EncodeToString(mac(sha256.New, b.secrets[0], s.Body)))
	s.Header.Set("X-Event-Key", s.Event)
	s.Header.Set("X-Request-UUID", deliveryOr(s, ""))
	s.Header.Set("X-Hook-UUID", "{00000000-0000-0000-0000-000000000000}")
	s.Header.Set("User-Agent", "Bitbucket-Webhooks/2.0")
	setContentType(s, "application/json")
	return nil
}
