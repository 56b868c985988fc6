package listener

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net"
	"net/url"
	"sort"
	"strings"
)

// twilio verifies X-Twilio-Signature: the base64 HMAC-SHA1, keyed with the
// account's auth token, of the URL Twilio requested followed by each POST
// parameter's name and value, sorted by name. A JSON body is not in the
// signature itself: Twilio adds bodySHA256 (the hex SHA-256 of the body)
// to the URL's query, and that is checked too.
//
// The URL is the one Twilio sees, which behind a proxy is not the one
// webhookd sees, so the hook names it: public_url (scheme, host and path;
// the query comes from the request). Like Twilio's own validators, the URL
// is tried with and without the scheme's default port.
//
// https://www.twilio.com/docs/usage/webhooks/webhooks-security
type twilio struct {
	secrets [][]byte
	public  *url.URL
}

func newTwilio(c ProviderConfig) (Provider, error) {
	if len(c.Secrets) == 0 {
		return nil, fmt.Errorf("twilio needs a secret (the auth token)")
	}
	u, err := parsePublicURL("twilio", c.PublicURL)
	if err != nil {
		return nil, err
	}
	return &twilio{secrets: c.Secrets, public: u}, nil
}

// parsePublicURL checks a public_url parameter: an absolute http(s) URL.
func parsePublicURL(provider, s string) (*url.URL, error) {
	if s == "" {
		return nil, fmt.Errorf("%s needs public_url (the URL the sender posts to)", provider)
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s: public_url %q is not an http:// or https:// URL", provider, s)
	}
	return u, nil
}

// signedURL is the URL the sender signed: public_url, its query replaced
// by the request's when the request has one.
func signedURL(public *url.URL, rawQuery string) string {
	if rawQuery == "" {
		return public.String()
	}
	u := *public
	u.RawQuery = rawQuery
	u.ForceQuery = false
	return u.String()
}

// portVariants returns s and s with its default port added or removed.
func portVariants(s string) []string {
	u, err := url.Parse(s)
	if err != nil {
		return []string{s}
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	v := *u
	switch u.Port() {
	case "":
		v.Host = net.JoinHostPort(u.Hostname(), def)
	case def:
		v.Host = u.Hostname()
		if strings.Contains(v.Host, ":") {
			v.Host = "[" + v.Host + "]"
		}
	default:
		return []string{s}
	}
	return []string{s, v.String()}
}

func isForm(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return contentType == "" || mt == "application/x-www-form-urlencoded"
}

// twilioData is what the signature covers after the URL: the form's
// parameters, sorted by name, then by value.
func twilioData(form url.Values) []byte {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for i, v := range vs {
			if i > 0 && v == vs[i-1] {
				continue // Twilio's validators take each value once
			}
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return []byte(b.String())
}

func (p *twilio) Verify(r *Request) error {
	const name = "X-Twilio-Signature"
	v, err := sigHeader(r.Header, name)
	if err != nil {
		return err
	}
	sig, err := decodeBase64Sig(name, v, sha1.Size)
	if err != nil {
		return err
	}
	var data []byte
	query := r.URL.Query()
	if bs := query["bodySHA256"]; len(bs) > 0 {
		if len(bs) > 1 {
			return fmt.Errorf("%w: bodySHA256 is repeated", ErrMalformed)
		}
		want, err := decodeHexSig("bodySHA256", bs[0], sha256.Size)
		if err != nil {
			return err
		}
		got := sha256.Sum256(r.Body)
		if subtle.ConstantTimeCompare(got[:], want) != 1 {
			return fmt.Errorf("%w: the body does not match bodySHA256", ErrBadSignature)
		}
	} else {
		if !isForm(r.Header.Get("Content-Type")) {
			return fmt.Errorf("%w: a body that is not a form needs bodySHA256 in the query", ErrMalformed)
		}
		form, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return fmt.Errorf("%w: the body is not a well-formed form", ErrMalformed)
		}
		data = twilioData(form)
	}
	for _, u := range portVariants(signedURL(p.public, r.URL.RawQuery)) {
		if matchAny([][]byte{sig}, p.secrets, func(key []byte) []byte { return mac(sha1.New, key, []byte(u), data) }) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s (is public_url the URL set in Twilio?)", ErrBadSignature, name)
}

func (p *twilio) Event(*Request) string { return "" }

func (p *twilio) Delivery(r *Request) string { return r.Header.Get("I-Twilio-Idempotency-Token") }

// Sign signs a form body over its parameters, any other body with
// bodySHA256 added to the URL.
func (p *twilio) Sign(s *Signing) error {
	var obj any
	if json.Unmarshal(s.Body, &obj) == nil && len(s.Body) > 0 {
		setContentType(s, "application/json")
	}
	setContentType(s, "application/x-www-form-urlencoded")
	var data []byte
	if isForm(s.Header.Get("Content-Type")) {
		form, err := url.ParseQuery(string(s.Body))
		if err != nil {
			return fmt.Errorf("twilio: the form body: %w", err)
		}
		data = twilioData(form)
	} else {
		sum := sha256.Sum256(s.Body)
		q := "bodySHA256=" + hex.EncodeToString(sum[:])
		if s.URL.RawQuery != "" {
			q = s.URL.RawQuery + "&" + q
		}
		s.URL.RawQuery = q
	}
	u := signedURL(p.public, s.URL.RawQuery)
	s.Header.Set("X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac(sha1.New, p.secrets[0], []byte(u), data)))
	s.Header.Set("I-Twilio-Idempotency-Token", deliveryOr(s, ""))
	s.Header.Set("User-Agent", "TwilioProxy/1.1")
	return nil
}
