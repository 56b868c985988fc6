package listener

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// token checks a shared token sent in a header (header = "X-Token"; for
// Authorization, an optional "Bearer " is stripped) or, with no header
// configured, in the query (?token=). The comparison is constant-time.
type token struct {
	secrets        [][]byte
	header         string
	eventHeader    string
	deliveryHeader string
}

func newToken(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("token needs a secret")
	}
	return &token{secrets: c.Secrets, header: c.Header, eventHeader: c.EventHeader, deliveryHeader: c.DeliveryHeader}, nil
}

// presented returns the token the request carries: one reading of it, or
// for a query token with a "+", two: a form decodes "+" as a space, but a
// token pasted into a URL as it is (base64's "+") means the "+".
func (t *token) presented(r *Request) ([]string, error) {
	if t.header == "" {
		vs := r.URL.Query()["token"]
		switch {
		case len(vs) == 0 || vs[0] == "":
			return nil, fmt.Errorf("%w: no token query parameter", ErrNoSignature)
		case len(vs) > 1:
			return nil, fmt.Errorf("%w: token query parameter is repeated", ErrMalformed)
		}
		got := []string{vs[0]}
		for _, kv := range strings.Split(r.URL.RawQuery, "&") {
			if raw, ok := strings.CutPrefix(kv, "token="); ok && strings.Contains(raw, "+") {
				if plus, err := url.PathUnescape(raw); err == nil && plus != vs[0] {
					got = append(got, plus)
				}
			}
		}
		return got, nil
	}
	v, err := single(r.Header, t.header)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(t.header, "Authorization") {
		if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
			v = v[7:]
		}
	}
	return []string{v}, nil
}

func (t *token) Verify(r *Request) error {
	got, err := t.presented(r)
	if err != nil {
		return err
	}
	for _, g := range got {
		if len(g) > maxSignatureHeader {
			return fmt.Errorf("%w: token is too long", ErrMalformed)
		}
	}
	ok := false
	for _, g := range got {
		for _, s := range t.secrets {
			// Every comparison made, so the time taken does not say
			// which one matched.
			if equalSecret([]byte(g), s) {
				ok = true
			}
		}
	}
	if ok {
		return nil
	}
	if t.header == "" {
		return fmt.Errorf("%w: token query parameter", ErrBadSignature)
	}
	return fmt.Errorf("%w: %s", ErrBadSignature, t.header)
}

func (t *token) Event(r *Request) string    { return headerOr(r, t.eventHeader) }
func (t *token) Delivery(r *Request) string { return headerOr(r, t.deliveryHeader) }

func headerOr(r *Request, name string) string {
	if name == "" {
		return ""
	}
	return r.Header.Get(name)
}

func (t *token) Redact(h http.Header, q url.Values) {
	if t.header == "" {
		if q.Has("token") {
			q.Set("token", "[redacted]")
		}
		return
	}
	redactHeader(h, t.header)
}

func (t *token) Sign(s *Signing) error {
	if t.header == "" {
		q := s.URL.Query()
		q.Set("token", string(t.secrets[0]))
		s.URL.RawQuery = q.Encode()
	} else {
		s.Header.Set(t.header, string(t.secrets[0]))
	}
	setOptional(s, t.eventHeader, t.deliveryHeader)
	return nil
}

// setOptional sets the configured event and delivery headers.
func setOptional(s *Signing, eventHeader, deliveryHeader string) {
	if eventHeader != "" && s.Event != "" {
		s.Header.Set(eventHeader, s.Event)
	}
	if deliveryHeader != "" && s.Delivery != "" {
		s.Header.Set(deliveryHeader, s.Delivery)
	}
}
