package listener

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/webhookd/webhookd/store"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Keys for the providers that verify with a public key. Discord's and
// SendGrid's senders hold the private halves; tests give them to the
// provider (as Secrets) so that Sign works.
var (
	testEdSeed = func() []byte {
		b := make([]byte, ed25519.SeedSize)
		for i := range b {
			b[i] = byte(i + 1)
		}
		return b
	}()
	testEdPublic = hex.EncodeToString(ed25519.NewKeyFromSeed(testEdSeed).Public().(ed25519.PublicKey))
	testECKey    = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	})
)

func testECPublic() string {
	der, err := x509.MarshalPKIXPublicKey(&testECKey().PublicKey)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

func testECPrivate() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(testECKey())
	if err != nil {
		panic(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(der))
}

// testPublicURL is the URL twilio and square hooks are registered under.
const testPublicURL = "https://hooks.example.com/hooks/x"

// signConfig is a hook of provider name that can both sign and verify,
// with secret as its (first) secret.
func signConfig(name, secret string) ProviderConfig {
	c := ProviderConfig{Name: name, Secrets: [][]byte{[]byte(secret)}}
	switch name {
	case "discord":
		c.PublicKey = testEdPublic
		c.Secrets = [][]byte{[]byte(hex.EncodeToString(testEdSeed))}
	case "sendgrid":
		c.PublicKey = testECPublic()
		c.Secrets = [][]byte{testECPrivate()}
	case "twilio", "square":
		c.PublicURL = testPublicURL
	case "basic":
		c.Username = "hooks"
	case "hmac":
		c.Header, c.Algorithm, c.Encoding, c.Prefix = "X-Sig", "sha256", "hex", "sha256="
		c.EventHeader, c.DeliveryHeader = "X-Event", "X-Delivery"
	case "token":
		c.Header, c.EventHeader, c.DeliveryHeader = "X-Token", "X-Event", "X-Delivery"
	case "none":
		c.Secrets = nil
		c.EventHeader, c.DeliveryHeader = "X-Event", "X-Delivery"
	case "gitlab":
		// A signing token, so that the body is signed too; the secret
		// token is tested on its own (layouts["gitlab-token"]).
		c.Secrets = [][]byte{[]byte("whsec_" + base64.StdEncoding.EncodeToString([]byte(secret + strings.Repeat("k", 32))[:32]))}
	}
	return c
}

// bodySigned: the provider's (or bad-input case's) signature covers the
// body (the others carry a token or credentials).
func bodySigned(name string) bool {
	switch name {
	case "token", "telegram", "basic", "none", "gitlab-token":
		return false
	}
	return true
}

// testEvent is the event type each provider's Sign is given: one its
// sender really uses.
var testEvent = map[string]string{
	"github": "push", "gitlab": "Push Hook", "gitea": "push", "bitbucket": "repo:push",
	"stripe": "charge.succeeded", "slack": "app_mention", "shopify": "orders/create",
	"standard": "invoice.paid", "linear": "Issue.create", "paddle": "transaction.completed",
	"zoom": "meeting.started", "twitch": "channel.follow", "discord": "2",
	"square": "payment.created", "hmac": "build", "token": "build", "basic": "", "none": "build",
}

// noEvent and noDelivery list the providers whose deliveries carry no
// event type or no delivery id.
var (
	noEvent    = map[string]bool{"twilio": true, "telegram": true, "sendgrid": true, "basic": true}
	noDelivery = map[string]bool{"zoom": true, "sendgrid": true, "basic": true}
)

// testBody is a body the provider's sender could send.
func testBody(name string) []byte {
	switch name {
	case "twilio":
		return []byte("CallSid=CA123&From=%2B14158675309&Digits=1234")
	case "slack":
		return []byte(`{"type":"event_callback","event":{"type":"message","text":"hi"}}`)
	case "telegram":
		return []byte(`{"message":{"text":"/deploy"}}`)
	case "sendgrid":
		return []byte("[{\"email\":\"a@example.com\",\"event\":\"delivered\"}]\r\n")
	}
	return []byte(`{"ref":"refs/heads/main","after":"c0ffee"}`)
}

// signed returns a request signed by p at now, and the signing.
func signed(t testing.TB, p Provider, name string, body []byte, now time.Time) (*Request, *Signing) {
	t.Helper()
	s := &Signing{Header: http.Header{}, URL: &url.URL{Path: "/hooks/x"}, Body: body, Event: testEvent[name], Delivery: "d-1", Now: now}
	if name == "telegram" {
		s.Delivery = "4242"
	}
	if err := p.(Signer).Sign(s); err != nil {
		t.Fatalf("%s: Sign: %v", name, err)
	}
	return &Request{Header: s.Header, Body: s.Body, URL: s.URL, Now: testNow}, s
}

func mustProvider(t testing.TB, c ProviderConfig) Provider {
	t.Helper()
	p, err := NewProvider(c)
	if err != nil {
		t.Fatalf("NewProvider(%s): %v", c.Name, err)
	}
	return p
}

// TestSign_EventAndDelivery: what Sign puts in a delivery is what Event and
// Delivery read back, so `webhookd send -event X` is stored as X.
func TestSign_EventAndDelivery(t *testing.T) {
	for _, name := range ProviderNames() {
		t.Run(name, func(t *testing.T) {
			p := mustProvider(t, signConfig(name, "k1"))
			r, s := signed(t, p, name, testBody(name), testNow)
			if want := testEvent[name]; !noEvent[name] {
				if got := p.Event(r); got != want {
					t.Errorf("Event = %q; want %q", got, want)
				}
			} else if got := p.Event(r); got != "" {
				t.Errorf("Event = %q; want none", got)
			}
			if !noDelivery[name] {
				if got := p.Delivery(r); got != s.Delivery {
					t.Errorf("Delivery = %q; want %q", got, s.Delivery)
				}
			}
		})
	}
}

// TestRotation: with secrets = [old, new], a delivery signed with either
// is accepted, and one signed with a third is refused.
func TestRotation(t *testing.T) {
	for _, name := range ProviderNames() {
		if name == "none" || name == "discord" || name == "sendgrid" {
			continue // no secret: one public key
		}
		t.Run(name, func(t *testing.T) {
			oldC, newC, otherC := signConfig(name, "old-secret"), signConfig(name, "new-secret"), signConfig(name, "other-secret")
			both := newC
			both.Secrets = append(append([][]byte{}, oldC.Secrets...), newC.Secrets...)
			verifier := mustProvider(t, both)
			for _, c := range []ProviderConfig{oldC, newC} {
				r, _ := signed(t, mustProvider(t, c), name, testBody(name), testNow)
				if err := verifier.Verify(r); err != nil {
					t.Errorf("signed with %q: Verify = %v; want accepted", c.Secrets[0], err)
				}
			}
			r, _ := signed(t, mustProvider(t, otherC), name, testBody(name), testNow)
			if err := verifier.Verify(r); !errors.Is(err, ErrBadSignature) {
				t.Errorf("signed with another secret: Verify = %v; want ErrBadSignature", err)
			}
		})
	}
}

// TestMultipleSignatures: the schemes that carry several signatures in one
// header accept a delivery when any of them matches.
func TestMultipleSignatures(t *testing.T) {
	tests := []struct {
		name, header string
		join         func(good, decoy string) string
	}{
		{"stripe", "Stripe-Signature", func(good, decoy string) string {
			t, _, _ := strings.Cut(good, ",")
			return t + "," + decoy[strings.Index(decoy, "v1="):] + "," + good[strings.Index(good, "v1="):]
		}},
		{"paddle", "Paddle-Signature", func(good, decoy string) string {
			return good[:strings.Index(good, "h1=")] + decoy[strings.Index(decoy, "h1="):] + ";" + good[strings.Index(good, "h1="):]
		}},
		{"standard", "Webhook-Signature", func(good, decoy string) string { return decoy + " v1a,c2lnbmF0dXJl " + good }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustProvider(t, signConfig(tc.name, "current"))
			r, _ := signed(t, p, tc.name, testBody(tc.name), testNow)
			d, _ := signed(t, mustProvider(t, signConfig(tc.name, "retired")), tc.name, r.Body, testNow)
			r.Header.Set(tc.header, tc.join(r.Header.Get(tc.header), d.Header.Get(tc.header)))
			if err := p.Verify(r); err != nil {
				t.Errorf("Verify(%s: %s) = %v; want one match to be enough", tc.header, r.Header.Get(tc.header), err)
			}
			r.Header.Set(tc.header, tc.join(d.Header.Get(tc.header), d.Header.Get(tc.header)))
			if err := p.Verify(r); !errors.Is(err, ErrBadSignature) {
				t.Errorf("Verify(only decoys) = %v; want ErrBadSignature", err)
			}
		})
	}
}

