package listener

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"
)

// twitch verifies EventSub's Twitch-Eventsub-Message-Signature: "sha256="
// and the hex HMAC-SHA256 of message id + timestamp + body, keyed with the
// subscription's secret. The timestamp (RFC 3339) must be within 10
// minutes of the receiver's clock, either way. It answers
// webhook_callback_verification with the challenge, as plain text.
//
// https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message
type twitch struct {
	secrets [][]byte
	tol     time.Duration
}

const (
	twitchID        = "Twitch-Eventsub-Message-Id"
	twitchTimestamp = "Twitch-Eventsub-Message-Timestamp"
	twitchSignature = "Twitch-Eventsub-Message-Signature"
	twitchType      = "Twitch-Eventsub-Message-Type"
	twitchSubType   = "Twitch-Eventsub-Subscription-Type"
)

func newTwitch(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("twitch needs a secret")
	}
	return &twitch{secrets: c.Secrets, tol: orDefault(c.Tolerance, 10*time.Minute)}, nil
}

func (p *twitch) Verify(r *Request) error {
	id, err := sigHeader(r.Header, twitchID)
	if err != nil {
		return err
	}
	tsText, err := sigHeader(r.Header, twitchTimestamp)
	if err != nil {
		return err
	}
	ts, err := time.Parse(time.RFC3339Nano, tsText)
	if err != nil {
		return fmt.Errorf("%w: %s is not an RFC 3339 time", ErrMalformed, twitchTimestamp)
	}
	if len(id) > maxStdID {
		return fmt.Errorf("%w: %s is too long", ErrMalformed, twitchID)
	}
	err = verifyPrefixedHex(r, twitchSignature, "sha256=", sha256.Size, p.secrets, func(key []byte) []byte {
		return mac(sha256.New, key, []byte(id), []byte(tsText), r.Body)
	})
	if err != nil {
		return err
	}
	return inWindow(twitchTimestamp, ts, r.Now, p.tol)
}

func (p *twitch) Event(r *Request) string    { return r.Header.Get(twitchSubType) }
func (p *twitch) Delivery(r *Request) string { return r.Header.Get(twitchID) }

// Handshake answers webhook_callback_verification with the challenge.
func (p *twitch) Handshake(r *Request) (Answer, bool) {
	if r.Header.Get(twitchType) != "webhook_callback_verification" {
		return Answer{}, false
	}
	var b struct {
		Challenge jsonString `json:"challenge"`
	}
	jsonObject(r.Body, &b)
	return Answer{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte(b.Challenge)}, true
}

// Sign sends a notification, or whatever message type the caller set in
// Twitch-Eventsub-Message-Type (webhook_callback_verification, revocation).
func (p *twitch) Sign(s *Signing) error {
	id := deliveryOr(s, "")
	ts := s.Now.UTC().Format(time.RFC3339Nano)
	s.Header.Set(twitchID, id)
	s.Header.Set(twitchTimestamp, ts)
	s.Header.Set(twitchSignature, "sha256="+hex.EncodeToString(mac(sha256.New, p.secrets[0], []byte(id), []byte(ts), s.Body)))
	if s.Header.Get(twitchType) == "" {
		s.Header.Set(twitchType, "notification")
	}
	s.Header.Set(twitchSubType, s.Event)
	s.Header.Set("Twitch-Eventsub-Subscription-Version", "1")
	s.Header.Set("Twitch-Eventsub-Message-Retry", "0")
	setContentType(s, "application/json")
	return nil
}
