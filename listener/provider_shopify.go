package listener

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// shopify verifies X-Shopify-Hmac-Sha256: the base64 HMAC-SHA256 of the raw
// body keyed with the app's client secret (or, for a webhook made in the
// store admin, the key shown under its webhooks).
//
// https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
type shopify struct {
	secrets [][]byte
}

func newShopify(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("shopify needs a secret")
	}
	return &shopify{secrets: c.Secrets}, nil
}

func (p *shopify) Verify(r *Request) error {
	return verifyBase64(r, "X-Shopify-Hmac-Sha256", p.secrets, func(key []byte) []byte { return mac(sha256.New, key, r.Body) })
}

// verifyBase64 checks a header holding the base64 HMAC-SHA256 sum(key).
func verifyBase64(r *Request, name string, keys [][]byte, sum func(key []byte) []byte) error {
	v, err := sigHeader(r.Header, name)
	if err != nil {
		return err
	}
	sig, err := decodeBase64Sig(name, v, sha256.Size)
	if err != nil {
		return err
	}
	if matchAny([][]byte{sig}, keys, sum) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrBadSignature, name)
}

func (p *shopify) Event(r *Request) string    { return r.Header.Get("X-Shopify-Topic") }
func (p *shopify) Delivery(r *Request) string { return r.Header.Get("X-Shopify-Webhook-Id") }

func (p *shopify) Sign(s *Signing) error {
	s.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(mac(sha256.New, p.secrets[0], s.Body)))
	s.Header.Set("X-Shopify-Topic", s.Event)
	id := deliveryOr(s, "")
	s.Header.Set("X-Shopify-Webhook-Id", id)
	s.Header.Set("X-Shopify-Event-Id", id)
	s.Header.Set("X-Shopify-Triggered-At", s.Now.UTC().Format("2006-01-02T15:04:05.000000000Z"))
	s.Header.Set("X-Shopify-Shop-Domain", "webhookd-send.myshopify.com")
	s.Header.Set("X-Shopify-API-Version", "2025-07")
	setContentType(s, "application/json")
	return nil
}
