package listener

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// basic checks HTTP Basic credentials: the hook's username and, as the
// password, its secret (either of secrets during a rotation). Both are
// compared in constant time. For senders that only let you put
// credentials in the URL (https://user:pass@host/...).
type basic struct {
	username       []byte
	secrets        [][]byte
	eventHeader    string
	deliveryHeader string
}

func newBasic(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("basic needs a secret (the password)")
	}
	if c.Username == "" {
		return nil, fmt.Errorf("basic needs username")
	}
	return &basic{username: []byte(c.Username), secrets: c.Secrets, eventHeader: c.EventHeader, deliveryHeader: c.DeliveryHeader}, nil
}

func (p *basic) Verify(r *Request) error {
	v, err := sigHeader(r.Header, "Authorization")
	if err != nil {
		return err
	}
	scheme, enc, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return fmt.Errorf("%w: Authorization is not Basic", ErrMalformed)
	}
	raw, err := decodeBase64(strings.TrimSpace(enc))
	if err != nil {
		return fmt.Errorf("%w: Authorization is not base64", ErrMalformed)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return fmt.Errorf("%w: Authorization has no ':'", ErrMalformed)
	}
	userOK := equalSecret([]byte(user), p.username)
	passOK := false
	for _, s := range p.secrets {
		if equalSecret([]byte(pass), s) {
			passOK = true
		}
	}
	if !userOK || !passOK {
		return fmt.Errorf("%w: Authorization credentials", ErrBadSignature)
	}
	return nil
}

// Challenge asks for Basic credentials: Twilio, given user:password@ in
// its URL, sends them only in answer to this.
func (p *basic) Challenge() string { return `Basic realm="webhookd", charset="UTF-8"` }

func (p *basic) Event(r *Request) string    { return headerOr(r, p.eventHeader) }
func (p *basic) Delivery(r *Request) string { return headerOr(r, p.deliveryHeader) }

func (p *basic) Redact(h http.Header, _ url.Values) {
	redactHeader(h, "Authorization")
}

func (p *basic) Sign(s *Signing) error {
	s.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(string(p.username)+":"+string(p.secrets[0]))))
	setOptional(s, p.eventHeader, p.deliveryHeader)
	return nil
}