// layout says where a provider keeps its signature, for the bad-input
// table.
type layout struct {
	provider string        // the provider (a case name may differ)
	header   string        // the signature header
	marker   string        // what precedes the encoded signature in the header
	wrong    string        // a wrong marker in its place; "" when there is none
	wrongIs  error         // what a wrong marker is (default ErrMalformed)
	enc      string        // "hex", "base64", "der" (ECDSA), "token", "basic"
	size     int           // signature bytes
	ts       string        // the timestamp header, if in its own header
	tol      time.Duration // the default window; 0: none
	anyCase  bool          // hex of either case is accepted (the generic hmac)
	config   func(c *ProviderConfig, secret string)
}

var layouts = map[string]layout{
	"github":       {header: "X-Hub-Signature-256", marker: "sha256=", wrong: "sha1=", enc: "hex", size: 32},
	"gitlab":       {header: "Webhook-Signature", marker: "v1,", wrong: "v2,", wrongIs: ErrNoSignature, enc: "base64", size: 32, ts: "Webhook-Timestamp", tol: 5 * time.Minute},
	"gitlab-token": {provider: "gitlab", header: "X-Gitlab-Token", enc: "token", config: func(c *ProviderConfig, secret string) { c.Secrets = [][]byte{[]byte(secret)} }},
	"gitea":        {header: "X-Gitea-Signature", enc: "hex", size: 32},
	"bitbucket":    {header: "X-Hub-Signature", marker: "sha256=", wrong: "sha1=", enc: "hex", size: 32},
	"stripe":       {header: "Stripe-Signature", marker: "v1=", wrong: "v2=", wrongIs: ErrNoSignature, enc: "hex", size: 32, tol: 5 * time.Minute},
	"slack":        {header: "X-Slack-Signature", marker: "v0=", wrong: "v1=", enc: "hex", size: 32, ts: "X-Slack-Request-Timestamp", tol: 5 * time.Minute},
	"shopify":      {header: "X-Shopify-Hmac-Sha256", enc: "base64", size: 32},
	"standard":     {header: "Webhook-Signature", marker: "v1,", wrong: "v2,", wrongIs: ErrNoSignature, enc: "base64", size: 32, ts: "Webhook-Timestamp", tol: 5 * time.Minute},
	"linear":       {header: "Linear-Signature", enc: "hex", size: 32, tol: time.Minute},
	"paddle":       {header: "Paddle-Signature", marker: "h1=", wrong: "h2=", wrongIs: ErrNoSignature, enc: "hex", size: 32, tol: 5 * time.Second},
	"twilio":       {header: "X-Twilio-Signature", enc: "base64", size: 20},
	"zoom":         {header: "X-Zm-Signature", marker: "v0=", wrong: "v1=", enc: "hex", size: 32, ts: "X-Zm-Request-Timestamp", tol: 5 * time.Minute},
	"twitch":       {header: "Twitch-Eventsub-Message-Signature", marker: "sha256=", wrong: "sha1=", enc: "hex", size: 32, ts: "Twitch-Eventsub-Message-Timestamp", tol: 10 * time.Minute},
	"discord":      {header: "X-Signature-Ed25519", enc: "hex", size: 64, ts: "X-Signature-Timestamp", tol: 5 * time.Minute},
	"telegram":     {header: "X-Telegram-Bot-Api-Secret-Token", enc: "token"},
	"sendgrid":     {header: sendgridSignature, enc: "der", ts: sendgridTimestamp},
	"sendgrid-window": {provider: "sendgrid", header: sendgridSignature, enc: "der", ts: sendgridTimestamp, tol: 10 * time.Minute,
		config: func(c *ProviderConfig, _ string) { c.Tolerance = 10 * time.Minute }},
	"square": {header: squareHeader, enc: "base64", size: 32},
	"basic":  {header: "Authorization", marker: "Basic ", wrong: "Bearer ", enc: "basic"},
	"hmac":   {header: "X-Sig", marker: "sha256=", wrong: "sha1=", enc: "hex", size: 32, anyCase: true},
	"token":  {header: "X-Token", enc: "token"},
}

