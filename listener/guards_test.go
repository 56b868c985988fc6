package listener

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Tests for checks the other tables left unwatched: each was found by
// changing the check and seeing no test fail.

// TestKVSignature_TwoTimestampsMalformed: Stripe-Signature and
// Paddle-Signature carry one timestamp; a header with two is malformed,
// not read by its last one.
func TestKVSignature_TwoTimestampsMalformed(t *testing.T) {
	for _, tc := range []struct{ provider, header, tsKey, sep string }{
		{"stripe", "Stripe-Signature", "t", ","},
		{"paddle", "Paddle-Signature", "ts", ";"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			p := mustProvider(t, signConfig(tc.provider, "k1"))
			r, _ := signed(t, p, tc.provider, testBody(tc.provider), testNow)
			if err := p.Verify(r); err != nil {
				t.Fatalf("as signed: Verify = %v; want accepted", err)
			}
			v := r.Header.Get(tc.header)
			ts, _, _ := strings.Cut(v, tc.sep) // "t=<unix>"
			if !strings.HasPrefix(ts, tc.tsKey+"=") {
				t.Fatalf("%s = %q; want it to start with %s=", tc.header, v, tc.tsKey)
			}
			r.Header.Set(tc.header, ts+tc.sep+v)
			if err := p.Verify(r); !errors.Is(err, ErrMalformed) {
				t.Errorf("Verify(%s: %s) = %v; want ErrMalformed (two timestamps)", tc.header, r.Header.Get(tc.header), err)
			}
		})
	}
}

// TestGitHub_SHA1NotWhenSHA256Sent: allow_sha1 accepts the legacy
// X-Hub-Signature only from a sender that sends nothing else. A delivery
// that carries X-Hub-Signature-256 is checked by it alone: a right SHA-1
// beside a wrong SHA-256 does not get in, and a wrong SHA-1 beside a right
// SHA-256 does not keep it out.
func TestGitHub_SHA1NotWhenSHA256Sent(t *testing.T) {
	c := signConfig("github", "k1")
	c.AllowSHA1 = true
	p := mustProvider(t, c)
	sha1Of := func(secret string, body []byte) string {
		m := hmac.New(sha1.New, []byte(secret))
		m.Write(body)
		return "sha1=" + hex.EncodeToString(m.Sum(nil))
	}
	body := testBody("github")

	good, _ := signed(t, p, "github", body, testNow)
	good.Header.Set("X-Hub-Signature", sha1Of("k2", body))
	if err := p.Verify(good); err != nil {
		t.Errorf("right SHA-256, wrong SHA-1: Verify = %v; want accepted (SHA-256 decides)", err)
	}

	bad, _ := signed(t, mustProvider(t, signConfig("github", "k2")), "github", body, testNow)
	bad.Header.Set("X-Hub-Signature", sha1Of("k1", body))
	if err := p.Verify(bad); !errors.Is(err, ErrBadSignature) {
		t.Errorf("wrong SHA-256, right SHA-1: Verify = %v; want ErrBadSignature", err)
	}

	only, _ := signed(t, p, "github", body, testNow)
	only.Header.Del("X-Hub-Signature-256")
	only.Header.Set("X-Hub-Signature", sha1Of("k1", body))
	if err := p.Verify(only); err != nil {
		t.Errorf("SHA-1 alone, allow_sha1: Verify = %v; want accepted", err)
	}
}

// TestSignedID_LengthBound: a signed message id (webhook-id, Twitch's
// message id) of up to 256 bytes is taken, a longer one is malformed.
func TestSignedID_LengthBound(t *testing.T) {
	for _, name := range []string{"standard", "twitch", "gitlab"} {
		t.Run(name, func(t *testing.T) {
			p := mustProvider(t, signConfig(name, "k1"))
			for _, n := range []int{maxStdID, maxStdID + 1} {
				s := &Signing{Header: http.Header{}, URL: &url.URL{Path: "/hooks/x"}, Body: testBody(name),
					Event: testEvent[name], Delivery: strings.Repeat("i", n), Now: testNow}
				if err := p.(Signer).Sign(s); err != nil {
					t.Fatal(err)
				}
				err := p.Verify(&Request{Header: s.Header, Body: s.Body, URL: s.URL, Now: testNow})
				if n <= maxStdID && err != nil {
					t.Errorf("id of %d bytes: Verify = %v; want accepted", n, err)
				}
				if n > maxStdID && !errors.Is(err, ErrMalformed) {
					t.Errorf("id of %d bytes: Verify = %v; want ErrMalformed", n, err)
				}
			}
		})
	}
}

