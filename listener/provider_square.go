package listener

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
)

// square verifies x-square-hmacsha256-signature: the base64 HMAC-SHA256,
// keyed with the subscription's signature key, of the notification URL
// exactly as registered with Square followed by the raw body. Behind a
// proxy webhookd does not see that URL, so the hook names it: public_url
// (the query, if any, comes from the request).
//
// https://developer.squareup.com/docs/webhooks/step3validate
type square struct {
	secrets [][]byte
	public  *url.URL
}

const squareHeader = "X-Square-Hmacsha256-Signature"

func newSquare(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("square needs a secret (the signature key)")
	}
	u, err := parsePublicURL("square", c.PublicURL)
	if err != nil {
		return nil, err
	}
	return &square{secrets: c.Secrets, public: u}, nil
}

func (p *square) Verify(r *Request) error {
	u := signedURL(p.public, r.URL.RawQuery)
	err := verifyBase64(r, squareHeader, p.secrets, func(key []byte) []byte { return mac(sha256.New, key, []byte(u), r.Body) })
	if Check(err) == "mismatch" {
		return fmt.Errorf("%w (is public_url the notification URL set in Square?)", err)
	}
	return err
}

type squareBody struct {
	Type    jsonString `json:"type"`
	EventID jsonString `json:"event_id"`
}

func (p *square) Event(r *Request) string {
	b, _ := bodyAs[squareBody](r)
	return string(b.Type)
}

func (p *square) Delivery(r *Request) string {
	b, _ := bodyAs[squareBody](r)
	return string(b.EventID)
}

func (p *square) Sign(s *Signing) error {
	s.Body = setJSONFields(s.Body, map[string]any{"type": s.Event, "event_id": deliveryOr(s, "")})
	u := signedURL(p.public, s.URL.RawQuery)
	s.Header.Set(squareHeader, base64.StdEncoding.EncodeToString(mac(sha256.New, p.secrets[0], []byte(u), s.Body)))
	s.Header.Set("Square-Version", "2025-01-23")
	s.Header.Set("User-Agent", "Square Connect v2")
	setContentType(s, "application/json")
	return nil
}