// split cuts a signature header value into what precedes the encoded
// signature and the signature.
func (l layout) split(v string) (string, string) {
	if l.marker == "" {
		return "", v
	}
	i := strings.LastIndex(v, l.marker) + len(l.marker)
	return v[:i], v[i:]
}

func (l layout) name(caseName string) string {
	if l.provider != "" {
		return l.provider
	}
	return caseName
}

func (l layout) newProvider(t testing.TB, caseName, secret string) Provider {
	c := signConfig(l.name(caseName), secret)
	if l.config != nil {
		l.config(&c, secret)
	}
	return mustProvider(t, c)
}

// TestLayoutsCoverProviders: the bad-input table has a row for every
// provider that verifies anything.
func TestLayoutsCoverProviders(t *testing.T) {
	have := map[string]bool{}
	for n, l := range layouts {
		have[l.name(n)] = true
	}
	for _, n := range ProviderNames() {
		if n != "none" && !have[n] {
			t.Errorf("no bad-input layout for provider %s", n)
		}
	}
}

// TestProviders_BadInput: a table per provider of broken deliveries, each
// refused with the check it fails: missing header, empty, wrong prefix,
// not hex or base64, truncated, wrong length, repeated, enormous, wrong
// secret, and a stale and a future timestamp.
func TestProviders_BadInput(t *testing.T) {
	type bad struct {
		name   string
		mutate func(r *Request)
		want   error
	}
	for caseName, l := range layouts {
		t.Run(caseName, func(t *testing.T) {
			name := l.name(caseName)
			p := l.newProvider(t, caseName, "k1")
			base := func(now time.Time) *Request {
				r, _ := signed(t, p, name, testBody(name), now)
				return r
			}
			setEnc := func(r *Request, enc string) {
				pre, _ := l.split(r.Header.Get(l.header))
				r.Header.Set(l.header, pre+enc)
			}
			enc := func(r *Request) string { _, e := l.split(r.Header.Get(l.header)); return e }
			cases := []bad{
				{"missing header", func(r *Request) { r.Header.Del(l.header) }, ErrNoSignature},
				{"empty header", func(r *Request) { r.Header.Set(l.header, "") }, ErrNoSignature},
				{"repeated header", func(r *Request) { r.Header.Add(l.header, r.Header.Get(l.header)) }, ErrMalformed},
				{"enormous header", func(r *Request) { r.Header.Set(l.header, r.Header.Get(l.header)+strings.Repeat("a", 100<<10)) }, ErrMalformed},
			}
			if l.wrong != "" {
				want := l.wrongIs
				if want == nil {
					want = ErrMalformed
				}
				cases = append(cases, bad{"wrong prefix", func(r *Request) {
					pre, e := l.split(r.Header.Get(l.header))
					r.Header.Set(l.header, strings.TrimSuffix(pre, l.marker)+l.wrong+e)
				}, want})
			}
			switch l.enc {
			case "hex":
				if !l.anyCase {
					cases = append(cases, bad{"upper-case hex", func(r *Request) { setEnc(r, strings.ToUpper(enc(r))) }, ErrMalformed})
				}
				cases = append(cases,
					bad{"not hex", func(r *Request) { setEnc(r, strings.Repeat("zz", l.size)) }, ErrMalformed},
					bad{"truncated", func(r *Request) { e := enc(r); setEnc(r, e[:len(e)-2]) }, ErrMalformed},
					bad{"wrong length", func(r *Request) { setEnc(r, strings.Repeat("ab", l.size+1)) }, ErrMalformed},
				)
			case "base64", "der":
				lengthErr := ErrMalformed
				if l.enc == "der" {
					lengthErr = ErrBadSignature // a DER signature has no fixed length
				}
				cases = append(cases,
					bad{"not base64", func(r *Request) { setEnc(r, strings.Repeat("!", len(enc(r)))) }, ErrMalformed},
					bad{"truncated", func(r *Request) { e := enc(r); setEnc(r, e[:len(e)-2]) }, ErrMalformed},
					bad{"wrong length", func(r *Request) { setEnc(r, base64.StdEncoding.EncodeToString(make([]byte, 16))) }, lengthErr},
				)
				if l.enc == "base64" {
					cases = append(cases, bad{"unpadded base64", func(r *Request) { setEnc(r, strings.TrimRight(enc(r), "=")) }, ErrMalformed})
				}
			case "basic":
				cases = append(cases,
					bad{"not base64", func(r *Request) { setEnc(r, "!!!!") }, ErrMalformed},
					bad{"no colon", func(r *Request) { setEnc(r, base64.StdEncoding.EncodeToString([]byte("hooks"))) }, ErrMalformed},
					bad{"truncated", func(r *Request) { e := enc(r); setEnc(r, e[:len(e)-4]) }, ErrBadSignature},
				)
			case "token":
				cases = append(cases,
					bad{"truncated", func(r *Request) { e := enc(r); setEnc(r, e[:len(e)-1]) }, ErrBadSignature},
					bad{"longer", func(r *Request) { setEnc(r, enc(r)+"x") }, ErrBadSignature},
				)
			}
			if l.ts != "" {
				cases = append(cases,
					bad{"missing timestamp", func(r *Request) { r.Header.Del(l.ts) }, ErrNoSignature},
					bad{"timestamp not a number", func(r *Request) { r.Header.Set(l.ts, "yesterday") }, ErrMalformed},
					bad{"repeated timestamp", func(r *Request) { r.Header.Add(l.ts, r.Header.Get(l.ts)) }, ErrMalformed},
				)
			}
			other := l.newProvider(t, caseName, "k2")
			for _, tc := range append(cases, bad{"wrong secret", nil, ErrBadSignature}) {
				t.Run(tc.name, func(t *testing.T) {
					r := base(testNow)
					if tc.mutate != nil {
						tc.mutate(r)
					} else if name != "discord" && name != "sendgrid" {
						r, _ = signed(t, other, name, testBody(name), testNow)
					} else {
						// One key pair: a signature by another key.
						r, _ = signed(t, otherKeyProvider(t, name), name, testBody(name), testNow)
					}
					err := p.Verify(r)
					if !errors.Is(err, tc.want) {
						t.Fatalf("Verify = %v; want %v", err, tc.want)
					}
					if strings.Contains(err.Error(), "k1") || (l.enc == "token" && strings.Contains(err.Error(), "gl-secret")) {
						t.Errorf("refusal %q shows the secret", err)
					}
				})
			}
			if l.tol > 0 {
				for _, tc := range []struct {
					name string
					at   time.Time
				}{
					{"stale timestamp", testNow.Add(-l.tol - time.Second)},
					{"future timestamp", testNow.Add(l.tol + time.Second)},
				} {
					t.Run(tc.name, func(t *testing.T) {
						if err := p.Verify(base(tc.at)); !errors.Is(err, ErrStale) {
							t.Errorf("Verify(signed at now%+v) = %v; want ErrStale", tc.at.Sub(testNow), err)
						}
					})
				}
				// "Further from the clock than the window" is refused: a
				// timestamp exactly the window away, either way, is in it.
				t.Run("edge of the window", func(t *testing.T) {
					for _, d := range []time.Duration{-l.tol, -l.tol + time.Second, l.tol - time.Second, l.tol} {
						if err := p.Verify(base(testNow.Add(d))); err != nil {
							t.Errorf("Verify(signed at now%+v) = %v; want accepted within the window", d, err)
						}
					}
				})
			}
		})
	}
}