// TestStandard_DeliveryIsTheSignedID: the delivery id (what de-duplicates)
// is the id the signature covers. A request signed with the webhook-*
// headers that also carries an svix-id (unsigned, so anyone replaying it
// may change it) is the webhook-id's delivery; one in the Svix flavour
// alone is its svix-id's.
func TestStandard_DeliveryIsTheSignedID(t *testing.T) {
	p := mustProvider(t, signConfig("standard", "k1"))
	r, s := signed(t, p, "standard", testBody("standard"), testNow)
	r.Header.Set("Svix-Id", "msg_replayed-under-a-new-id")
	if err := p.Verify(r); err != nil {
		t.Fatalf("Verify = %v; want accepted", err)
	}
	if got := p.Delivery(r); got != s.Delivery {
		t.Errorf("Delivery = %q; want the signed webhook-id %q", got, s.Delivery)
	}

	svix := http.Header{}
	for _, n := range []string{"Id", "Timestamp", "Signature"} {
		svix.Set("Svix-"+n, s.Header.Get("Webhook-"+n))
	}
	sr := &Request{Header: svix, Body: r.Body, URL: r.URL, Now: testNow}
	if err := p.Verify(sr); err != nil {
		t.Fatalf("Svix flavour: Verify = %v; want accepted", err)
	}
	if got := p.Delivery(sr); got != s.Delivery {
		t.Errorf("Svix flavour: Delivery = %q; want svix-id %q", got, s.Delivery)
	}
}

// TestToken_BearerAnyCase: in Authorization, the "Bearer " before the
// token is an auth scheme, which HTTP compares without regard to case.
func TestToken_BearerAnyCase(t *testing.T) {
	c := signConfig("token", "tok-1")
	c.Header = "Authorization"
	p := mustProvider(t, c)
	for _, v := range []string{"Bearer tok-1", "bearer tok-1", "BEARER tok-1", "tok-1"} {
		r := &Request{Header: http.Header{"Authorization": {v}}, URL: &url.URL{Path: "/hooks/x"}, Now: testNow}
		if err := p.Verify(r); err != nil {
			t.Errorf("Authorization: %s: Verify = %v; want accepted", v, err)
		}
	}
	r := &Request{Header: http.Header{"Authorization": {"Basic tok-1"}}, URL: &url.URL{Path: "/hooks/x"}, Now: testNow}
	if err := p.Verify(r); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Authorization: Basic tok-1: Verify = %v; want ErrBadSignature", err)
	}
}

// TestListener_RateLimitRetryAfterRoundsUp: a 429's Retry-After is the
// wait for the client's next token rounded up to whole seconds, at least
// 1: a wait of a tenth of a second is "1", never "0" (retry at once),
// and 3.5 s is "4", not "3" (a retry then would be refused again).
func TestListener_RateLimitRetryAfterRoundsUp(t *testing.T) {
	h := githubHook(t)
	e := newLimitEnv(t, &Config{Hooks: []*Hook{h}, RateLimit: 10}) // burst 20, a token per 100 ms
	for i := range 20 {
		if w := e.post("192.0.2.1:1"); w.Code != 202 {
			t.Fatalf("request %d within the burst = %d %s; want 202", i+1, w.Code, w.Body)
		}
	}
	if w := e.post("192.0.2.1:1"); w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Errorf("past the burst, next token in 100 ms: %d Retry-After %q; want 429 with Retry-After 1", w.Code, w.Header().Get("Retry-After"))
	}

	e = newLimitEnv(t, &Config{Hooks: []*Hook{h}, RateLimit: 0.25}) // burst 1, a token per 4 s
	if w := e.post("192.0.2.1:1"); w.Code != 202 {
		t.Fatalf("first = %d %s; want 202", w.Code, w.Body)
	}
	e.clk.Add(500 * time.Millisecond)
	if w := e.post("192.0.2.1:1"); w.Code != 429 || w.Header().Get("Retry-After") != "4" {
		t.Errorf("next token in 3.5 s: %d Retry-After %q; want 429 with Retry-After 4", w.Code, w.Header().Get("Retry-After"))
	}
}
