package listener

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd/tmpl"
)

// slack verifies X-Slack-Signature: "v0=" and the hex HMAC-SHA256 of
// "v0:<X-Slack-Request-Timestamp>:<body>" keyed with the app's signing
// secret, the timestamp within 5 minutes of the receiver's clock either
// way. It answers the Events API's url_verification with its challenge.
//
// https://docs.slack.dev/authentication/verifying-requests-from-slack/
type slack struct {
	secrets [][]byte
	tol     time.Duration
}

func newSlack(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("slack needs a secret")
	}
	return &slack{secrets: c.Secrets, tol: orDefault(c.Tolerance, 5*time.Minute)}, nil
}

// verifyV0 checks the "v0=" scheme Slack and Zoom share: sigName holds
// "v0=" + hex HMAC-SHA256 of "v0:" + ts + ":" + body, tsName the unix
// timestamp.
func verifyV0(r *Request, sigName, tsName string, keys [][]byte, tol time.Duration) error {
	v, err := sigHeader(r.Header, sigName)
	if err != nil {
		return err
	}
	enc, ok := strings.CutPrefix(v, "v0=")
	if !ok {
		return fmt.Errorf("%w: %s does not start with \"v0=\"", ErrMalformed, sigName)
	}
	sig, err := decodeHexSig(sigName, enc, sha256.Size)
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
	if !matchAny([][]byte{sig}, keys, func(key []byte) []byte {
		return mac(sha256.New, key, []byte("v0:"), []byte(tsText), []byte{':'}, r.Body)
	}) {
		return fmt.Errorf("%w: %s", ErrBadSignature, sigName)
	}
	return inWindow(tsName, ts, r.Now, tol)
}

// signV0 sets the "v0=" signature and its timestamp.
func signV0(s *Signing, sigName, tsName string, key []byte) {
	ts := strconv.FormatInt(s.Now.Unix(), 10)
	s.Header.Set(tsName, ts)
	s.Header.Set(sigName, "v0="+hex.EncodeToString(mac(sha256.New, key, []byte("v0:"), []byte(ts), []byte{':'}, s.Body)))
}

func (p *slack) Verify(r *Request) error {
	return verifyV0(r, "X-Slack-Signature", "X-Slack-Request-Timestamp", p.secrets, p.tol)
}

// slackBody is what a Slack request says of its kind: an Events API
// callback (JSON), or an interaction (a form whose payload is JSON).
type slackBody struct {
	Type      jsonString `json:"type"`
	EventID   jsonString `json:"event_id"`
	Challenge jsonString `json:"challenge"`
	Event     struct {
		Type jsonString `json:"type"`
	} `json:"event"`
}

func (p *slack) body(r *Request) slackBody {
	b, ok := bodyAs[slackBody](r)
	if !ok {
		// Interactions come as payload=<JSON>; parse that.
		if m, ok := tmpl.ParsePayload(r.Header.Get("Content-Type"), r.Body).(map[string]any); ok {
			if raw, err := json.Marshal(m); err == nil {
				json.Unmarshal(raw, b)
			}
		}
	}
	return *b
}

// Event is the Events API's event.type ("app_mention", ...), else the
// body's type ("url_verification", "block_actions", ...); "" for a slash
// command.
func (p *slack) Event(r *Request) string {
	b := p.body(r)
	if b.Event.Type != "" {
		return string(b.Event.Type)
	}
	return string(b.Type)
}

func (p *slack) Delivery(r *Request) string { return string(p.body(r).EventID) }

// Handshake answers url_verification with the challenge, as JSON.
func (p *slack) Handshake(r *Request) (Answer, bool) {
	b, ok := bodyAs[slackBody](r)
	if !ok || b.Type != "url_verification" {
		return Answer{}, false
	}
	out, _ := json.Marshal(map[string]string{"challenge": string(b.Challenge)})
	return Answer{Status: http.StatusOK, ContentType: "application/json", Body: out}, true
}

// Acknowledge answers a stored slash command or interaction (a form, not
// an Events API callback, which takes any 2xx) with an empty 200: Slack
// shows a body it gets as a message to the user, and counts only 200 as
// received, showing the user an error otherwise. What the action has to
// say goes to the payload's response_url.
//
// https://docs.slack.dev/interactivity/implementing-slash-commands#responding_to_commands
func (p *slack) Acknowledge(r *Request) (Answer, bool) {
	if !slackForm(r) {
		return Answer{}, false
	}
	return Answer{Status: http.StatusOK}, true
}

// Dismiss answers an ignored slash command or interaction as Acknowledge
// answers a stored one: Slack would show {"ignored": ...} to the user.
func (p *slack) Dismiss(r *Request) (Answer, bool) { return p.Acknowledge(r) }

// Probe answers the ssl_check Slack sends a slash command's URL now and
// then (a form with ssl_check=1 and no command, not signed) with an empty
// 200, as it asks: it is not a delivery, and refusing it would log a
// refusal each time.
//
// https://docs.slack.dev/interactivity/implementing-slash-commands
func (p *slack) Probe(r *Request) (Answer, bool) {
	if !slackForm(r) {
		return Answer{}, false
	}
	q, err := url.ParseQuery(string(r.Body))
	if err != nil || q.Get("ssl_check") != "1" || q.Has("command") {
		return Answer{}, false
	}
	return Answer{Status: http.StatusOK}, true
}

// slackForm reports whether r's body is a URL-encoded form: a slash
// command, an interaction or an ssl_check, not an Events API callback.
func slackForm(r *Request) bool {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// Sign sends an Events API callback: the event type goes in event.type
// when the body has an event, else in type; the delivery in event_id.
func (p *slack) Sign(s *Signing) error {
	var b map[string]json.RawMessage
	if jsonObject(s.Body, &b) && b != nil {
		fields := map[string]any{"event_id": deliveryOr(s, "Ev")}
		var ev map[string]json.RawMessage
		if raw, ok := b["event"]; ok && json.Unmarshal(raw, &ev) == nil && ev != nil && s.Event != "" {
			et, _ := json.Marshal(s.Event)
			ev["type"] = et
			fields["event"] = ev
			fields["type"] = "event_callback"
		} else {
			fields["type"] = s.Event
		}
		s.Body = setJSONFields(s.Body, fields)
	}
	signV0(s, "X-Slack-Signature", "X-Slack-Request-Timestamp", p.secrets[0])
	s.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	setContentType(s, "application/json")
	return nil
}