// otherKeyProvider signs with a key pair that is not the test one.
func otherKeyProvider(t testing.TB, name string) Provider {
	c := signConfig(name, "")
	switch name {
	case "discord":
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		c.PublicKey = hex.EncodeToString(priv.Public().(ed25519.PublicKey))
		c.Secrets = [][]byte{[]byte(hex.EncodeToString(priv.Seed()))}
	case "sendgrid":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		c.PublicKey = base64.StdEncoding.EncodeToString(pub)
		c.Secrets = [][]byte{[]byte(base64.StdEncoding.EncodeToString(der))}
	}
	return mustProvider(t, c)
}

// TestTolerance: the tolerance parameter widens (or narrows) a window.
func TestTolerance(t *testing.T) {
	c := signConfig("paddle", "k1")
	c.Tolerance = time.Minute
	p := mustProvider(t, c)
	r, _ := signed(t, p, "paddle", testBody("paddle"), testNow.Add(-30*time.Second))
	if err := p.Verify(r); err != nil {
		t.Errorf("paddle with tolerance 1m, 30 s old: Verify = %v; want accepted", err)
	}
	c = signConfig("stripe", "k1")
	c.Tolerance = 10 * time.Second
	p = mustProvider(t, c)
	r, _ = signed(t, p, "stripe", testBody("stripe"), testNow.Add(-30*time.Second))
	if err := p.Verify(r); !errors.Is(err, ErrStale) {
		t.Errorf("stripe with tolerance 10s, 30 s old: Verify = %v; want ErrStale", err)
	}
	// SendGrid documents no window and retries for days: none by default.
	p = mustProvider(t, signConfig("sendgrid", ""))
	r, _ = signed(t, p, "sendgrid", testBody("sendgrid"), testNow.Add(-48*time.Hour))
	if err := p.Verify(r); err != nil {
		t.Errorf("sendgrid without tolerance, 2 days old: Verify = %v; want accepted", err)
	}
}

