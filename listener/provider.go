package listener

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"time"
)

// Verification errors. Verify wraps one of them with a detail that names
// what failed (a header, a field), never a secret or an expected value.
var (
	ErrNoSignature  = errors.New("signature missing")
	ErrMalformed    = errors.New("signature malformed")
	ErrBadSignature = errors.New("signature does not match")
	ErrStale        = errors.New("timestamp outside the allowed window")
)

// Check names the verification check an error failed, for the log, the
// rejections list and metrics: missing, malformed, mismatch or stale.
func Check(err error) string {
	switch {
	case errors.Is(err, ErrNoSignature):
		return "missing"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.Is(err, ErrBadSignature):
		return "mismatch"
	case errors.Is(err, ErrStale):
		return "stale"
	default:
		return "other"
	}
}

// Request is what a provider sees of a delivery.
type Request struct {
	Header http.Header
	Body   []byte
	// URL is the request's URL as received: path and query.
	URL *url.URL
	// Now is the receiver's clock, for timestamp windows.
	Now time.Time

	// memo holds the body decoded by bodyAs, by type, so that a provider
	// whose event type, delivery id and handshake are all in the body
	// decodes it once per request. A Request's Body is not changed once
	// it is built (a test that changes it builds a new Request).
	memo map[reflect.Type]any
}

// bodyAs decodes the body, a JSON object, into a T, once per request and
// type; ok is false when the body is not a JSON object of that shape.
func bodyAs[T any](r *Request) (*T, bool) {
	type decoded struct {
		v  *T
		ok bool
	}
	key := reflect.TypeFor[T]()
	if d, found := r.memo[key]; found {
		d := d.(decoded)
		return d.v, d.ok
	}
	v := new(T)
	ok := jsonObject(r.Body, v)
	if r.memo == nil {
		r.memo = make(map[reflect.Type]any, 1)
	}
	r.memo[key] = decoded{v, ok}
	return v, ok
}

// Provider verifies deliveries of one kind for one hook, and knows where
// their event type and delivery id are.
type Provider interface {
	// Verify reports whether r carries a valid signature (or token) for one
	// of the hook's secrets.
	Verify(r *Request) error
	// Event returns the delivery's event type, or "".
	Event(r *Request) string
	// Delivery returns the delivery's id, used to de-duplicate, or "".
	Delivery(r *Request) string
}

// Answer is a response to a provider's handshake.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Handshaker is a provider that answers a verification request before it
// sends events (Slack's url_verification, for one). Handshake is called
// after Verify succeeded; ok is false when r is an ordinary delivery.
type Handshaker interface {
	Handshake(r *Request) (a Answer, ok bool)
}

// Acknowledger is a provider whose sender needs a particular answer to a
// delivery (rather than webhookd's 202 with the event id). Acknowledge is
// called only after the event is stored (or found to be a duplicate), so
// the answer still means "on disk"; ok is false to keep the usual answer.
type Acknowledger interface {
	Acknowledge(r *Request) (a Answer, ok bool)
}

// Dismisser is a provider whose sender needs a particular answer to a
// delivery that the hook's `events` leaves out, too: Dismiss is called
// for such a delivery, which is not stored; ok is false to keep the usual
// 200 {"ignored": ...}.
type Dismisser interface {
	Dismiss(r *Request) (a Answer, ok bool)
}

// Prober is a provider whose sender checks the endpoint now and then with
// a request it does not sign and that carries nothing to store (Slack's
// ssl_check). Probe is called before Verify; ok is false when r is not
// such a check, and it goes on to be verified. A probe's answer must not
// depend on a secret, nor act on anything: whoever can reach the hook
// gets it.
type Prober interface {
	Probe(r *Request) (a Answer, ok bool)
}

// Accepter is a provider whose sender counts only some success codes as
// delivered: a stored delivery is answered with AcceptStatus, and the
// usual body, instead of 202.
type Accepter interface {
	AcceptStatus() int
}

