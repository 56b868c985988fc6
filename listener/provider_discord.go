package listener

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// discord verifies Discord's X-Signature-Ed25519: the hex Ed25519
// signature of X-Signature-Timestamp + body, checked with the
// application's public key (public_key, hex; no secret). Discord sets no
// window; webhookd refuses a timestamp more than 5 minutes from its clock
// either way (tolerance changes it).
//
// It answers an interaction PING (type 1) with {"type":1}, and a Webhook
// Events PING (type 0) with 204. The event type is the body's type (the
// interaction type, as a number: "2" for an application command), or, for
// a Webhook Event, its event.type ("APPLICATION_AUTHORIZED").
//
// https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers
type discord struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey // only for Sign, in tests: Discord holds the real one
	tol  time.Duration
}

func newDiscord(c ProviderConfig) (Provider, error) {
	pub, err := hex.DecodeString(c.PublicKey)
	if c.PublicKey == "" {
		return nil, fmt.Errorf("discord needs public_key (the application's public key)")
	}
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("discord: public_key must be %d hex characters", 2*ed25519.PublicKeySize)
	}
	p := &discord{pub: pub, tol: orDefault(c.Tolerance, 5*time.Minute)}
	if len(c.Secrets) > 0 {
		priv, err := ed25519Private(c.Secrets[0])
		if err != nil {
			return nil, fmt.Errorf("discord: signing key: %w", err)
		}
		p.priv = priv
	}
	return p, nil
}

// ed25519Private reads a hex seed (32 bytes) or private key (64 bytes).
func ed25519Private(s []byte) (ed25519.PrivateKey, error) {
	b, err := hex.DecodeString(string(s))
	switch {
	case err != nil:
		return nil, fmt.Errorf("not hex")
	case len(b) == ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(b), nil
	case len(b) == ed25519.PrivateKeySize:
		return ed25519.PrivateKey(b), nil
	}
	return nil, fmt.Errorf("want a %d-byte seed or a %d-byte key", ed25519.SeedSize, ed25519.PrivateKeySize)
}

func (p *discord) Verify(r *Request) error {
	const sigName, tsName = "X-Signature-Ed25519", "X-Signature-Timestamp"
	v, err := sigHeader(r.Header, sigName)
	if err != nil {
		return err
	}
	sig, err := decodeHexSig(sigName, v, ed25519.SignatureSize)
	if err != nil {
		return err
	}
	tsText, err := sigHeader(r.Header, tsName)
	if err != nil {
		return err
	}
	ts, err := parseUnix(tsName, tsText)
	if err != nil {
		return err
	}
	msg := make([]byte, 0, len(tsText)+len(r.Body))
	msg = append(append(msg, tsText...), r.Body...)
	if !ed25519.Verify(p.pub, msg, sig) {
		return fmt.Errorf("%w: %s", ErrBadSignature, sigName)
	}
	return inWindow(tsName, ts, r.Now, p.tol)
}

type discordBody struct {
	ID    jsonString `json:"id"`
	Type  jsonString `json:"type"`
	Event *struct {
		Type jsonString `json:"type"`
	} `json:"event"`
}

func (p *discord) Event(r *Request) string {
	b, _ := bodyAs[discordBody](r)
	if b.Event != nil && b.Event.Type != "" {
		return string(b.Event.Type)
	}
	return string(b.Type)
}

func (p *discord) Delivery(r *Request) string {
	b, _ := bodyAs[discordBody](r)
	return string(b.ID)
}

// Handshake answers the PINGs Discord sends to check an endpoint.
func (p *discord) Handshake(r *Request) (Answer, bool) {
	b, ok := bodyAs[discordBody](r)
	if !ok {
		return Answer{}, false
	}
	switch {
	case b.Type == "1" && b.Event == nil:
		return Answer{Status: http.StatusOK, ContentType: "application/json", Body: []byte(`{"type":1}`)}, true
	case b.Type == "0":
		return Answer{Status: http.StatusNoContent}, true
	}
	return Answer{}, false
}

// Acknowledge answers a stored delivery as Discord requires: a Webhook
// Event with 204, and an interaction, which Discord shows as failed unless
// it gets an interaction response within 3 seconds, with a deferred one
// (type 5 for commands and modal submits, 6 for components, an empty
// autocomplete result for autocompletes). The action can then follow up
// through Discord's API with the interaction's token.
//
// https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction
func (p *discord) Acknowledge(r *Request) (Answer, bool) {
	b, ok := bodyAs[discordBody](r)
	if !ok {
		return Answer{}, false
	}
	if b.Event != nil {
		return Answer{Status: http.StatusNoContent}, true
	}
	body := ""
	switch b.Type {
	case "2", "5":
		body = `{"type":5}`
	case "3":
		body = `{"type":6}`
	case "4":
		body = `{"type":8,"data":{"choices":[]}}`
	default:
		return Answer{}, false
	}
	return Answer{Status: http.StatusOK, ContentType: "application/json", Body: []byte(body)}, true
}

// Dismiss answers an ignored Webhook Event with the 204 Discord requires
// of every one. An ignored interaction keeps 200 {"ignored": ...}, which
// Discord shows as failed: no action will follow it up, and a deferred
// response would leave the user waiting for one.
func (p *discord) Dismiss(r *Request) (Answer, bool) {
	b, ok := bodyAs[discordBody](r)
	if !ok || b.Event == nil {
		return Answer{}, false
	}
	return Answer{Status: http.StatusNoContent}, true
}

// Sign needs the application's private key, which only Discord has:
// it works only where the provider was given one (in tests).
func (p *discord) Sign(s *Signing) error {
	if p.priv == nil {
		return fmt.Errorf("discord: deliveries are signed with Discord's private key, which webhookd does not have")
	}
	fields := map[string]any{"id": deliveryOr(s, "")}
	if n, err := strconv.Atoi(s.Event); err == nil {
		fields["type"] = n
	}
	s.Body = setJSONFields(s.Body, fields)
	ts := strconv.FormatInt(s.Now.Unix(), 10)
	msg := append([]byte(ts), s.Body...)
	s.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(p.priv, msg)))
	s.Header.Set("X-Signature-Timestamp", ts)
	s.Header.Set("User-Agent", "Discord-Interactions/1.0 (+https://discord.com)")
	setContentType(s, "application/json")
	return nil
}