// TestNewProvider_Errors: a hook missing what its provider needs is a
// configuration error, not a verifier that lets everything through.
func TestNewProvider_Errors(t *testing.T) {
	tests := []ProviderConfig{
		{Name: "gitlab"}, {Name: "gitea"}, {Name: "bitbucket"}, {Name: "stripe"}, {Name: "slack"},
		{Name: "shopify"}, {Name: "standard"}, {Name: "linear"}, {Name: "paddle"}, {Name: "zoom"},
		{Name: "twitch"}, {Name: "telegram"}, {Name: "square", PublicURL: testPublicURL},
		{Name: "twilio", Secrets: [][]byte{[]byte("t")}},
		{Name: "twilio", Secrets: [][]byte{[]byte("t")}, PublicURL: "/relative"},
		{Name: "square", Secrets: [][]byte{[]byte("t")}, PublicURL: "ftp://x/"},
		{Name: "basic", Secrets: [][]byte{[]byte("t")}},
		{Name: "discord"}, {Name: "discord", PublicKey: "abcd"}, {Name: "discord", PublicKey: strings.Repeat("zz", 32)},
		{Name: "sendgrid"}, {Name: "sendgrid", PublicKey: "bm90IGEga2V5"}, {Name: "sendgrid", PublicKey: "!!"},
		{Name: "sendgrid", PublicKey: func() string { // an RSA-sized blob of the wrong kind: an Ed25519 key
			der, _ := x509.MarshalPKIXPublicKey(ed25519.NewKeyFromSeed(testEdSeed).Public())
			return base64.StdEncoding.EncodeToString(der)
		}()},
	}
	for _, c := range tests {
		if _, err := NewProvider(c); err == nil {
			t.Errorf("NewProvider(%+v) = nil error; want one", c)
		}
	}
}

// TestSign_WithoutPrivateKey: discord and sendgrid cannot sign with only
// the public key, and say so.
func TestSign_WithoutPrivateKey(t *testing.T) {
	for _, c := range []ProviderConfig{{Name: "discord", PublicKey: testEdPublic}, {Name: "sendgrid", PublicKey: testECPublic()}} {
		p := mustProvider(t, c)
		err := p.(Signer).Sign(&Signing{Header: http.Header{}, URL: &url.URL{}, Body: []byte("{}"), Now: testNow})
		if err == nil || !strings.Contains(err.Error(), "private key") {
			t.Errorf("%s Sign without a private key = %v; want an error naming the private key", c.Name, err)
		}
	}
}