// Challenger is a provider whose sender authenticates with HTTP
// credentials. A refusal asks for them (WWW-Authenticate, which RFC 9110
// requires of every 401): some senders send credentials only when asked.
type Challenger interface {
	Challenge() string
}

// Redactor is a provider whose requests carry a secret itself (a token or a
// password), which must be removed before the request is stored.
type Redactor interface {
	Redact(h http.Header, q url.Values)
}

// Signer is a provider that can sign a delivery as its sender would, for
// `webhookd send` and for tests. It sets the signature headers (and, for
// some, query parameters of u) and the event type and delivery id headers
// where the provider puts them in headers.
type Signer interface {
	Sign(s *Signing) error
}

// Signing is a delivery to sign.
type Signing struct {
	Header   http.Header
	URL      *url.URL
	Body     []byte // may be replaced by providers whose event type is in the body
	Event    string
	Delivery string
	Now      time.Time
}

// ProviderConfig is a hook's provider with its parameters and secrets.
type ProviderConfig struct {
	Name           string
	Secrets        [][]byte
	Header         string
	Algorithm      string
	Encoding       string
	Prefix         string
	EventHeader    string
	DeliveryHeader string
	Username       string
	PublicKey      string
	PublicURL      string
	Tolerance      time.Duration
	AllowSHA1      bool
}

// providers are the constructors of every provider, by name.
var providers = map[string]func(ProviderConfig) (Provider, error){
	"github":    newGitHub,
	"gitlab":    newGitLab,
	"gitea":     newGitea,
	"bitbucket": newBitbucket,
	"stripe":    newStripe,
	"slack":     newSlack,
	"shopify":   newShopify,
	"standard":  newStandard,
	"linear":    newLinear,
	"paddle":    newPaddle,
	"twilio":    newTwilio,
	"zoom":      newZoom,
	"twitch":    newTwitch,
	"discord":   newDiscord,
	"telegram":  newTelegram,
	"sendgrid":  newSendGrid,
	"square":    newSquare,
	"basic":     newBasic,
	"hmac":      newHMAC,
	"token":     newToken,
	"none":      newNone,
}

// ProviderNames lists the providers this package implements.
func ProviderNames() []string {
	out := make([]string, 0, len(providers))
	for n := range providers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NewProvider builds the named provider.
func NewProvider(c ProviderConfig) (Provider, error) {
	mk, ok := providers[c.Name]
	if !ok {
		return nil, fmt.Errorf("unknown provider %q", c.Name)
	}
	return mk(c)
}

// hasher returns the hash constructor for an algorithm name.
func hasher(alg string) (func() hash.Hash, error) {
	switch alg {
	case "sha1":
		return sha1.New, nil
	case "sha256", "":
		return sha256.New, nil
	case "sha512":
		return sha512.New, nil
	}
	return nil, fmt.Errorf("unknown algorithm %q", alg)
}

// mac computes HMAC(key, parts...).
func mac(h func() hash.Hash, key []byte, parts ...[]byte) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// equalSecret compares a presented token with a secret in constant time,
// whatever their lengths (it compares their SHA-256 digests).
func equalSecret(got, want []byte) bool {
	a, b := sha256.Sum256(got), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// single returns the only value of header name. Several values are
// malformed: a signature header is never repeated by a real sender.
func single(h http.Header, name string) (string, error) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", fmt.Errorf("%w: no %s header", ErrNoSignature, name)
	case 1:
		if vs[0] == "" {
			return "", fmt.Errorf("%w: %s header is empty", ErrNoSignature, name)
		}
		return vs[0], nil
	default:
		return "", fmt.Errorf("%w: %s header is repeated", ErrMalformed, name)
	}
}

// maxSignatureHeader bounds a signature header's length: longer ones are
// malformed, and not worth hashing against.
const maxSignatureHeader = 4096
