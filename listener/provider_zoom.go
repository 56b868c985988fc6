package listener

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// zoom verifies x-zm-signature: "v0=" and the hex HMAC-SHA256 of
// "v0:<x-zm-request-timestamp>:<body>" keyed with the app's secret token.
// Zoom sets no window; webhookd refuses a timestamp more than 5 minutes
// from its clock either way (tolerance changes it). It answers Zoom's
// endpoint.url_validation challenge with the plain token and its HMAC.
//
// https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events
type zoom struct {
	secrets [][]byte
	tol     time.Duration
}

func newZoom(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("zoom needs a secret (the secret token)")
	}
	return &zoom{secrets: c.Secrets, tol: orDefault(c.Tolerance, 5*time.Minute)}, nil
}

func (p *zoom) Verify(r *Request) error {
	return verifyV0(r, "X-Zm-Signature", "X-Zm-Request-Timestamp", p.secrets, p.tol)
}

type zoomBody struct {
	Event   jsonString `json:"event"`
	Payload struct {
		PlainToken jsonString `json:"plainToken"`
	} `json:"payload"`
}

func (p *zoom) Event(r *Request) string {
	b, _ := bodyAs[zoomBody](r)
	return string(b.Event)
}

// AcceptStatus is 200: Zoom asks for 200 or 204 and sends a delivery
// answered otherwise three more times, which, with no delivery id to tell
// them apart, would be stored and run as four events.
//
// https://devsupport.zoom.us/hc/en-us/articles/360059893812-Webhook-delays
func (p *zoom) AcceptStatus() int { return http.StatusOK }

// Delivery is "": Zoom gives a delivery no id of its own.
func (p *zoom) Delivery(*Request) string { return "" }

// Handshake answers endpoint.url_validation: the plain token, and its
// hex HMAC-SHA256 keyed with the secret token that signed the request.
func (p *zoom) Handshake(r *Request) (Answer, bool) {
	b, ok := bodyAs[zoomBody](r)
	if !ok || b.Event != "endpoint.url_validation" {
		return Answer{}, false
	}
	key := p.secrets[0]
	for _, k := range p.secrets {
		if verifyV0(r, "X-Zm-Signature", "X-Zm-Request-Timestamp", [][]byte{k}, p.tol) == nil {
			key = k
			break
		}
	}
	plain := string(b.Payload.PlainToken)
	out, _ := json.Marshal(map[string]string{
		"plainToken":     plain,
		"encryptedToken": hex.EncodeToString(mac(sha256.New, key, []byte(plain))),
	})
	return Answer{Status: http.StatusOK, ContentType: "application/json", Body: out}, true
}

func (p *zoom) Sign(s *Signing) error {
	s.Body = setJSONFields(s.Body, map[string]any{"event": s.Event, "event_ts": s.Now.UnixMilli()})
	signV0(s, "X-Zm-Signature", "X-Zm-Request-Timestamp", p.secrets[0])
	s.Header.Set("X-Zm-Trackingid", deliveryOr(s, "v="))
	s.Header.Set("User-Agent", "Zoom Marketplace/1.0a")
	setContentType(s, "application/json; charset=utf-8")
	return nil
}