// TestHandshakes: each handshake is answered as its provider requires, and
// an ordinary delivery is not taken for one.
func TestHandshakes(t *testing.T) {
	tests := []struct {
		provider string
		body     string
		header   map[string]string
		want     vectorAnswer
	}{
		{"slack", `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`, nil,
			vectorAnswer{Status: 200, ContentType: "application/json", JSON: map[string]any{"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}}},
		{"twitch", `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}`, map[string]string{twitchType: "webhook_callback_verification"},
			vectorAnswer{Status: 200, ContentType: "text/plain", Text: ptr("pogchamp-kappa-360noscope-vohiyo")}},
		{"discord", `{"id":"1","type":1,"token":"t","version":1}`, nil,
			vectorAnswer{Status: 200, ContentType: "application/json", JSON: map[string]any{"type": float64(1)}}},
		{"discord", `{"version":1,"application_id":"1","type":0}`, nil, vectorAnswer{Status: 204}},
		{"zoom", `{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event":"endpoint.url_validation"}`, nil,
			vectorAnswer{Status: 200, ContentType: "application/json", JSON: map[string]any{"plainToken": "qgg8vlvZRS6UYooatFL8Aw",
				"encryptedToken": hex.EncodeToString(mac(sha256.New, []byte("k1"), []byte("qgg8vlvZRS6UYooatFL8Aw")))}}},
	}
	for _, tc := range tests {
		t.Run(tc.provider, func(t *testing.T) {
			p := mustProvider(t, signConfig(tc.provider, "k1"))
			s := &Signing{Header: http.Header{}, URL: &url.URL{Path: "/hooks/x"}, Body: []byte(tc.body), Now: testNow}
			for k, v := range tc.header {
				s.Header.Set(k, v)
			}
			if err := p.(Signer).Sign(s); err != nil {
				t.Fatal(err)
			}
			r := &Request{Header: s.Header, Body: s.Body, URL: s.URL, Now: testNow}
			if err := p.Verify(r); err != nil {
				t.Fatalf("Verify(handshake) = %v", err)
			}
			a, ok := p.(Handshaker).Handshake(r)
			if !ok {
				t.Fatalf("Handshake did not answer")
			}
			checkAnswer(t, a, &tc.want)
			// An ordinary delivery is not a handshake.
			r2, _ := signed(t, p, tc.provider, testBody(tc.provider), testNow)
			if a, ok := p.(Handshaker).Handshake(r2); ok {
				t.Errorf("Handshake(ordinary delivery) = %d %q; want none", a.Status, a.Body)
			}
		})
	}
}

// TestZoom_HandshakeUsesTheSigningSecret: during a rotation the challenge
// is answered with the secret that signed it.
func TestZoom_HandshakeUsesTheSigningSecret(t *testing.T) {
	c := signConfig("zoom", "old")
	c.Secrets = append(c.Secrets, []byte("new"))
	p := mustProvider(t, c)
	body := `{"payload":{"plainToken":"abc"},"event":"endpoint.url_validation"}`
	s := &Signing{Header: http.Header{}, URL: &url.URL{}, Body: []byte(body), Now: testNow}
	mustProvider(t, signConfig("zoom", "new")).(Signer).Sign(s)
	r := &Request{Header: s.Header, Body: s.Body, URL: s.URL, Now: testNow}
	a, _ := p.(Handshaker).Handshake(r)
	want := hex.EncodeToString(mac(sha256.New, []byte("new"), []byte("abc")))
	if !strings.Contains(string(a.Body), want) {
		t.Errorf("answer %s; want encryptedToken by the secret that signed (new)", a.Body)
	}
}

// TestEventAndDelivery_Sources: where each provider finds the event type
// and the delivery id, from deliveries as their senders write them.
func TestEventAndDelivery_Sources(t *testing.T) {
	tests := []struct {
		provider, body string
		header         map[string]string
		event, deliv   string
	}{
		{"gitlab", "{}", map[string]string{"X-Gitlab-Event": "Merge Request Hook", "X-Gitlab-Event-UUID": "uuid-1"}, "Merge Request Hook", "uuid-1"},
		{"gitlab", "{}", map[string]string{"Idempotency-Key": "idem", "Webhook-Id": "wid", "X-Gitlab-Event-UUID": "uuid-1"}, "", "idem"},
		{"gitlab", "{}", map[string]string{"Webhook-Id": "wid", "X-Gitlab-Event-UUID": "uuid-1"}, "", "wid"},
		{"gitea", "{}", map[string]string{"X-Forgejo-Event": "push", "X-Forgejo-Delivery": "fd"}, "push", "fd"},
		{"bitbucket", "{}", map[string]string{"X-Event-Key": "pullrequest:created", "X-Request-Id": "dc-1"}, "pullrequest:created", "dc-1"},
		{"slack", `{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}`, nil, "app_mention", "Ev1"},
		{"slack", "payload=" + url.QueryEscape(`{"type":"block_actions","trigger_id":"1"}`), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "block_actions", ""},
		{"slack", "command=%2Fdeploy&text=prod", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "", ""},
		{"linear", `{"type":"Comment","action":"remove"}`, map[string]string{"Linear-Delivery": "ld"}, "Comment.remove", "ld"},
		{"linear", `{"type":"OAuthApp"}`, nil, "OAuthApp", ""},
		{"standard", `{"type":"user.created"}`, map[string]string{"Svix-Id": "msg_1"}, "user.created", "msg_1"},
		{"discord", `{"version":1,"application_id":"1","type":1,"event":{"type":"APPLICATION_AUTHORIZED"}}`, nil, "APPLICATION_AUTHORIZED", ""},
		{"telegram", `{"update_id":123456789,"message":{}}`, nil, "", "123456789"},
		{"twilio", "CallSid=CA1", map[string]string{"I-Twilio-Idempotency-Token": "itok"}, "", "itok"},
		{"stripe", `not json`, nil, "", ""},
	}
	for _, tc := range tests {
		p := mustProvider(t, signConfig(tc.provider, "k1"))
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		r := &Request{Header: h, Body: []byte(tc.body), URL: &url.URL{}, Now: testNow}
		if got := p.Event(r); got != tc.event {
			t.Errorf("%s Event(%s) = %q; want %q", tc.provider, tc.body, got, tc.event)
		}
		if got := p.Delivery(r); got != tc.deliv {
			t.Errorf("%s Delivery(%s) = %q; want %q", tc.provider, tc.body, got, tc.deliv)
		}
	}
}

// TestGitea_FormSignsThePayload: a form delivery is verified over its JSON
// payload, as Gitea signs it.
func TestGitea_FormSignsThePayload(t *testing.T) {
	p := mustProvider(t, signConfig("gitea", "k1"))
	s := &Signing{Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, URL: &url.URL{}, Body: []byte(`{"ref":"main"}`), Event: "push", Now: testNow}
	if err := p.(Signer).Sign(s); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(s.Body), "payload=") {
		t.Fatalf("signed form body = %q; want payload=", s.Body)
	}
	r := &Request{Header: s.Header, Body: s.Body, URL: s.URL, Now: testNow}
	if err := p.Verify(r); err != nil {
		t.Fatalf("Verify(form) = %v", err)
	}
	r = &Request{Header: s.Header, Body: []byte("payload=" + url.QueryEscape(`{"ref":"evil"}`)), URL: s.URL, Now: testNow}
	if err := p.Verify(r); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(changed payload) = %v; want ErrBadSignature", err)
	}
	r = &Request{Header: s.Header, Body: []byte("payload=a&payload=b"), URL: s.URL, Now: testNow}
	if err := p.Verify(r); !errors.Is(err, ErrMalformed) {
		t.Errorf("Verify(two payloads) = %v; want ErrMalformed", err)
	}
}

// TestTwilio_URLFromRequest: the signed URL is public_url with the
// request's query, so Twilio's bodySHA256 and the URL's own parameters are
// covered; a JSON body without bodySHA256 is refused.
func TestTwilio_URLFromRequest(t *testing.T) {
	p := mustProvider(t, signConfig("twilio", "k1"))
	s := &Signing{Header: http.Header{}, URL: &url.URL{Path: "/hooks/x", RawQuery: "site=a"}, Body: []byte(`{"a":1}`), Now: testNow}
	if err := p.(Signer).Sign(s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.URL.RawQuery, "bodySHA256=") {
		t.Fatalf("signed JSON URL query %q; want bodySHA256", s.URL.RawQuery)
	}
	r := &Request{Header: s.Header, Body: s.Body, URL: s.URL, Now: testNow}
	if err := p.Verify(r); err != nil {
		t.Fatalf("Verify(JSON) = %v", err)
	}
	r2 := *r
	r2.URL = &url.URL{Path: "/hooks/x", RawQuery: strings.Replace(s.URL.RawQuery, "site=a", "site=b", 1)}
	if err := p.Verify(&r2); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(query changed) = %v; want ErrBadSignature", err)
	}
	r2.URL = &url.URL{Path: "/hooks/x"}
	if err := p.Verify(&r2); !errors.Is(err, ErrMalformed) {
		t.Errorf("Verify(JSON without bodySHA256) = %v; want ErrMalformed", err)
	}
}

func ptr[T any](v T) *T { return &v }

func jsonDecode(r io.Reader, v any) { json.NewDecoder(r).Decode(v) }

