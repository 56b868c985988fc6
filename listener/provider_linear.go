package listener

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// linear verifies Linear-Signature: the hex HMAC-SHA256 of the raw body
// keyed with the webhook's signing secret. The signed body carries
// webhookTimestamp (milliseconds since the epoch), which must be within a
// minute of the receiver's clock, either way.
//
// https://linear.app/developers/webhooks#securing-webhooks
type linear struct {
	secrets [][]byte
	tol     time.Duration
}

func newLinear(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("linear needs a secret")
	}
	return &linear{secrets: c.Secrets, tol: orDefault(c.Tolerance, time.Minute)}, nil
}

type linearBody struct {
	Type             jsonString `json:"type"`
	Action           jsonString `json:"action"`
	WebhookTimestamp jsonString `json:"webhookTimestamp"`
}

func (p *linear) Verify(r *Request) error {
	const name = "Linear-Signature"
	v, err := sigHeader(r.Header, name)
	if err != nil {
		return err
	}
	sig, err := decodeHexSig(name, v, sha256.Size)
	if err != nil {
		return err
	}
	if !matchAny([][]byte{sig}, p.secrets, func(key []byte) []byte { return mac(sha256.New, key, r.Body) }) {
		return fmt.Errorf("%w: %s", ErrBadSignature, name)
	}
	b, ok := bodyAs[linearBody](r)
	if !ok {
		return fmt.Errorf("%w: body is not a JSON object with webhookTimestamp", ErrMalformed)
	}
	ms, err := parseDigits("body webhookTimestamp", string(b.WebhookTimestamp))
	if err != nil {
		return err
	}
	return inWindow("body webhookTimestamp", time.UnixMilli(ms), r.Now, p.tol)
}

// Event is the body's type and action joined by a dot: "Issue.create".
func (p *linear) Event(r *Request) string {
	b, _ := bodyAs[linearBody](r)
	if b.Action == "" {
		return string(b.Type)
	}
	return string(b.Type) + "." + string(b.Action)
}

func (p *linear) Delivery(r *Request) string { return r.Header.Get("Linear-Delivery") }

// Sign sets type and action from the event ("Issue.create") and
// webhookTimestamp in the body, then signs it.
func (p *linear) Sign(s *Signing) error {
	var obj map[string]any
	if !jsonObject(s.Body, &obj) || obj == nil {
		return fmt.Errorf("linear: the payload must be a JSON object (it carries webhookTimestamp)")
	}
	typ, action, _ := strings.Cut(s.Event, ".")
	s.Body = setJSONFields(s.Body, map[string]any{"type": typ, "action": action, "webhookTimestamp": s.Now.UnixMilli()})
	s.Header.Set("Linear-Signature", hex.EncodeToString(mac(sha256.New, p.secrets[0], s.Body)))
	s.Header.Set("Linear-Delivery", deliveryOr(s, ""))
	s.Header.Set("Linear-Event", typ)
	s.Header.Set("User-Agent", "Linear-Webhook")
	setContentType(s, "application/json; charset=utf-8")
	return nil
}
