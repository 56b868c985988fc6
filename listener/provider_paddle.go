package listener

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"
)

// paddle verifies Paddle Billing's Paddle-Signature: "ts=<unix>;h1=<hex>",
// h1 the HMAC-SHA256 of "ts:body" keyed with the notification
// destination's secret key ("pdl_ntfset_..." as it is). Several h1 may be
// sent while a secret is rotated; one match is enough. The timestamp must
// be within 5 seconds of the receiver's clock either way, the window of
// Paddle's own SDKs (tolerance widens it).
//
// https://developer.paddle.com/webhooks/signature-verification
type paddle struct {
	secrets [][]byte
	tol     time.Duration
}

func newPaddle(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("paddle needs a secret")
	}
	return &paddle{secrets: c.Secrets, tol: orDefault(c.Tolerance, 5*time.Second)}, nil
}

func (p *paddle) Verify(r *Request) error {
	const name = "Paddle-Signature"
	v, err := sigHeader(r.Header, name)
	if err != nil {
		return err
	}
	kv, err := parseKV(name, v, ';', "ts", "h1")
	if err != nil {
		return err
	}
	ts, err := parseUnix(name+" ts", kv.ts)
	if err != nil {
		return err
	}
	sigs, err := hexSigs(name+" h1", kv.sigs, sha256.Size)
	if err != nil {
		return err
	}
	if !matchAny(sigs, p.secrets, func(key []byte) []byte { return mac(sha256.New, key, []byte(kv.ts), []byte{':'}, r.Body) }) {
		return fmt.Errorf("%w: %s", ErrBadSignature, name)
	}
	return inWindow(name+" ts", ts, r.Now, p.tol)
}

type paddleBody struct {
	EventID   jsonString `json:"event_id"`
	EventType jsonString `json:"event_type"`
}

func (p *paddle) Event(r *Request) string {
	b, _ := bodyAs[paddleBody](r)
	return string(b.EventType)
}

func (p *paddle) Delivery(r *Request) string {
	b, _ := bodyAs[paddleBody](r)
	return string(b.EventID)
}

func (p *paddle) Sign(s *Signing) error {
	s.Body = setJSONFields(s.Body, map[string]any{"event_type": s.Event, "event_id": deliveryOr(s, "evt_")})
	ts := strconv.FormatInt(s.Now.Unix(), 10)
	s.Header.Set("Paddle-Signature", "ts="+ts+";h1="+hex.EncodeToString(mac(sha256.New, p.secrets[0], []byte(ts), []byte{':'}, s.Body)))
	setContentType(s, "application/json")
	return nil
}