// fuzzProvider is the body of every verifier's fuzz target: arbitrary
// headers and bodies never panic; a signed delivery verifies; any flipped
// byte of its signature header or (where signed) its body is refused.
func fuzzProvider(f *testing.F, caseName string) {
	l := layouts[caseName]
	name := l.name(caseName)
	f.Add([]byte(testBody(name)), "", uint32(0))
	f.Add([]byte(`{"type":"url_verification","challenge":"x","event":"endpoint.url_validation","payload":{"plainToken":"x"}}`), "v0=00", uint32(7))
	f.Add([]byte("payload=%7B%7D"), "t=1,v1=zz", uint32(1<<16|3))
	f.Fuzz(func(t *testing.T, body []byte, junk string, flip uint32) {
		p := l.newProvider(t, caseName, "fuzz-secret")
		// Arbitrary input: no panic, whatever it is.
		h := http.Header{}
		for _, n := range []string{l.header, l.ts, "Webhook-Id", "Content-Type", twitchID, twitchType} {
			if n != "" {
				h.Set(n, junk)
			}
		}
		r := &Request{Header: h, Body: body, URL: &url.URL{Path: "/hooks/x", RawQuery: "bodySHA256=" + url.QueryEscape(junk)}, Now: testNow}
		p.Verify(r)
		p.Event(r)
		p.Delivery(r)
		if hs, ok := p.(Handshaker); ok {
			hs.Handshake(r)
		}
		// Sign, then verify.
		s := &Signing{Header: http.Header{}, URL: &url.URL{Path: "/hooks/x"}, Body: append([]byte(nil), body...), Event: testEvent[name], Delivery: "d-1", Now: testNow}
		if err := p.(Signer).Sign(s); err != nil {
			if name == "linear" || name == "twilio" {
				return // linear needs a JSON object; twilio a well-formed form
			}
			t.Fatalf("Sign: %v", err)
		}
		good := &Request{Header: s.Header.Clone(), Body: append([]byte(nil), s.Body...), URL: s.URL, Now: testNow}
		if err := p.Verify(good); err != nil {
			t.Fatalf("Verify(signed) = %v", err)
		}
		// Flip one byte: of the signature header, or of a signed body.
		sig := []byte(s.Header.Get(l.header))
		region := len(sig)
		if name == "basic" {
			sig = sig[len("Basic "):] // the scheme's case does not matter
			region = len(sig)
		}
		if bodySigned(caseName) {
			region += len(s.Body)
		}
		if region == 0 {
			return
		}
		i := int(flip % uint32(region))
		mask := byte(flip>>16) | 1
		bad := &Request{Header: s.Header.Clone(), Body: append([]byte(nil), s.Body...), URL: s.URL, Now: testNow}
		if i < len(sig) {
			b := append([]byte(nil), sig...)
			b[i] ^= mask
			v := string(b)
			if name == "basic" {
				v = "Basic " + v
			}
			bad.Header.Set(l.header, v)
		} else {
			bad.Body[i-len(sig)] ^= mask
		}
		err := p.Verify(bad)
		if err == nil && !equivalent(p, name, good, bad) {
			t.Fatalf("Verify(byte %d flipped by %#x) = nil; want a refusal\nsigned:  %q %q\nflipped: %q %q", i, mask, good.Header.Get(l.header), good.Body, bad.Header.Get(l.header), bad.Body)
		}
	})
}

// equivalent reports whether a flipped delivery still means the same as
// the signed one, where a scheme signs meaning rather than bytes: Twilio
// signs form values (and %2b is %2B), the generic hmac reads hex of either
// case.
func equivalent(p Provider, name string, good, bad *Request) bool {
	switch name {
	case "twilio":
		a, err1 := url.ParseQuery(string(good.Body))
		b, err2 := url.ParseQuery(string(bad.Body))
		// Twilio signs the parameters joined with no separator, each value
		// once (as its own validators do): forms that join alike carry
		// the same signature.
		return err1 == nil && err2 == nil && string(twilioData(a)) == string(twilioData(b)) && good.Header.Get("X-Twilio-Signature") == bad.Header.Get("X-Twilio-Signature")
	case "hmac":
		return strings.EqualFold(good.Header.Get("X-Sig"), bad.Header.Get("X-Sig")) && string(good.Body) == string(bad.Body)
	}
	return false
}

func FuzzGitHub(f *testing.F)      { fuzzProvider(f, "github") }
func FuzzGitLab(f *testing.F)      { fuzzProvider(f, "gitlab") }
func FuzzGitLabToken(f *testing.F) { fuzzProvider(f, "gitlab-token") }
func FuzzGitea(f *testing.F)       { fuzzProvider(f, "gitea") }
func FuzzBitbucket(f *testing.F)   { fuzzProvider(f, "bitbucket") }
func FuzzStripe(f *testing.F)      { fuzzProvider(f, "stripe") }
func FuzzSlack(f *testing.F)       { fuzzProvider(f, "slack") }
func FuzzShopify(f *testing.F)     { fuzzProvider(f, "shopify") }
func FuzzStandard(f *testing.F)    { fuzzProvider(f, "standard") }
func FuzzLinear(f *testing.F)      { fuzzProvider(f, "linear") }
func FuzzPaddle(f *testing.F)      { fuzzProvider(f, "paddle") }
func FuzzTwilio(f *testing.F)      { fuzzProvider(f, "twilio") }
func FuzzZoom(f *testing.F)        { fuzzProvider(f, "zoom") }
func FuzzTwitch(f *testing.F)      { fuzzProvider(f, "twitch") }
func FuzzDiscord(f *testing.F)     { fuzzProvider(f, "discord") }
func FuzzTelegram(f *testing.F)    { fuzzProvider(f, "telegram") }
func FuzzSendGrid(f *testing.F)    { fuzzProvider(f, "sendgrid") }
func FuzzSquare(f *testing.F)      { fuzzProvider(f, "square") }
func FuzzBasic(f *testing.F)       { fuzzProvider(f, "basic") }
func FuzzHMAC(f *testing.F)        { fuzzProvider(f, "hmac") }
func FuzzToken(f *testing.F)       { fuzzProvider(f, "token") }

// TestProviders_ThroughListener: a delivery signed as each sender signs it
// is verified, stored with its event type and delivery id, and stored once
// when it comes again; headers that carry a secret are stored redacted.
func TestProviders_ThroughListener(t *testing.T) {
	var hooks []*Hook
	cases := map[string]string{} // hook id -> provider
	for _, name := range ProviderNames() {
		id := "p-" + name
		hooks = append(hooks, &Hook{ID: id, Path: "/hooks/" + id, Provider: mustProvider(t, signConfig(name, "k1")), MaxBody: 1 << 20})
		cases[id] = name
	}
	gl := signConfig("gitlab", "k1")
	gl.Secrets = [][]byte{[]byte("gl-secret-token")}
	hooks = append(hooks, &Hook{ID: "gitlab-token", Path: "/hooks/gitlab-token", Provider: mustProvider(t, gl), MaxBody: 1 << 20})
	cases["gitlab-token"] = "gitlab"
	e := newEnv(t, hooks...)
	for _, h := range hooks {
		name := cases[h.ID]
		t.Run(h.ID, func(t *testing.T) {
			s := &Signing{Header: http.Header{}, URL: &url.URL{Path: h.Path}, Body: testBody(name), Event: testEvent[name], Delivery: "dl-" + h.ID, Now: time.Now()}
			if name == "telegram" {
				s.Delivery = "777"
			}
			if err := h.Provider.(Signer).Sign(s); err != nil {
				t.Fatal(err)
			}
			send := func() resp {
				req, _ := http.NewRequest("POST", e.srv.URL+s.URL.String(), strings.NewReader(string(s.Body)))
				req.Header = s.Header.Clone()
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var out resp
				out.status, out.header = res.StatusCode, res.Header
				jsonDecode(res.Body, &out.body)
				return out
			}
			r := send()
			if _, acks := h.Provider.(Acknowledger); acks && r.status == 200 {
				// An acknowledged delivery (Discord) answers as its sender
				// needs; the event is stored all the same.
				evs, _, err := e.st.ListEvents(store.EventFilter{Hook: h.ID, Limit: 1})
				if err != nil || len(evs) != 1 {
					t.Fatalf("acknowledged %s delivery not stored: %v", name, err)
				}
				r.body = map[string]any{"id": evs[0].ID}
			} else if want := acceptStatus(h.Provider); r.status != want {
				t.Fatalf("signed %s delivery = %d %v; want %d", name, r.status, r.body, want)
			}
			ev, err := e.st.GetEvent(fmt.Sprint(r.body["id"]), true)
			if err != nil {
				t.Fatal(err)
			}
			if want := testEvent[name]; !noEvent[name] && ev.Type != want {
				t.Errorf("stored event type %q; want %q", ev.Type, want)
			}
			if !noDelivery[name] && ev.Delivery != s.Delivery {
				t.Errorf("stored delivery %q; want %q", ev.Delivery, s.Delivery)
			}
			for _, hdr := range []string{"X-Gitlab-Token", telegramHeader, "Authorization", "X-Token"} {
				if v := ev.Header.Get(hdr); v != "" && v != "[redacted]" {
					t.Errorf("stored %s = %q; want [redacted]", hdr, v)
				}
			}
			if string(ev.Body) != string(s.Body) {
				t.Errorf("stored body %q; want the body as sent", ev.Body)
			}
			if noDelivery[name] {
				return
			}
			if _, acks := h.Provider.(Acknowledger); acks {
				// The sender gets its answer again; nothing new is stored.
				r2 := send()
				evs, _, _ := e.st.ListEvents(store.EventFilter{Hook: h.ID})
				if r2.status != 200 || len(evs) != 1 {
					t.Errorf("the same delivery again = %d, %d events stored; want 200 and still 1", r2.status, len(evs))
				}
			} else if r2 := send(); r2.status != 200 || r2.body["duplicate"] != true || r2.body["id"] != r.body["id"] {
				t.Errorf("the same delivery again = %d %v; want 200 duplicate of %v", r2.status, r2.body, r.body["id"])
			}
		})
	}
}

// TestGitLab_TokenAndSigning: a hook with only the secret token accepts
// GitLab's requests that are also signed; a hook with a signing token
// checks the signature and does not fall back to the token, so a replayed
// request is refused even with the right token.
func TestGitLab_TokenAndSigning(t *testing.T) {
	signing := signConfig("gitlab", "k1") // whsec_…
	signer := mustProvider(t, signing)
	r, _ := signed(t, signer, "gitlab", testBody("gitlab"), testNow.Add(-time.Hour))
	r.Header.Set("X-Gitlab-Token", "the-token")

	tokenOnly := mustProvider(t, ProviderConfig{Name: "gitlab", Secrets: [][]byte{[]byte("the-token")}})
	if err := tokenOnly.Verify(r); err != nil {
		t.Errorf("token-only hook, signed request with the right token: Verify = %v; want accepted", err)
	}
	both := signing
	both.Secrets = append([][]byte{[]byte("the-token")}, signing.Secrets...)
	if err := mustProvider(t, both).Verify(r); !errors.Is(err, ErrStale) {
		t.Errorf("hook with a signing token, an hour-old signed request with the right token: Verify = %v; want ErrStale", err)
	}
}

// acceptStatus is the answer to a stored delivery of p: 202 unless p
// is an Accepter (Zoom).
func acceptStatus(p Provider) int {
	if a, ok := p.(Accepter); ok {
		return a.AcceptStatus()
	}
	return http.StatusAccepted
}
